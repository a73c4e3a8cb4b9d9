/**
 * The owners design on partitions, as the daemon would run it (bench/redis.ts, "partitions"
 * rows), on what src/ holds for it (PartitionSender and PartitionOwner in
 * src/connectors/correlation/partitionOwner.ts): the groups fall into PARTITIONS partitions by an FNV-1a
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
import { PartitionOwner, PartitionSender, type OwnedPartition } from '../src/connectors/correlation/partitionOwner.ts';
import type { VigilEvent } from '../src/model/event.ts';
import { RedisKeys } from '../src/state/redisKeys.ts';
import { PartitionOwnership } from '../src/state/redisPartitions.ts';
import { BATCH, groupRouter, noteOpened, ruleSet, sentThroughMs, timeMsOf } from './redisWorkload.ts';
import { eventsFromRows, eventsToRows } from '../src/model/eventRows.ts';
import { cpuUs } from './support.ts';

export interface PartitionsOptions {
  agent: number;
  agents: number;
  partitions: number;
  maxOpen: number | undefined;
  tickMs: number;
  /** Event time at which this agent's owning part stops, as a crash would stop it; none: never. */
  crashAtMs: number | undefined;
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
/** Stream entries on their way from one sender at most. */
const IN_FLIGHT = 16;

const redisKeys = new RedisKeys('bench').partitionKeys();
const keys = {
  stream: (p: number) => redisKeys.held(`events:${p}`),
  checkpoint: (p: number) => redisKeys.held(`checkpoint:${p}`),
};
/** Partitions whose every event has been taken (bench bookkeeping: when the run is over). */
const FINISHED = 'bench:finished';
/** The crashed agent's last event time taken (bench bookkeeping: what counts as taken again). */
const CRASHED_AT = 'bench:crashed-at';

/** Sends this agent's share batch by batch, keeping within AHEAD_MS of event time of the slowest live sender (the watermark). */
async function sendAll(sender: PartitionSender, ownership: PartitionOwnership, events: VigilEvent[]): Promise<void> {
  const calls: Promise<unknown>[] = [];
  let slowest = 0;
  for (let i = 0; i < events.length; i += BATCH) {
    const end = Math.min(events.length, i + BATCH);
    const throughMs = sentThroughMs(events, end);
    while (throughMs > slowest + AHEAD_MS) {
      slowest = await ownership.watermark();
      if (throughMs > slowest + AHEAD_MS) await new Promise((r) => setTimeout(r, 2));
    }
    calls.push(sender.send(events.slice(i, end), throughMs));
    while (calls.length >= IN_FLIGHT) await calls.shift();
    await new Promise((r) => setImmediate(r));
  }
  calls.push(sender.end());
  await Promise.all(calls);
}

/** The owning side of one agent: a PartitionOwner, its rounds and checkpoints on the benchmark's schedule, and the crash. */
class Owner {
  readonly ownership: PartitionOwnership;
  readonly owner: PartitionOwner;
  readonly result: PartitionsResult = { timerUs: 0, checkpointUs: 0, late: 0, lagsMs: [], partitionsAtStart: 0 };
  /** The wall clock as this agent sees it: it stands still from a crash on, as a paused process's would. */
  private frozenAt: number | undefined;
  private readonly opts: PartitionsOptions;
  private readonly writer: Redis;
  private nextRound = 0;
  private nextCheckpoint = 0;
  private started = false;
  /** Partitions taken from the crashed agent: events at or before this time are taken again. */
  private readonly replayUntil = new Map<number, number>();
  private readonly reported = new Set<number>();
  private rounding: Promise<{ agents: number; share: number; surplus: number[] }> | undefined;
  private idle: NodeJS.Timeout | undefined;

  constructor(reader: Redis, writer: Redis, opts: PartitionsOptions, opened: Set<string>) {
    this.writer = writer;
    this.opts = opts;
    this.ownership = new PartitionOwnership({
      client: writer,
      table: redisKeys.table,
      agent: `agent-${opts.agent}`,
      partitions: opts.partitions,
      termMs: TERM_MS,
      timers: { now: () => this.frozenAt ?? Date.now() },
    });
    this.owner = new PartitionOwner({
      reader,
      writer,
      ownership: this.ownership,
      keys,
      engine: (store) => this.timedEngine(new CorrelationEngine(ruleSet(opts.maxOpen), store, { soleWriter: true })),
      encode: (events) => eventsToRows(events),
      decode: eventsFromRows,
      tickMs: opts.tickMs,
      changes: (changes) => noteOpened(changes, opened),
      slice: Math.ceil(BATCH / opts.agents),
      senders: opts.agents,
      lag: (ms) => this.result.lagsMs.push(ms),
      taken: (events, partition) => this.taken(events, partition),
    });
  }

  /** An engine whose timers' CPU is counted. */
  private timedEngine(engine: CorrelationEngine): CorrelationEngine {
    const tick = engine.tick.bind(engine);
    engine.tick = (nowMs) => {
      const before = process.cpuUsage();
      const changes = tick(nowMs);
      this.result.timerUs += cpuUs(before);
      return changes;
    };
    return engine;
  }

