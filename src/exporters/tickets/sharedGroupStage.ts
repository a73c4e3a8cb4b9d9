import type { IncidentChange } from '../../model/incident.ts';
import {
  countByRoute,
  MemberIndex,
  WakeTimer,
  type GroupOutlet,
  type GroupStage,
  type RouteGroupCounts,
} from './groupStage.ts';
import { TicketLedgerUnavailableError } from './ledger.ts';
import { flushDueAtMs, flushGroup, groupMember, newGroup, type GroupState } from './notificationGroups.ts';
import type { RouteGrouping } from './routeGrouping.ts';
import {
  FLUSH_CLAIM_RETRY_MS,
  WRITE_BACK_WINDOW_MS,
  type GroupHeader,
  type SharedGroups,
  type SharedJoin,
} from './sharedGroups.ts';

/** Groups a sweep flushes at most; the next sweep takes the rest. */
const SWEEP_LIMIT = 100;

/** Groups flushed side by side. */
const FLUSH_BATCH = 32;

/** How often an agent checks that Redis still holds the groups (their generation). */
export const GENERATION_CHECK_MS = 1000;

export interface SharedGroupStageOptions extends GroupOutlet {
  shared: SharedGroups;
  /**
   * Where changes wait while the shared groups cannot be reached (a GroupStage with `holding`,
   * never started): in its file, so a restart keeps them; they join the shared groups once
   * Redis answers.
   */
  local: GroupStage;
  /** Told when changes start waiting for Redis (true) and once they have joined the shared groups (false). */
  onHeld?(held: boolean, groups: number): void;
  /** Told when Redis had lost the groups (their generation changed) and this agent wrote back the `groups` it knew. */
  onRestored?(groups: number): void;
}

/** A group's header: the group without its members. */
function headerOf(g: GroupState): GroupHeader {
  const { members: _, ...h } = g;
  return h;
}

/** Whether `h` lacks a flush that `known`, of the same group, records. */
const behind = (h: GroupHeader, known: GroupHeader): boolean =>
  h.version < known.version ||
  (h.version === known.version && (h.flushedAtMs ?? -Infinity) < (known.flushedAtMs ?? -Infinity));

const joinsOf = (g: GroupState): SharedJoin[] => Object.entries(g.members).map(([key, member]) => ({ key, member }));

/** What the group formed with, as a new shared group takes it: no flush, news or notification yet. */
function formed(g: GroupHeader): GroupHeader {
  const { key, id, labels, waitMs, intervalMs, repeatMs, createdAtMs } = g;
  return { key, id, labels, waitMs, intervalMs, repeatMs, createdAtMs, version: 0 };
}

/**
 * The notification groups of an exporter whose agents share Redis: each group lives there (see
 * SharedGroups), every agent's incidents join it, and at each flush one agent claims it,
 * notifies every member any agent added, and records the flush; the others, waking at the same
 * time, find the claim taken or the flush done and wait for the next. An agent keeps, for the
 * groups it heard of, the last state it saw (what the API, metrics and ticket sync read) and
 * when each flushes next; a sweep every claim time-to-live flushes the groups due that no agent
 * flushed (their agents died, or never knew of them), and merges the changes that waited
 * locally while Redis was unreachable.
 *
 * Redis may lose the groups (a restart without persistence, a failover to a replica that
 * missed writes, a FLUSHALL). The agents notice it by the groups' generation, checked every
 * second, before a flush, and when a join finds a group it knew formed anew; each then writes
 * back the groups it knows, with their last flush, so members are not lost and a group already
 * notified is not notified anew.
 */
export class SharedGroupStage {
  private readonly opts: SharedGroupStageOptions;
  /** Groups this agent heard of: the state it last saw (members: those it knows of) and their next flush. */
  private readonly known = new Map<string, { group: GroupState; dueAtMs: number }>();
  /** Incident key → keys of the known groups it is a member of. */
  private readonly holding = new MemberIndex();
  private chain: Promise<void> = Promise.resolve();
  private readonly timer: WakeTimer;
  private running = false;
  private nextSweepAtMs = 0;
  private held = false;
  /**
   * A call to Redis failed and no look of the timer has found it answering since: changes go
   * to disk at once, without trying Redis for each batch.
   */
  private unreachable = false;
  /** The groups' generation this agent last wrote its groups in; undefined until first read. */
  private generation: string | undefined;
  private nextCheckAtMs = 0;
  /** When this agent last found that Redis had lost the groups. */
  private lostAtMs = -Infinity;

