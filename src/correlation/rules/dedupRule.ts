import type { VigilEvent } from '../../model/event.ts';
import { formatDuration, type IncidentRecord } from '../incidentBook.ts';
import { RuleCore, autoResolve, isOpen, type EventRule, type RuleContext, type RuleSettings } from './rule.ts';

/**
 * Events with one fingerprint fold into one incident while they keep repeating within
 * `dedup_window`; the incident counts the repeats and resolves once a window passes without one.
 */
export class DedupRule extends RuleCore implements EventRule {
  readonly signal = 'logs';
  readonly kind = 'dedup';
  readonly match: (e: VigilEvent) => boolean;
  private readonly windowMs: number;

  constructor(s: RuleSettings, match: (e: VigilEvent) => boolean, windowMs: number) {
    super(s);
    this.match = match;
    this.windowMs = windowMs;
  }

  onEvent(e: VigilEvent, tMs: number, ctx: RuleContext): void {
    const key = this.keys.key(e);
    const last = ctx.store.readMax('d:' + key);
    ctx.store.raise('d:' + key, tMs, tMs + this.windowMs + this.latenessMs);
    ctx.book.countEvent(key, tMs);
    const rec = ctx.book.get(key);
    if (isOpen(rec) && (last === undefined || tMs - last < this.windowMs || tMs < last)) {
      ctx.book.attach(rec, this.policy, e, tMs, 1, ctx.out);
      return;
    }
    ctx.book.open(
      {
        policy: this.policy,
        key,
        labels: this.keys.labels(e),
        atMs: tMs,
        count: 1,
        counted: true,
        event: e,
        reason: 'first occurrence',
      },
      ctx.out,
    );
  }

  onOpenIncident(rec: IncidentRecord, evalMs: number, ctx: RuleContext): void {
    const last = ctx.store.readMax('d:' + rec.incident.key) ?? rec.incident.lastSeenMs;
    if (evalMs - last >= this.windowMs)
      autoResolve(
        this,
        rec,
        evalMs,
        `no repeat within dedup_window ${formatDuration(this.windowMs)} (${rec.incident.eventCount} occurrence(s))`,
        undefined,
        ctx,
      );
  }
}
