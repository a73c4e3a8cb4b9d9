/**
 * The owners design on partitions, as the daemon would run it (bench/redis.ts, "partitions"
 * rows), built on what src/ holds for it: the groups fall into PARTITIONS partitions by an FNV-1a
 * hash of their key (`partitionOf`); each partition has a Redis stream of its events and one
 * owning agent at a time, by a term in the partition table (`PartitionOwnership`: a fair share
 * each, a dead agent's partitions to the others when its terms run out); the owner runs one
 * engine per partition on a memory store, timers included, and checkpoints each partition's
 * state under its term (`writeUnderTerm`: fenced, all or nothing, the stream trimmed to the
 * position), so that whoever takes the partition next starts from there (`restoreCheckpoint`).
 *
 * Every agent sends each batch of its share to the partitions' streams (one entry per partition
 * the batch has events for), then marks in the partition table the time through which it has sent
 * everything (`markSent`), and keeps within AHEAD_MS of event time of the slowest live sender. An
 * owner takes a partition's events in time order up to the least of the live senders' marks (the
 * watermark, read before the stream, and only once a read has come to the stream's end), as one
 * engine fed the whole stream would take them (an incident's times depend on that order); a sender
 * whose mark runs out no longer holds anyone back.
 *
 * With a crash (`--takeover`): the crashing agent's owning part stops at that event time, as a
 * kill would stop it (no checkpoint in the REPLAY_MS before it, so the next owners take that much
 * again); its sending goes on, as its clients would send to another agent. Its terms run out, the
 * two others take its partitions, each restored from its last checkpoint. Its clock stands still
 * from the crash, as a paused process's would, and once the others hold its partitions it tries
 * a checkpoint under its old term: Redis must refuse it.
 */
import type { Redis } from 'ioredis';
import { CorrelationEngine } from '../src/correlation/engine.ts';
import type { EventRule } from '../src/correlation/rules/rule.ts';
import type { VigilEvent } from '../src/model/event.ts';
import type { MemoryStateStore } from '../src/state/memoryStore.ts';
import { RedisKeys } from '../src/state/redisKeys.ts';
import { PartitionOwnership, partitionOf } from '../src/state/redisPartitions.ts';
import { CHECKPOINT_FIELD, CheckpointChangeTracker, restoreCheckpoint } from '../src/state/stateCheckpoint.ts';
import {
  BATCH,
  eventsFromJson,
  eventsToJson,
  noteOpened,
  routeBatch,
  ruleSet,
  takeThrough,
  timeMsOf,
} from './redisWorkload.ts';
import { cpuUs } from './support.ts';

export interface PartitionsOptions {
  agent: number;
  agents: number;
  partitions: number;
  maxOpen: number | undefined;
  tickMs: number;
  /** Event time at which this agent's owning part stops, as a crash would stop it; none: never. */
  crashAtMs: number | undefined;
  /**
   * `time`: a partition's senders merged in time order up to the time all have passed (as one
   * engine fed the whole stream); `arrival`: what has come, when it comes (merged in time order
   * among itself), not waiting for the slowest sender.
   */
  order: 'time' | 'arrival';
}

/** What the partitions' owners did on this agent. */
export interface PartitionsResult {
  timerUs: number;
  checkpointUs: number;
  late: number;
  /** Per sender's entry: its sending until its owner's engine took its last event (wall ms). */
  lagsMs: number[];
  /** Partitions this agent held when the run started. */
  partitionsAtStart: number;
  /** Partitions taken from the crashed agent, the state entries loaded, the ms it took, and the events taken again. */
  takeover?: { partitions: number; entries: number; restoreMs: number; replayed: number };
  /** The crashed agent: whether Redis refused its checkpoint under the term it had held. */
  staleCheckpointRefused?: boolean;
}

/** How long a term lasts unless renewed; rounds come every third of it. */
const TERM_MS = 3_000;
/** Wall-clock time between two checkpoints of the partitions an agent owns. */
const CHECKPOINT_MS = 1_000;
/** How far (event time) a sender may run ahead of the slowest sender. */
const AHEAD_MS = 2_000;
/** Event time before a crash in which the crashing agent makes no checkpoint: what its partitions' next owners take again. */
const REPLAY_MS = 40_000;
/** Stream entries one read takes per partition at most. */
const READ_COUNT = 100;
/** Stream entries on their way from one sender at most. */
const IN_FLIGHT = 16;

