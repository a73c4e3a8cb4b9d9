import type { VigilEvent } from '../../model/event.ts';
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

/**
 * Counts per group in windows aligned to multiples of `window`, the current against the one
 * before. A spike opens an incident; it resolves once a whole later window is no spike.
 */
export class SpikeRule extends RuleCore implements EventRule {
  readonly signal = 'logs';
  readonly kind = 'spike';
  readonly match: (e: VigilEvent) => boolean;
  private readonly windowMs: number;
  private readonly ratio: number;
  private readonly minCount: number;

  constructor(s: RuleSettings, match: (e: VigilEvent) => boolean, windowMs: number, ratio: number, minCount: number) {
    super(s);
    this.match = match;
    this.windowMs = windowMs;
    this.ratio = ratio;
    this.minCount = minCount;
  }

  private spike(counter: string, w: number, ctx: RuleContext): { cur: number; prev: number } | undefined {
    const cur = ctx.store.sumCounts(counter, w, w);
    const prev = ctx.store.sumCounts(counter, w - 1, w - 1);
    return cur >= this.minCount && cur >= this.ratio * Math.max(prev, 1) ? { cur, prev } : undefined;
  }

  onEvent(e: VigilEvent, tMs: number, ctx: RuleContext): void {
    const counter = this.keys.key(e, 'c:');
    const w = Math.floor(tMs / this.windowMs);
    ctx.store.addCount(counter, w, 1, (w + 3) * this.windowMs + this.latenessMs);
    const key = counter.slice(2);
    const rec = mayBeOpen(ctx.store, counter) ? ctx.book.get(key) : undefined;
    const open = isOpen(rec);
    if (open) markOpen(ctx.store, counter, 0, tMs);
    if (open && w <= rec.mark) {
      ctx.book.attach(rec, this.policy, e, tMs, 1, ctx.out);
      return;
    }
    const s = this.spike(counter, w, ctx);
    if (open) {
      if (s) rec.mark = w;
      ctx.book.attach(rec, this.policy, e, tMs, 1, ctx.out, s !== undefined);
      return;
    }
    if (!s) return;
    const opened = ctx.book.open(
      {
        policy: this.policy,
        key,
        labels: this.keys.labels(e),
        atMs: tMs,
        count: s.cur,
        event: e,
        reason: `${s.cur} events in ${formatDuration(this.windowMs)} vs ${s.prev} in the window before (ratio ≥ ${this.ratio})`,
      },
      ctx.out,
    );
    // Held back by max_open_incidents: no open mark for an incident that does not exist.
    if (!opened) return;
    markOpen(ctx.store, counter, 1, tMs);
    opened.mark = w;
    ctx.book.save(opened);
  }

  onOpenIncident(rec: IncidentRecord, evalMs: number, ctx: RuleContext): void {
    const done = Math.floor(evalMs / this.windowMs) - 1;
    if (done <= rec.mark) return;
    if (this.spike('c:' + rec.incident.key, done, ctx)) {
      rec.mark = done;
      ctx.book.save(rec);
      return;
    }
    if (this.policy.resolve !== 'never') markOpen(ctx.store, 'c:' + rec.incident.key, -1, evalMs);
    autoResolve(
      this,
      rec,
      evalMs,
      `no spike in the window ending ${new Date((done + 1) * this.windowMs).toISOString()}`,
      undefined,
      ctx,
    );
  }
}
