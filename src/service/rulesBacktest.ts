import type { FactoryRegistry } from './config/load.ts';
import type { VigilConfig } from './config/vigilConfig.ts';
import { componentType } from '../pipeline/component.ts';
import type { ClickHouseExporterConfig } from '../exporters/clickhouse/config.ts';
import { openBackend } from '../exporters/clickhouse/exporter.ts';
import { ClickHouseQueries, type StoredIncidentSummary, type StoredLogRow } from '../exporters/clickhouse/query.ts';
import { EVENT_TYPES, type EventType, type VigilEvent } from '../model/event.ts';
import type { IncidentChange } from '../model/incident.ts';
import { DaemonReplay } from './rulesReplay.ts';

/** One incident, as the rules opened it (or would have): enough to tell two versions of it apart. */
export interface IncidentOutline {
  key: string;
  id: string;
  rule: string;
  openedAtMs: number;
  /** 0 while open at the end of the range. */
  resolvedAtMs: number;
  severityNumber: number;
  eventCount: number;
}

export interface IncidentDiff {
  /** What the rules would have opened and nothing did. */
  new: IncidentOutline[];
  /** What was opened and the rules would not have opened. */
  missing: IncidentOutline[];
  /** Opened by both, but differently: each with what differs. */
  changed: { actual: IncidentOutline; backtest: IncidentOutline; differences: string[] }[];
  /** Opened by both alike. */
  same: number;
}

/** Opening times closer than this are the same opening: the daemon's ticks and batching move them a little. */
export const OPENED_TOLERANCE_MS = 60_000;

const minutes = (ms: number) => (ms >= 60_000 ? `${Math.round(ms / 60_000)}m` : `${Math.round(ms / 1000)}s`);

/**
 * Pairs each incident the rules would have opened with a stored one of the same key whose time
 * open overlaps it (open ones run to `untilMs`); the rest are new or missing.
 */
export function compareIncidents(
  actual: IncidentOutline[],
  backtest: IncidentOutline[],
  untilMs: number,
  toleranceMs = OPENED_TOLERANCE_MS,
): IncidentDiff {
  const end = (i: IncidentOutline) => (i.resolvedAtMs > 0 ? i.resolvedAtMs : untilMs);
  const byKey = new Map<string, IncidentOutline[]>();
  for (const a of actual) byKey.set(a.key, [...(byKey.get(a.key) ?? []), a]);
  const diff: IncidentDiff = { new: [], missing: [], changed: [], same: 0 };
  for (const b of backtest) {
    const candidates = byKey.get(b.key) ?? [];
    const at = candidates.findIndex(
      (a) => a.openedAtMs - toleranceMs <= end(b) && b.openedAtMs - toleranceMs <= end(a),
    );
    if (at === -1) {
      diff.new.push(b);
      continue;
    }
    const [a] = candidates.splice(at, 1) as [IncidentOutline];
    const differences: string[] = [];
    const shift = b.openedAtMs - a.openedAtMs;
    if (Math.abs(shift) > toleranceMs)
      differences.push(`opens ${minutes(Math.abs(shift))} ${shift > 0 ? 'later' : 'earlier'}`);
    if (a.severityNumber !== b.severityNumber) differences.push(`severity ${a.severityNumber} → ${b.severityNumber}`);
    if (a.resolvedAtMs > 0 !== b.resolvedAtMs > 0)
      differences.push(b.resolvedAtMs > 0 ? 'resolves (stayed open)' : 'stays open (was resolved)');
    if (differences.length) diff.changed.push({ actual: a, backtest: b, differences });
    else diff.same++;
  }
  for (const rest of byKey.values()) diff.missing.push(...rest);
  diff.missing.sort((x, y) => x.openedAtMs - y.openedAtMs);
  return diff;
}

/** A stored event back as the event the rules saw (attributes come back as strings, as stored). */
export function eventFromRow(r: StoredLogRow): VigilEvent {
  return {
    id: r.EventId,
    timeUnixNano: BigInt(r.TimeNs),
    observedTimeUnixNano: BigInt(r.ObservedNs),
    severityNumber: Number(r.SeverityNumber),
    severityText: r.SeverityText,
    body: r.Body,
    attributes: { ...r.LogAttributes },
    resource: { ...r.ResourceAttributes },
    traceId: r.TraceId,
    spanId: r.SpanId,
    flags: Number(r.TraceFlags),
    asset: r.Asset,
    title: r.Title,
    type: (EVENT_TYPES as readonly string[]).includes(r.EventType) ? (r.EventType as EventType) : 'neutral',
    service: r.ServiceName,
    tenant: r.Tenant,
    fingerprint: r.Fingerprint,
    source: r.Source,
  };
}