  constructor(opts: SharedGroupStageOptions) {
    this.opts = opts;
    this.timer = new WakeTimer(opts.timers, () => {
      void this.flushDue().catch((err: unknown) => this.opts.onError(err));
    });
  }

  async open(): Promise<void> {
    await this.opts.local.open();
  }

  /** Starts the flush timers; the first sweep runs at once (groups of a previous run, or changes held locally). */
  start(): void {
    this.running = true;
    this.nextSweepAtMs = this.opts.timers.now();
    this.schedule();
  }

  get size(): number {
    return this.known.size + this.opts.local.size;
  }

  /** Groups whose changes wait on disk for Redis. */
  get waiting(): number {
    return this.opts.local.size;
  }

  async settled(): Promise<void> {
    await this.chain;
    await this.opts.local.settled();
  }

  groupsHolding(incident: { key: string; id: string }): string[] {
    const shared = [...this.holding.of(incident.key)].filter(
      (k) => this.known.get(k)?.group.members[incident.key]?.incident.id === incident.id,
    );
    return [...shared, ...this.opts.local.groupsHolding(incident)];
  }

  countsByRoute(): Map<string, RouteGroupCounts> {
    return countByRoute(
      [...this.known.values()].map((k) => k.group),
      this.opts.local.countsByRoute(),
    );
  }

  list(): GroupState[] {
    return [...[...this.known.values()].map((k) => k.group), ...this.opts.local.list()];
  }

  /**
   * Adds each change to its shared group (and a resolution to the other groups known to hold
   * the incident); resolves once Redis has them, or, while it cannot be reached, once they
   * wait on disk for it.
   */
  async add(items: readonly { grouping?: RouteGrouping; change: IncidentChange }[]): Promise<void> {
    if (items.length === 0) return;
    await this.serially(async () => {
      const now = this.opts.timers.now();
      const batches = new Map<
        string,
        { create: GroupHeader; joins: SharedJoin[]; items: { grouping?: RouteGrouping; change: IncidentChange }[] }
      >();
      const push = (
        key: string,
        create: () => GroupHeader,
        item: { grouping?: RouteGrouping; change: IncidentChange },
      ) => {
        let b = batches.get(key);
        if (!b) batches.set(key, (b = { create: create(), joins: [], items: [] }));
        b.joins.push({ key: item.change.incident.key, member: groupMember(item.change) });
        b.items.push(item);
      };
      for (const { grouping, change } of items) {
        // A twin another agent's incident absorbed: the survivor, on the same key, is the member.
        if (change.incident.mergedInto !== undefined) continue;
        const own = grouping && newGroup(grouping, change.incident, now);
        if (own) push(own.key, () => own, { grouping, change });
        if (change.kind !== 'resolved') continue;
        for (const other of this.holding.of(change.incident.key))
          if (other !== own?.key) push(other, () => formed(this.known.get(other)!.group), { change });
      }
      const waiting: { grouping?: RouteGrouping; change: IncidentChange }[] = [];
      for (const [key, b] of batches) {
        // Changes that wait locally go first: a later change of one of their members must not overtake them.
        if (this.unreachable || (this.opts.local.size > 0 && (await this.reconcile()) > 0)) {
          waiting.push(...b.items);
          continue;
        }
        try {
          if (this.generation === undefined) await this.checkGeneration(now);
          let after = await this.opts.shared.join(key, b.create, b.joins, now, this.writingBack(now));
          // No group, one this agent knew formed anew (another agent's flush forgot it), or one that
          // lacks a flush this agent knows of: Redis may have lost it.
          const was = this.known.get(key)?.group;
          const suspect =
            after === undefined ||
            (was !== undefined && (after.id === was.id ? behind(after, was) : after.id === b.create.id));
          if (suspect && (await this.checkGeneration(now)))
            after = await this.opts.shared.join(key, b.create, b.joins, now, true);
          this.remember(key, after, b.joins);
        } catch (err) {
          if (!(err instanceof TicketLedgerUnavailableError)) throw err;
          this.unreachable = true;
          waiting.push(...b.items);
        }
      }
      if (waiting.length > 0) {
        // Groups formed under an earlier config have no grouping here; a change without one only reaches local groups.
        await this.opts.local.add(waiting);
        this.setHeld(true);
      }
      this.schedule();
    });
  }

  async close(): Promise<void> {
    this.running = false;
    this.timer.clear();
    await this.chain;
    await this.opts.local.close();
  }

  private serially(op: () => Promise<void>): Promise<void> {
    const next = this.chain.then(op);
    this.chain = next.catch(() => undefined);
    return next;
  }

