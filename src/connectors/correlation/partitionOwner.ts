import { nsToMs, type CorrelationEngine } from '../../correlation/engine.ts';
import type { VigilEvent } from '../../model/event.ts';
import type { MetricPoint } from '../../model/metric.ts';
import type { IncidentChange } from '../../model/incident.ts';
import type { MemoryStateStore } from '../../state/memoryStore.ts';
import type { OwnershipRound, PartitionOwnership } from '../../state/redisPartitions.ts';
import { replicaHas, runScript, unreachable, type RedisClient } from '../../state/redisConnection.ts';
import { CHECKPOINT_FIELD, CheckpointChangeTracker, restoreCheckpoint } from '../../state/stateCheckpoint.ts';
import type { LocalHandoff } from './localHandoff.ts';

/**
 * The owners design of shared correlation (docs/benchmarks.md, "partitions held by terms"): the
 * groups fall into partitions, each with a Redis stream of its events and one owning agent at a
 * time (`PartitionOwnership`). Every agent sends what it receives to the partitions' streams
 * (`PartitionSender`); each owner runs one engine per partition it holds on a memory store,
 * takes the partition's events in time order up to the watermark of the live senders, and
 * checkpoints each partition's state under its term, so that whoever holds the partition next
 * starts from there and replays the stream (`PartitionOwner`).
 */

/**
 * Timer rounds a partition runs one after the other to catch up with its time (an hour at the
 * default `tick_interval`): each looks at every open incident, and a quiet of days ran a round per
 * second of it, the agent taking nothing else meanwhile.
 */
const MAX_CATCH_UP_TICKS = 3_600;

/** Where a partition's events and checkpoint live (all in the partition table's slot). */
export interface PartitionKeys {
  stream(partition: number): string;
  checkpoint(partition: number): string;
}

/** Stream entry fields: the sender, the time through which it had sent everything, the events, its wall clock when sent. */
const SENDER = 'a';
const THROUGH = 'p';
const EVENTS = 'e';
const SENT_AT = 's';
/** The send's number, per sender: an entry sent again (Redis lost it, or only its reply) is taken once. */
const SEQ = 'q';
/** Stream entry field: a person's action on an incident of the partition, sent by an agent that does not hold it. */
const ACTION = 'x';

/** The fields of a stream entry carrying an action (`PartitionOwnerOptions.action` takes it). */
export function actionEntry(agent: string, payload: string): string[] {
  return [SENDER, agent, ACTION, payload];
}
/** A sender's last entry on a partition: it will send nothing more (a finite stream, as a benchmark's). */
const END = 'end';

const POSITION = `${CHECKPOINT_FIELD}position`;
const WAITING = `${CHECKPOINT_FIELD}waiting`;
const WAITING_POINTS = `${CHECKPOINT_FIELD}waitingPoints`;
/** Stream entry field: the entry's metric points (`PartitionSenderOptions.encodePoints`). */
const POINTS = 'm';
const META = `${CHECKPOINT_FIELD}meta`;

interface CheckpointMeta {
  /** Each sender's time as its last entry said (null: it ended). */
  through: Record<string, number | null>;
  /** Each sender's last send read. */
  seqs?: Record<string, number>;
  nextTickMs: number;
  doneMs: number;
}

export interface PartitionSenderOptions {
  /** Its connection carries the stream writes too: Redis runs a mark after the writes before it. */
  ownership: PartitionOwnership;
  keys: PartitionKeys;
  /** The partition of an event, or its partitions (rules whose groups lie apart); undefined: no rule needs it. */
  partitionOf(event: VigilEvent): number | readonly number[] | undefined;
  encode(events: readonly VigilEvent[]): string;
  /** The partition(s) of a metric point, as `partitionOf` for events; needed only to send points. */
  partitionOfPoint?(point: MetricPoint): number | readonly number[] | undefined;
  encodePoints?(points: readonly MetricPoint[]): string;
  now?: () => number;
  /**
   * Redis turned out to be another dataset than the one written to (its replication id changed:
   * a replica promoted, a restart): the sends no replica had acknowledged were just sent again.
   */
  lostWrites?(resent: number): void;
  /** Bytes of sends kept until a replica acknowledges them (default 64 MiB); beyond, the oldest go. */
  keepBytes?: number;
  /** Hands the events sent to a partition this agent holds to its owner as sent (the owner's `handoff`). */
  handoff?: LocalHandoff;
  /**
   * How long a send waits for a replica to have it before it resolves (default 250 ms; 0: it
   * does not wait). A replica that does not answer in time is left behind: the sends after go
   * without waiting (kept until acknowledged) until it has caught up.
   */
  replicaWaitMs?: number;
}