function outlineOfStored(s: StoredIncidentSummary): IncidentOutline {
  return {
    key: s.Key,
    id: s.Id,
    rule: s.Rule,
    openedAtMs: Number(s.OpenedMs),
    resolvedAtMs: s.Status === 'resolved' ? Number(s.ResolvedMs) : 0,
    severityNumber: Number(s.SeverityNumber),
    eventCount: Number(s.EventCount),
  };
}

/** The ClickHouse exporter the daemon stores its logs with: the first one in a logs pipeline. */
export function storingExporter(config: VigilConfig): { id: string; config: ClickHouseExporterConfig } | undefined {
  for (const [name, p] of Object.entries(config.service.pipelines)) {
    if (componentType(name) !== 'logs') continue;
    const id = p.exporters.find((e) => config.exporters[e]?.type === 'clickhouse');
    if (id) return { id, config: config.exporters[id]!.config as ClickHouseExporterConfig };
  }
  return undefined;
}

export interface BacktestOptions {
  fromMs: number;
  toMs: number;
  /** Only these rules (by name); all of the config's when absent. */
  rules?: string[];
  /** Called after each page of events: how many were replayed of how many there are. */
  progress?: (done: number, total: number) => void;
}

export interface BacktestResult extends IncidentDiff {
  events: number;
  exporter: string;
}

/**
 * `vigil rules backtest`: replays the events the ClickHouse exporter stored in [fromMs, toMs)
 * through the config's rules, in the order they reached Vigil, and compares the incidents they
 * would have opened with those stored. The stored events have passed the logs pipeline's
 * processors already, so they go straight to the rules.
 */
export async function backtestRules(
  config: VigilConfig,
  registry: FactoryRegistry,
  dataDir: string,
  opts: BacktestOptions,
): Promise<BacktestResult> {
  const store = storingExporter(config);
  if (!store) throw new Error('no clickhouse exporter in a logs pipeline: the backtest reads the events it stores');
  const backend = await openBackend(store.config, dataDir, `exporters.${store.id}`);
  try {
    const queries = new ClickHouseQueries(backend, store.config.database, store.config.tables);
    const fromNs = BigInt(opts.fromMs) * 1_000_000n;
    const toNs = BigInt(opts.toMs) * 1_000_000n;
    const total = await queries.countEvents(fromNs, toNs);
    const replayed = new Map<string, IncidentOutline>();
    const onChange = (c: IncidentChange) => {
      const i = c.incident;
      if (c.created)
        replayed.set(i.id, {
          key: i.key,
          id: i.id,
          rule: i.rule,
          openedAtMs: i.openedAtMs,
          resolvedAtMs: 0,
          severityNumber: 0,
          eventCount: 0,
        });
      const o = replayed.get(i.id);
      if (!o) return;
      o.severityNumber = i.severityNumber;
      o.eventCount = i.eventCount;
      o.resolvedAtMs = i.status === 'resolved' ? i.resolvedAtMs : 0;
    };
    const replay = await DaemonReplay.open(config, registry, dataDir, onChange, { processors: false });
    let events = 0;
    let lastMs = opts.fromMs;
    try {
      for await (const page of queries.eventsInArrivalOrder(fromNs, toNs)) {
        for (const row of page) {
          const event = eventFromRow(row);
          const atMs = Number(event.observedTimeUnixNano / 1_000_000n);
          lastMs = Math.max(lastMs, atMs);
          await replay.push({ atMs, event });
        }
        events += page.length;
        opts.progress?.(events, total);
      }
    } finally {
      await replay.finish(Math.max(opts.toMs - lastMs, 0));
    }
    const wanted = (rule: string) => !opts.rules || opts.rules.includes(rule);
    const actual = (await queries.incidentsOpened(opts.fromMs, opts.toMs))
      .map(outlineOfStored)
      .filter((i) => wanted(i.rule));
    const backtest = [...replayed.values()].filter(
      (i) => i.openedAtMs >= opts.fromMs && i.openedAtMs < opts.toMs && wanted(i.rule),
    );
    return { ...compareIncidents(actual, backtest, opts.toMs), events, exporter: store.id };
  } finally {
    await backend.close();
  }
}