const POSITION = `${CHECKPOINT_FIELD}position`;
const WAITING = `${CHECKPOINT_FIELD}waiting`;
const META = `${CHECKPOINT_FIELD}meta`;

interface CheckpointMeta {
  /** Each sender's time as its last entry said (null: it ended). */
  through: (number | null)[];
  nextTick: number;
  doneMs: number;
}

type Entries = [id: string, fields: string[]][];

/** One partition this agent owns: its engine and where it is in the partition's stream. */
interface Owned {
  partition: number;
  store: MemoryStateStore;
  engine: CorrelationEngine;
  tracker: CheckpointChangeTracker;
  position: string;
  /** Per sender: the time through which it has sent everything (Infinity once it ended). */
  through: number[];
  /** Per sender: events read, waiting for the others to pass their time. */
  queues: VigilEvent[][];
  /** Per sender: its entries not yet all taken, as (through, wall clock when sent) pairs. */
  sent: number[][];
  nextTick: number;
  doneMs: number;
  /**
   * The time up to which the partition's events are all read: the watermark read before the last
   * read of its stream that came to the stream's end (fewer entries than asked for).
   */
  complete: number;
  finished: boolean;
  /** Taken from a crashed agent: events at or before this time are taken again. */
  replayUntilMs?: number;
}

const keys = new RedisKeys('bench').partitionKeys();
const streamKey = (p: number) => keys.held(`events:${p}`);
const checkpointKey = (p: number) => keys.held(`checkpoint:${p}`);
/** Partitions whose every event has been taken (bench bookkeeping: when the run is over). */
const FINISHED = 'bench:finished';
/** The crashed agent's last event time taken (bench bookkeeping: what counts as taken again). */
const CRASHED_AT = 'bench:crashed-at';

/** The partition of each event: that of the group of the rule it matches (this workload has one rule per event). */
function router(partitions: number, maxOpen: number | undefined): (e: VigilEvent) => number | undefined {
  const rules = ruleSet(maxOpen).rules.filter((r): r is EventRule => r.signal === 'logs');
  return (e) => {
    let partition: number | undefined;
    for (const rule of rules) {
      if (!rule.match(e)) continue;
      const p = partitionOf(rule.keys.key(e), partitions);
      if (partition !== undefined && partition !== p) throw new Error('an event of two rules in different partitions');
      partition = p;
    }
    return partition;
  };
}

/**
 * Sends this agent's share to the partitions' streams, batch by batch: one entry per partition the
 * batch has events for, then its time in the partition table (`markSent`), which owners merge by;
 * it keeps within AHEAD_MS of event time of the slowest live sender (the watermark).
 */
async function sendAll(
  client: Redis,
  ownership: PartitionOwnership,
  events: VigilEvent[],
  opts: PartitionsOptions,
): Promise<void> {
  const route = router(opts.partitions, opts.maxOpen);
  const byPartition: VigilEvent[][] = Array.from({ length: opts.partitions }, () => []);
  const calls: Promise<unknown>[] = [];
  let slowest = 0;
  for (let i = 0; i < events.length; i += BATCH) {
    const { throughMs } = routeBatch(events, i, route, byPartition);
    while (throughMs > slowest + AHEAD_MS) {
      slowest = await ownership.watermark();
      if (throughMs > slowest + AHEAD_MS) await new Promise((r) => setTimeout(r, 2));
    }
    const through = String(throughMs);
    const stamp = String(Date.now());
    for (let p = 0; p < opts.partitions; p++) {
      const mine = byPartition[p]!;
      if (mine.length === 0) continue;
      calls.push(
        client.xadd(streamKey(p), '*', 'a', String(opts.agent), 'p', through, 'e', eventsToJson(mine), 's', stamp),
      );
      mine.length = 0;
    }
    // On the same connection after the stream writes: Redis runs it after them.
    calls.push(ownership.markSent(throughMs));
    while (calls.length >= IN_FLIGHT) await calls.shift();
    await new Promise((r) => setImmediate(r));
  }
  for (let p = 0; p < opts.partitions; p++)
    calls.push(client.xadd(streamKey(p), '*', 'a', String(opts.agent), 'p', 'end', 'e', '[]'));
  calls.push(ownership.markSent(Number.MAX_SAFE_INTEGER));
  await Promise.all(calls);
}