  /** Records what a join or flush left of a group (undefined: forgotten), with the members this agent knows. */
  private remember(key: string, header: GroupHeader | undefined, joins: readonly SharedJoin[] = [], all?: GroupState) {
    const before = this.known.get(key)?.group;
    if (!header) {
      this.holding.remove(key, Object.keys(before?.members ?? {}));
      this.known.delete(key);
      return;
    }
    // A group formed anew (another id) keeps nothing of the one before.
    const members = all ? { ...all.members } : before?.id === header.id ? { ...before.members } : {};
    for (const j of joins) members[j.key] = j.member;
    const dropped = Object.keys(before?.members ?? {}).filter((m) => !(m in members));
    this.holding.remove(key, dropped);
    const group: GroupState = { ...header, members };
    // Redis lost a flush this agent knows of (another agent wrote back an older state): keep it, to write it back.
    if (before && before.id === header.id && behind(header, before)) {
      const { flushedAtMs, notified, version } = before;
      Object.assign(group, { flushedAtMs, notified, version });
    }
    this.known.set(key, { group, dueAtMs: flushDueAtMs(group) });
    this.holding.add(key, Object.keys(members));
  }

  private setHeld(held: boolean): void {
    if (held === this.held) return;
    this.held = held;
    this.opts.onHeld?.(held, this.opts.local.size);
  }

  /**
   * Moves the changes that waited locally into the shared groups, group by group; a group whose
   * join fails stays local for the next try. Resolves to the groups still waiting.
   */
  private async reconcile(): Promise<number> {
    const now = this.opts.timers.now();
    const done: string[] = [];
    for (const g of this.opts.local.list()) {
      const joins = joinsOf(g);
      try {
        if (this.generation === undefined) await this.checkGeneration(now);
        const after = await this.opts.shared.join(g.key, formed(g), joins, now, this.writingBack(now));
        this.remember(g.key, after, joins);
        done.push(g.key);
      } catch (err) {
        if (!(err instanceof TicketLedgerUnavailableError)) throw err;
        this.unreachable = true;
        break;
      }
    }
    await this.opts.local.forget(done);
    if (this.opts.local.size === 0) this.setHeld(false);
    return this.opts.local.size;
  }

  /**
   * Reads the groups' generation; when it is not the one this agent last wrote in, Redis lost
   * the groups since: writes back every group it knows, then takes the generation up. Resolves
   * to whether it wrote groups back. Throws TicketLedgerUnavailableError while Redis cannot be
   * reached (the generation stays, so the next check writes back).
   */
  private async checkGeneration(now: number): Promise<boolean> {
    this.nextCheckAtMs = now + GENERATION_CHECK_MS;
    const generation = await this.opts.shared.generation();
    if (generation === this.generation) return false;
    const first = this.generation === undefined;
    if (!first) {
      for (const [key, k] of this.known) {
        const joins = joinsOf(k.group);
        const after = await this.opts.shared.restore(key, headerOf(k.group), joins, now);
        // Another group of the key formed before this one: this agent's members of it were all reported resolved.
        this.remember(key, after, after?.id === k.group.id ? joins : []);
      }
      this.lostAtMs = now;
      this.opts.onRestored?.(this.known.size);
    }
    this.generation = generation;
    return !first;
  }

  /** Whether this agent found Redis lost the groups so lately that other agents may still be writing theirs back. */
  private writingBack(now: number): boolean {
    return now < this.lostAtMs + WRITE_BACK_WINDOW_MS;
  }

