import { MAX_RECONNECT_DELAY_MS, runScript, type RedisClient } from './redisConnection.ts';
import type { ElectionTimers } from './redisLease.ts';
import { FNV_OFFSET, fnv1a } from '../correlation/groupHash.ts';

/** A partition held under a term: work done under it carries the fence. */
export interface PartitionTerm {
  partition: number;
  fence: number;
}

/** What one round changed for this agent. */
export interface OwnershipRound {
  /** Terms newly held (a partition held again under a new fence counts as lost and gained). */
  gained: PartitionTerm[];
  /** Partitions no longer held: another agent may hold them now. */
  lost: number[];
  /** Held beyond this agent's fair share: hand their state over, then `release` them. */
  surplus: number[];
  /** Live agents, this one included, as the table saw them (0 when Redis did not answer). */
  agents: number;
  /** How many partitions are this agent's fair share among them (0 when Redis did not answer). */
  share: number;
  /**
   * Redis had lost the table since this agent's last round (a FLUSHALL, a restart without
   * persistence): the terms it held were written back, and what it wrote under them (checkpoints,
   * streams) is gone too. False when Redis did not answer.
   */
  dataLost: boolean;
}

export interface PartitionOwnershipOptions {
  client: RedisClient;
  /** The partition table's key (`RedisKeys.partitionKeys().table`). */
  table: string;
  agent: string;
  partitions: number;
  /** How long a term lasts unless renewed; rounds run every third of it. */
  termMs: number;
  /**
   * How long free partitions wait to be taken once Redis turns out to be another dataset (a
   * failover, a restart): time for the agents still alive to reconnect and make good what it
   * lacks. Default: the term, and at least twice the longest reconnect delay.
   */
  settleMs?: number;
  timers?: Pick<ElectionTimers, 'now'>;
}

/**
 * This agent's share of the partitions of the owners design, held as terms in one Redis hash
 * (`PARTITIONS_STEP_SCRIPT`): every agent gets its fair share of the partitions, an agent that
 * stops renewing loses its partitions to the others when its terms run out, and one that joins
 * gets its share as the others give their surplus back.
 *
 * As with the leader's lease, the agent counts a partition its own only until the term it last
 * confirmed would end by its own clock, less a margin for drift, counted from before the request
 * left: when Redis cannot be reached it stops owning before any other agent could take over.
 */
export class PartitionOwnership {
  readonly agent: string;
  readonly partitions: number;
  readonly termMs: number;
  readonly settleMs: number;
  /** The connection of the table: a sender's stream writes go on it too, so that Redis runs its marks after them. */
  readonly client: RedisClient;
  readonly table: string;
  private readonly now: () => number;
  private readonly held = new Map<number, number>();
  private heldUntil = 0;
  /** The table's epoch as this agent last saw it ('' before its first round). */
  private epoch = '';

  constructor(opts: PartitionOwnershipOptions) {
    if (!Number.isInteger(opts.partitions) || opts.partitions < 1)
      throw new RangeError('partitions must be a positive integer');
    this.client = opts.client;
    this.table = opts.table;
    this.agent = opts.agent;
    this.partitions = opts.partitions;
    this.termMs = opts.termMs;
    this.settleMs = opts.settleMs ?? Math.max(opts.termMs, 2 * MAX_RECONNECT_DELAY_MS);
    this.now = opts.timers?.now ?? Date.now;
  }

  /** The fence under which this agent holds `partition` now, or undefined. */
  fenceOf(partition: number): number | undefined {
    return this.now() < this.heldUntil ? this.held.get(partition) : undefined;
  }

  /** The terms held now, by partition. */
  owned(): PartitionTerm[] {
    if (this.now() >= this.heldUntil) return [];
    return [...this.held].map(([partition, fence]) => ({ partition, fence }));
  }

  /**
   * One round: renews this agent's terms and takes its share of the free partitions. Never
   * throws: when Redis does not answer, the terms confirmed before run out by the clock, and the
   * round after the outage reports them lost if another agent took them meanwhile.
   */
  async step(): Promise<OwnershipRound> {
    const startedAt = this.now();
    const before = new Map(this.held);
    let reply: unknown;
    try {
      reply = await runScript(
        this.client,
        'vigilPartitionsStep',
        [this.table],
        [this.agent, this.termMs, this.partitions, this.settleMs, this.epoch, ...this.terms()],
      );
    } catch {
      const none = { surplus: [], agents: 0, share: 0, dataLost: false };
      if (this.now() < this.heldUntil) return { gained: [], lost: [], ...none };
      this.held.clear();
      return { gained: [], lost: [...before.keys()], ...none };
    }
    this.epoch = String((reply as unknown[])[3]);
    const r = (reply as (number | string)[]).map(Number);
    this.held.clear();
    const surplus: number[] = [];
    for (let i = 4; i + 2 < r.length; i += 3) {
      this.held.set(r[i]!, r[i + 1]!);
      if (r[i + 2] === 1) surplus.push(r[i]!);
    }
    this.heldUntil = startedAt + this.termMs - Math.max(this.termMs / 10, 50);
    // Same partition, same fence: no one else held it in between, whatever this agent's clock said.
    const gained: PartitionTerm[] = [];
    for (const [partition, fence] of this.held) if (before.get(partition) !== fence) gained.push({ partition, fence });
    const lost: number[] = [];
    for (const [partition, fence] of before) if (this.held.get(partition) !== fence) lost.push(partition);
    return { gained, lost, surplus, agents: r[0]!, share: r[1]!, dataLost: r[2] === 1 };
  }

