import type { VigilEvent } from '../../model/event.ts';
import { parseIncidentKey } from '../fieldPath.ts';
import { formatDuration } from '../incidentBook.ts';
import {
  RuleCore,
  autoResolve,
  isOpen,
  watermarkOf,
  type EventRule,
  type RuleContext,
  type RuleSettings,
} from './rule.ts';

/** Stands for "no event known before" in the gap list: the group's first event may still get an older one. */
const BEFORE_FIRST = Number.MIN_SAFE_INTEGER;

/** Buckets per interval of the `ah:` counter that tells whether any agent heard from a group within a gap. */
const HEARD_BUCKETS_PER_INTERVAL = 8;

/**
 * "Silence is deadly": a gap of at least `interval` between two of a group's events (in event
 * time) opens an incident dated `last + interval`, and the event that ends the gap resolves it
 * at its own time; a group that stays silent opens it too.
 *
 * Decisions wait for the watermark (the clock less the allowed lateness), so that an event
 * arriving late but inside a gap still splits it: the opening once the watermark passes
 * `last + interval`, the resolution once it passes the event that ends the gap. The group's last
 * event time is a high-water mark (merges by max across agents); the gaps of at least `interval`
 * seen but not yet settled are kept as `ag:` candidates, so only an event that lands inside one
 * does more than raise the mark (and a group's first event, while an older one could still leave
 * a gap before it).
 */
export class AbsenceRule extends RuleCore implements EventRule {
  readonly signal = 'logs';
  readonly kind = 'absence';
  readonly match: (e: VigilEvent) => boolean;
  private readonly intervalMs: number;
  private readonly forgetAfterMs: number;

  constructor(s: RuleSettings, match: (e: VigilEvent) => boolean, intervalMs: number, forgetAfterMs: number) {
    super(s);
    this.match = match;
    this.intervalMs = intervalMs;
    this.forgetAfterMs = forgetAfterMs;
  }

  onEvent(e: VigilEvent, tMs: number, ctx: RuleContext): void {
    const mark = this.keys.key(e, 'a:');
    const last = ctx.store.readMax(mark);
    ctx.store.raise(mark, tMs, tMs + this.forgetAfterMs);
    const q = this.heardBucketMs();
    ctx.store.addCount('ah:' + mark.slice(2), Math.floor(tMs / q), 1, tMs + 2 * this.intervalMs + this.latenessMs + q);
    const w = watermarkOf(this, ctx.nowMs);
    // A group heard from recently, in order, is the common case: nothing but the mark. So is a
    // group's first event, unless one older than it can still arrive and leave a gap before it.
    if (last === undefined ? tMs - w < this.intervalMs : tMs >= last && tMs - last < this.intervalMs) return;
    const key = mark.slice(2);
    const gapKey = 'ag:' + key;
    const gaps = (ctx.store.read(gapKey)?.value as number[] | undefined)?.slice() ?? [];
    if (last === undefined) {
      gaps.push(BEFORE_FIRST, tMs);
    } else if (tMs >= last) {
      gaps.push(last, tMs);
    } else {
      // Older than the newest event: it matters only inside a gap not yet settled, which it splits.
      let i = 0;
      while (i < gaps.length && !(gaps[i]! < tMs && tMs < gaps[i + 1]!)) i += 2;
      if (i === gaps.length) return;
      const from = gaps[i]!;
      const to = gaps[i + 1]!;
      const parts: number[] = [];
      if (from === BEFORE_FIRST || tMs - from >= this.intervalMs) parts.push(from, tMs);
      if (to - tMs >= this.intervalMs) parts.push(tMs, to);
      gaps.splice(i, 2, ...parts);
    }
    this.saveGaps(gapKey, gaps, ctx);
    this.settle(key, w, ctx, gaps, this.keys.labels(e), e, tMs);
  }