/** The owning side of one agent: its terms, its partitions' engines, their checkpoints. */
class Owner {
  readonly owned = new Map<number, Owned>();
  readonly ownership: PartitionOwnership;
  readonly result: PartitionsResult = { timerUs: 0, checkpointUs: 0, late: 0, lagsMs: [], partitionsAtStart: 0 };
  /** The wall clock as this agent sees it: it stands still from a crash on, as a paused process's would. */
  private frozenAt: number | undefined;
  private readonly opts: PartitionsOptions;
  private readonly reader: Redis;
  private readonly writer: Redis;
  private readonly opened: Set<string>;
  private nextRound = 0;
  private nextCheckpoint = 0;
  private started = false;

  constructor(reader: Redis, writer: Redis, opts: PartitionsOptions, opened: Set<string>) {
    this.reader = reader;
    this.writer = writer;
    this.opts = opts;
    this.opened = opened;
    this.ownership = new PartitionOwnership({
      client: writer,
      table: keys.table,
      agent: `agent-${opts.agent}`,
      partitions: opts.partitions,
      termMs: TERM_MS,
      timers: { now: () => this.frozenAt ?? Date.now() },
    });
  }

  /** Before the run: rounds until every agent holds its share and none holds more. */
  async settle(): Promise<void> {
    for (;;) {
      const r = await this.round();
      if (r.agents === this.opts.agents && r.surplus.length === 0 && this.owned.size === r.share) break;
      await new Promise((res) => setTimeout(res, 20));
    }
    // Present from the stream's start, so owners wait for this agent's first events (after a round:
    // a round drops the marks of agents not live).
    await this.ownership.markSent(0);
    this.result.partitionsAtStart = this.owned.size;
  }

  private rounding: Promise<{ agents: number; share: number; surplus: number[] }> | undefined;
  private idle: NodeJS.Timeout | undefined;

  /** Between settling and the run: rounds go on, so the terms do not run out while the other agents get ready. */
  keepTerms(): void {
    this.idle = setInterval(() => void this.round(), TERM_MS / 3);
  }

  /** One ownership round at a time. */
  private round(): Promise<{ agents: number; share: number; surplus: number[] }> {
    this.rounding ??= this.roundOnce().finally(() => {
      this.rounding = undefined;
    });
    return this.rounding;
  }

  /** One ownership round: surplus handed over (checkpoint, then release), gains restored, losses dropped. */
  private async roundOnce(): Promise<{ agents: number; share: number; surplus: number[] }> {
    const r = await this.ownership.step();
    for (const p of r.lost) this.owned.get(p)?.tracker.close();
    for (const p of r.lost) this.owned.delete(p);
    for (const p of r.surplus) {
      const o = this.owned.get(p);
      if (o) await this.checkpoint(o);
      o?.tracker.close();
      this.owned.delete(p);
      await this.ownership.release(p);
    }
    for (const { partition } of r.gained) if (!r.surplus.includes(partition)) await this.restore(partition);
    this.nextRound = Date.now() + TERM_MS / 3;
    return r;
  }