/** A send's stream entries (stream, fields), kept until a replica has them. */
interface KeptSend {
  entries: [stream: string, fields: string[]][];
  bytes: number;
  /** The master's replication offset its writes are within (NaN until a later call tells). */
  offset: number;
}

/** What the send script says of Redis's replication (`PARTITION_SEND_SCRIPT`). */
type SendReply = [written: number, replid: string, offset: string, acked: string, replicas: number];

/**
 * Puts an agent's events on the partitions' streams, and tells owners how far it has sent.
 *
 * Replication is asynchronous: a failover to a replica that missed the last writes loses them,
 * though their senders were answered. Each send is numbered (its entries carry the number, which
 * owners take once per sender) and kept until a replica acknowledges the offset its writes lie
 * within; every call checks the server's replication id, and a call that finds another writes
 * nothing, sends what was kept again, in order, and then itself. While the replicas keep up, a
 * send also waits until one has it (WAIT): a failover that takes this agent with the master (a
 * node lost) then loses no send it answered.
 */
export class PartitionSender {
  private readonly opts: PartitionSenderOptions;
  private readonly byPartition: VigilEvent[][];
  private readonly pointsByPartition: MetricPoint[][];
  /** The number of the last send (per process: the agent's name is the process's). */
  private seq = 0;
  /** The replication id of the dataset written to ('' until known). */
  private replid = '';
  private readonly kept: KeptSend[] = [];
  private keptBytes = 0;
  /** Sends dropped unacknowledged for want of room (`keepBytes`). */
  dropped = 0;
  /** Redis had replicas at the last call: what it took may yet be lost in a failover. */
  replicated = false;
  /**
   * A wait for a replica timed out: sends go without waiting until a replica acknowledges the
   * offset the master had reached by the next call (`laggingAt`, NaN until that call).
   */
  private lagging = false;
  private laggingAt = NaN;

  constructor(opts: PartitionSenderOptions) {
    this.opts = opts;
    this.byPartition = Array.from({ length: opts.ownership.partitions }, () => []);
    this.pointsByPartition = Array.from({ length: opts.ownership.partitions }, () => []);
  }

  /** How long a send waits for a replica (`state.replica_wait`; 0: it does not). */
  get replicaWaitMs(): number {
    return this.opts.replicaWaitMs ?? 250;
  }

  /** Sends kept until a replica acknowledges them. */
  get unacknowledged(): number {
    return this.kept.length;
  }

  /**
   * One entry per partition `events` have events for, then `throughMs` as this agent's time in the
   * partition table: every event it sends at or before it must be among these or earlier sends.
   * All in one script call (the keys share the table's slot): a send that fails wrote nothing,
   * and sent again adds no event twice (its number is the same).
   */
  async send(events: readonly VigilEvent[], throughMs: number, points: readonly MetricPoint[] = []): Promise<void> {
    await this.write(this.prepare(events, points), throughMs);
  }

  /** Marks this agent's time alone (nothing sent), checking replication as a send does. */
  async mark(throughMs: number): Promise<void> {
    await this.write([], throughMs);
  }

  /** The stream entries of a send, numbered. */
  prepare(events: readonly VigilEvent[], points: readonly MetricPoint[] = []): [string, string[]][] {
    const { ownership, keys } = this.opts;
    for (const e of events) {
      const p = this.opts.partitionOf(e);
      if (typeof p === 'number') this.byPartition[p]!.push(e);
      else if (p !== undefined) for (const q of p) this.byPartition[q]!.push(e);
    }
    if (points.length && (!this.opts.partitionOfPoint || !this.opts.encodePoints))
      throw new Error('this sender was not given a placement and an encoding of metric points');
    for (const m of points) {
      const p = this.opts.partitionOfPoint!(m);
      if (typeof p === 'number') this.pointsByPartition[p]!.push(m);
      else if (p !== undefined) for (const q of p) this.pointsByPartition[q]!.push(m);
    }
    const stamp = String((this.opts.now ?? Date.now)());
    const seq = String(++this.seq);
    const entries: [string, string[]][] = [];
    for (let p = 0; p < this.byPartition.length; p++) {
      const mine = this.byPartition[p]!;
      const theirPoints = this.pointsByPartition[p]!;
      if (mine.length === 0 && theirPoints.length === 0) continue;
      const fields = [SENDER, ownership.agent, SEQ, seq, EVENTS, this.opts.encode(mine), SENT_AT, stamp];
      if (theirPoints.length) fields.push(POINTS, this.opts.encodePoints!(theirPoints));
      const stream = keys.stream(p);
      if (this.opts.handoff && mine.length && ownership.fenceOf(p) !== undefined)
        this.opts.handoff.offer(stream, seq, mine);
      entries.push([stream, fields]);
      mine.length = 0;
      theirPoints.length = 0;
    }
    return entries;
  }