  /** Flushes the known groups due, and on a sweep those Redis says are due and the changes held locally. */
  private flushDue(): Promise<void> {
    return this.serially(async () => {
      const now = this.opts.timers.now();
      const due = () => [...this.known].some(([, k]) => k.dueAtMs <= now);
      // Before a flush too: a flush reading a group Redis lost would forget what every agent added.
      // It is also the look that finds Redis answering again after a failure.
      if (now >= this.nextCheckAtMs || due())
        try {
          await this.checkGeneration(now);
          this.unreachable = false;
        } catch (err) {
          if (!(err instanceof TicketLedgerUnavailableError)) this.opts.onError(err);
          else this.unreachable = true;
        }
      const keys = new Set<string>();
      for (const [key, k] of this.known) if (k.dueAtMs <= now) keys.add(key);
      if (this.unreachable) {
        // Nothing to flush until Redis answers: the next look is the next check.
        for (const key of keys) this.known.get(key)!.dueAtMs = this.nextCheckAtMs;
        return this.schedule();
      }
      try {
        // The changes that waited on disk join as soon as Redis answers again.
        if (this.opts.local.size > 0) await this.reconcile();
      } catch (err) {
        this.opts.onError(err);
      }
      if (now >= this.nextSweepAtMs) {
        this.nextSweepAtMs = now + Math.max(this.opts.shared.claimTtlMs, FLUSH_CLAIM_RETRY_MS);
        try {
          // Overdue by a claim's time to live: the agents that know them would have flushed them by now.
          const overdue = await this.opts.shared.due(now - this.opts.shared.claimTtlMs, SWEEP_LIMIT);
          for (const key of overdue) keys.add(key);
        } catch (err) {
          if (!(err instanceof TicketLedgerUnavailableError)) this.opts.onError(err);
        }
      }
      // A few at a time: their claims and reads share round trips, and a storm of groups due at once stays bounded.
      const all = [...keys];
      const suspects = new Map<string, GroupState | undefined>();
      for (let i = 0; i < all.length; i += FLUSH_BATCH)
        await Promise.all(all.slice(i, i + FLUSH_BATCH).map((key) => this.flushOne(key, now, suspects)));
      if (suspects.size > 0) await this.forgetUnlessLost(suspects, now);
      this.schedule();
    });
  }

  /**
   * Known groups a flush found gone from Redis, or lacking a flush this agent knows of (`suspects`:
   * what Redis holds of each). Unless Redis lost them since the check before the flush (then they
   * were written back, and flush at the next look), Redis is right: another agent's flush forgot
   * the ones gone (every member resolved), and a flush this agent notified but could not record
   * is not one (the group is flushed again: one notification more).
   */
  private async forgetUnlessLost(suspects: Map<string, GroupState | undefined>, now: number): Promise<void> {
    try {
      if (await this.checkGeneration(now)) return;
    } catch (err) {
      if (!(err instanceof TicketLedgerUnavailableError)) this.opts.onError(err);
      return;
    }
    for (const [key, g] of suspects) {
      this.remember(key, undefined);
      if (g) this.remember(key, g, [], g);
    }
  }

  /**
   * Flushes one group if due, when this agent gets its claim; otherwise looks again later. A
   * known group found gone or behind goes to `suspects`. Never throws.
   */
  private async flushOne(key: string, now: number, suspects: Map<string, GroupState | undefined>): Promise<void> {
    const later = () => {
      const k = this.known.get(key);
      if (k) k.dueAtMs = now + FLUSH_CLAIM_RETRY_MS;
    };
    let claim;
    try {
      claim = await this.opts.shared.claimFlush(key);
    } catch (err) {
      if (!(err instanceof TicketLedgerUnavailableError)) this.opts.onError(err);
      return later();
    }
    // Another agent is flushing it: the next look finds its flush recorded, or its claim lapsed.
    if (claim === 'held') return later();
    let sent: GroupState | undefined | 'none' = 'none';
    try {
      const g = claim.group;
      const was = this.known.get(key)?.group;
      if (!g || (was && g.id === was.id && behind(g, was))) {
        if (was) suspects.set(key, g);
        return later();
      }
      if (flushDueAtMs(g) > now) return this.remember(key, g, [], g);
      // Written back after Redis lost it: other agents may not have written back what they knew yet.
      const writtenBack = (claim.writtenBackAtMs ?? -Infinity) + WRITE_BACK_WINDOW_MS;
      if (now < writtenBack) {
        this.remember(key, g, [], g);
        this.known.get(key)!.dueAtMs = writtenBack;
        return;
      }
      const f = flushGroup(g, now);
      if (f.send) {
        await this.opts.emit([{ key: g.key, payload: f.send }]);
        sent = f.next;
      }
      // Queued already: a failure to record it (or a crash) flushes the group again, one notification more.
      const after = await claim.commit(now, f.next, f.send !== undefined);
      this.remember(key, after, [], f.next);
    } catch (err) {
      this.opts.onError(err);
      // Told already: should Redis have lost the group meanwhile (its claim with it), it is written back as told.
      if (sent === 'none') later();
      else this.remember(key, sent && headerOf(sent), [], sent);
    } finally {
      await claim.release().catch(() => undefined);
    }
  }

  private schedule(): void {
    if (!this.running) return;
    let earliest = Math.min(this.nextSweepAtMs, this.nextCheckAtMs);
    for (const k of this.known.values()) earliest = Math.min(earliest, k.dueAtMs);
    this.timer.set(earliest);
  }
}
