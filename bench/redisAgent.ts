/**
 * One agent of bench/redis.ts, in a process of its own (its own event loop, heap and CPU
 * account): builds its share of the stream, warms the engine up, says `ready`, feeds its share
 * on `go` and answers `done` with its figures, then on `exit` closes its store and says `closed`.
 *
 * `owners` agents try the other design (bench/redis.ts, "owners" rows): each (rule, group) has
 * one owning agent, picked by a hash of the group's key; every agent passes each event of its
 * share to the owner's inbox (a Redis stream, one entry per owner and batch) and runs the engine
 * on a memory store over what its own inbox brings, timers included, up to the time every sender
 * has passed (and sends no further than AHEAD_MS beyond it). Every CHECKPOINT_MS it writes the entries changed since the last
 * checkpoint to a Redis hash, with the inbox position they hold, and trims the inbox there: what
 * another agent taking the groups over after a crash would load, then replay the inbox from.
 * `partitions` agents run the owners design on partitions held by terms (bench/redisAgentPartitions.ts).
 * Usage (forked by bench/redis.ts): node redisAgent.ts memory|redis|owners|partitions AGENT AGENTS EVENTS GROUPS FLUSH_MS RATE [REDIS_URL [CUT [MAX_OPEN [TAKEOVER_MS [TICK_MS [PARTITIONS]]]]]]
 */
import { appendFileSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { CorrelationEngine } from '../src/correlation/engine.ts';
import { CHECKPOINT_FIELD, CheckpointChangeTracker, restoreCheckpoint } from '../src/state/stateCheckpoint.ts';
import { MemoryStateStore } from '../src/state/memoryStore.ts';
import { redisStateSchema } from '../src/state/redisConfig.ts';
import { createRedisClient } from '../src/state/redisConnection.ts';
import { RedisStateStore } from '../src/state/redisStateStore.ts';
import type { StateDelta, StateStore, StateValue } from '../src/correlation/stateStore.ts';
import type { VigilEvent } from '../src/model/event.ts';
import {
  BATCH,
  groupRouter,
  noteOpened,
  ruleSet,
  streamEndMs,
  streamShare,
  routeBatch,
  timeMsOf,
  type Cut,
} from './redisWorkload.ts';
import { eventsFromRows, eventsToRows } from '../src/model/eventRows.ts';
import { takeThrough } from '../src/connectors/correlation/partitionOwner.ts';
import { partitionsAgent, type PartitionsResult } from './redisAgentPartitions.ts';
import { runtimeAgent } from './redisAgentRuntime.ts';
import { cpuUs } from './support.ts';

export interface AgentResult {
  agent: number;
  events: number;
  seconds: number;
  cpuSeconds: number;
  /** Of `cpuSeconds`, what the timers took: `tick` on the agent that runs them, `settle` and sweeps on the others. */
  timerCpuSeconds: number;
  maxRssMiB: number;
  /**
   * Flush lag samples, ms: another agent's probe write until this agent's engine can read it.
   * Owners: a batch's coming to the agent (passed on, or its own groups') until the engine took its last event.
   */
  lagsMs: number[];
  /** Probe writes seen to arrive whose stamp had already left the ring (none expected). */
  lagsLost: number;
  /** Events the engine took as late (older than allowed_lateness behind its clock). */
  late: number;
  /** The incidents this agent's engine opened and resolved, as `opened key@time`, `resolved key@time` (the memory engine alone, and owners). */
  opened: string[];
  /** Owners: CPU seconds of the checkpoints (reading and writing the changed entries). */
  checkpointCpuSeconds: number;
  /** Owners, with a takeover: what bringing the engine back from its checkpoint took. */
  takeover?: Takeover;
  /** Partitions: what this agent held and took, and whether its stale checkpoint was refused after a crash. */
  partitions?: Pick<PartitionsResult, 'partitionsAtStart' | 'takeover' | 'staleCheckpointRefused'>;
}

/** `closed` tells the entries of the agent's local state once every agent is done: all should hold the same. */
export type AgentMessage =
  { type: 'ready' } | { type: 'done'; result: AgentResult } | { type: 'closed'; localEntries: number };

const [
  mode,
  agentText,
  agentsText,
  eventsText,
  groupsText,
  flushText,
  rateText,
  url,
  cutText,
  maxOpenText,
  takeoverText,
  tickText,
  partitionsText,
] = process.argv.slice(2);
/** Partitions of the groups (mode `partitions`). */
const PARTITIONS = partitionsText ? Number(partitionsText) : 12;
/** Event time between two runs of the timers (bench/redis.ts --tick). */
const TICK_MS = tickText ? Number(tickText) : 1000;
/** Owners: the event time at which this agent's engine is dropped and restored from its checkpoint; none: never. */
const TAKEOVER_MS = takeoverText ? Number(takeoverText) : undefined;
/** max_open_incidents of every rule; '' leaves the default. */
const MAX_OPEN = maxOpenText ? Number(maxOpenText) : undefined;
const AGENT = Number(agentText);
const AGENTS = Number(agentsText);
const FLUSH_MS = Number(flushText);
/** Events per second of wall time this agent is fed at; 0: as fast as it takes them. */
const RATE = Number(rateText);
/** A probe write every PROBE_MS of wall time at most: enough samples, at a cost lost in the flush. */
const PROBE_MS = 50;
/** Stamps a probe value carries: the writes a flush may have folded into the one it sends (12.8 s of them). */
const PROBE_RING = 256;
const PROBE_EXPIRES_MS = 86_400_000;
/** How often (virtual ms) an agent that does not run the timers sweeps its local state. */
const LOCAL_SWEEP_MS = 30_000;

/** The engine's clock, which the Redis store reads too. */
const clock = { ms: 0 };

const probeKey = (agent: number) => `bench:probe{a${agent}}`;

/**
 * Probes measure flush lag. Each agent writes a register of its own every PROBE_MS, whose value
 * holds the wall-clock stamps of its last PROBE_RING writes; every other agent reads it after
 * each batch, so a write folded into a later one before a flush still yields its own sample.
 */
class Probes {
  readonly lagsMs: number[] = [];
  lost = 0;
  private version = 0;
  private lastWriteMs = 0;
  private readonly ring: StateValue[] = [];
  private readonly seen = new Array<number>(AGENTS).fill(0);
  private readonly store: StateStore;

  constructor(store: StateStore) {
    this.store = store;
  }

  step(writing: boolean): void {
    const now = Date.now();
    if (writing && now - this.lastWriteMs >= PROBE_MS) {
      this.lastWriteMs = now;
      this.version++;
      this.ring.push([this.version, now]);
      if (this.ring.length > PROBE_RING) this.ring.shift();
      this.store.write(probeKey(AGENT), this.ring.slice(), this.version, clock.ms + PROBE_EXPIRES_MS);
    }
    for (let other = 0; other < AGENTS; other++) {
      if (other === AGENT) continue;
      const reg = this.store.read(probeKey(other));
      if (!reg || reg.version <= this.seen[other]!) continue;
      const stamps = reg.value as [number, number][];
      const covered = reg.version - this.seen[other]!;
      let found = 0;
      for (const [version, stampMs] of stamps) {
        if (version <= this.seen[other]!) continue;
        this.lagsMs.push(now - stampMs);
        found++;
      }
      this.lost += covered - found;
      this.seen[other] = reg.version;
    }
  }
}

async function makeStore(): Promise<StateStore> {
  if (mode === 'memory') return new MemoryStateStore();
  const issues: { path: string; message: string }[] = [];
  const cfg = redisStateSchema.parse({ store: 'redis', url, prefix: 'bench' }, 'state', issues);
  if (!cfg || issues.length) throw new Error(JSON.stringify(issues));
  const store = new RedisStateStore({
    client: createRedisClient(cfg),
    prefix: 'bench',
    writer: `agent-${AGENT}`,
    flushIntervalMs: FLUSH_MS,
    now: () => clock.ms,
  });
  cut(store, (cutText ?? 'none') as Cut);
  await store.start();
  return store;
}

/**
 * Takes steps of sharing out of a Redis agent's store, to measure what each costs (bench/redis.ts
 * `--cut`); each includes the ones before it. The incidents are then wrong.
 * - subscription: the store never subscribes: other agents' changes are neither received nor applied;
 * - registers: nor are this agent's register writes (incident records among them) shipped;
 * - shipping: nor is anything recorded for Redis: nothing is flushed.
 * The store's private members are replaced: should they be renamed, this throws rather than cut nothing.
 */
function cut(store: RedisStateStore, what: Cut): void {
  if (what === 'none') return;
  const inside = store as unknown as {
    subscriber?: { subscribe(channel: string): Promise<unknown> };
    recordLocal?: (d: StateDelta) => void;
  };
  const record = inside.recordLocal;
  if (typeof inside.subscriber?.subscribe !== 'function' || typeof record !== 'function')
    throw new Error('--cut: RedisStateStore has no `subscriber` or `recordLocal` any more');
  inside.subscriber.subscribe = () => Promise.resolve();
  if (what === 'registers') inside.recordLocal = (d) => void (d.kind === 'register' || record.call(store, d));
  else if (what === 'shipping') inside.recordLocal = () => {};
  else if (what !== 'subscription') throw new Error(`--cut: no such step ${String(what)}`);
}

/**
 * Feeds the events in batches, at every virtual second running the timers (`tick`) when `leads`,
 * else only `settle`, as the daemon does (one elected agent runs the timers of shared state);
 * on the Redis store, yields to the event loop between batches so the replicator can flush and
 * receive, waits while the store holds back (`backpressure`), and keeps to RATE events/s if set.
 */
async function feed(
  store: StateStore,
  events: VigilEvent[],
  leads: boolean,
  probes?: Probes,
  opened?: Set<string>,
): Promise<number> {
  // As the daemon builds it: a memory store is this agent's alone, Redis's others write too.
  const engine = new CorrelationEngine(ruleSet(MAX_OPEN), store, { soleWriter: store instanceof MemoryStateStore });
  const started = performance.now();
  let nextTick = TICK_MS;
  let lastLocalSweep = 0;
  /** CPU µs in the timers. */
  let timerUs = 0;
  late = 0;
  for (let i = 0; i < events.length; i += BATCH) {
    const batch = events.slice(i, i + BATCH);
    const nowMs = Number(batch[batch.length - 1]!.timeUnixNano / 1_000_000n);
    clock.ms = nowMs;
    const timersFrom = nextTick <= nowMs ? process.cpuUsage() : undefined;
    for (; nextTick <= nowMs; nextTick += TICK_MS) {
      if (leads) noteOpened(engine.tick(nextTick), opened);
      else engine.settle(nextTick);
      // The daemon sweeps a follower's local state on a timer of its own, as often as the leader's tick does.
      if (!leads && nextTick - lastLocalSweep >= LOCAL_SWEEP_MS) {
        lastLocalSweep = nextTick;
        store.sweep(nextTick);
      }
    }
    if (timersFrom) timerUs += cpuUs(timersFrom);
    noteOpened(engine.process(batch, nowMs), opened);
    late += engine.stats.late;
    engine.stats.late = 0;
    if (store instanceof RedisStateStore) {
      probes?.step(true);
      // As the daemon's correlation connector does before it takes the next batch.
      const waiting = store.backpressure();
      if (waiting) await waiting;
      const due = RATE > 0 ? started + ((i + BATCH) / RATE) * 1000 - performance.now() : 0;
      await new Promise((r) => (due > 1 ? setTimeout(r, due) : setImmediate(r)));
    }
  }
  return timerUs;
}

/** Events the engine took as late, over the last `feed` or `own`. */
let late = 0;

/** An owner agent's inbox: the Redis stream every agent passes the events of its groups to. */
const inboxKey = (agent: number) => `bench:inbox{a${agent}}`;
/**
 * An owner agent's log of the events of its own groups that came to it: they go to its engine
 * straight away, but a new owner taking over after a crash replays them from here. Entry ids
 * are `<time>-<n>`, the time every one of its events is at or before, so a checkpoint can trim it.
 */
const logKey = (agent: number) => `bench:log{a${agent}}`;
/** An owner agent's checkpoint: a hash of its changed state entries, and the inbox position they hold. */
const checkpointKey = (agent: number) => `bench:checkpoint{a${agent}}`;
/** The checkpoint field holding the inbox position. */
const POSITION = `${CHECKPOINT_FIELD}position`;
/** The checkpoint field holding the events read but still waiting for the other senders, per sender. */
const WAITING = `${CHECKPOINT_FIELD}waiting`;
/** The checkpoint field holding where the engine was: each sender's time, the next tick, the time through which it took every event. */
const META = `${CHECKPOINT_FIELD}meta`;

interface CheckpointMeta {
  /** Each sender's time as its last entry said (null: it ended). */
  through: (number | null)[];
  nextTick: number;
  throughMs: number;
}

/** Inbox entries one agent has on their way at most: its sending waits beyond it. */
const IN_FLIGHT = 16;
/**
 * Wall-clock time between two checkpoints of an owner's state. Event time runs 20-50 times
 * faster than the wall clock here (agents take 40,000-100,000 events/s of a stream made at 2,000
 * events/s), so a checkpoint per second of it comes far more often per event than a daemon's would.
 */
const CHECKPOINT_MS = 1_000;
/**
 * How far (event time) an agent's sending may run ahead of the time every sender has passed, as
 * its inbox tells it: agents fed as fast as they take events drift apart, and events a sender
 * more than allowed_lateness (5 s) behind the others sends would be late at their owners.
 */
const AHEAD_MS = 2_000;
/** Event time a takeover takes again at least (bench/redis.ts --takeover): no checkpoint is made in it. */
const REPLAY_MS = 40_000;
/** Events an owner's engine takes at a time: an owner's share of a batch of the whole stream. */
const SLICE = Math.ceil(BATCH / AGENTS);
/** Entries (field, value pairs) per HSET of a checkpoint. */
const CHECKPOINT_CHUNK = 500;

type Entries = [id: string, fields: string[]][];

/**
 * Passes every event of this agent's share to its owner's inbox: per batch, one entry per owner
 * (empty ones too), stamped with the time through which this agent has sent every event, so
 * owners know how far they may go; an `end` entry last. The events of its own groups go straight
 * to its own engine's queue instead, and to its log; its inbox entry then carries only the time.
 */
async function passOn(client: Redis, events: VigilEvent[], progress: Progress): Promise<void> {
  const route = groupRouter(AGENTS, MAX_OPEN);
  const calls: Promise<unknown>[] = [];
  const byOwner: VigilEvent[][] = Array.from({ length: AGENTS }, () => []);
  let logMs = -1;
  let logSeq = 0;
  for (let i = 0; i < events.length; i += BATCH) {
    const { throughMs } = routeBatch(events, i, route, byOwner);
    while (throughMs > progress.allThroughMs + AHEAD_MS) await progress.next();
    const through = String(throughMs);
    for (let o = 0; o < AGENTS; o++) {
      const mine = byOwner[o]!;
      if (o === AGENT) {
        for (const e of mine) progress.local.push(e);
        progress.localStamps.push(throughMs, Date.now());
        logSeq = throughMs === logMs ? logSeq + 1 : 1;
        logMs = throughMs;
        calls.push(client.xadd(logKey(AGENT), `${throughMs}-${logSeq}`, 'e', eventsToRows(mine)));
        calls.push(client.xadd(inboxKey(o), '*', 'a', String(AGENT), 'p', through, 'e', '[]'));
      } else
        calls.push(
          client.xadd(
            inboxKey(o),
            '*',
            'a',
            String(AGENT),
            'p',
            through,
            'e',
            eventsToRows(mine),
            's',
            String(Date.now()),
          ),
        );
      mine.length = 0;
    }
    while (calls.length >= IN_FLIGHT) await calls.shift();
    await new Promise((r) => setImmediate(r));
  }
  for (let o = 0; o < AGENTS; o++) calls.push(client.xadd(inboxKey(o), '*', 'a', String(AGENT), 'p', 'end', 'e', '[]'));
  calls.push(client.xadd(logKey(AGENT), `${logMs}-${logSeq + 1}`, 'e', '[]', 'end', '1'));
  await Promise.all(calls);
}

/**
 * The time every sender has passed, as this agent's inbox tells it, and a wait for it to move;
 * and the events of this agent's own groups that came to it, on their way to its engine.
 */
class Progress {
  allThroughMs = 0;
  readonly local: VigilEvent[] = [];
  /** Per batch of `local`: the time through which it holds the events, and the wall clock when it came. */
  readonly localStamps: number[] = [];
  private waiting: (() => void)[] = [];

  next(): Promise<void> {
    return new Promise((r) => this.waiting.push(r));
  }

  moved(toMs: number): void {
    this.allThroughMs = toMs;
    for (const w of this.waiting.splice(0)) w();
  }
}

/**
 * Writes the entries changed since the last checkpoint, the inbox position they hold and the
 * events read but still waiting; trims the inbox there, and the log through `throughMs`.
 */
function checkpoint(
  client: Redis,
  tracker: CheckpointChangeTracker,
  position: string,
  meta: CheckpointMeta,
  waiting: VigilEvent[][],
): Promise<unknown> {
  // One transaction: a crash part-way through would leave entries newer than the position, which a replay would count twice.
  const pipe = client.multi();
  const { throughMs } = meta;
  const key = checkpointKey(AGENT);
  const { set, remove } = tracker.take();
  for (let i = 0; i < set.length; i += 2 * CHECKPOINT_CHUNK) pipe.hset(key, ...set.slice(i, i + 2 * CHECKPOINT_CHUNK));
  for (let i = 0; i < remove.length; i += CHECKPOINT_CHUNK) pipe.hdel(key, ...remove.slice(i, i + CHECKPOINT_CHUNK));
  const rest = JSON.stringify(waiting.map((q) => eventsToRows(q)));
  pipe.hset(key, POSITION, position, WAITING, rest, META, JSON.stringify(meta));
  pipe.xtrim(inboxKey(AGENT), 'MINID', position);
  pipe.xtrim(logKey(AGENT), 'MINID', `${throughMs + 1}-0`);
  return pipe.exec();
}

/** What bringing an owner back from its checkpoint took (bench/redis.ts --takeover). */
export interface Takeover {
  /** State entries loaded. */
  entries: number;
  /** Wall-clock ms to read the checkpoint, parse and load it. */
  restoreMs: number;
  /** Events the engine took again: those it had taken after the checkpoint before it was dropped. */
  replayed: number;
}

/** An engine on `store` (fresh, or just restored), and what tells the next checkpoint the entries its writes change. */
function ownEngine(
  store: MemoryStateStore,
  sets?: ReadonlyMap<string, number>,
): { engine: CorrelationEngine; tracker: CheckpointChangeTracker } {
  return {
    engine: new CorrelationEngine(ruleSet(MAX_OPEN), store, { soleWriter: true }),
    tracker: new CheckpointChangeTracker(store, sets),
  };
}

/**
 * Runs the engine over what this agent's inbox brings until every agent has said `end`. Each
 * sender's events come in time order, but the senders' entries interleave as they arrive: the
 * events wait in one queue per sender until every sender has passed their time, and go to the
 * engine merged in time order, the timers run before them up to the last one's time, as one
 * engine fed the whole stream would (an incident's times depend on that order). A checkpoint
 * every CHECKPOINT_MS holds the waiting events too.
 *
 * With TAKEOVER_MS set, no checkpoint is made in the REPLAY_MS of event time before it, and at
 * the first step past it the engine and its state are dropped, as a crash would drop them, and a
 * new one starts from the last checkpoint: its entries, the inbox position and waiting events,
 * and this agent's own events from its log, which it reads from then on like a second inbox.
 */
async function own(
  client: Redis,
  writer: Redis,
  store: MemoryStateStore,
  opened: Set<string>,
  progress: Progress,
  lags: number[],
): Promise<{ timerUs: number; checkpointUs: number; takeover?: Takeover }> {
  let { engine, tracker } = ownEngine(store);
  let through = new Array<number>(AGENTS).fill(0);
  let queues: VigilEvent[][] = Array.from({ length: AGENTS }, () => []);
  /** Per sender, its entries not yet all taken by the engine as (time through which it holds the events, wall clock when sent) pairs. */
  const sent: number[][] = Array.from({ length: AGENTS }, () => []);
  const writes: Promise<unknown>[] = [];
  let ended = 0;
  let position = '0';
  let nextTick = TICK_MS;
  /** The time of the last event the engine took. */
  let doneMs = 0;
  // With a takeover to come, a first checkpoint at once, so that there is one to come back to before REPLAY_MS.
  let nextCheckpoint = performance.now() + (TAKEOVER_MS === undefined ? CHECKPOINT_MS : 0);
  let timerUs = 0;
  let checkpointUs = 0;
  /** After a takeover: where this agent's log has been read to, and the time through which the dropped engine had taken every event. */
  let log: { position: string; droppedMs: number } | undefined;
  let takeover: Takeover | undefined;
  /** After a takeover: the time of the last event the dropped engine took. */
  let redoUntilMs = 0;
  late = 0;
  while (ended < AGENTS) {
    const reply = (await (log
      ? client.xread('COUNT', 20, 'BLOCK', 10_000, 'STREAMS', inboxKey(AGENT), logKey(AGENT), position, log.position)
      : client.xread('COUNT', 20, 'BLOCK', 10_000, 'STREAMS', inboxKey(AGENT), position))) as
      [string, Entries][] | null;
    if (!reply) throw new Error(`agent ${AGENT}: its inbox was empty for 10 s, ${AGENTS - ended} senders not done`);
    for (const [stream, entries] of reply) {
      for (const [id, fields] of entries) {
        if (stream === logKey(AGENT)) {
          log!.position = id;
          for (const e of eventsFromRows(fields[1]!)) if (timeMsOf(e) > log!.droppedMs) queues[AGENT]!.push(e);
          if (fields[3] === '1') {
            ended++;
            through[AGENT] = Infinity;
          } else through[AGENT] = Number(id.slice(0, id.indexOf('-')));
          continue;
        }
        position = id;
        const sender = Number(fields[1]);
        // Once the log stands in for them, this agent's own entries say nothing new.
        if (log && sender === AGENT) continue;
        const queue = queues[sender]!;
        for (const e of eventsFromRows(fields[5]!)) queue.push(e);
        if (fields[7] !== undefined) sent[sender]!.push(Number(fields[3]), Number(fields[7]));
        if (fields[3] === 'end') {
          ended++;
          through[sender] = Infinity;
        } else through[sender] = Number(fields[3]);
      }
    }
    if (!log) for (const e of progress.local) queues[AGENT]!.push(e);
    progress.local.length = 0;
    if (!log) for (const x of progress.localStamps) sent[AGENT]!.push(x);
    progress.localStamps.length = 0;
    const allThrough = Math.min(...through);
    if (allThrough > progress.allThroughMs && allThrough < Infinity) progress.moved(allThrough);
    const ready = takeThrough(queues, allThrough);
    // In slices of about what a batch of the whole stream holds, timers first, as the memory
    // engine is fed: a catch-up after a takeover would otherwise take seconds of events at once.
    for (let from = 0; from < ready.length; from += SLICE) {
      const slice = ready.slice(from, from + SLICE);
      const nowMs = timeMsOf(slice[slice.length - 1]!);
      doneMs = nowMs;
      if (nextTick <= nowMs) {
        const before = process.cpuUsage();
        for (; nextTick <= nowMs; nextTick += TICK_MS) noteOpened(engine.tick(nextTick), opened);
        timerUs += cpuUs(before);
      }
      noteOpened(engine.process(slice, nowMs), opened);
    }
    if (ready.length) {
      late += engine.stats.late;
      engine.stats.late = 0;
      if (takeover) for (const e of ready) if (timeMsOf(e) <= redoUntilMs) takeover.replayed++;
      const now = Date.now();
      for (const pairs of sent) {
        let k = 0;
        for (; k < pairs.length && pairs[k]! <= allThrough; k += 2) lags.push(now - pairs[k + 1]!);
        if (k) pairs.splice(0, k);
      }
    }
    // A crash: the state, the queues and what the engine took since the last checkpoint are gone,
    // and taken again. (The checkpoints on their way are awaited: one a crash cut short would not
    // be there at all, being one transaction, and the one before would serve.)
    if (TAKEOVER_MS !== undefined && !takeover && doneMs >= TAKEOVER_MS && writes.length > 0 && ended < AGENTS) {
      await Promise.all(writes);
      const started = performance.now();
      const saved = await writer.hgetall(checkpointKey(AGENT));
      const restored = restoreCheckpoint(saved);
      const meta = JSON.parse(restored.fields.get(META)!) as CheckpointMeta;
      const entries = restored.entries;
      store = restored.store;
      tracker.close();
      ({ engine, tracker } = ownEngine(store, restored.sets));
      position = restored.fields.get(POSITION)!;
      through = meta.through.map((t) => t ?? Infinity);
      ended = through.filter((t) => t === Infinity).length;
      nextTick = meta.nextTick;
      queues = (JSON.parse(restored.fields.get(WAITING)!) as string[]).map((q) => eventsFromRows(q));
      // This agent's own events come from its log from here on: all after the time the checkpoint holds.
      queues[AGENT] = [];
      through[AGENT] = meta.throughMs;
      if (ended && meta.through[AGENT] === null) ended--;
      log = { position: `${meta.throughMs}-0`, droppedMs: meta.throughMs };
      for (const pairs of sent) pairs.length = 0;
      takeover = { entries, restoreMs: performance.now() - started, replayed: 0 };
      redoUntilMs = doneMs;
      doneMs = meta.throughMs;
      // Nothing of this step stands: a checkpoint now would hold the dropped engine's progress.
      continue;
    }
    // Before a takeover, none in the REPLAY_MS before it (the first aside, made at once): the new
    // engine then takes that much again, or all since the first in a shorter stream.
    const holdCheckpoints =
      TAKEOVER_MS !== undefined &&
      !takeover &&
      writes.length > 0 &&
      doneMs >= TAKEOVER_MS - REPLAY_MS &&
      doneMs < TAKEOVER_MS;
    if ((nextCheckpoint <= performance.now() && !holdCheckpoints) || ended === AGENTS) {
      const from = process.cpuUsage();
      const meta: CheckpointMeta = {
        through: through.map((t) => (t === Infinity ? null : t)),
        nextTick,
        throughMs: Math.min(allThrough, doneMs),
      };
      writes.push(checkpoint(writer, tracker, position, meta, queues));
      nextCheckpoint = performance.now() + CHECKPOINT_MS;
      checkpointUs += cpuUs(from);
    }
  }
  await Promise.all(writes);
  return { timerUs, checkpointUs, takeover };
}

function send(message: AgentMessage): void {
  process.send!(message);
}

function nextMessage(): Promise<{ type: string }> {
  return new Promise((resolve) => process.once('message', resolve));
}

const events = streamShare(Number(eventsText), Number(groupsText), AGENT, AGENTS);
/** Events of its share each agent warms its code on, off the clock (bench/redis.ts `--warm`). */
const WARM_EVENTS = Number(process.env.BENCH_WARM_EVENTS ?? 100_000);
await feed(new MemoryStateStore(), events.slice(0, WARM_EVENTS), true); // JIT warm-up
clock.ms = 0;
/** Owners: the inbox reader (XREAD blocks its connection), and the connection that sends and checkpoints. */
const owners =
  mode === 'owners' || mode === 'partitions' || mode === 'runtime'
    ? { reader: new Redis(url!), writer: new Redis(url!) }
    : undefined;
const store = owners ? new MemoryStateStore() : await makeStore();
const probes = store instanceof RedisStateStore ? new Probes(store) : undefined;
/** Incidents opened, by the memory engine alone (the one to compare with) and by owners. */
const opened = (mode === 'memory' && AGENTS === 1) || owners ? new Set<string>() : undefined;
const partitioned =
  mode === 'partitions'
    ? await partitionsAgent(
        owners!.reader,
        owners!.writer,
        {
          agent: AGENT,
          agents: AGENTS,
          partitions: PARTITIONS,
          maxOpen: MAX_OPEN,
          tickMs: TICK_MS,
          crashAtMs: TAKEOVER_MS,
        },
        opened!,
      )
    : undefined;
/**
 * Runtime agents warm their own path as every engine above warmed its: the first WARM_EVENTS
 * events of their share through a runtime of their own on a Redis prefix apart (all agents at
 * once, as its partitions need them), gone before the measured run starts. Without it, the
 * sending, reading, decoding and checkpointing code compiles within the measured run, and the
 * engine's code, compiled above for a store that notes no changes for checkpoints, compiles again.
 */
if (mode === 'runtime' && WARM_EVENTS > 0) {
  const warmPrefix = 'warm';
  // What all agents' warm-ups take together: the first WARM_EVENTS of each share (agent a's share
  // of a stream the agents do not divide evenly is one shorter from some a on).
  let warmTotal = 0;
  for (let a = 0; a < AGENTS; a++) warmTotal += Math.min(WARM_EVENTS, Math.ceil((Number(eventsText) - a) / AGENTS));
  const warm = await runtimeAgent(
    url!,
    {
      prefix: warmPrefix,
      agent: AGENT,
      agents: AGENTS,
      partitions: PARTITIONS,
      maxOpen: MAX_OPEN,
      tickMs: TICK_MS,
      total: warmTotal,
      endMs: streamEndMs(warmTotal),
    },
    new Set(),
    owners!.writer,
  );
  await warm.run(events.slice(0, WARM_EVENTS));
  await warm.close();
  // Once every agent's warm-up runtime stopped, agent 0 takes its keys away.
  const done = `${warmPrefix}:stopped`;
  await owners!.writer.incr(done);
  while (Number(await owners!.writer.get(done)) < AGENTS) await new Promise((r) => setTimeout(r, 20));
  if (AGENT === 0) {
    let cursor = '0';
    do {
      const [next, keys] = await owners!.writer.scan(cursor, 'MATCH', `${warmPrefix}:*`, 'COUNT', 1000);
      // The count stays (bench/redis.ts flushes Redis before each run): an agent may not have read it yet.
      const gone = keys.filter((k) => k !== done);
      if (gone.length) await owners!.writer.unlink(...gone);
      cursor = next;
    } while (cursor !== '0');
  }
}
/** The daemon's own runtime under `state.sharing: partitions` (mode `runtime`). */
const daemonRuntime =
  mode === 'runtime'
    ? await runtimeAgent(
        url!,
        {
          prefix: 'bench',
          agent: AGENT,
          agents: AGENTS,
          partitions: PARTITIONS,
          maxOpen: MAX_OPEN,
          tickMs: TICK_MS,
          total: Number(eventsText),
          endMs: streamEndMs(Number(eventsText)),
        },
        opened!,
        owners!.writer,
      )
    : undefined;
send({ type: 'ready' });
await nextMessage();

// BENCH_PROFILE_DIR: a CPU profile of the measured run only (from the go to the done), per agent.
const profiler = process.env.BENCH_PROFILE_DIR ? new Session() : undefined;
if (profiler) {
  profiler.connect();
  await profiler.post('Profiler.enable');
  await profiler.post('Profiler.start');
}
const cpuBefore = process.cpuUsage();
const windowFrom = process.hrtime.bigint();
const started = performance.now();
let timerUs: number;
let checkpointUs = 0;
/** Owners: per batch of events, the wall-clock ms from its coming to its owner's engine taking its last event. */
let ownerLags: number[] | undefined;
let takeover: Takeover | undefined;
let partitions: AgentResult['partitions'];
if (daemonRuntime) {
  const r = await daemonRuntime.run(events);
  // The runtime's timers and checkpoints run inside its loop, not timed apart.
  timerUs = NaN;
  checkpointUs = NaN;
  late = r.late;
  ownerLags = r.lagsMs;
  partitions = { partitionsAtStart: r.partitionsAtStart };
} else if (partitioned) {
  const r = await partitioned.run(events);
  timerUs = r.timerUs;
  checkpointUs = r.checkpointUs;
  late = r.late;
  ownerLags = r.lagsMs;
  partitions = {
    partitionsAtStart: r.partitionsAtStart,
    ...(r.takeover ? { takeover: r.takeover } : {}),
    ...(r.staleCheckpointRefused !== undefined ? { staleCheckpointRefused: r.staleCheckpointRefused } : {}),
  };
} else if (owners) {
  const progress = new Progress();
  ownerLags = [];
  const [, owned] = await Promise.all([
    passOn(owners.writer, events, progress),
    own(owners.reader, owners.writer, store as MemoryStateStore, opened!, progress, ownerLags),
  ]);
  ({ timerUs, checkpointUs, takeover } = owned);
} else {
  // Agent 0 stands for the elected leader: it alone runs the timers.
  timerUs = await feed(store, events, AGENT === 0, probes, opened);
}
if (store instanceof RedisStateStore) while (store.pendingKeys() > 0) await store.flush();
const seconds = (performance.now() - started) / 1000;
const cpuSeconds = cpuUs(cpuBefore) / 1e6;
// BENCH_WINDOWS: the measured run's bounds on CLOCK_MONOTONIC (ns), to cut a system-wide profile to it.
if (process.env.BENCH_WINDOWS)
  appendFileSync(process.env.BENCH_WINDOWS, `${process.pid} ${mode} ${windowFrom} ${process.hrtime.bigint()}\n`);
if (profiler) {
  const { profile } = await profiler.post('Profiler.stop');
  writeFileSync(join(process.env.BENCH_PROFILE_DIR!, `${mode}-${AGENT}.cpuprofile`), JSON.stringify(profile));
}
send({
  type: 'done',
  result: {
    agent: AGENT,
    events: events.length,
    seconds,
    cpuSeconds,
    timerCpuSeconds: timerUs / 1e6,
    maxRssMiB: process.resourceUsage().maxRSS / 1024,
    lagsMs: probes?.lagsMs ?? ownerLags ?? [],
    lagsLost: probes?.lost ?? 0,
    late,
    opened: opened ? [...opened] : [],
    checkpointCpuSeconds: checkpointUs / 1e6,
    ...(takeover ? { takeover } : {}),
    ...(partitions ? { partitions } : {}),
  },
});
await nextMessage();
await daemonRuntime?.close();
if (store instanceof RedisStateStore) await store.close();
owners?.reader.disconnect();
owners?.writer.disconnect();
send({ type: 'closed', localEntries: store.size() });
process.disconnect();
