import type { VigilEvent } from '../../model/event.ts';
import { parseIncidentKey } from '../fieldPath.ts';
import { formatDuration, type IncidentRecord } from '../incidentBook.ts';
import { RuleCore, autoResolve, isOpen, type EventRule, type RuleContext, type RuleSettings } from './rule.ts';

/**
 * "Silence is deadly": each group's last event time is a high-water mark (merges by max across
 * agents). A silence of at least `interval` opens an incident dated `last + interval`, settled
 * by the group's next event or, for a group that stays silent, by the timer; that next event
 * resolves it.
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
    if (last === undefined || tMs - last < this.intervalMs) return;
    const key = mark.slice(2);
    // The silence this event ends was due before it: settle it first, as the timer would have
    // once the lateness passed, so the decision does not depend on which of the two comes first.
    const rec = this.settleSilence(key, last, ctx, this.keys.labels(e)) ?? ctx.book.get(key);
    if (isOpen(rec) && tMs >= rec.incident.openedAtMs - this.intervalMs) {
      autoResolve(this, rec, tMs, `event received after ${formatDuration(tMs - (rec.incident.openedAtMs - this.intervalMs))} of silence`, e, ctx);
    }
  }

  onTick(evalMs: number, ctx: RuleContext, marks: readonly string[]): void {
    for (const stateKey of marks) {
      const lastSeen = ctx.store.readMax(stateKey);
      if (lastSeen === undefined || evalMs - lastSeen < this.intervalMs) continue;
      this.settleSilence(stateKey.slice(2), lastSeen, ctx);
    }
  }

  /**
   * Opens the incident of a silence of at least `interval` after `lastSeen`, dated when it
   * reached `interval`, unless it is open already or was resolved after `lastSeen` (by a person,
   * or at a reload: that silence was handled). Returns the incident it opened.
   */
  private settleSilence(key: string, lastSeen: number, ctx: RuleContext, labels?: Record<string, string>): IncidentRecord | undefined {
    const rec = ctx.book.get(key);
    if (rec && (rec.incident.status !== 'resolved' || rec.incident.resolvedAtMs > lastSeen)) return undefined;
    const l = labels ?? parseIncidentKey(key)?.labels ?? {};
    return ctx.book.open(
      {
        policy: this.policy,
        key,
        labels: l,
        atMs: lastSeen + this.intervalMs,
        count: 0,
        reason: `no event for ${formatDuration(this.intervalMs)} (last at ${new Date(lastSeen).toISOString()})`,
        title: this.policy.title ?? `No events from ${Object.values(l).join(' ') || this.name} for ${formatDuration(this.intervalMs)}`,
      },
      ctx.out,
    );
  }
}
