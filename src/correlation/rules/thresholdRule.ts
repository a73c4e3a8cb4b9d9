import type { VigilEvent } from '../../model/event.ts';
import { formatDuration, type IncidentRecord } from '../incidentBook.ts';
import { RuleCore, autoResolve, isOpen, markOpen, mayBeOpen, type EventRule, type RuleContext, type RuleSettings } from './rule.ts';

export interface ThresholdParams {
  windowMs: number;
  bucketMs: number;
  threshold: number;
  resolveBelow: number;
  /** Adds a field's value instead of 1 per event. */
  sum: ((e: VigilEvent) => number) | undefined;
}

/**
 * Count (or sum) of matching events per group in a sliding window, kept as per-bucket counters
 * in the store (they merge by addition across agents). Opens when a window reaches
 * `threshold`; resolves, on the timer, once a window ending after the last event falls below
 * `resolve_below`: the gap between the two is the hysteresis that keeps a storm one incident.
 */
export class ThresholdRule extends RuleCore implements EventRule {
  readonly signal = 'logs';
  readonly kind = 'threshold';
  readonly match: (e: VigilEvent) => boolean;
  private readonly p: ThresholdParams;
  private readonly buckets: number;

  constructor(s: RuleSettings, match: (e: VigilEvent) => boolean, params: ThresholdParams) {
    super(s);
    this.match = match;
    this.p = params;
    this.buckets = Math.max(1, Math.ceil(params.windowMs / params.bucketMs));
  }

  onEvent(e: VigilEvent, tMs: number, ctx: RuleContext): void {
    const { store, book } = ctx;
    const { bucketMs, threshold } = this.p;
    const nb = this.buckets;
    const counter = this.keys.key(e, 'c:');
    const b = Math.floor(tMs / bucketMs);
    store.addCount(counter, b, this.p.sum ? this.p.sum(e) : 1, (b + nb + 1) * bucketMs + this.latenessMs);
    if (mayBeOpen(store, counter)) {
      const rec = book.get(counter.slice(2));
      if (isOpen(rec)) {
        markOpen(store, counter, 0, tMs);
        book.attach(rec, this.policy, e, tMs, 1, ctx.out);
        return;
      }
    }
    // A late event also completes the windows that end after it, up to the clock.
    const last = Math.max(b, Math.min(b + nb - 1, Math.floor(ctx.nowMs / bucketMs)));
    for (let end = b; end <= last; end++) {
      const total = store.sumCounts(counter, end - nb + 1, end);
      if (total >= threshold) {
        let first = end - nb + 1;
        while (first < end && store.sumCounts(counter, first, first) === 0) first++;
        const what = this.p.sum ? 'sum' : 'count';
        markOpen(store, counter, 1, tMs);
        book.open(
          {
            policy: this.policy,
            key: counter.slice(2),
            labels: this.keys.labels(e),
            atMs: tMs,
            count: this.p.sum ? 1 : total,
            firstSeenMs: first * bucketMs,
            event: e,
            reason: `${what} ${total} ≥ ${threshold} within ${formatDuration(this.p.windowMs)}`,
          },
          ctx.out,
        );
        return;
      }
    }
  }

  onOpenIncident(rec: IncidentRecord, evalMs: number, ctx: RuleContext): void {
    // Only a window that ends after the last event can say the storm is over.
    if (evalMs < rec.incident.lastSeenMs) return;
    const end = Math.floor(evalMs / this.p.bucketMs);
    const total = ctx.store.sumCounts('c:' + rec.incident.key, end - this.buckets + 1, end);
    if (total < this.p.resolveBelow && this.policy.resolve !== 'never') {
      markOpen(ctx.store, 'c:' + rec.incident.key, -1, evalMs);
      autoResolve(this, rec, evalMs, `${this.p.sum ? 'sum' : 'count'} ${total} < ${this.p.resolveBelow} within ${formatDuration(this.p.windowMs)}`, undefined, ctx);
    }
  }
}