  private taken(events: readonly VigilEvent[], partition: number): void {
    const engine = this.owner.owned.get(partition)?.engine;
    if (engine) {
      this.result.late += engine.stats.late;
      engine.stats.late = 0;
    }
    const until = this.replayUntil.get(partition);
    if (until !== undefined && this.result.takeover)
      for (const e of events) if (timeMsOf(e) <= until) this.result.takeover.replayed++;
  }

  /** Before the run: rounds until every agent holds its share and none holds more. */
  async settle(): Promise<void> {
    for (;;) {
      const r = await this.round();
      if (r.agents === this.opts.agents && r.surplus.length === 0 && this.owner.owned.size === r.share) break;
      await new Promise((res) => setTimeout(res, 20));
    }
    // Present from the stream's start, so owners wait for this agent's first events (after a round:
    // a round drops the marks of agents not live).
    await this.ownership.markSent(0);
    this.result.partitionsAtStart = this.owner.owned.size;
  }

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

  private async roundOnce(): Promise<{ agents: number; share: number; surplus: number[] }> {
    const startedMs = performance.now();
    const { round, restored } = await this.owner.round();
    this.nextRound = Date.now() + TERM_MS / 3;
    if (this.started && restored.length) {
      // Taken during the run from a crashed agent: what it took after its last checkpoint is taken again.
      const crashedAt = await this.writer.get(CRASHED_AT);
      if (crashedAt !== null) {
        const t = (this.result.takeover ??= { partitions: 0, entries: 0, restoreMs: 0, replayed: 0 });
        t.restoreMs += performance.now() - startedMs;
        for (const { partition, entries } of restored) {
          t.partitions++;
          t.entries += entries;
          this.replayUntil.set(partition, Number(crashedAt));
        }
      }
    }
    return round;
  }

  /** Takes what the owned partitions' streams bring until every partition is finished (or this agent crashes). */
  async run(): Promise<void> {
    clearInterval(this.idle);
    this.started = true;
    const writes: Promise<unknown>[] = [];
    let finishedAll = false;
    let lastFinishedCheck = 0;
    while (!finishedAll) {
      if (Date.now() >= this.nextRound) await this.round();
      // poll() resolves at once when every partition held is finished: wait for a partition to come, or the end.
      if ([...this.owner.owned.values()].every((o) => o.finished)) await new Promise((r) => setTimeout(r, 20));
      else await this.owner.poll(20);
      const owned = [...this.owner.owned.values()];
      for (const o of owned)
        if (o.finished && !this.reported.has(o.partition)) {
          this.reported.add(o.partition);
          writes.push(this.owner.checkpoint(o).then(() => this.writer.sadd(FINISHED, String(o.partition))));
        }
      if (this.opts.crashAtMs !== undefined && this.frozenAt === undefined) {
        const reached = owned.every((o) => o.finished || o.doneMs >= this.opts.crashAtMs!);
        if (reached && owned.length > 0) {
          await Promise.all(writes);
          await this.crash();
          return;
        }
      }
      const holdCheckpoints =
        this.opts.crashAtMs !== undefined && owned.some((o) => o.doneMs >= this.opts.crashAtMs! - REPLAY_MS);
      if (Date.now() >= this.nextCheckpoint && !holdCheckpoints) {
        const from = process.cpuUsage();
        for (const o of owned) if (!o.finished) writes.push(this.owner.checkpoint(o));
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
   * A crash of the owning part: its engines and terms are dropped as they are, its clock stands
   * still. Once the others hold its partitions, a checkpoint under its old term, which Redis must refuse.
   */
  private async crash(): Promise<void> {
    const owned = [...this.owner.owned.values()];
    await this.writer.set(CRASHED_AT, String(Math.max(...owned.map((o) => o.doneMs))));
    this.frozenAt = Date.now();
    const stale: OwnedPartition = owned[0]!;
    this.owner.dropAll();
    const holder = async () => (await this.writer.hget(redisKeys.table, `o|${stale.partition}`))?.split(' ')[2];
    const deadline = Date.now() + 30_000;
    while ((await holder()) === this.ownership.agent) {
      if (Date.now() > deadline)
        throw new Error(`agent ${this.opts.agent}: its partitions were not taken over in 30 s`);
      await new Promise((r) => setTimeout(r, 20));
    }
    this.result.staleCheckpointRefused = !(await this.owner.checkpoint(stale));
  }
}

/** Runs this agent's sending and owning sides; the owning side settles its share before `ready`. */
export async function partitionsAgent(
  reader: Redis,
  writer: Redis,
  opts: PartitionsOptions,
  opened: Set<string>,
): Promise<{ run(events: VigilEvent[]): Promise<PartitionsResult> }> {
  const side = new Owner(reader, writer, opts, opened);
  await side.settle();
  side.keepTerms();
  const sender = new PartitionSender({
    ownership: side.ownership,
    keys,
    partitionOf: groupRouter(opts.partitions, opts.maxOpen),
    encode: (events) => eventsToRows(events),
  });
  return {
    async run(events) {
      await Promise.all([sendAll(sender, side.ownership, events), side.run()]);
      return side.result;
    },
  };
}