  /** The terms this agent counts its own now, as partition, fence pairs. */
  private terms(): number[] {
    return this.owned().flatMap((t) => [t.partition, t.fence]);
  }

  /**
   * Tells the owners that every event this agent sends with a time at or before `throughMs` is on
   * the partitions' streams: call it after those stream writes are done, and now and then when
   * idle (with the time of the clock), so that owners need not wait for this agent. Only a live
   * agent's mark counts, and a round drops the marks of agents not live: mark after this agent's
   * first round.
   */
  async markSent(throughMs: number): Promise<void> {
    await this.client.hset(...this.markArgs(throughMs));
  }

  /** The HSET arguments of `markSent`, for a transaction that sends and marks at once. */
  markArgs(throughMs: number): [key: string, field: string, value: string] {
    return [this.table, `t|${this.agent}`, String(throughMs)];
  }

  /**
   * The time up to which an owner may take a partition's events in time order: the least of the
   * live agents' `markSent` times (-Infinity while no live agent has marked: nothing is known to
   * be complete). Read it before reading a stream: every event at or before it is then among what
   * the reads bring by the time one of them comes to the stream's end. A read that stops short (as
   * many entries as it asked for) says nothing yet: an older event of another agent may be further on.
   */
  async watermark(): Promise<number> {
    const w = await runScript(this.client, 'vigilPartitionsWatermark', [this.table], []);
    return w === '' || w === null ? -Infinity : Number(w);
  }

  /** Gives a term back at once, so another agent need not wait for it to run out. */
  async release(partition: number): Promise<boolean> {
    const fence = this.held.get(partition);
    if (fence === undefined) return false;
    this.held.delete(partition);
    const done = await runScript(
      this.client,
      'vigilPartitionFenced',
      [this.table],
      [this.agent, partition, fence, 'release'],
    );
    return Number(done) === 1;
  }

  /**
   * Writes into `key` (a hash in the table's slot: `RedisKeys.partitionKeys().held`) only while
   * this agent's term on `partition` stands in Redis, under the fence it holds, all of it or
   * nothing: the fields of `set`, the removal of those of `remove` (`replace` empties the hash
   * first), and the trimming of streams (each keeps what is at or after its id; in the same slot).
   * False when the term is not this agent's any more: nothing was written, and what the next
   * holder wrote stands.
   */
  async writeUnderTerm(partition: number, key: string, write: HeldWrite): Promise<boolean> {
    const fence = this.fenceOf(partition);
    if (fence === undefined) return false;
    let remove = write.remove ?? [];
    const trims = write.trim ?? [];
    const given = write.set ?? [];
    let set: readonly string[] = Array.isArray(given) ? given : Object.entries(given).flat();
    // A call's arguments go on the stack: a large write goes in by plain commands first, into
    // staging keys of this term's own (another holder's fenced call never takes them in) that the
    // fenced call takes in, and empties, all at once; a refused write's expire.
    const term = `${this.agent}:${fence}`;
    const [staged, stagedGone] = [`${key}:staged:${term}`, `${key}:staged-gone:${term}`];
    const staging = set.length + remove.length > STAGE_ABOVE;
    if (staging) {
      await this.client.del(staged, stagedGone);
      for (let i = 0; i < set.length; i += STAGE_SLICE)
        await this.client.hset(staged, ...set.slice(i, i + STAGE_SLICE));
      for (let i = 0; i < remove.length; i += STAGE_SLICE)
        await this.client.sadd(stagedGone, ...remove.slice(i, i + STAGE_SLICE));
      for (const k of [staged, stagedGone]) await this.client.pexpire(k, 2 * this.termMs);
      set = [];
      remove = [];
    }
    const args: (string | number)[] = [
      this.agent,
      partition,
      fence,
      write.replace ? 'replace' : 'write',
      remove.length,
      trims.length,
      staging ? '1' : '0',
      ...remove,
      ...trims.map(([, id]) => id),
      ...set,
    ];
    const keys = [this.table, key, staged, stagedGone, ...trims.map(([stream]) => stream)];
    return Number(await runScript(this.client, 'vigilPartitionFenced', keys, args)) === 1;
  }
}

/** Arguments a write under a term passes in its one call at most; beyond, it stages them first. */
const STAGE_ABOVE = 20_000;
/** Arguments per staging command. */
const STAGE_SLICE = 10_000;

/** What a holder writes under a term (`PartitionOwnership.writeUnderTerm`). */
export interface HeldWrite {
  /** Fields to set: an object, or name, value pairs in a flat list. */
  set?: Record<string, string> | readonly string[];
  /** Fields to remove. */
  remove?: readonly string[];
  /** Empty the hash first. */
  replace?: boolean;
  /** Streams to trim, each to what is at or after the id given (XTRIM MINID). */
  trim?: readonly (readonly [stream: string, minId: string])[];
}

/** The partition of a group key: FNV-1a (32 bits) of its UTF-16 code units, modulo the count. */
export function partitionOf(key: string, partitions: number): number {
  return (fnv1a(FNV_OFFSET, key) >>> 0) % partitions;
}