  /**
   * Writes prepared entries and the mark (each entry's THROUGH set to it). On another dataset
   * than the last call's, sends the kept ones again first, then these.
   */
  async write(entries: [string, string[]][], throughMs: number): Promise<void> {
    const through = String(throughMs);
    for (const [, fields] of entries) setField(fields, THROUGH, through);
    let reply = await this.call(entries, this.opts.ownership.markArgs(throughMs).slice(1));
    if (reply[0] === 0) {
      // Another dataset: what no replica had may be gone. Sent again in order, then this send.
      // The new id is this agent's only once all are: a try cut short finds the change again
      // and sends again what is left (and what went, which owners take once).
      const fresh = reply[1];
      const again = this.kept.splice(0);
      this.keptBytes = 0;
      let i = 0;
      try {
        for (; i < again.length; i++) {
          const r = await this.call(again[i]!.entries, [], fresh);
          if (r[0] === 0) throw new Error('Redis changed its dataset again while this agent sent its writes again');
          this.keep(again[i]!.entries, r);
        }
      } catch (err) {
        for (const k of again.slice(i).reverse()) {
          this.kept.unshift(k);
          this.keptBytes += k.bytes;
        }
        throw err;
      }
      this.replid = fresh;
      this.opts.lostWrites?.(again.length);
      reply = await this.call(entries, this.opts.ownership.markArgs(throughMs).slice(1));
      if (reply[0] === 0) throw new Error('Redis changed its dataset again while this agent sent its writes again');
    }
    this.keep(entries, reply);
    if (entries.length === 0 || this.kept.length === 0) return;
    if (await this.replicaHas()) {
      // Every write of this connection so far is on a replica.
      this.kept.length = 0;
      this.keptBytes = 0;
    }
  }

  /**
   * Waits until a replica has every write made so far on the table's connection (the node of
   * the table's slot on a Cluster), while Redis has replicas that keep up: false when it has none,
   * or they lag (a wait timed out, and no call since found them caught up).
   */
  async replicaHas(): Promise<boolean> {
    return (await this.replicaWait()) === true;
  }

  /** As `replicaHas`; `unreached` when the wait failed (the connection lost: the master may be gone). */
  async replicaWait(): Promise<boolean | 'unreached'> {
    const waitMs = this.replicaWaitMs;
    if (!this.replicated || this.lagging || waitMs <= 0) return false;
    const { client, table } = this.opts.ownership;
    // A refusal (an ACL without WAIT, say) is an answer: the master is there.
    const has = await replicaHas(client, table, waitMs).catch((err: unknown) =>
      unreachable(err) ? ('unreached' as const) : false,
    );
    if (has !== true) {
      this.lagging = true;
      this.laggingAt = NaN;
    }
    return has;
  }

  private async call(entries: [string, string[]][], mark: string[], expected = this.replid): Promise<SendReply> {
    const args: string[] = [expected, mark[0] ?? '', mark[1] ?? ''];
    for (const [, fields] of entries) args.push(String(fields.length), ...fields);
    const keys = [this.opts.ownership.table, ...entries.map(([stream]) => stream)];
    const reply = (await runScript(this.opts.ownership.client, 'vigilPartitionSend', keys, args)) as SendReply;
    if (this.replid === '') this.replid = reply[1];
    this.replicated = reply[4] > 0;
    return reply;
  }

  /**
   * Notes what a call said: the writes before it lie within its offset, and those a replica
   * acknowledged are safe; keeps this call's entries until one says so of them.
   */
  private keep(entries: [string, string[]][], [, , offsetText, ackedText, replicas]: SendReply): void {
    const offset = Number(offsetText);
    for (let i = this.kept.length - 1; i >= 0 && Number.isNaN(this.kept[i]!.offset); i--) this.kept[i]!.offset = offset;
    const acked = replicas > 0 ? Number(ackedText) : Infinity;
    let k = 0;
    for (; k < this.kept.length && this.kept[k]!.offset <= acked; k++) this.keptBytes -= this.kept[k]!.bytes;
    if (k > 0) this.kept.splice(0, k);
    // Left behind: caught up once a replica has what the master had when the wait gave up.
    if (this.lagging) {
      if (Number.isNaN(this.laggingAt)) this.laggingAt = offset;
      else if (acked >= this.laggingAt || this.kept.length === 0) this.lagging = false;
    }
    // No replica: no failover can lose what this dataset has.
    if (replicas === 0 || entries.length === 0) return;
    let bytes = 0;
    for (const [, fields] of entries) for (const f of fields) bytes += f.length;
    this.kept.push({ entries, bytes, offset: NaN });
    this.keptBytes += bytes;
    const room = this.opts.keepBytes ?? 64 * 1024 * 1024;
    while (this.keptBytes > room && this.kept.length > 1) {
      this.keptBytes -= this.kept.shift()!.bytes;
      this.dropped++;
    }
  }

