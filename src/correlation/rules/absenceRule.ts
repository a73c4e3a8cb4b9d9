import type { VigilEvent } from '../../model/event.ts';
import { parseIncidentKey } from '../fieldPath.ts';
import { formatDuration } from '../incidentBook.ts';
import { RuleCore, autoResolve, isOpen, type EventRule, type RuleContext, type RuleSettings } from './rule.ts';

/**
 * "Silence is deadly": each group's last event time is a high-water mark (merges by max across
 * agents). The timer opens an incident for a group silent longer than `interval`; its next
 * event resolves it.
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
    // Only a silence of at least `interval` can have opened an incident: a group heard from
    // recently skips the incident lookup.
    if (last !== undefined && tMs - last < this.intervalMs) return;
    const rec = ctx.book.get(mark.slice(2));
    if (isOpen(rec) && tMs >= rec.incident.openedAtMs - this.intervalMs) {
      autoResolve(this, rec, tMs, `event received after ${formatDuration(tMs - (rec.incident.openedAtMs - this.intervalMs))} of silence`, e, ctx);
    }
  }

  onTick(evalMs: number, ctx: RuleContext, marks: readonly string[]): void {
    for (const stateKey of marks) {
      const lastSeen = ctx.store.readMax(stateKey);
      if (lastSeen === undefined || evalMs - lastSeen < this.intervalMs) continue;
      const key = stateKey.slice(2);
      const rec = ctx.book.get(key);
      if (rec && rec.incident.status !== 'resolved') continue;
      // Resolved after the last event (by a person, or at a reload): this silence was handled.
      if (rec && rec.incident.resolvedAtMs > lastSeen) continue;
      const labels = parseIncidentKey(key)?.labels ?? {};
      ctx.book.open(
        {
          policy: this.policy,
          key,
          labels,
          atMs: lastSeen + this.intervalMs,
          count: 0,
          reason: `no event for ${formatDuration(this.intervalMs)} (last at ${new Date(lastSeen).toISOString()})`,
          title: this.policy.title ?? `No events from ${Object.values(labels).join(' ') || this.name} for ${formatDuration(this.intervalMs)}`,
        },
        ctx.out,
      );
    }
  }
}
