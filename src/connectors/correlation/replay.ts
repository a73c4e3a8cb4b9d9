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
  /** The parent asset (topology) of the incident on a key at the end of the replay; '' when unknown. */
  parentOf(key: string): string;
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
      tenant: typeof fields.tenant === 'string' ? fields.tenant : '',
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

/** The JSON receiver's default mapping, for replays of a config without a JSON receiver. */
export function defaultArrivalMapper(mapping?: FieldMapping): JsonEventMapper {
  return new JsonEventMapper(mapping ?? fieldMappingSchema.parse(undefined, '', [])!);
}

/** One NDJSON line as an arrival, or why it cannot be one. */
export function parseArrivalLine(line: string, mapper: JsonEventMapper): Arrival | string {
  return parseLine(line, mapper);
}

/**
 * Reads NDJSON lines as the JSON receiver maps them (`mapping`: its `fields`, default mapping
 * when absent), in arrival order.
 */
export function parseArrivals(text: string, mapping?: FieldMapping): Arrivals {
  const mapper = defaultArrivalMapper(mapping);
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
 * How many arrivals a streamed replay holds back to put them in arrival order: a file written
 * as events came in is already in order but for stragglers, and the window keeps memory bounded
 * whatever the file's size. An arrival more than this many lines out of place is taken when its
 * turn comes, as a late delivery.
 */
export const REORDER_WINDOW = 1_000;

/**
 * The correlation rules on a virtual clock, fed one arrival at a time: the clock jumps to each
 * arrival, the timer ticks every `tick_interval` on the way, and `finish` runs time on so
 * silences, deadlines and notification timers play out. Arrivals pass a bounded reorder window
 * (stable: the feed's order among simultaneous arrivals is kept), so memory does not grow with
 * the number of events.
 */
export class ArrivalReplay {
  private readonly engine: CorrelationEngine;
  private readonly tick: number;
  private readonly onChange: (c: IncidentChange) => void;
  private readonly window: number;
  private readonly heap: { a: Arrival; seq: number }[] = [];
  private seq = 0;
  private next: number | undefined;
  private clockMs = -Infinity;

  constructor(cfg: CorrelationConfig, onChange: (c: IncidentChange) => void, window = REORDER_WINDOW) {
    // One engine on a store of its own, as the daemon runs on memory state.
    this.engine = new CorrelationEngine(ruleSetOf(cfg), new MemoryStateStore(), { soleWriter: true });
    this.tick = cfg.tick_interval;
    this.onChange = onChange;
    this.window = Math.max(window, 1);
  }

  get stats(): EngineStats {
    return this.engine.stats;
  }

  /** The parent asset of the incident on `key`, as the engine holds it. */
  parentOf(key: string): string {
    return this.engine.parentOf(key);
  }

  push(a: Arrival): void {
    heapPush(this.heap, { a, seq: this.seq++ });
    if (this.heap.length > this.window) this.run(heapPop(this.heap)!.a);
  }

  /** Runs what the window holds, then the clock on for `afterMs` past the last arrival. */
  finish(afterMs: number): EngineStats {
    for (let h = heapPop(this.heap); h; h = heapPop(this.heap)) this.run(h.a);
    if (this.next !== undefined) this.tickUntil(this.clockMs + afterMs);
    return this.engine.stats;
  }

  private run(a: Arrival): void {
    const at = Math.max(a.atMs, this.clockMs);
    this.next ??= Math.floor(at / this.tick) * this.tick + this.tick;
    this.tickUntil(at);
    this.clockMs = at;
    const changes = a.event ? this.engine.process([a.event], at) : this.engine.processPoints([a.point!], at);
    for (const c of changes) this.onChange(c);
  }

  private tickUntil(ms: number): void {
    for (; this.next! <= ms; this.next! += this.tick) for (const c of this.engine.tick(this.next!)) this.onChange(c);
  }
}

type HeapItem = { a: Arrival; seq: number };
const before = (x: HeapItem, y: HeapItem) => x.a.atMs < y.a.atMs || (x.a.atMs === y.a.atMs && x.seq < y.seq);

function heapPush(h: HeapItem[], item: HeapItem): void {
  let i = h.push(item) - 1;
  while (i > 0) {
    const parent = (i - 1) >> 1;
    if (!before(h[i]!, h[parent]!)) break;
    [h[i], h[parent]] = [h[parent]!, h[i]!];
    i = parent;
  }
}

function heapPop(h: HeapItem[]): HeapItem | undefined {
  const top = h[0];
  const last = h.pop();
  if (h.length === 0 || last === undefined) return top;
  h[0] = last;
  for (let i = 0; ;) {
    const l = 2 * i + 1;
    const r = l + 1;
    let m = i;
    if (l < h.length && before(h[l]!, h[m]!)) m = l;
    if (r < h.length && before(h[r]!, h[m]!)) m = r;
    if (m === i) break;
    [h[i], h[m]] = [h[m]!, h[i]!];
    i = m;
  }
  return top;
}

/** Runs parsed arrivals through the rules on a virtual clock (see {@link ArrivalReplay}). */
export function runArrivals(cfg: CorrelationConfig, { arrivals, rejected }: Arrivals, afterMs: number): ReplayResult {
  const changes: IncidentChange[] = [];
  const run = new ArrivalReplay(cfg, (c) => changes.push(c), arrivals.length);
  for (const a of arrivals) run.push(a);
  return { changes, stats: run.finish(afterMs), rejected, parentOf: (key) => run.parentOf(key) };
}

/** Replays NDJSON events (default JSON mapping, no processors) through the rules on a virtual clock. */
export function replay(cfg: CorrelationConfig, text: string, afterMs: number): ReplayResult {
  return runArrivals(cfg, parseArrivals(text), afterMs);
}

export const TIMELINE_HEADER = ['time', 'change', 'notify', 'incident', 'events', 'reason'];

/** One incident change as a row of the timeline under {@link TIMELINE_HEADER}. */
export function timelineRow(c: IncidentChange): string[] {
  return [
    new Date(c.atMs).toISOString(),
    c.kind,
    c.notify ? 'yes' : c.held ? 'held' : 'no',
    c.incident.key,
    `${c.incident.eventCount}`,
    c.reason,
  ];
}

/** The lines after the timeline: counts, what the rules ignored, the lines that could not be read. */
export function timelineSummary(
  stats: EngineStats,
  changeCount: number,
  rejected: ReplayResult['rejected'],
  moreRejected = 0,
): string[] {
  const summary = `${stats.events} event(s), ${stats.points} point(s); ${stats.late} late, ${stats.future} far-future, ${stats.dropped} dropped; ${changeCount} incident change(s)`;
  const ignored = [...stats.ignored].flatMap(([rule, byReason]) =>
    [...byReason].map(([reason, n]) => `${rule} ${reason} ${n}`),
  );
  return [
    summary,
    ...(ignored.length ? [`ignored: ${ignored.join(', ')}`] : []),
    ...rejected.map((r) => `line ${r.line}: ${r.reason}`),
    ...(moreRejected ? [`and ${moreRejected} more line(s) that could not be read`] : []),
  ];
}