  /** Says on every partition's stream that this agent sends nothing more. */
  end(): Promise<unknown> {
    const { ownership, keys } = this.opts;
    const writes: Promise<unknown>[] = [];
    for (let p = 0; p < this.byPartition.length; p++)
      writes.push(ownership.client.xadd(keys.stream(p), '*', SENDER, ownership.agent, THROUGH, END, EVENTS, '[]'));
    writes.push(ownership.markSent(Number.MAX_SAFE_INTEGER));
    return Promise.all(writes);
  }
}

/** Sets a field of a stream entry's name, value list, appending it when missing. */
function setField(fields: string[], name: string, value: string): void {
  for (let i = 0; i < fields.length; i += 2)
    if (fields[i] === name) {
      fields[i + 1] = value;
      return;
    }
  fields.push(name, value);
}

/** One partition an owner holds: its engine and where it is in the partition's stream. */
export interface OwnedPartition {
  readonly partition: number;
  readonly store: MemoryStateStore;
  readonly engine: CorrelationEngine;
  /** The last stream entry read. */
  position: string;
  /** Per sender: the time through which its entries say it had sent everything (Infinity once it ended). */
  readonly through: Map<string, number>;
  /** Per sender: the number of its last send read (`PartitionSender`). */
  readonly seqs: Map<string, number>;
  /** Per sender: events read, waiting for the watermark to pass them. */
  readonly waiting: Map<string, VigilEvent[]>;
  /** Per sender: metric points read, waiting likewise. */
  readonly waitingPoints: Map<string, MetricPoint[]>;
  /** The next run of the engine's timers (event time; NaN until the partition's time is first known). */
  nextTickMs: number;
  /** The time of the last event the engine took. */
  doneMs: number;
  /**
   * The time up to which every event of the partition has been read (see `poll`): -Infinity until
   * a watermark is known (no live agent has marked), as after a data loss or a failover. A time
   * there would start the partition's timers at it, and run them every `tickMs` from the epoch.
   */
  complete: number;
  /** Every sender said it ended, and all they sent is taken. */
  finished: boolean;
  readonly tracker: CheckpointChangeTracker;
  /** Per sender: its entries not yet all taken, as (through, wall clock when sent) pairs, for `lag`. */
  readonly sentAt: Map<string, number[]>;
}

export interface PartitionOwnerOptions {
  /** Blocking stream reads go on a connection of their own. */
  reader: RedisClient;
  /** Checkpoints, the table and the watermark. */
  writer: RedisClient;
  ownership: PartitionOwnership;
  keys: PartitionKeys;
  /** A partition's engine on its store (fresh, or restored from a checkpoint). */
  engine(store: MemoryStateStore, partition: number): CorrelationEngine;
  decode(payload: string): VigilEvent[];
  encode(events: readonly VigilEvent[]): string;
  /** Metric points' encoding, for partitions whose streams carry points (point rules). */
  decodePoints?(payload: string): MetricPoint[];
  encodePoints?(points: readonly MetricPoint[]): string;
  /** Event time between two runs of a partition's timers: they run as the partition's time advances. */
  tickMs: number;
  /** Every change a partition's engine makes. */
  changes(changes: readonly IncidentChange[], partition: number): void;
  /**
   * Stream entries a read takes per stream at most (default 100); doubled while a read comes back
   * full, up to `READ_GROWTH` times this, and back once none does.
   */
  readCount?: number;
  /** Events an engine takes at a time at most (default 500). */
  slice?: number;
  /** The events of this agent's own entries, as its sender sent them (the sender's `handoff`): not decoded. */
  handoff?: LocalHandoff;
  /**
   * Event time one take spans at most (default 1,000 ms): the engine's clock for a take is its
   * last event's time, and an event more than the rule's allowed lateness older than that would
   * count as late.
   */
  sliceMs?: number;
  /** Per stream entry taken: the wall-clock ms from its sending to its events' taking. */
  lag?(ms: number): void;
  /** An action another agent put on a held partition's stream (`actionEntry`), as read. */
  action?(partition: number, payload: string): void;
  /** Every event taken, with its partition: what a benchmark counts. */
  taken?(events: readonly VigilEvent[], partition: number): void;
  /**
   * The senders mark their clocks, idle or not (a daemon's agents): the timers of every partition
   * follow the watermark itself, so that silence (absence) is seen when no event comes at all.
   * Otherwise (a benchmark replaying a stream) they go no further than the latest event read.
   */
  clockMarks?: boolean;
  /** Senders of a finite stream (a benchmark's): a partition is finished once this many have said they ended. */
  senders?: number;
  now?: () => number;
  /**
   * The latest time the watermark can mean: this agent's clock and `max_future_skew` (no sender
   * puts an event further ahead on the streams, and marks its clock). The marks of agents that
   * stop say `MAX_SAFE_INTEGER` (they hold no one back), and an agent not marked yet is not
   * waited for: every other agent stopping, the watermark would run the timers to the year
   * 287,000 (every absence due, every quiet incident resolved there). Unbounded when not given.
   */
  markCeiling?: () => number;
}