  onTick(evalMs: number, ctx: RuleContext, marks: readonly string[]): void {
    const prefix = 'ag:' + this.name + '{';
    for (const gapKey of [...ctx.store.keys(prefix)]) {
      const gaps = (ctx.store.read(gapKey)?.value as number[] | undefined)?.slice();
      if (gaps && gaps.length > 0 && evalMs - gaps[0]! >= this.intervalMs)
        this.settle(gapKey.slice(3), evalMs, ctx, gaps);
    }
    for (const stateKey of marks) {
      const lastSeen = ctx.store.readMax(stateKey);
      if (lastSeen === undefined || evalMs - lastSeen < this.intervalMs) continue;
      this.settleSilence(stateKey.slice(2), lastSeen, ctx);
    }
  }

  /**
   * Settles, in event-time order, the group's gaps that the watermark `w` has passed: a gap opens
   * once `w` reaches `from + interval` (no event inside it can still arrive) and resolves once
   * `w` reaches its end (no earlier event can still end it). `e` is the event that arrived at
   * `tMs`, folded into the resolution it makes.
   */
  private settle(
    key: string,
    w: number,
    ctx: RuleContext,
    gaps: number[],
    labels?: Record<string, string>,
    e?: VigilEvent,
    tMs?: number,
  ): void {
    let settled = 0;
    while (settled < gaps.length && w - gaps[settled]! >= this.intervalMs) {
      const from = gaps[settled]!;
      const to = gaps[settled + 1]!;
      if (from === BEFORE_FIRST) {
        // Once the watermark reaches the group's first event, no older one can come.
        if (w < to) break;
        settled += 2;
        continue;
      }
      // The gap is this agent's view; another agent may have had an event inside it that this
      // one has not seen (only the highest event time travels in the mark): then there was no silence.
      if (from === BEFORE_FIRST || !this.heardWithin(key, from, ctx)) this.settleSilence(key, from, ctx, labels);
      if (w < to) break;
      const rec = ctx.book.get(key);
      if (isOpen(rec) && to >= rec.incident.openedAtMs - this.intervalMs) {
        autoResolve(
          this,
          rec,
          to,
          `event received after ${formatDuration(to - from)} of silence`,
          to === tMs ? e : undefined,
          ctx,
        );
      }
      settled += 2;
    }
    if (settled > 0) this.saveGaps('ag:' + key, gaps.slice(settled), ctx);
  }

  private heardBucketMs(): number {
    return Math.max(1, Math.floor(this.intervalMs / HEARD_BUCKETS_PER_INTERVAL));
  }

  /**
   * Whether any agent counted an event of the group in a bucket wholly inside (from, from +
   * interval): the silence after `from` was broken. Buckets that straddle an edge are left out,
   * so an event within a bucket's width of either edge is missed, never made up.
   */
  private heardWithin(key: string, from: number, ctx: RuleContext): boolean {
    const q = this.heardBucketMs();
    const first = Math.floor(from / q) + 1;
    const last = Math.floor((from + this.intervalMs) / q) - 1;
    return last >= first && ctx.store.sumCounts('ah:' + key, first, last) > 0;
  }

  private saveGaps(gapKey: string, gaps: number[], ctx: RuleContext): void {
    if (gaps.length === 0) ctx.store.delete(gapKey, ctx.nowMs);
    else ctx.store.write(gapKey, gaps, ctx.nowMs, gaps[gaps.length - 1]! + this.forgetAfterMs);
  }

  /**
   * Opens the incident of a silence of at least `interval` after `lastSeen`, dated when it
   * reached `interval`, unless it is open already or was resolved after `lastSeen` (by a person,
   * or at a reload: that silence was handled).
   */
  private settleSilence(key: string, lastSeen: number, ctx: RuleContext, labels?: Record<string, string>): void {
    const rec = ctx.book.get(key);
    if (rec && (rec.incident.status !== 'resolved' || rec.incident.resolvedAtMs > lastSeen)) return;
    const l = labels ?? parseIncidentKey(key)?.labels ?? {};
    ctx.book.open(
      {
        policy: this.policy,
        key,
        labels: l,
        atMs: lastSeen + this.intervalMs,
        count: 0,
        reason: `no event for ${formatDuration(this.intervalMs)} (last at ${new Date(lastSeen).toISOString()})`,
        title:
          this.policy.title ??
          `No events from ${Object.values(l).join(' ') || this.name} for ${formatDuration(this.intervalMs)}`,
      },
      ctx.out,
    );
  }
}
