import type { CorrelationConfig } from '../../correlation/config.ts';
import { ruleSetOf } from '../../correlation/configSection.ts';
import { CorrelationEngine, type EngineStats } from '../../correlation/engine.ts';
import type { IncidentChange } from '../../model/incident.ts';
import type { GaugePoint } from '../../model/metric.ts';
import { parseTimestampNs } from '../../model/timestamp.ts';
import type { VigilEvent } from '../../model/event.ts';
import { fieldMappingSchema, type FieldMapping } from '../../receivers/json/config.ts';
import { JsonEventMapper } from '../../receivers/json/mapping.ts';
import { MemoryStateStore } from '../../state/memoryStore.ts';

export interface ReplayResult {
  changes: IncidentChange[];
  stats: EngineStats;
  rejected: { line: number; reason: string }[];
}

interface Arrival {
  atMs: number;
  event?: VigilEvent;
  point?: GaugePoint;
}

/**
 * Turns one NDJSON line into an event (as the JSON receiver maps it) or, when it has `metric`
 * and `value`, a gauge point. `arrival` says when it reached Vigil (default: its own time), so
 * late and out-of-order deliveries can be replayed.
 */
function parseLine(text: string, mapper: JsonEventMapper): Arrival | string {
  let rec: unknown;
  try {
    rec = JSON.parse(text);
  } catch (err) {
    return `not JSON: ${(err as Error).message}`;
  }
  if (rec === null || typeof rec !== 'object' || Array.isArray(rec)) return 'a line must be a JSON object';
  const { arrival, ...fields } = rec as Record<string, unknown>;
  const arrivalNs = arrival === undefined ? undefined : parseTimestampNs(arrival);
  if (arrival !== undefined && arrivalNs === undefined)
    return `field "arrival": not a timestamp: ${JSON.stringify(arrival)}`;
  if (typeof fields.metric === 'string') {
    const timeNs = parseTimestampNs(fields.time ?? fields.ts);
    if (timeNs === undefined) return 'a metric line needs a "time"';
    if (typeof fields.value !== 'number') return 'a metric line needs a numeric "value"';
    const attributes = (fields.attributes ?? {}) as Record<string, string>;
    const point: GaugePoint = {
      kind: 'gauge',
      name: fields.metric,
      description: '',
      unit: '',
      resource: {},
      attributes,
      startTimeUnixNano: 0n,
      timeUnixNano: timeNs,
      flags: 0,
      exemplars: [],
      service: String(fields.service ?? ''),
      tenant: '',
      value: fields.value,
    };
    return { atMs: Number((arrivalNs ?? timeNs) / 1_000_000n), point };
  }
  const mapped = mapper.map(fields, arrivalNs ?? 0n);
  if (!mapped.ok) return mapped.reason;
  const e = mapped.event;
  if (e.timeUnixNano === 0n && arrivalNs === undefined) return 'an event needs a time (or an "arrival")';
  if (arrivalNs === undefined) e.observedTimeUnixNano = e.timeUnixNano;
  return { atMs: Number(e.observedTimeUnixNano / 1_000_000n), event: e };
}

/** A parsed NDJSON file: what arrives when, and the lines that could not be read. */
export interface Arrivals {
  arrivals: Arrival[];
  rejected: ReplayResult['rejected'];
}

export type { Arrival };

/**
 * Reads NDJSON lines as the JSON receiver maps them (`mapping`: its `fields`, default mapping
 * when absent), in arrival order.
 */
export function parseArrivals(
  text: string,
  mapping: FieldMapping = fieldMappingSchema.parse(undefined, '', [])!,
): Arrivals {
  const mapper = new JsonEventMapper(mapping);
  const rejected: ReplayResult['rejected'] = [];
  const arrivals: Arrival[] = [];
  text.split('\n').forEach((line, i) => {
    if (line.trim() === '') return;
    const a = parseLine(line, mapper);
    if (typeof a === 'string') rejected.push({ line: i + 1, reason: a });
    else arrivals.push(a);
  });
  // A stable sort keeps the file's order among simultaneous arrivals.
  arrivals.sort((a, b) => a.atMs - b.atMs);
  return { arrivals, rejected };
}

/**
 * Runs arrivals through the rules on a virtual clock: the clock jumps to each arrival, the timer
 * ticks every `tick_interval` on the way, and after the last one time runs on for `afterMs` so
 * silences, deadlines and notification timers play out.
 */
export function runArrivals(cfg: CorrelationConfig, { arrivals, rejected }: Arrivals, afterMs: number): ReplayResult {
  const engine = new CorrelationEngine(ruleSetOf(cfg), new MemoryStateStore());
  const changes: IncidentChange[] = [];
  if (arrivals.length === 0) return { changes, stats: engine.stats, rejected };
  const tick = cfg.tick_interval;
  let next = Math.floor(arrivals[0]!.atMs / tick) * tick + tick;
  const tickUntil = (ms: number) => {
    for (; next <= ms; next += tick) changes.push(...engine.tick(next));
  };
  for (const a of arrivals) {
    tickUntil(a.atMs);
    if (a.event) changes.push(...engine.process([a.event], a.atMs));
    else changes.push(...engine.processPoints([a.point!], a.atMs));
  }
  tickUntil(arrivals.at(-1)!.atMs + afterMs);
  return { changes, stats: engine.stats, rejected };
}

/** Replays NDJSON events (default JSON mapping, no processors) through the rules on a virtual clock. */
export function replay(cfg: CorrelationConfig, text: string, afterMs: number): ReplayResult {
  return runArrivals(cfg, parseArrivals(text), afterMs);
}

/** The incident timeline as an aligned text table. */
export function formatTimeline(result: ReplayResult): string {
  const rows = result.changes.map((c) => [
    new Date(c.atMs).toISOString(),
    c.kind,
    c.notify ? 'yes' : c.held ? 'held' : 'no',
    c.incident.key,
    `${c.incident.eventCount}`,
    c.reason,
  ]);
  const header = ['time', 'change', 'notify', 'incident', 'events', 'reason'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join('  ');
  const s = result.stats;
  const summary = `${s.events} event(s), ${s.points} point(s); ${s.late} late, ${s.future} far-future, ${s.dropped} dropped; ${result.changes.length} incident change(s)`;
  const ignored = [...s.ignored].flatMap(([rule, byReason]) =>
    [...byReason].map(([reason, n]) => `${rule} ${reason} ${n}`),
  );
  const rejected = result.rejected.map((r) => `line ${r.line}: ${r.reason}`);
  return (
    [
      line(header),
      ...rows.map(line),
      '',
      summary,
      ...(ignored.length ? [`ignored: ${ignored.join(', ')}`] : []),
      ...rejected,
    ].join('\n') + '\n'
  );
}