/** What the owner takes in time order: events and metric points. */
type Timed = { timeUnixNano: bigint };
const timeMsOf = (e: Timed) => nsToMs(e.timeUnixNano);

/**
 * The events of `queues` (each in time order: one sender's) up to `toMs`, taken out of them, in
 * time order; ties keep their queue's order, and the earlier queue's first.
 */
export function takeThrough<T extends Timed>(queues: Iterable<T[]>, toMs: number): T[] {
  const out: T[] = [];
  for (const queue of queues) {
    let k = 0;
    while (k < queue.length && timeMsOf(queue[k]!) <= toMs) out.push(queue[k++]!);
    if (k > 0) queue.splice(0, k);
  }
  // Sorted runs, one per sender: the sort merges them; stable, so ties keep their order.
  return out.sort((a, b) => (a.timeUnixNano < b.timeUnixNano ? -1 : a.timeUnixNano > b.timeUnixNano ? 1 : 0));
}

type Entries = [id: string, fields: string[]][];

/**
 * How far a poll's read count grows past `readCount` while reads come back full. A partition whose
 * read stopped short holds the agent's others back (`take`), and a backlog of entries (a replay
 * after a takeover, an agent that fell behind) took one poll per `readCount` of them: 30,000 entries
 * three hundred polls, the others waiting through all of them. Doubling takes it in a few polls;
 * the bound keeps what one read holds in memory to a few times what it held before.
 */
const READ_GROWTH = 8;

/** A partition's share of one poll (`PartitionOwner.take`): its items, and how far it has fed them. */
interface Feeding {
  o: OwnedPartition;
  /** Through when the partitions take, together. */
  upTo: number;
  /** Through when its timers run. */
  tickBound: number;
  events: VigilEvent[];
  points: MetricPoint[];
  /** The next event, and point, to feed. */
  e: number;
  m: number;
  processEvents: (part: VigilEvent[], nowMs: number) => IncidentChange[];
  processPoints: (part: MetricPoint[], nowMs: number) => IncidentChange[];
}

/**
 * The owning side of an agent: its partitions' engines, fed from their streams in time order,
 * their timers, their checkpoints, and the hand-over of partitions as terms come and go.
 */
export class PartitionOwner {
  readonly owned = new Map<number, OwnedPartition>();
  private readonly opts: PartitionOwnerOptions;
  private readonly readCount: number;
  /** What the next read asks of each stream: `readCount`, or more while reads come back full. */
  private reading: number;
  private readonly slice: number;
  private readonly sliceMs: number;
  /** The latest event time read on any partition: how far idle partitions' timers may go. */
  private seenMs = 0;

  constructor(opts: PartitionOwnerOptions) {
    this.opts = opts;
    this.readCount = opts.readCount ?? 100;
    this.reading = this.readCount;
    this.slice = opts.slice ?? 500;
    this.sliceMs = opts.sliceMs ?? 1000;
  }

  /**
   * One ownership round: partitions lost are dropped (another agent may hold them), those held
   * beyond the share are checkpointed and given back, those gained are restored from their
   * checkpoints. Resolves to the round and, per partition restored, the state entries loaded.
   */
  async round(): Promise<{ round: OwnershipRound; restored: { partition: number; entries: number }[] }> {
    const { ownership } = this.opts;
    const round = await ownership.step();
    for (const p of round.lost) this.drop(p);
    for (const p of round.surplus) {
      const o = this.owned.get(p);
      // Whole: what the checkpoint held may be a promoted replica's older copy, not yet noticed.
      if (o) await this.checkpoint(o, true);
      this.drop(p);
      await ownership.release(p);
    }
    const restored: { partition: number; entries: number }[] = [];
    for (const { partition } of round.gained)
      if (!round.surplus.includes(partition)) restored.push({ partition, entries: await this.restore(partition) });
    return { round, restored };
  }

  /**
   * Reads the held partitions' streams again from their start, after Redis lost writes (a
   * failover, a data loss): it may lack the entries a position is among, and number new ones below
   * it by a clock behind the lost one's, which would be skipped, then trimmed by the next
   * checkpoint. A send taken already is skipped by its sender's number.
   */
  readAgain(): void {
    for (const o of this.owned.values()) o.position = '0-0';
  }

  /** Forgets every partition as it is, as a crash would (nothing written, no term given back). */
  dropAll(): void {
    for (const p of [...this.owned.keys()]) this.drop(p);
  }

