import type { VigilEvent } from '../../model/event.ts';
import type { KeyBuilder } from '../fieldPath.ts';
import { formatDuration, type IncidentRecord } from '../incidentBook.ts';
import { RuleCore, autoResolve, isOpen, type EventRule, type RuleContext, type RuleSettings } from './rule.ts';

export interface PairParams {
  isDown: (e: VigilEvent) => boolean;
  isUp: (e: VigilEvent) => boolean;
  /** Names the member inside a group; undefined when each group is its own only member. */
  members: KeyBuilder | undefined;
  deadlineMs: number | undefined;
  flapping: { transitions: number; windowMs: number; bucketMs: number } | undefined;
}

/** How long a member's last state is remembered after its last event. */
const STATE_TTL_MS = 7 * 86_400_000;

/**
 * Down opens, up resolves. Each member's last state is a register versioned by event time, so
 * an event older than the state already known (out of order) cannot undo it, and an up that
 * arrives first is remembered: the down it recovers from, arriving late, then changes nothing.
 * Transitions are counted per group; enough of them in a window turn the incident into one
 * flapping incident that no further transition opens or resolves.
 */
export class PairRule extends RuleCore implements EventRule {
  readonly signal = 'logs';
  readonly kind = 'pair';
  readonly match: (e: VigilEvent) => boolean;
  private readonly p: PairParams;

  constructor(s: RuleSettings, match: (e: VigilEvent) => boolean, params: PairParams) {
    super(s);
    this.match = match;
    this.p = params;
  }

  onEvent(e: VigilEvent, tMs: number, ctx: RuleContext): void {
    const down = this.p.isDown(e);
    if (!down && !this.p.isUp(e)) return;
    const { store, book } = ctx;
    const key = this.keys.key(e);
    const member = this.p.members ? this.p.members.key(e) : '';
    const stateKey = 'p:' + key + member;
    const prev = store.read(stateKey);
    if (prev !== undefined && prev.version > tMs) {
      ctx.ignore(this.name, 'older_than_state');
      return;
    }
    book.countEvent(key, tMs);
    let rec = book.get(key);
    // A deadline that passed before this event was due first, whether a tick or this event settles it.
    if (isOpen(rec)) this.settleDeadline(rec, tMs, ctx);
    const state = down ? 'down' : 'up';
    const transition = prev === undefined ? down : prev.value !== state;
    store.write(stateKey, state, tMs, tMs + STATE_TTL_MS);
    let flappingNow = false;
    const f = this.p.flapping;
    if (transition && f) {
      const b = Math.floor(tMs / f.bucketMs);
      const nb = Math.ceil(f.windowMs / f.bucketMs);
      store.addCount('f:' + key, b, 1, (b + nb + 1) * f.bucketMs + this.latenessMs);
      flappingNow = store.sumCounts('f:' + key, b - nb + 1, b) >= f.transitions;
    }
    if (flappingNow && !(rec?.flapping && isOpen(rec))) {
      rec = book.open(
        {
          policy: this.policy,
          key,
          labels: this.keys.labels(e),
          atMs: tMs,
          count: 1,
          counted: true,
          event: e,
          reason: `${state} event`,
        },
        ctx.out,
      );
      if (!rec) return;
      rec.members[member] = state;
      rec.flapping = true;
      book.announce(
        rec,
        'updated',
        `flapping: ${f!.transitions} transitions within ${formatDuration(f!.windowMs)}; one incident until it settles`,
        tMs,
        ctx.out,
      );
      return;
    }
    if (down) {
      rec = book.open(
        {
          policy: this.policy,
          key,
          labels: this.keys.labels(e),
          atMs: tMs,
          count: 1,
          counted: true,
          event: e,
          reason: 'down event',
        },
        ctx.out,
      );
      if (!rec) return;
      // Down again: its count, last seen and sample travel on their own (see `attach`), and the
      // record, which agents sharing state ship whole and join, stays as it was.
      if (rec.members[member] === 'down' && rec.lastDown === member) return;
      rec.members[member] = 'down';
      rec.lastDown = member;
      book.save(rec);
      return;
    }
    if (!isOpen(rec) || rec.members[member] === undefined) {
      // Up with no known down: nothing to resolve.
      ctx.ignore(this.name, 'up_without_down');
      return;
    }
    const changed = rec.members[member] !== 'up';
    rec.members[member] = 'up';
    if (rec.flapping || !this.recovered(rec, member)) {
      book.attach(rec, this.policy, e, tMs, 1, ctx.out, changed);
      return;
    }
    autoResolve(this, rec, tMs, this.p.members ? `up event (${this.policy.resolve} recovered)` : 'up event', e, ctx);
    if (isOpen(rec)) book.attach(rec, this.policy, e, tMs, 1, ctx.out, changed);
  }

