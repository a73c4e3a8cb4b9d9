import { Counter, Gauge, type Registry } from 'prom-client';
import type { CorrelationEngine, EngineStats } from '../../correlation/engine.ts';

/**
 * The correlation metrics of one registry, shared by every correlation connector of a service
 * (`correlation/a` and `correlation/b` add to the same series; the gauges sum their engines).
 * Built once per registry: a second connector registering the same names would throw.
 */
export interface CorrelationMetrics {
  records: Counter<'signal'>;
  lateEvents: Counter;
  futureEvents: Counter;
  droppedEvents: Counter;
  ignoredEvents: Counter<'rule' | 'reason'>;
  untakenRecords: Counter<'signal'>;
  changes: Counter<'kind'>;
  merged: Counter;
  ticks: Counter<'role'>;
  /** Engines whose open incidents, state entries and rules the gauges add up. */
  engines: Set<CorrelationEngine>;
}

const byRegistry = new WeakMap<Registry, CorrelationMetrics>();

export function correlationMetrics(registry: Registry): CorrelationMetrics {
  const known = byRegistry.get(registry);
  if (known) return known;
  const r = [registry];
  const engines = new Set<CorrelationEngine>();
  const sum = (f: (e: CorrelationEngine) => number) => [...engines].reduce((n, e) => n + f(e), 0);
  const m: CorrelationMetrics = {
    records: new Counter({
      name: 'vigil_correlation_records_total',
      help: 'Events and data points the correlation engine looked at.',
      labelNames: ['signal'],
      registers: r,
    }),
    lateEvents: new Counter({
      name: 'vigil_correlation_late_events_total',
      help: 'Events later than allowed_lateness (dropped or counted at arrival, per late_events).',
      registers: r,
    }),
    futureEvents: new Counter({
      name: 'vigil_correlation_future_events_total',
      help: 'Events further ahead of the clock than max_future_skew (per future_events).',
      registers: r,
    }),
    droppedEvents: new Counter({
      name: 'vigil_correlation_dropped_events_total',
      help: 'Late or far-future events that no rule counted.',
      registers: r,
    }),
    ignoredEvents: new Counter({
      name: 'vigil_correlation_ignored_events_total',
      help: 'Events a rule looked at and could do nothing with (an up with no known down, an event older than the known state), by rule and reason.',
      labelNames: ['rule', 'reason'],
      registers: r,
    }),
    untakenRecords: new Counter({
      name: 'vigil_correlation_untaken_records_total',
      help: "Events and data points placed with a partition (state.sharing: partitions) that none of its holder's rules took: placed by an agent whose rules group them otherwise, part-way through a rules change. 0 while every agent runs the same rules.",
      labelNames: ['signal'],
      registers: r,
    }),
    changes: new Counter({
      name: 'vigil_correlation_incident_changes_total',
      help: 'Incident changes emitted, by kind.',
      labelNames: ['kind'],
      registers: r,
    }),
    merged: new Counter({
      name: 'vigil_correlation_merged_incidents_total',
      help: "Incidents this agent opened that merged into another agent's incident on the same key (opened before they heard of each other, or while shared state was out of reach).",
      registers: r,
    }),
    ticks: new Counter({
      name: 'vigil_correlation_ticks_total',
      help: 'Timer rounds done and their changes delivered: `timers` where this agent ran the timers (alone, or holding the lease), `settle` where another agent runs them and this one only delivered held changes, `partitions` per read of the partitions this agent holds (state.sharing: partitions), whose timers run as their time goes on.',
      labelNames: ['role'],
      registers: r,
    }),
    engines,
  };
  new Gauge({
    name: 'vigil_correlation_open_incidents',
    help: 'Incidents open now.',
    registers: r,
    collect() {
      this.set(sum((e) => e.openIncidents().length));
    },
  });
  new Gauge({
    name: 'vigil_correlation_state_entries',
    help: 'Entries in the correlation state store.',
    registers: r,
    collect() {
      this.set(sum((e) => e.store.size()));
    },
  });
  new Gauge({
    name: 'vigil_correlation_rules',
    help: 'Correlation rules loaded.',
    registers: r,
    collect() {
      // The partitions of one connector share one rule set: counted once.
      let n = 0;
      for (const rules of new Set([...engines].map((e) => e.rules))) n += rules.length;
      this.set(n);
    },
  });
  byRegistry.set(registry, m);
  return m;
}

interface Reported {
  counts: Omit<EngineStats, 'ignored'>;
  /** `rule\nreason` → ignored events already counted. */
  ignored: Map<string, number>;
}
const reportedOf = new WeakMap<CorrelationEngine, Reported>();

/**
 * Adds to the counters what `engine` counted since it was last reported; says how many of those
 * records none of its rules took (`EngineStats.untaken`).
 */
export function reportEngineStats(m: CorrelationMetrics, engine: CorrelationEngine): number {
  let r = reportedOf.get(engine);
  if (!r)
    reportedOf.set(
      engine,
      (r = {
        counts: { events: 0, points: 0, late: 0, future: 0, dropped: 0, untaken: 0, untakenPoints: 0 },
        ignored: new Map(),
      }),
    );
  const s = engine.stats;
  const c = r.counts;
  if (s.events > c.events) m.records.inc({ signal: 'logs' }, s.events - c.events);
  if (s.points > c.points) m.records.inc({ signal: 'metrics' }, s.points - c.points);
  if (s.late > c.late) m.lateEvents.inc(s.late - c.late);
  if (s.future > c.future) m.futureEvents.inc(s.future - c.future);
  if (s.dropped > c.dropped) m.droppedEvents.inc(s.dropped - c.dropped);
  const untaken = s.untaken - c.untaken;
  const untakenPoints = s.untakenPoints - c.untakenPoints;
  if (untaken > 0) m.untakenRecords.inc({ signal: 'logs' }, untaken);
  if (untakenPoints > 0) m.untakenRecords.inc({ signal: 'metrics' }, untakenPoints);
  for (const [rule, byReason] of s.ignored) {
    for (const [reason, n] of byReason) {
      const done = r.ignored.get(`${rule}\n${reason}`) ?? 0;
      if (n > done) m.ignoredEvents.inc({ rule, reason }, n - done);
      r.ignored.set(`${rule}\n${reason}`, n);
    }
  }
  const { events, points, late, future, dropped } = s;
  r.counts = { events, points, late, future, dropped, untaken: s.untaken, untakenPoints: s.untakenPoints };
  return untaken + untakenPoints;
}
