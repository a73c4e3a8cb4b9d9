import type { GroupMember, GroupState } from './notificationGroups.ts';

/** A group without its members: what scheduling its flushes needs. */
export type GroupHeader = Omit<GroupState, 'members'>;

/** One change to one member of a shared group, as joinGroup would take it. */
export interface SharedJoin {
  /** The incident's key: the member's name in the group. */
  key: string;
  /** The member after the change; its `kind` is the change's. */
  member: GroupMember;
}

/** A group read under its flush claim, and how to record the flush. */
export interface FlushClaim {
  /** The group as every agent made it; undefined when it no longer exists (flushed away by another agent). */
  group: GroupState | undefined;
  /**
   * Records the flush at `nowMs` that left `after` (flushGroup's `next`; undefined: every member
   * resolved) and `sent` a notification or not, keeping whatever other agents added since the
   * read: a member that changed again stays, news that came meanwhile is flushed at the next
   * tick. Gives the claim back as it records. Resolves to the group's header afterwards
   * (undefined once it is forgotten); throws when the claim lapsed before the write.
   */
  commit(nowMs: number, after: GroupState | undefined, sent: boolean): Promise<GroupHeader | undefined>;
  /**
   * When the group was last written back after Redis lost it (see SharedGroups.restore); a
   * flush waits WRITE_BACK_WINDOW_MS from then, for every agent to write back what it knew.
   */
  writtenBackAtMs?: number;
  /** Gives the claim back when no commit did (nothing was due, or the flush failed); after one, does nothing. */
  release(): Promise<void>;
}

/**
 * The notification groups of one exporter, shared by every agent of a deployment (in Redis):
 * their members are every agent's, and each flush is one agent's. Calls throw
 * TicketLedgerUnavailableError while the shared store cannot be reached.
 */
export interface SharedGroups {
  /** How long a flush claim outlives an agent that died holding it. */
  readonly claimTtlMs: number;
  /**
   * Merges `joins` into group `key` at `nowMs`, atomically, as joinGroup does (a resolution of a
   * member the group never had changes nothing; a firing one creates the group from `create`).
   * Within WRITE_BACK_WINDOW_MS of a write-back a group keeps such a resolution all the same:
   * the agent that knew the member may not have written it back yet. With `keepResolutions`
   * (the caller found Redis lost the groups within that window) a resolution also forms the
   * group, which a write-back then takes over. Resolves to the group's header afterwards,
   * undefined when no group exists.
   */
  join(
    key: string,
    create: GroupHeader,
    joins: readonly SharedJoin[],
    nowMs: number,
    keepResolutions?: boolean,
  ): Promise<GroupHeader | undefined>;
  /** Claims the group's next flush and reads it; `held` when another agent holds the claim. */
  claimFlush(key: string): Promise<FlushClaim | 'held'>;
  /**
   * The groups' generation: a name that stays while Redis keeps the groups, and is another (or,
   * at the first call that finds none, a new one) once Redis lost them.
   */
  generation(): Promise<string>;
  /**
   * Writes group `key` back as this agent knew it (`header`, with its last flush, and the
   * `members` it knew) after Redis lost it, merging with what other agents wrote back or joined
   * meanwhile: the latest flush and the latest state of each member win. Resolves to the
   * group's header afterwards.
   */
  restore(
    key: string,
    header: GroupHeader,
    members: readonly SharedJoin[],
    nowMs: number,
  ): Promise<GroupHeader | undefined>;
  /** Keys of groups whose flush was due by `nowMs` (whichever agent formed them), at most `limit`. */
  due(nowMs: number, limit: number): Promise<string[]>;
}

/**
 * How long after Redis lost the groups the agents' write-backs may still come: each agent looks
 * once a second. Meanwhile a group keeps resolutions of members it lacks, and is not flushed.
 */
export const WRITE_BACK_WINDOW_MS = 5000;

/** How long an agent that found a group's flush claimed waits before looking again. */
export const FLUSH_CLAIM_RETRY_MS = 1000;