  private async restore(partition: number): Promise<void> {
    const startedMs = performance.now();
    const saved = await this.writer.hgetall(checkpointKey(partition));
    const { store, entries, fields } = restoreCheckpoint(saved);
    const meta = fields.has(META) ? (JSON.parse(fields.get(META)!) as CheckpointMeta) : undefined;
    const waiting = fields.has(WAITING) ? (JSON.parse(fields.get(WAITING)!) as string[]) : undefined;
    const o: Owned = {
      partition,
      store,
      engine: new CorrelationEngine(ruleSet(this.opts.maxOpen), store),
      tracker: new CheckpointChangeTracker(store),
      position: fields.get(POSITION) ?? '0',
      through: meta ? meta.through.map((t) => t ?? Infinity) : new Array<number>(this.opts.agents).fill(0),
      queues: waiting ? waiting.map((q) => eventsFromJson(q)) : Array.from({ length: this.opts.agents }, () => []),
      sent: Array.from({ length: this.opts.agents }, () => []),
      nextTick: meta?.nextTick ?? this.opts.tickMs,
      doneMs: meta?.doneMs ?? 0,
      complete: 0,
      finished: false,
    };
    this.owned.set(partition, o);
    if (!this.started) return;
    // Taken during the run from a crashed agent: what it took after its last checkpoint is taken again.
    const crashedAt = await this.writer.get(CRASHED_AT);
    if (crashedAt === null) return;
    o.replayUntilMs = Number(crashedAt);
    const t = (this.result.takeover ??= { partitions: 0, entries: 0, restoreMs: 0, replayed: 0 });
    t.partitions++;
    t.entries += entries;
    t.restoreMs += performance.now() - startedMs;
  }

  private checkpoint(o: Owned): Promise<boolean> {
    const { set, remove } = o.tracker.take();
    const meta: CheckpointMeta = {
      through: o.through.map((t) => (t === Infinity ? null : t)),
      nextTick: o.nextTick,
      doneMs: o.doneMs,
    };
    set.push(
      POSITION,
      o.position,
      WAITING,
      JSON.stringify(o.queues.map((q) => eventsToJson(q))),
      META,
      JSON.stringify(meta),
    );
    return this.ownership.writeUnderTerm(o.partition, checkpointKey(o.partition), {
      set,
      remove,
      trim: [[streamKey(o.partition), o.position]],
    });
  }

  /** Takes what the owned partitions' streams bring until every partition is finished (or this agent crashes). */
  async run(): Promise<void> {
    clearInterval(this.idle);
    this.started = true;
    const slice = Math.ceil(BATCH / this.opts.agents);
    const writes: Promise<unknown>[] = [];
    let finishedAll = false;
    let lastFinishedCheck = 0;
    while (!finishedAll) {
      if (Date.now() >= this.nextRound) await this.round();
      const mine = [...this.owned.values()].filter((o) => !o.finished);
      if (mine.length === 0) await new Promise((r) => setTimeout(r, 20));
      else {
        // Before the read: every event at or before it is then among what the read brings.
        const watermark = await this.ownership.watermark();
        const reply = (await this.reader.xread(
          'COUNT',
          READ_COUNT,
          'BLOCK',
          20,
          'STREAMS',
          ...mine.map((o) => streamKey(o.partition)),
          ...mine.map((o) => o.position),
        )) as [string, Entries][] | null;
        // A stream the read came to the end of holds nothing unread at or before the watermark.
        const behind = new Set<Owned>();
        for (const [stream, entries] of reply ?? []) {
          const o = this.owned.get(Number(stream.slice(stream.lastIndexOf(':') + 1)))!;
          if (entries.length === READ_COUNT) behind.add(o);
          for (const [id, fields] of entries) {
            o.position = id;
            const sender = Number(fields[1]);
            for (const e of eventsFromJson(fields[5]!)) o.queues[sender]!.push(e);
            if (fields[3] === 'end') o.through[sender] = Infinity;
            else {
              o.through[sender] = Number(fields[3]);
              o.sent[sender]!.push(Number(fields[3]), Number(fields[7]));
            }
          }
        }
        for (const o of mine) {
          if (!behind.has(o)) o.complete = Math.max(o.complete, watermark);
          this.take(o, slice);
        }
      }
      if (this.opts.crashAtMs !== undefined && this.frozenAt === undefined) {
        const reached = [...this.owned.values()].every((o) => o.finished || o.doneMs >= this.opts.crashAtMs!);
        if (reached && this.owned.size > 0) {
          await Promise.all(writes);
          await this.crash();
          return;
        }
      }
      const holdCheckpoints =
        this.opts.crashAtMs !== undefined &&
        [...this.owned.values()].some((o) => o.doneMs >= this.opts.crashAtMs! - REPLAY_MS);
      if (Date.now() >= this.nextCheckpoint && !holdCheckpoints) {
        const from = process.cpuUsage();
        for (const o of this.owned.values()) if (!o.finished) writes.push(this.checkpoint(o));
        this.nextCheckpoint = Date.now() + CHECKPOINT_MS;
        this.result.checkpointUs += cpuUs(from);
      }
      while (writes.length > 8) await writes.shift();
      if (Date.now() - lastFinishedCheck >= 50) {
        lastFinishedCheck = Date.now();
        finishedAll = (await this.writer.scard(FINISHED)) === this.opts.partitions;
      }
    }
    await Promise.all(writes);
  }

