import type { MetricPoint } from '../../model/metric.ts';
import { formatDuration, type IncidentRecord } from '../incidentBook.ts';
import { RuleCore, autoResolve, isOpen, type PointRule, type RuleContext, type RuleSettings } from './rule.ts';

export type Aggregation = 'avg' | 'max' | 'min' | 'last' | 'rate';
export type Comparison = '>' | '>=' | '<' | '<=';

export interface MetricThresholdParams {
  metric: string;
  aggregation: Aggregation;
  windowMs: number;
  bucketMs: number;
  op: Comparison;
  value: number;
  forMs: number;
}

/** A point's value: gauges and sums as they are, distributions by their mean. */
function pointValue(p: MetricPoint): number | undefined {
  if (p.kind === 'gauge' || p.kind === 'sum') return p.value;
  return p.count > 0 ? p.sum / p.count : undefined;
}

function compare(a: number, op: Comparison, b: number): boolean {
  switch (op) {
    case '>':
      return a > b;
    case '>=':
      return a >= b;
    case '<':
      return a < b;
    default:
      return a <= b;
  }
}

/**
 * An aggregation of one metric series per group over a sliding window, compared with a value;
 * the comparison must hold for `for` before the incident opens, and it resolves when it no
 * longer holds. Window state stays mergeable: sums and counts per bucket as counters, max and
 * min per bucket as high-water marks (min as the mark of the negated value), the last value and
 * the previous cumulative reading as registers versioned by point time.
 */
export class MetricThresholdRule extends RuleCore implements PointRule {
  readonly signal = 'metrics';
  readonly kind = 'metric_threshold';
  readonly metric: string;
  readonly match: (p: MetricPoint) => boolean;
  private readonly p: MetricThresholdParams;
  private readonly buckets: number;

  constructor(s: RuleSettings, match: (p: MetricPoint) => boolean, params: MetricThresholdParams) {
    super(s);
    this.match = match;
    this.metric = params.metric;
    this.p = params;
    this.buckets = Math.max(1, Math.ceil(params.windowMs / params.bucketMs));
  }

  onPoint(point: MetricPoint, tMs: number, ctx: RuleContext): void {
    const v = pointValue(point);
    if (v === undefined || !Number.isFinite(v)) return;
    const key = this.keys.key(point);
    const value = this.record(key, point, v, tMs, ctx);
    if (value === undefined) return;
    const { store, book } = ctx;
    const rec = book.get(key);
    const holds = compare(value, this.p.op, this.p.value);
    const desc = `${this.p.aggregation}(${this.metric}) over ${formatDuration(this.p.windowMs)} = ${round(value)}`;
    if (!holds) {
      store.delete('mf:' + key, tMs);
      if (isOpen(rec)) autoResolve(this, rec, tMs, `${desc}, no longer ${this.p.op} ${this.p.value}`, undefined, ctx);
      return;
    }
    if (isOpen(rec)) {
      book.attach(rec, this.policy, undefined, tMs, 1, ctx.out);
      return;
    }
    const since = store.read('mf:' + key);
    const sinceMs = since === undefined ? tMs : Math.min(since.value as number, tMs);
    if (since === undefined || sinceMs < (since.value as number))
      store.write('mf:' + key, sinceMs, tMs, tMs + this.p.forMs + this.p.windowMs + this.latenessMs);
    if (tMs - sinceMs < this.p.forMs) return;
    store.delete('mf:' + key, tMs);
    book.open(
      {
        policy: this.policy,
        key,
        labels: this.keys.labels(point),
        atMs: tMs,
        count: 1,
        reason: `${desc} ${this.p.op} ${this.p.value}${this.p.forMs ? ` for ${formatDuration(this.p.forMs)}` : ''}`,
        title: this.policy.title ?? `${this.metric} ${this.p.aggregation} ${this.p.op} ${this.p.value}`,
      },
      ctx.out,
    );
  }

  /** Adds the point to the window state and returns the window's aggregate. */
  private record(key: string, point: MetricPoint, v: number, tMs: number, ctx: RuleContext): number | undefined {
    const { store } = ctx;
    const { bucketMs, windowMs } = this.p;
    const nb = this.buckets;
    const b = Math.floor(tMs / bucketMs);
    const expires = (b + nb + 1) * bucketMs + this.latenessMs;
    switch (this.p.aggregation) {
      case 'avg':
        store.addCount('ms:' + key, b, v, expires);
        store.addCount('mn:' + key, b, 1, expires);
        return store.sumCounts('ms:' + key, b - nb + 1, b) / store.sumCounts('mn:' + key, b - nb + 1, b);
      case 'max':
      case 'min': {
        const sign = this.p.aggregation === 'max' ? 1 : -1;
        store.raise(`mx:${key}#${b}`, sign * v, expires);
        let m = -Infinity;
        for (let i = b - nb + 1; i <= b; i++) {
          const x = store.readMax(`mx:${key}#${i}`);
          if (x !== undefined && x > m) m = x;
        }
        return sign * m;
      }
      case 'last':
        store.write('ml:' + key, v, tMs, expires);
        return store.read('ml:' + key)!.value as number;
      case 'rate': {
        let delta = v;
        if (point.kind === 'sum' && point.temporality === 2) {
          const prev = store.read('mp:' + key);
          if (prev !== undefined && prev.version >= tMs) return undefined;
          store.write('mp:' + key, v, tMs, tMs + windowMs + this.latenessMs);
          if (prev === undefined) return undefined;
          const pv = prev.value as number;
          // A cumulative counter that went down restarted from zero.
          delta = v >= pv ? v - pv : v;
        }
        store.addCount('mr:' + key, b, delta, expires);
        return store.sumCounts('mr:' + key, b - nb + 1, b) / (windowMs / 1000);
      }
    }
  }

  onOpenIncident(rec: IncidentRecord, evalMs: number, ctx: RuleContext): void {
    // A series that stopped reporting cannot keep its incident open forever: once a whole window
    // passed with no point, nothing backs the condition any more.
    if (evalMs - rec.incident.lastSeenMs >= this.p.windowMs) {
      autoResolve(this, rec, evalMs, `no ${this.metric} point for ${formatDuration(this.p.windowMs)}`, undefined, ctx);
    }
  }
}

function round(n: number): number {
  return Math.round(n * 1000) / 1000;
}