  private drop(partition: number): void {
    this.owned.get(partition)?.tracker.close();
    this.owned.delete(partition);
  }

  private async restore(partition: number): Promise<number> {
    const saved = await this.opts.writer.hgetall(this.opts.keys.checkpoint(partition));
    const { store, entries, fields, sets } = restoreCheckpoint(saved);
    const meta = fields.has(META) ? (JSON.parse(fields.get(META)!) as CheckpointMeta) : undefined;
    const waiting = new Map<string, VigilEvent[]>();
    if (fields.has(WAITING))
      for (const [sender, payload] of Object.entries(JSON.parse(fields.get(WAITING)!) as Record<string, string>))
        waiting.set(sender, this.opts.decode(payload));
    const waitingPoints = new Map<string, MetricPoint[]>();
    if (fields.has(WAITING_POINTS) && this.opts.decodePoints)
      for (const [sender, payload] of Object.entries(JSON.parse(fields.get(WAITING_POINTS)!) as Record<string, string>))
        waitingPoints.set(sender, this.opts.decodePoints(payload));
    const through = new Map<string, number>();
    for (const [sender, t] of Object.entries(meta?.through ?? {})) through.set(sender, t ?? Infinity);
    const seqs = new Map(Object.entries(meta?.seqs ?? {}));
    this.owned.set(partition, {
      partition,
      store,
      engine: this.opts.engine(store, partition),
      position: fields.get(POSITION) ?? '0',
      through,
      seqs,
      waiting,
      waitingPoints,
      nextTickMs: meta?.nextTickMs ?? NaN,
      doneMs: meta?.doneMs ?? 0,
      complete: -Infinity,
      finished: false,
      tracker: new CheckpointChangeTracker(store, sets),
      sentAt: new Map(),
    });
    return entries;
  }

  /**
   * Writes a partition's checkpoint under its term: the state entries changed since the last (or
   * all of them, `whole`, in place of what the checkpoint held), the stream position, the events
   * read and waiting, the timers' next run; trims the stream there.
   * False when the term is no longer this agent's: nothing was written.
   */
  checkpoint(o: OwnedPartition, whole = false): Promise<boolean> {
    const { set, remove } = whole ? o.tracker.takeAll() : o.tracker.take();
    const through: Record<string, number | null> = {};
    for (const [sender, t] of o.through) through[sender] = t === Infinity ? null : t;
    const waiting: Record<string, string> = {};
    for (const [sender, q] of o.waiting) if (q.length) waiting[sender] = this.opts.encode(q);
    const meta: CheckpointMeta = {
      through,
      seqs: Object.fromEntries(o.seqs),
      nextTickMs: o.nextTickMs,
      doneMs: o.doneMs,
    };
    set.push(POSITION, o.position, WAITING, JSON.stringify(waiting), META, JSON.stringify(meta));
    if (this.opts.encodePoints) {
      const points: Record<string, string> = {};
      for (const [sender, q] of o.waitingPoints) if (q.length) points[sender] = this.opts.encodePoints(q);
      set.push(WAITING_POINTS, JSON.stringify(points));
    }
    const stream = this.opts.keys.stream(o.partition);
    return this.opts.ownership.writeUnderTerm(o.partition, this.opts.keys.checkpoint(o.partition), {
      set,
      remove,
      replace: whole,
      trim: [[stream, o.position]],
    });
  }