  private recovered(rec: IncidentRecord, member: string): boolean {
    switch (this.policy.resolve) {
      case 'first':
        return true;
      case 'last':
        return member === rec.lastDown;
      default:
        return Object.values(rec.members).every((s) => s === 'up');
    }
  }

  onOpenIncident(rec: IncidentRecord, evalMs: number, ctx: RuleContext): void {
    const inc = rec.incident;
    const f = this.p.flapping;
    if (!rec.flapping && this.settleRemoteUps(rec, ctx)) return;
    if (rec.flapping && f) {
      if (evalMs < inc.lastSeenMs) return;
      const end = Math.floor(evalMs / f.bucketMs);
      const n = ctx.store.sumCounts('f:' + inc.key, end - Math.ceil(f.windowMs / f.bucketMs) + 1, end);
      if (n >= f.transitions) return;
      rec.flapping = false;
      const allUp = Object.values(rec.members).every((s) => s === 'up');
      if (allUp && this.policy.resolve !== 'never') {
        ctx.book.resolve(
          rec,
          this.policy,
          evalMs,
          `stopped flapping and is up (${n} transition(s) within ${formatDuration(f.windowMs)})`,
          undefined,
          ctx.out,
        );
      } else {
        ctx.book.announce(
          rec,
          'updated',
          `stopped flapping (${n} transition(s) within ${formatDuration(f.windowMs)}); ${allUp ? 'up' : 'still down'}`,
          evalMs,
          ctx.out,
        );
      }
      return;
    }
    this.settleDeadline(rec, evalMs, ctx);
  }

  /**
   * Resolves an incident whose members another agent saw come back up: that agent had no incident
   * to resolve (its up came before it heard of the down, or while the agents could not share
   * state), but the member's state register, versioned by event time, holds the up. Dated at the
   * up that completed the recovery. True when it resolved.
   */
  private settleRemoteUps(rec: IncidentRecord, ctx: RuleContext): boolean {
    const key = rec.incident.key;
    const members = this.p.members ? Object.keys(rec.members) : [''];
    let upAtMs = -1;
    let recoveredBy = '';
    for (const member of members) {
      const reg = ctx.store.read('p:' + key + member);
      if (reg === undefined || reg.value !== 'up' || rec.members[member] === 'up') continue;
      rec.members[member] = 'up';
      if (reg.version > upAtMs) {
        upAtMs = reg.version;
        recoveredBy = member;
      }
    }
    if (upAtMs < 0) return false;
    if (!this.recovered(rec, recoveredBy) || this.policy.resolve === 'never') {
      ctx.book.save(rec);
      return false;
    }
    autoResolve(
      this,
      rec,
      Math.max(upAtMs, rec.incident.openedAtMs),
      this.p.members
        ? `up event (${this.policy.resolve} recovered; seen by another agent)`
        : 'up event (seen by another agent)',
      undefined,
      ctx,
    );
    return true;
  }

  /**
   * Opens the next incident when a member's latest state, by event time, is a down that came
   * after the resolution: this agent attached that down to the incident it still thought open.
   */
  onResolvedElsewhere(rec: IncidentRecord, ctx: RuleContext): void {
    if (rec.flapping) return;
    const inc = rec.incident;
    let downAtMs = -1;
    let downMember = '';
    for (const member of this.p.members ? Object.keys(rec.members) : ['']) {
      const reg = ctx.store.read('p:' + inc.key + member);
      if (reg?.value === 'down' && reg.version > inc.resolvedAtMs && reg.version > downAtMs) {
        downAtMs = reg.version;
        downMember = member;
      }
    }
    if (downAtMs < 0) return;
    const next = ctx.book.open(
      {
        policy: this.policy,
        key: inc.key,
        labels: inc.labels,
        atMs: downAtMs,
        count: 1,
        counted: true,
        reason: 'down event after the resolution (the agent that saw it had not heard of the resolution yet)',
      },
      ctx.out,
    );
    if (!next) return;
    next.members[downMember] = 'down';
    next.lastDown = downMember;
    ctx.book.save(next);
  }

  /** Escalates an open incident not recovered by `atMs`, dated at its deadline. */
  private settleDeadline(rec: IncidentRecord, atMs: number, ctx: RuleContext): void {
    const d = this.p.deadlineMs;
    if (d === undefined || rec.escalated || rec.flapping) return;
    const due = rec.incident.openedAtMs + d;
    if (atMs < due) return;
    rec.escalated = true;
    ctx.book.announce(rec, 'escalated', `not recovered within ${formatDuration(d)}`, due, ctx.out);
  }
}