  /**
   * Feeds a partition's engine what is complete (`complete`), timers first, in slices of about a
   * batch's share; in time order, as one engine fed the whole stream would take it.
   */
  private take(o: Owned, slice: number): void {
    const bound = this.opts.order === 'time' ? o.complete : Infinity;
    const ready = takeThrough(o.queues, bound);
    for (let from = 0; from < ready.length; from += slice) {
      const part = ready.slice(from, from + slice);
      const nowMs = timeMsOf(part[part.length - 1]!);
      o.doneMs = nowMs;
      if (o.nextTick <= nowMs) {
        const before = process.cpuUsage();
        for (; o.nextTick <= nowMs; o.nextTick += this.opts.tickMs) noteOpened(o.engine.tick(o.nextTick), this.opened);
        this.result.timerUs += cpuUs(before);
      }
      noteOpened(o.engine.process(part, nowMs), this.opened);
    }
    if (ready.length) {
      this.result.late += o.engine.stats.late;
      o.engine.stats.late = 0;
      if (this.result.takeover && o.replayUntilMs !== undefined)
        for (const e of ready) if (timeMsOf(e) <= o.replayUntilMs) this.result.takeover.replayed++;
      const now = Date.now();
      for (const pairs of o.sent) {
        let k = 0;
        for (; k < pairs.length && pairs[k]! <= bound; k += 2) this.result.lagsMs.push(now - pairs[k + 1]!);
        if (k) pairs.splice(0, k);
      }
    }
    // Every sender said `end`, and all it sent is taken.
    if (!o.finished && o.through.every((t) => t === Infinity) && o.queues.every((q) => q.length === 0)) {
      o.finished = true;
      void this.checkpoint(o).then(() => this.writer.sadd(FINISHED, String(o.partition)));
    }
  }

  /**
   * A crash of the owning part: its engines and terms are dropped as they are, its clock stands
   * still. Once the others hold its partitions, a checkpoint under its old term, which Redis must refuse.
   */
  private async crash(): Promise<void> {
    const lastMs = Math.max(...[...this.owned.values()].map((o) => o.doneMs));
    await this.writer.set(CRASHED_AT, String(lastMs));
    this.frozenAt = Date.now();
    const stale = [...this.owned.values()][0]!;
    for (const o of this.owned.values()) o.tracker.close();
    this.owned.clear();
    const holder = async () => (await this.writer.hget(keys.table, `o|${stale.partition}`))?.split(' ')[2];
    const deadline = Date.now() + 30_000;
    while ((await holder()) === this.ownership.agent) {
      if (Date.now() > deadline)
        throw new Error(`agent ${this.opts.agent}: its partitions were not taken over in 30 s`);
      await new Promise((r) => setTimeout(r, 20));
    }
    this.owned.set(stale.partition, stale);
    this.result.staleCheckpointRefused = !(await this.checkpoint(stale));
    this.owned.clear();
  }
}

/** Runs this agent's sending and owning sides; the owning side settles its share before `ready`. */
export async function partitionsAgent(
  reader: Redis,
  writer: Redis,
  opts: PartitionsOptions,
  opened: Set<string>,
): Promise<{ owner: Owner; run(events: VigilEvent[]): Promise<PartitionsResult> }> {
  const owner = new Owner(reader, writer, opts, opened);
  await owner.settle();
  owner.keepTerms();
  return {
    owner,
    async run(events) {
      await Promise.all([sendAll(writer, owner.ownership, events, opts), owner.run()]);
      return owner.result;
    },
  };
}