  /**
   * Reads what the held partitions' streams bring (blocking up to `blockMs` for it) and feeds each
   * partition's engine, in time order, what every live sender has passed. The watermark is read
   * before the streams and counts for a stream only once a read has come to its end (fewer
   * entries than asked for): a read that stops short may leave an older event of another sender
   * further on, as when a new owner catches up. Resolves to the number of events taken; at once
   * when no partition held is open (all finished, or their terms run out by this agent's clock).
   */
  async poll(blockMs: number): Promise<number> {
    // A term that ran out by this agent's clock may be another's now: its partition waits for the next round.
    const open = [...this.owned.values()].filter(
      (o) => !o.finished && this.opts.ownership.fenceOf(o.partition) !== undefined,
    );
    if (open.length === 0) return 0;
    const watermark = Math.min(await this.opts.ownership.watermark(), this.opts.markCeiling?.() ?? Infinity);
    const count = this.reading;
    const reply = (await this.opts.reader.xread(
      'COUNT',
      count,
      'BLOCK',
      blockMs,
      'STREAMS',
      ...open.map((o) => this.opts.keys.stream(o.partition)),
      ...open.map((o) => o.position),
    )) as [string, Entries][] | null;
    const behind = new Set<OwnedPartition>();
    const byStream = new Map(open.map((o) => [this.opts.keys.stream(o.partition), o]));
    for (const [stream, entries] of reply ?? []) {
      const o = byStream.get(stream);
      if (!o) continue;
      if (entries.length === count) behind.add(o);
      for (const [id, fields] of entries) {
        o.position = id;
        const f = new Map<string, string>();
        for (let i = 0; i + 1 < fields.length; i += 2) f.set(fields[i]!, fields[i + 1]!);
        const sender = f.get(SENDER) ?? '';
        const action = f.get(ACTION);
        if (action !== undefined) {
          this.opts.action?.(o.partition, action);
          continue;
        }
        const seq = f.has(SEQ) ? Number(f.get(SEQ)) : undefined;
        if (seq !== undefined) {
          // Sent again (Redis lost it in a failover, or only the reply to it): taken already.
          if (seq <= (o.seqs.get(sender) ?? 0)) continue;
          o.seqs.set(sender, seq);
        }
        const own = sender === this.opts.ownership.agent && seq !== undefined;
        const events = (own && this.opts.handoff?.take(stream, f.get(SEQ)!)) || this.opts.decode(f.get(EVENTS) ?? '[]');
        let queue = o.waiting.get(sender);
        if (!queue) o.waiting.set(sender, (queue = []));
        for (const e of events) {
          queue.push(e);
          const t = timeMsOf(e);
          if (t > this.seenMs) this.seenMs = t;
        }
        const points = f.get(POINTS);
        if (points !== undefined && this.opts.decodePoints) {
          let pointQueue = o.waitingPoints.get(sender);
          if (!pointQueue) o.waitingPoints.set(sender, (pointQueue = []));
          for (const m of this.opts.decodePoints(points)) {
            pointQueue.push(m);
            const t = timeMsOf(m);
            if (t > this.seenMs) this.seenMs = t;
          }
        }
        const through = f.get(THROUGH);
        o.through.set(sender, through === END ? Infinity : Number(through));
        if (this.opts.lag && f.has(SENT_AT)) {
          let pairs = o.sentAt.get(sender);
          if (!pairs) o.sentAt.set(sender, (pairs = []));
          pairs.push(Number(through), Number(f.get(SENT_AT)));
        }
      }
    }
    for (const o of open) if (!behind.has(o)) o.complete = Math.max(o.complete, watermark);
    this.reading = behind.size > 0 ? Math.min(count * 2, this.readCount * READ_GROWTH) : this.readCount;
    return this.take(open);
  }

  /**
   * Feeds the partitions' engines what is complete in all of them, with their timers, as one
   * engine taking each event (and metric point) at its own time would, and side by side: each in
   * turn up to the next timer boundary, then each up to the one after. A rule that looks at other
   * partitions' incidents (inhibition, topology) sees them a tick behind at most, also while they
   * replay their streams after a takeover: fed one after another, a partition replayed first
   * would judge its past by another's checkpoint, or by its present once replayed. A partition
   * whose read stopped short (its `complete` behind) holds the others back to its time.
   */
  private take(open: OwnedPartition[]): number {
    let upTo = Infinity;
    for (const o of open) upTo = Math.min(upTo, o.complete);
    const feeds = open.map((o) => this.feeding(o, upTo));
    const { tickMs } = this.opts;
    for (;;) {
      let next = Infinity;
      for (const f of feeds) next = Math.min(next, this.nextAt(f));
      if (next === Infinity) break;
      const until = (Math.floor(next / tickMs) + 1) * tickMs;
      for (const f of feeds) this.advance(f, until);
    }
    let taken = 0;
    for (const f of feeds) taken += this.fed(f);
    return taken;
  }

  /** What a partition takes in this poll: its events and points through `upTo`, in time order. */
  private feeding(o: OwnedPartition, upTo: number): Feeding {
    return {
      o,
      upTo,
      // A partition with no events of its own still runs its timers as the others' time goes on,
      // or as the senders' clocks go on when they mark them.
      tickBound: this.opts.clockMarks ? upTo : Math.min(upTo, this.seenMs),
      events: takeThrough(o.waiting.values(), upTo),
      points: o.waitingPoints.size ? takeThrough(o.waitingPoints.values(), upTo) : [],
      e: 0,
      m: 0,
      processEvents: (part, nowMs) => o.engine.process(part, nowMs),
      processPoints: (part, nowMs) => o.engine.processPoints(part, nowMs),
    };
  }

  /**
   * When the partition next has something to do: its next item, or its next timers if due in
   * this poll.
   */
  private nextAt(f: Feeding): number {
    const item = Math.min(
      f.e < f.events.length ? timeMsOf(f.events[f.e]!) : Infinity,
      f.m < f.points.length ? timeMsOf(f.points[f.m]!) : Infinity,
    );
    // Its first timers run after its first item, or from where it ends this poll (`fed`).
    if (Number.isNaN(f.o.nextTickMs)) return item;
    const to = Math.min(item, f.tickBound);
    if (Number.isFinite(to)) this.skipQuiet(f.o, to);
    return f.o.nextTickMs <= f.tickBound ? Math.min(item, f.o.nextTickMs) : item;
  }

