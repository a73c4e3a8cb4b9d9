import type { VigilEvent } from '../../model/event.ts';
import { parseIncidentKey } from '../fieldPath.ts';
import { formatDuration, type IncidentRecord } from '../incidentBook.ts';
import {
  RuleCore,
  autoResolve,
  isOpen,
  markOpen,
  mayBeOpen,
  type EventRule,
  type RuleContext,
  type RuleSettings,
} from './rule.ts';

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
 * `threshold`; resolves at the end of the first window ending after the last event that holds
 * less than `resolve_below` (settled by the group's next event or by the timer): the gap between
 * the two is the hysteresis that keeps a storm one incident.
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
    const key = counter.slice(2);
    const b = Math.floor(tMs / bucketMs);
    store.addCount(counter, b, this.p.sum ? this.p.sum(e) : 1, (b + nb + 1) * bucketMs + this.latenessMs);
    if (mayBeOpen(store, counter)) {
      const rec = book.get(key);
      // A window that closed between the last event and this one may have ended the storm: it
      // resolves first, dated at its end (its count without this event), and this event then
      // counts towards a fresh incident.
      if (isOpen(rec) && !this.settleQuiet(rec, b - 1, ctx)) {
        book.countEvent(key, tMs);
        markOpen(store, counter, 0, tMs);
        book.attach(rec, this.policy, e, tMs, 1, ctx.out);
        return;
      }
    }
    book.countEvent(key, tMs);
    // A late event also completes the windows that end after it, up to the clock.
    const upToMs = Math.max(ctx.nowMs, tMs);
    const last = Math.max(b, Math.min(b + nb - 1, Math.floor(ctx.nowMs / bucketMs)));
    // Looked up only once a window reaches the threshold: most events of a group reach none.
    let resolvedAtMs: number | undefined;
    for (let end = b; end <= last; end++) {
      const total = store.sumCounts(counter, end - nb + 1, end);
      if (total < threshold) continue;
      resolvedAtMs ??= lastResolutionOf(book.get(key));
      const span = this.crossingSpan(end, upToMs, resolvedAtMs);
      if (span === undefined) continue;
      // A late event dated the opening before the window that crossed: the next event then found
      // the incident's windows quiet and resolved it at once, and an opening before the
      // resolution it follows lost to that resolution when agents' records merged. Either way
      // one storm made two incidents.
      const atMs = Math.max(tMs, span[0]);
      let first = end - nb + 1;
      while (first < end && store.sumCounts(counter, first, first) === 0) first++;
      const what = this.p.sum ? 'sum' : 'count';
      const opened = book.open(
        {
          policy: this.policy,
          key,
          labels: this.keys.labels(e),
          atMs,
          count: this.p.sum ? 1 : total,
          counted: true,
          firstSeenMs: first * bucketMs,
          event: e,
          reason: `${what} ${total} ≥ ${threshold} within ${formatDuration(this.p.windowMs)}`,
        },
        ctx.out,
      );
      // Held back by max_open_incidents: no open mark for an incident that does not exist.
      if (opened) markOpen(store, counter, 1, atMs);
      return;
    }
  }

  /**
   * Where the crossing of the window that ends in bucket `end` can be placed: within that
   * bucket, up to `upToMs` (the buckets hold counts, not times: the count reached the threshold
   * with the bucket's events, though a late event of an earlier bucket may have completed it),
   * and after the group's last resolution. Undefined for a window that ended before it: its
   * events were the resolved incident's. An opening dated before the resolution it follows is
   * undone by it when agents' records merge (the latest status by event time wins, a resolution
   * at a tie), so it is placed a millisecond after, unless `upToMs` is the resolution's moment.
   */
  private crossingSpan(
    end: number,
    upToMs: number,
    resolvedAtMs: number,
  ): [startMs: number, endMs: number] | undefined {
    const { bucketMs } = this.p;
    const endMs = Math.min(upToMs, (end + 1) * bucketMs - 1);
    if (endMs < resolvedAtMs) return undefined;
    return [Math.max(end * bucketMs, Math.min(resolvedAtMs + 1, endMs)), endMs];
  }

  /**
   * Opens the incident of a window that reached the threshold only with other agents' events,
   * the last of which came to different agents within one flush: none saw the whole count.
   * The shared counts hold no event times, only counts per bucket: the opening is placed in the
   * first such window's last bucket (up to now) as far into it as the events that brought the
   * window to the threshold are among the bucket's, as if they came evenly. Dating it at the
   * bucket's end instead put it up to a bucket later than one agent fed every event would.
   * Windows that ended before the group's last incident was resolved are past.
   */
  onMergedCount(counter: string, ctx: RuleContext): void {
    if (this.p.sum) return;
    const { store, book } = ctx;
    const key = counter.slice(2);
    const rec = book.get(key);
    // Open already, or known open elsewhere though its record has not come yet.
    if (isOpen(rec) || (mayBeOpen(store, counter) && rec === undefined)) return;
    const resolvedAtMs = lastResolutionOf(rec);
    const { bucketMs, threshold } = this.p;
    const nb = this.buckets;
    const nowB = Math.floor(ctx.nowMs / bucketMs);
    for (let end = nowB - nb + 1; end <= nowB; end++) {
      const span = this.crossingSpan(end, ctx.nowMs, resolvedAtMs);
      // At the resolution's own moment the merge would take the resolution for the later: the
      // next tick places the opening after it.
      if (span === undefined || span[1] === resolvedAtMs) continue;
      const total = store.sumCounts(counter, end - nb + 1, end);
      if (total < threshold) continue;
      const [startMs, endMs] = span;
      let first = end - nb + 1;
      while (first < end && store.sumCounts(counter, first, first) === 0) first++;
      const inBucket = store.sumCounts(counter, end, end);
      // Of the bucket's events, the one that made the window's count the threshold.
      const nth = Math.min(Math.max(threshold - (total - inBucket), 0), inBucket);
      const atMs = inBucket === 0 ? startMs : startMs + Math.floor(((endMs - startMs) * nth) / inBucket);
      const labels = parseIncidentKey(key)?.labels ?? {};
      const opened = book.open(
        {
          policy: this.policy,
          key,
          labels,
          atMs,
          count: total,
          counted: true,
          firstSeenMs: first * bucketMs,
          reason: `count ${total} ≥ ${threshold} within ${formatDuration(this.p.windowMs)}, with other agents' events`,
        },
        ctx.out,
      );
      if (opened) markOpen(store, counter, 1, atMs);
      return;
    }
  }

  onOpenIncident(rec: IncidentRecord, evalMs: number, ctx: RuleContext): void {
    // Only windows whose last bucket is over: a later event in that bucket still counts in them.
    this.settleQuiet(rec, Math.floor(evalMs / this.p.bucketMs) - 1, ctx);
  }

  /**
   * Resolves an open incident at the end of the first window that ends after its last event, in
   * a bucket up to `lastBucket`, and holds less than `resolve_below`; true when it did. The
   * decision and its time depend only on the events, never on whether a tick or the group's next
   * event asked. A window of buckets none of which is newer than the last event holds nothing, so
   * the scan stops after one window's worth of buckets.
   */
  private settleQuiet(rec: IncidentRecord, lastBucket: number, ctx: RuleContext): boolean {
    if (this.policy.resolve === 'never') return false;
    const { bucketMs, resolveBelow } = this.p;
    const nb = this.buckets;
    const counter = 'c:' + rec.incident.key;
    const first = Math.floor(rec.incident.lastSeenMs / bucketMs);
    const last = Math.min(lastBucket, first + nb);
    if (last < first) return false;
    const store = ctx.store;
    let total = store.sumCounts(counter, first - nb + 1, first);
    for (let end = first; ; end++) {
      if (total < resolveBelow) {
        const atMs = (end + 1) * bucketMs;
        markOpen(store, counter, -1, atMs);
        autoResolve(
          this,
          rec,
          atMs,
          `${this.p.sum ? 'sum' : 'count'} ${total} < ${resolveBelow} within ${formatDuration(this.p.windowMs)}`,
          undefined,
          ctx,
        );
        return true;
      }
      if (end === last) return false;
      total += store.sumCounts(counter, end + 1, end + 1) - store.sumCounts(counter, end - nb + 1, end - nb + 1);
    }
  }
}

/** When the group's last incident was resolved; -∞ when none was, or it is open. */
function lastResolutionOf(rec: IncidentRecord | undefined): number {
  return rec?.incident.status === 'resolved' ? rec.incident.resolvedAtMs : Number.NEGATIVE_INFINITY;
}