  /**
   * Feeds the partition its items before `untilMs` (events and points in time order, each kind in
   * slices of its own), and its timers before it.
   */
  private advance(f: Feeding, untilMs: number): void {
    const { o } = f;
    for (;;) {
      const nextEvent = f.e < f.events.length ? timeMsOf(f.events[f.e]!) : Infinity;
      const nextPoint = f.m < f.points.length ? timeMsOf(f.points[f.m]!) : Infinity;
      if (Math.min(nextEvent, nextPoint) >= untilMs) break;
      // Events and points meet no rule's state in common, only the timers.
      if (nextEvent <= nextPoint) f.e = this.feed(o, f.events, f.e, Math.min(nextPoint + 1, untilMs), f.processEvents);
      else f.m = this.feed(o, f.points, f.m, Math.min(nextEvent, untilMs), f.processPoints);
    }
    if (!Number.isNaN(o.nextTickMs)) this.tickTo(o, Math.min(untilMs - 1, f.tickBound));
  }

  /**
   * After the partition took its items: its timers through the poll's end, and what the owner's
   * options hear of it. The items taken.
   */
  private fed(f: Feeding): number {
    const { o, events, points } = f;
    this.tickTo(o, f.tickBound);
    if (events.length) this.opts.taken?.(events, o.partition);
    if (this.opts.lag && (events.length || points.length)) {
      const now = (this.opts.now ?? Date.now)();
      for (const pairs of o.sentAt.values()) {
        let k = 0;
        for (; k < pairs.length && pairs[k]! <= f.upTo; k += 2) this.opts.lag(now - pairs[k + 1]!);
        if (k) pairs.splice(0, k);
      }
    }
    const ended = [...o.through.values()].filter((t) => t === Infinity).length;
    if (this.opts.senders !== undefined && ended >= this.opts.senders)
      o.finished =
        [...o.waiting.values()].every((q) => q.length === 0) &&
        [...o.waitingPoints.values()].every((q) => q.length === 0);
    return events.length + points.length;
  }

  /**
   * Feeds `items` from `from` on, those before `untilMs`, in slices: timers run between the items
   * before their time and those at or after it, as they would for one engine taking each at its
   * own time (a slice never spans one), and a slice spans at most `sliceMs` of time. The index of
   * the first item not fed.
   */
  private feed<T extends Timed>(
    o: OwnedPartition,
    items: readonly T[],
    from: number,
    untilMs: number,
    process: (part: T[], nowMs: number) => IncidentChange[],
  ): number {
    while (from < items.length && timeMsOf(items[from]!) < untilMs) {
      const startMs = timeMsOf(items[from]!);
      this.tickTo(o, startMs);
      let to = from + 1;
      for (; to < items.length && to - from < this.slice; to++) {
        const t = timeMsOf(items[to]!);
        if (t >= untilMs || t - startMs > this.sliceMs || t >= o.nextTickMs) break;
      }
      const part = items.slice(from, to);
      from = to;
      // The engine's clock never goes back: an item older than what the partition took (sent
      // late) is judged late or not by its rule's allowed lateness, as by one engine.
      const nowMs = Math.max(o.doneMs, timeMsOf(part[part.length - 1]!));
      o.doneMs = nowMs;
      this.opts.changes(process(part, nowMs), o.partition);
    }
    return from;
  }

  private tickTo(o: OwnedPartition, toMs: number): void {
    // A partition's first timers run at the first multiple of the interval after its first time.
    if (Number.isNaN(o.nextTickMs)) {
      if (!Number.isFinite(toMs)) return;
      o.nextTickMs = (Math.floor(toMs / this.opts.tickMs) + 1) * this.opts.tickMs;
    }
    this.skipQuiet(o, toMs);
    for (; o.nextTickMs <= toMs; o.nextTickMs += this.opts.tickMs)
      this.opts.changes(o.engine.tick(o.nextTickMs), o.partition);
  }

  /**
   * A long quiet (every agent stopped for a weekend, Redis keeping the checkpoints): the timers
   * run through its last rounds only, what fell due before them at the first of those.
   */
  private skipQuiet(o: OwnedPartition, toMs: number): void {
    const behind = Math.floor((toMs - o.nextTickMs) / this.opts.tickMs);
    if (behind > MAX_CATCH_UP_TICKS) o.nextTickMs += (behind - MAX_CATCH_UP_TICKS) * this.opts.tickMs;
  }
}
