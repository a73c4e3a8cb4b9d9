import { randomBytes } from 'node:crypto';
import { Cluster } from 'ioredis';
import { createLogger, type Logger } from '../telemetry/logger.ts';
import { MemoryStateStore } from './memoryStore.ts';
import { createSubscriber, reconnectDelay, runScript, type RedisClient } from './redisConnection.ts';
import { RedisKeys } from './redisKeys.ts';
import { combinePending, type Pending } from './redisPending.ts';
import type { RedisStoreMetrics } from './redisStoreMetrics.ts';
import type { RegisterJoin, RegisterWatch, StateDelta, StateStore, StateValue } from '../correlation/stateStore.ts';

export interface RedisStateStoreOptions {
  /** The command connection, not yet connected; the store connects, reconnects and closes it (unless `sharedClient`). */
  client: RedisClient;
  /** `client` is another's (a redis_state extension's): it connects and closes it, the store only uses it. */
  sharedClient?: boolean;
  prefix: string;
  /** Agent id stamped on register writes. */
  writer: string;
  flushIntervalMs?: number;
  /** Added to every key's time-to-live beyond its expiry. */
  ttlGraceMs?: number;
  /** The engine's clock until the engine's first `sweep` tells the store its time. */
  now?: () => number;
  /** How long another agent's word on its progress counts (see `sharedThrough`); default 10 s. */
  progressTimeoutMs?: number;
  logger?: Logger;
  metrics?: RedisStoreMetrics;
}

/**
 * Other incarnations' totals in one counter cell, each with the rule sequence number that told
 * it, as flat triples (incarnation, total, sequence), made to their length: an agent of
 * bench/redis.ts at 100,000 groups per rule holds about 240,000 of them, and lists of objects
 * grown by `push` took 25-40 MiB more of its heap.
 */
type Heard = (string | number)[];

/** One counter cell as this agent accounts for it: its own total and everyone else's. */
interface Cell {
  own: number;
  /** The other incarnations' totals together (`heard` summed, plus what `merge` added). */
  others: number;
  expiresAtMs: number;
  /** Its own total changed since it was last sent. */
  dirty: boolean;
  /** Each other incarnation's total as last heard (a message tells only the totals it changed); none yet: undefined. */
  heard: Heard | undefined;
}

/**
 * A counter key's cells, and the rule sequence number of the latest whole state (a read) or
 * deletion applied to it: anything older is in it already.
 */
interface Book {
  cells: Map<number, Cell>;
  floor: number;
}

type Snapshot =
  | { k: string; t: 'c'; c: Record<string, { e: string; w: Record<string, string> }> }
  /** The cells of a counter that one write changed: [bucket, the writer's total, expiry]. */
  | { k: string; t: 'w'; c: [string, string, string][] }
  | { k: string; t: 'm'; v: string; x: string }
  | { k: string; t: 'r'; v: StateValue; ver: string; w: string; d: string; x: string; bad?: '1' }
  | { k: string; t: 'x' }
  | { k: string; t: 'n' }
  /** A set's members: those a write added (a message), or all of them (a read). */
  | { k: string; t: 'e'; m: string[]; l: string; x: string };

/**
 * One script call of a flush: its keys, its ops as JSON objects (see APPLY_SCRIPT), written by
 * hand (`opsFor`), and the JSON values its register writes carry. The ops, all values strings:
 * - `{t:'c', k, c: [[bucket, own total, expiry], ...], ttl}`: a counter's changed cells;
 * - `{t:'m', k, v, x, ttl}`: a mark; `{t:'e', k, m: [members], l: limit, x, ttl}`: a set's new members;
 * - `{t:'r', k, a, ver, w, x, ttl}`: a register, `a` its value's place among the call's values;
 * - `{t:'d', k, ver, w, x, ttl}`: a deletion; `{t:'s', k}`: a read of the key's whole state.
 */
interface Batch {
  keys: string[];
  ops: string[];
  values: string[];
}

/** How often an agent checks that Redis still holds the shared state (its epoch key). */
const EPOCH_CHECK_MS = 1000;

/** Ops per script call: one call runs atomically, so a huge one would stall Redis for everyone. */
const OPS_PER_CALL = 256;

/**
 * Pending keys beyond which `backpressure()` holds the engine until Redis has taken them. A
 * flush carries everything pending, and its calls queue in Redis behind the other agents': an
 * engine fed faster than flushes drain made them, and so the lag, grow without bound. (Holding
 * back on the age of the oldest pending write instead did worse in bench/redis.ts: the lag is
 * then mostly the receivers', and the wait only stretched the run.)
 */
const PENDING_KEYS_LIMIT = 8 * OPS_PER_CALL;

/**
 * Correlation state shared through Redis, with the synchronous surface the engine needs: every
 * read and write hits a local MemoryStateStore; a replicator ships local writes to Redis and
 * brings other agents' writes in.
 *
 * - Local writes are pre-aggregated per key and flushed every `flushIntervalMs`; the writes of
 *   one rule go in one Lua call (one hash tag), all calls of a flush in one pipeline.
 * - Redis publishes what each call changed (a register's or mark's merged state; of a counter,
 *   the cells changed, as the writer's own totals), and answers with the registers the call
 *   lost to; every agent applies what others publish (and reads every key after a reconnect).
 *   A counter cell's local value is this agent's own total plus each other incarnation's total
 *   as last heard, each ordered by the rule's sequence number, so a late or repeated message
 *   cannot count twice.
 * - While Redis is unreachable the engine keeps running on local state; writes stay pending.
 *   After every (re)connect the store writes its whole state back, then reads everything under
 *   the prefix, so agents converge again even if Redis lost its data.
 */
export class RedisStateStore implements StateStore {
  readonly writer: string;
  /** This process's id in counter cells; a restarted agent gets a new one, so it never overwrites its past totals. */
  readonly incarnation: string;
  readonly redisKeys: RedisKeys;
  private readonly local: MemoryStateStore;
  private readonly client: RedisClient;
  /** The client belongs to someone else (a redis_state extension), who connects and closes it. */
  private readonly sharedClient: boolean;
  private readonly subscriber: RedisClient;
  private readonly flushIntervalMs: number;
  private readonly ttlGraceMs: number;
  private readonly clock: () => number;
  private readonly logger: Logger;
  private readonly metrics: RedisStoreMetrics | undefined;
  private readonly books = new Map<string, Book>();
  private pending = new Map<string, Pending>();
  /** Wall-clock ms of the oldest write in `pending`. */
  private pendingSince: number | undefined;
  /**
   * The epoch key's value as of this agent's last reconciliation. Redis without its data (a
   * restart without persistence, a failover to a replica that missed writes, a FLUSHALL) has
   * another epoch or none: the agent then writes its state back, as after a reconnect.
   */
  private epoch: string | undefined;
  private epochTimer: NodeJS.Timeout | undefined;
  private engineNowMs: number | undefined;
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> | undefined;
  private resyncing: Promise<void> | undefined;
  private resyncAgain = false;
  private closed = false;
  private wasDown = false;
  private downSince: number | undefined;
  private readonly progressTimeoutMs: number;
  /** Other agents' incarnations → the clock reading up to which their writes are in Redis, and when that was heard. */
  private readonly progress = new Map<string, { throughMs: number; heardMs: number }>();
  /** A cluster node went away and no reconciliation has completed since. */
  private nodeLost = false;
  /** The last flush failed: some writes are known not to have reached Redis. */
  private flushFailing = false;
  /** A reconciliation begun since the connection last came up has completed (see `reconciled`). */
  private reconciledSinceReady = false;
  /** Counts the connection's comings up: a reconciliation begun before the last one counts for nothing. */
  private readyCount = 0;

  constructor(opts: RedisStateStoreOptions) {
    this.writer = opts.writer;
    this.incarnation = `${opts.writer}#${randomBytes(4).toString('hex')}`;
    this.redisKeys = new RedisKeys(opts.prefix);
    this.local = new MemoryStateStore(opts.writer);
    this.client = opts.client;
    this.sharedClient = opts.sharedClient ?? false;
    this.subscriber = createSubscriber(opts.client);
    this.flushIntervalMs = opts.flushIntervalMs ?? 100;
    this.ttlGraceMs = opts.ttlGraceMs ?? 60_000;
    this.clock = opts.now ?? Date.now;
    this.progressTimeoutMs = opts.progressTimeoutMs ?? 10_000;
    this.logger = opts.logger ?? createLogger('silent');
    this.metrics = opts.metrics;
    this.local.onDelta((d) => this.recordLocal(d));
  }

  /**
   * Connects and reconciles with Redis. Never fails for want of Redis: the store then starts
   * degraded, on local state, and reconciles when the connection comes up.
   */
  async start(): Promise<void> {
    this.client.on('error', (err: Error) => this.logger.debug({ err }, 'redis connection error'));
    this.subscriber.on('error', (err: Error) => this.logger.debug({ err }, 'redis subscriber error'));
    let connectedOnce = false;
    const onReady = () => {
      if (connectedOnce) this.logger.info('redis reachable again: merging local state back');
      else this.logger.info({ prefix: this.redisKeys.prefix }, 'connected to redis: sharing correlation state');
      connectedOnce = true;
      this.readyCount++;
      this.reconciledSinceReady = false;
      this.wasDown = false;
      this.downSince = undefined;
      this.metrics?.degraded.set(0);
      void this.resync();
    };
    this.client.on('ready', onReady);
    this.client.on('close', () => {
      this.reconciledSinceReady = false;
      if (!this.wasDown && !this.closed)
        this.logger.warn('redis unreachable: correlating on local state until it is back');
      this.wasDown = true;
      this.downSince ??= Date.now();
      this.metrics?.degraded.set(1);
    });
    // Messages published while the subscriber was away are lost: reconcile after it is back.
    // ioredis says `ready` before its resubscription reaches Redis, and what is published until
    // Redis has it is lost too; a reconciliation begun at `ready` could read Redis before such a
    // message and never see it (once, in CI, an agent kept an incident another agent had merged
    // into its survivor). Subscribing again resolves once Redis has both subscriptions (one
    // connection, in order), and the reconciliation then reads what was missed.
    let subscribedOnce = false;
    this.subscriber.on('ready', () => {
      if (!subscribedOnce) {
        subscribedOnce = true;
        return;
      }
      void this.subscriber.subscribe(this.redisKeys.channel).then(
        () => {
          if (this.connected) void this.resync();
        },
        (err: unknown) => this.logger.debug({ err }, 'resubscribe failed; retried on reconnect'),
      );
    });
    this.subscriber.on('message', (_channel: string, message: string) => this.receive(message));
    // A cluster stays `ready` while one master dies, and the replica promoted in its place may
    // lack its last writes (replication is asynchronous); the epoch key, on one node only, does
    // not tell. Losing a node is then treated as a reconnect: the write-back retries until the
    // node's slots are served again, which is by the promoted replica.
    if (this.client instanceof Cluster) {
      this.client.on('-node', () => {
        if (!this.connected || this.closed) return;
        // The client retries a dead node until the cluster fails it over, losing it again each time: say it once.
        if (!this.nodeLost)
          this.logger.warn(
            "a redis cluster node went away: writing this agent's state back once its slots are served again",
          );
        this.nodeLost = true;
        void this.resync();
      });
    }
    this.metrics?.degraded.set(1);
    this.wasDown = true;
    this.downSince = Date.now();
    // Writes learn others' states only from their messages: should the subscription land after the
    // first reconciliation read Redis, what was published in between is read again.
    void this.subscriber.subscribe(this.redisKeys.channel).then(
      () => {
        if (this.epoch !== undefined && this.connected) void this.resync();
      },
      (err: unknown) => this.logger.debug({ err }, 'subscribe failed; retried on reconnect'),
    );
    // A connection shared with others (a redis_state extension's) may be up already, or reconnecting.
    if (this.client.status === 'ready') onReady();
    else if (!this.sharedClient || this.client.status === 'wait')
      await this.client
        .connect()
        .catch((err: unknown) =>
          this.logger.warn({ err }, 'redis unreachable at start: correlating on local state until it is up'),
        );
    // Let start() include the first reconciliation, whether `ready` has been emitted yet or not.
    if (this.connected) await (this.resyncing ?? this.resync());
    this.timer = setInterval(
      () => void (this.pending.size > 0 ? this.flush() : this.tellProgress()),
      this.flushIntervalMs,
    );
    this.timer.unref();
    this.epochTimer = setInterval(() => void this.checkEpoch(), EPOCH_CHECK_MS);
    this.epochTimer.unref();
  }

  /** Reconciles when Redis no longer holds the epoch this agent reconciled with: its data is gone. */
  private async checkEpoch(): Promise<void> {
    if (!this.connected || this.resyncing || this.epoch === undefined) return;
    let now: string | null;
    try {
      now = await this.client.get(this.redisKeys.epochKey);
    } catch {
      return; // unreachable: the reconnect reconciles
    }
    if (now === this.epoch || this.resyncing) return;
    this.logger.warn(
      { was: this.epoch, now },
      "redis lost the shared correlation state (its epoch changed): writing this agent's state back",
    );
    this.metrics?.epochChanges.inc();
    await this.resync();
  }

  /** Flushes what is pending, then closes both connections. */
  async close(): Promise<void> {
    clearInterval(this.timer);
    clearInterval(this.epochTimer);
    await this.drain();
    this.closed = true;
    if (this.sharedClient) {
      await Promise.allSettled([this.subscriber.quit()]);
      this.subscriber.disconnect();
      return;
    }
    await Promise.allSettled([this.client.quit(), this.subscriber.quit()]);
    this.client.disconnect();
    this.subscriber.disconnect();
  }

  /** The command connection, for leases and the ticket ledger to share. */
  get redis(): RedisClient {
    return this.client;
  }

  get connected(): boolean {
    return this.client.status === 'ready';
  }

  /**
   * Whether what this agent writes now reaches the other agents: connected, and the last flush
   * landed. A cluster stays connected while one node is down; writes for its slots then fail.
   */
  get sharing(): boolean {
    return this.connected && !this.flushFailing;
  }

  /**
   * Whether this agent's view has met the shared state since it last (re)connected: its own
   * writes from the time apart are in Redis, and everything Redis holds is in its view. Until
   * then, incidents it opened alone may have twins it has not heard of.
   */
  get reconciled(): boolean {
    return this.connected && this.reconciledSinceReady;
  }

  /** Wall-clock ms since when Redis has been out of reach; undefined while connected. */
  get unreachableSince(): number | undefined {
    return this.connected ? undefined : this.downSince;
  }

  /**
   * The clock reading up to which every other agent's writes have reached this one: the time of
   * each one's last landed flush (or word that nothing was pending), the least of them, and
   * never later than `nowMs`. Timers that decide on every agent's events run no further: a flush
   * can lag by more than the allowed lateness on a loaded host. An agent not heard from within
   * `progressTimeoutMs` (stopped, or cut off from Redis, when it reconciles on its return) is
   * not waited for.
   */
  sharedThrough(nowMs: number): number {
    let through = nowMs;
    for (const [incarnation, p] of this.progress) {
      if (nowMs - p.heardMs > this.progressTimeoutMs) this.progress.delete(incarnation);
      else if (p.throughMs < through) through = p.throughMs;
    }
    return through;
  }

  /**
   * Tells the other agents that everything this agent wrote up to now is in Redis, when nothing
   * is pending (a flush says so itself): published after the writes on the same connection, so
   * it reaches them after those.
   */
  async tellProgress(): Promise<void> {
    if (this.pending.size > 0 || this.flushing || !this.connected) return;
    await this.publishProgress(this.clock());
  }

  private async publishProgress(throughMs: number): Promise<void> {
    try {
      await this.client.publish(this.redisKeys.channel, `${this.incarnation}\nP${throughMs}`);
    } catch (err) {
      this.logger.debug({ err }, 'could not tell the other agents how far this one has flushed');
    }
  }

  /** Keys written locally and not yet in Redis. */
  pendingKeys(): number {
    return this.pending.size;
  }

  /**
   * While more keys are pending than a flush should carry, the flush that takes them (the one
   * running, else one started now): the caller awaits it before feeding the engine more, which
   * keeps the flush lag bounded under full load. Undefined otherwise, and while Redis is out of
   * reach, when the engine goes on on local state.
   */
  backpressure(): Promise<void> | undefined {
    if (this.pending.size < PENDING_KEYS_LIMIT || !this.connected) return undefined;
    return this.flush();
  }

  // ---- StateStore: every call is local and synchronous ----

  addCount(key: string, bucket: number, delta: number, expiresAtMs: number): number {
    return this.local.addCount(key, bucket, delta, expiresAtMs);
  }

  sumCounts(key: string, fromBucket: number, toBucket: number): number {
    return this.local.sumCounts(key, fromBucket, toBucket);
  }

  counterCells(key: string): [bucket: number, value: number][] {
    return this.local.counterCells(key);
  }

  raise(key: string, value: number, expiresAtMs: number): number {
    return this.local.raise(key, value, expiresAtMs);
  }

  readMax(key: string): number | undefined {
    return this.local.readMax(key);
  }

  addToSet(key: string, member: string, limit: number, expiresAtMs: number): void {
    this.local.addToSet(key, member, limit, expiresAtMs);
  }

  readSet(key: string): readonly string[] | undefined {
    return this.local.readSet(key);
  }

  write(key: string, value: StateValue, version: number, expiresAtMs: number): boolean {
    return this.local.write(key, value, version, expiresAtMs);
  }

  read(key: string) {
    return this.local.read(key);
  }

  delete(key: string, version: number): void {
    this.local.delete(key, version);
  }

  keys(prefix: string): IterableIterator<string> {
    return this.local.keys(prefix);
  }

  watchRegisters(tag: string): RegisterWatch {
    return this.local.watchRegisters(tag);
  }

  sweep(nowMs: number): number {
    if (this.engineNowMs === undefined || nowMs > this.engineNowMs) this.engineNowMs = nowMs;
    for (const [key, book] of this.books) {
      for (const [b, cell] of book.cells) if (cell.expiresAtMs <= nowMs) book.cells.delete(b);
      if (book.cells.size === 0) this.books.delete(key);
    }
    return this.local.sweep(nowMs);
  }

  /** Applies a write made elsewhere to the local view only: Redis brings other agents' writes by itself. */
  merge(delta: StateDelta): void {
    if (delta.kind === 'count') {
      const cell = this.cell(delta.key, delta.bucket, delta.expiresAtMs);
      cell.others += delta.delta;
    } else if (delta.kind === 'delete') {
      this.books.delete(delta.key);
    }
    this.local.merge(delta);
  }

  joinRegisters(tag: string, join: RegisterJoin): void {
    this.local.joinRegisters(tag, join);
  }

  onMergedCount(tag: string, listener: (key: string) => void): void {
    this.local.onMergedCount(tag, listener);
  }

  onDelta(listener: (delta: StateDelta) => void): () => void {
    return this.local.onDelta(listener);
  }

  size(): number {
    return this.local.size();
  }

  // ---- replication ----

  private engineNow(): number {
    return this.engineNowMs ?? this.clock();
  }

  private cell(key: string, bucket: number, expiresAtMs: number): Cell {
    let book = this.books.get(key);
    if (!book) {
      book = { cells: new Map(), floor: -1 };
      this.books.set(key, book);
    }
    let cell = book.cells.get(bucket);
    if (!cell) {
      cell = { own: 0, others: 0, expiresAtMs, dirty: false, heard: undefined };
      book.cells.set(bucket, cell);
    } else if (expiresAtMs > cell.expiresAtMs) {
      cell.expiresAtMs = expiresAtMs;
    }
    return cell;
  }

  /** Runs on every engine write: folds it into the key's pending op in place, allocating as little as it can. */
  private recordLocal(d: StateDelta): void {
    this.pendingSince ??= Date.now();
    if (d.kind === 'count') {
      const cell = this.cell(d.key, d.bucket, d.expiresAtMs);
      cell.own += d.delta;
      // Only a cell's first write between two flushes touches the pending map.
      if (!cell.dirty) {
        cell.dirty = true;
        const p = this.pending.get(d.key);
        if (p) p.counter = true;
        else this.pending.set(d.key, { counter: true });
      }
      return;
    }
    if (d.kind === 'delete') {
      // A deleted counter starts again from zero, for this agent's own share too.
      const book = this.books.get(d.key);
      if (book) book.cells.clear();
      this.pending.set(d.key, { del: { version: d.version, writer: d.writer } });
      return;
    }
    let p = this.pending.get(d.key);
    if (!p) this.pending.set(d.key, (p = {}));
    if (d.kind === 'set') {
      if (!p.set) p.set = { members: d.members.slice(), limit: d.limit, expiresAtMs: d.expiresAtMs };
      else combinePending(p, { set: d });
    } else if (d.kind === 'max') {
      if (!p.mark) p.mark = { value: d.value, expiresAtMs: d.expiresAtMs };
      else {
        if (d.value > p.mark.value) p.mark.value = d.value;
        if (d.expiresAtMs > p.mark.expiresAtMs) p.mark.expiresAtMs = d.expiresAtMs;
      }
    } else {
      // The store only emits writes that won locally, so the latest is the newest.
      p.register = { register: d.register, expiresAtMs: d.expiresAtMs };
    }
  }

  private owe(key: string, p: Pending): void {
    const current = this.pending.get(key);
    this.pending.set(key, current ? combinePending(current, p) : p);
    this.pendingSince ??= Date.now();
  }

  /** Flushes until nothing is pending: a flush already running holds only part of it; a failing one leaves it pending. */
  private async drain(): Promise<void> {
    for (let attempt = 0; attempt < 3 && this.pending.size > 0 && this.connected; attempt++) await this.flush();
  }

  /** Writes everything pending to Redis; on failure it stays pending, merged with newer writes. */
  flush(): Promise<void> {
    if (this.flushing) return this.flushing;
    if (this.pending.size === 0 || !this.connected) return Promise.resolve();
    this.flushing = this.doFlush().finally(() => {
      this.flushing = undefined;
      this.metrics?.pendingKeys.set(this.pending.size);
    });
    return this.flushing;
  }

  private async doFlush(): Promise<void> {
    const takenAtMs = this.clock();
    const taken = this.pending;
    const since = this.pendingSince;
    this.pending = new Map();
    this.pendingSince = undefined;
    /** Per rule, its calls so far: the last one fills up to OPS_PER_CALL ops. */
    const byTag = new Map<string, Batch[]>();
    const sent: Cell[] = [];
    const now = this.engineNow();
    for (const [key, p] of taken) {
      const tag = this.redisKeys.tagOf(key);
      let batches = byTag.get(tag);
      if (!batches) byTag.set(tag, (batches = []));
      this.opsFor(key, this.redisKeys.stateKey(key, tag), p, now, sent, batches);
    }
    const calls: Promise<void>[] = [];
    for (const [tag, batches] of byTag)
      for (const b of batches) calls.push(this.call(tag, b.keys, b.ops, true, b.values));
    const outcomes = await Promise.allSettled(calls);
    const failed = outcomes.some((o) => o.status === 'rejected');
    if (failed) {
      // Which calls landed is unknown, but resending is harmless: every op is idempotent. Keys
      // of calls that did land go again too; that costs a little, and keeps this simple.
      for (const [key, p] of taken) {
        const newer = this.pending.get(key);
        this.pending.set(key, newer ? combinePending(p, newer) : p);
      }
      for (const cell of sent) cell.dirty = true;
      if (since !== undefined && (this.pendingSince === undefined || since < this.pendingSince))
        this.pendingSince = since;
      const err = outcomes.find((o) => o.status === 'rejected')?.reason as unknown;
      this.logger.debug({ err }, 'flush to redis failed; kept pending');
      this.metrics?.flushes.inc({ outcome: 'failed' });
      this.flushFailing = true;
      return;
    }
    this.flushFailing = false;
    await this.publishProgress(takenAtMs);
    this.metrics?.flushes.inc({ outcome: 'ok' });
    if (since !== undefined) this.metrics?.flushLag.observe((Date.now() - since) / 1000);
    this.metrics?.flushedOps.inc(taken.size);
  }

  /**
   * Adds the ops that bring Redis up to `p` to the rule's last call (a new one once it is full);
   * counter cells sent go into `sent` (to be marked dirty again should the flush fail).
   */
  private opsFor(key: string, redisKey: string, p: Pending, now: number, sent: Cell[], batches: Batch[]): void {
    /** The call the next op goes in (a new one once the last is full), the op's key in it. */
    const callFor = () => {
      let b = batches[batches.length - 1];
      if (!b || b.ops.length >= OPS_PER_CALL) batches.push((b = { keys: [], ops: [], values: [] }));
      b.keys.push(redisKey);
      return b;
    };
    const ttl = (expiresAtMs: number) => Math.max(Math.ceil(expiresAtMs - now), 0) + this.ttlGraceMs;
    // The ops' JSON by hand: an object per op for JSON.stringify took half of a flush's CPU.
    const k = JSON.stringify(key);
    if (p.del) {
      const { version, writer } = p.del;
      callFor().ops.push(
        `{"t":"d","k":${k},"ver":"${version}","w":${JSON.stringify(writer)},"x":"${now}","ttl":"${ttl(now)}"}`,
      );
    }
    const book = p.counter ? this.books.get(key) : undefined;
    if (book) {
      let cells = '';
      let latest = 0;
      // Cells swept or deleted since their write are gone from the book: nothing left to say.
      for (const [b, cell] of book.cells) {
        if (!cell.dirty) continue;
        cell.dirty = false;
        sent.push(cell);
        cells += `${cells ? ',' : ''}["${b}","${cell.own}","${cell.expiresAtMs}"]`;
        if (cell.expiresAtMs > latest) latest = cell.expiresAtMs;
      }
      if (cells) callFor().ops.push(`{"t":"c","k":${k},"c":[${cells}],"ttl":"${ttl(latest)}"}`);
    }
    if (p.mark) {
      const { value, expiresAtMs } = p.mark;
      callFor().ops.push(`{"t":"m","k":${k},"v":"${value}","x":"${expiresAtMs}","ttl":"${ttl(expiresAtMs)}"}`);
    }
    if (p.set) {
      const { members, limit, expiresAtMs } = p.set;
      callFor().ops.push(
        `{"t":"e","k":${k},"m":${JSON.stringify(members)},"l":"${limit}","x":"${expiresAtMs}","ttl":"${ttl(expiresAtMs)}"}`,
      );
    }
    if (p.register) {
      const { register, expiresAtMs } = p.register;
      const b = callFor();
      b.values.push(this.local.encodeRegister(key, register.value));
      b.ops.push(
        `{"t":"r","k":${k},"a":${b.values.length},"ver":"${register.version}","w":${JSON.stringify(register.writer)},"x":"${expiresAtMs}","ttl":"${ttl(expiresAtMs)}"}`,
      );
    }
  }

  private async call(
    tag: string,
    keys: string[],
    ops: string[],
    publish: boolean,
    values: string[] = [],
  ): Promise<void> {
    const seqTtl = String(this.ttlGraceMs);
    const reply = (await runScript(
      this.client,
      'vigilStateApply',
      [this.redisKeys.sequenceKey(tag), ...keys],
      [
        String(this.engineNow()),
        publish ? this.redisKeys.channel : '',
        this.incarnation,
        `[${ops.join(',')}]`,
        seqTtl,
        ...values,
      ],
    )) as string | number;
    // A write's reply holds only the registers it lost to; of the rest, the other writers' messages tell.
    if (typeof reply === 'number') return;
    const { r, s } = JSON.parse(reply) as { r: number; s: Snapshot[] };
    // A key may appear twice in one call (a deletion, then writes): its last state is what counts.
    const last = new Map<string, Snapshot>();
    for (const snap of s) last.set(snap.k, snap);
    for (const snap of last.values()) this.applySafely(snap, r);
  }

  private receive(message: string): void {
    const nl = message.indexOf('\n');
    // Our own write: applied here when it was made.
    if (nl === this.incarnation.length && message.startsWith(this.incarnation)) return;
    if (message.charCodeAt(nl + 1) === 80 /* P */) {
      const throughMs = Number(message.slice(nl + 2));
      if (nl > 0 && Number.isFinite(throughMs))
        this.progress.set(message.slice(0, nl), { throughMs, heardMs: this.clock() });
      return;
    }
    let parsed: { r: number; s: Snapshot[] };
    try {
      parsed = JSON.parse(message.slice(nl + 1)) as typeof parsed;
      if (!Array.isArray(parsed.s)) throw new Error('no list of states');
    } catch (err) {
      this.logger.warn({ err }, 'ignoring a malformed state message');
      return;
    }
    const from = message.slice(0, nl);
    for (const snap of parsed.s) this.applySafely(snap, parsed.r, from);
    this.metrics?.remoteUpdates.inc(parsed.s.length);
  }

  /** A key's state that does not parse (written under our prefix by something else) is skipped, never fatal. */
  private applySafely(snap: Snapshot, rev: number, from?: string): void {
    try {
      this.apply(snap, rev, from);
    } catch (err) {
      this.logger.warn({ err, key: (snap as { k?: unknown }).k }, 'ignoring a malformed state entry from redis');
    }
  }

  /**
   * Brings the local view of one key to the Redis state `snap`, as of the rule's sequence number
   * `rev`; `from`, the incarnation that published it (a message, not a read).
   */
  private apply(snap: Snapshot, rev: number, from?: string): void {
    const key = snap.k;
    switch (snap.t) {
      case 'm':
        this.local.merge({ kind: 'max', key, value: Number(snap.v), expiresAtMs: Number(snap.x) });
        return;
      case 'r': {
        const version = Number(snap.ver);
        if (snap.bad === '1') throw new Error('the stored value is not JSON');
        if (snap.d === '1') this.local.merge({ kind: 'delete', key, version, writer: snap.w });
        else
          this.local.merge({
            kind: 'register',
            key,
            register: { value: snap.v, version, writer: snap.w },
            expiresAtMs: Number(snap.x),
          });
        return;
      }
      case 'x': {
        // Only other agents' deletions arrive here (own messages are skipped): writes made here after ours must stay.
        const book = this.books.get(key);
        if (book && rev < book.floor) return;
        this.books.set(key, { cells: new Map(), floor: rev });
        this.local.merge({ kind: 'delete', key, version: Number.MIN_SAFE_INTEGER, writer: '' });
        return;
      }
      case 'c':
      case 'n':
        this.applyCounter(key, snap.t === 'c' ? snap.c : {}, rev, snap.t === 'n');
        return;
      case 'w':
        if (from !== undefined) this.applyCells(key, snap.c, rev, from);
        return;
      case 'e': {
        const expiresAtMs = Number(snap.x);
        const limit = Number(snap.l);
        if (!(limit > 0)) throw new Error('not a set');
        // Lua's JSON encodes an empty list (an expiry-only change) as an object.
        const members = Array.isArray(snap.m) ? snap.m.map(String) : [];
        this.local.merge({ kind: 'set', key, members, limit, expiresAtMs });
        return;
      }
    }
  }

  /** Sets what `by` counts in `cell` to `n` as of `rev`, unless a later state told it already. */
  private hear(key: string, bucket: number, cell: Cell, by: string, n: number, rev: number): void {
    let heard = cell.heard;
    let i = 0;
    // Lists made to their length: one grown by `push` holds room for 17 entries, in every cell.
    if (heard === undefined) cell.heard = heard = [by, 0, rev];
    else {
      while (i < heard.length && heard[i] !== by) i += 3;
      if (i === heard.length) cell.heard = heard = heard.concat(by, 0, rev);
      else if ((heard[i + 2] as number) > rev) return;
      else heard[i + 2] = rev;
    }
    const was = heard[i + 1] as number;
    if (n !== was) this.addOthers(key, bucket, cell, n - was);
    heard[i + 1] = n;
  }

  private addOthers(key: string, bucket: number, cell: Cell, delta: number): void {
    cell.others += delta;
    this.local.mergeCount(key, bucket, delta, cell.expiresAtMs);
  }

  /** Another incarnation's new totals in some cells of a counter (a message: see APPLY_SCRIPT). */
  private applyCells(key: string, cells: [string, string, string][], rev: number, from: string): void {
    let book = this.books.get(key);
    if (book && rev < book.floor) return;
    const now = this.engineNowMs ?? Number.NEGATIVE_INFINITY;
    for (const [bucketText, total, expiry] of cells) {
      const bucket = Number(bucketText);
      const expiresAtMs = Number(expiry);
      const n = Number(total);
      const existing = book?.cells.get(bucket);
      if (existing) {
        this.hear(key, bucket, existing, from, n, rev);
        if (expiresAtMs > existing.expiresAtMs) existing.expiresAtMs = expiresAtMs;
        continue;
      }
      // One already swept here must not come back (its writer's clock may run behind).
      if (expiresAtMs <= now || n === 0) continue;
      const cell = this.cell(key, bucket, expiresAtMs);
      book ??= this.books.get(key);
      this.hear(key, bucket, cell, from, n, rev);
    }
  }

  /**
   * A counter's whole state in Redis (a read): what each other incarnation counts in each cell,
   * and nothing in cells or from incarnations it does not hold (pruned, expired, or lost with
   * Redis's data), except what a later message told.
   */
  private applyCounter(
    key: string,
    cells: Record<string, { e: string; w: Record<string, string> }>,
    rev: number,
    absent: boolean,
  ): void {
    let book = this.books.get(key);
    if (book && rev < book.floor) return;
    if (!book) {
      if (absent) return;
      book = { cells: new Map(), floor: rev };
      this.books.set(key, book);
    }
    book.floor = rev;
    for (const [bucket, cell] of book.cells) {
      const held = cells[String(bucket)]?.w;
      const heard = cell.heard ?? [];
      for (let i = 0; i < heard.length; i += 3) {
        const by = heard[i] as string;
        if ((heard[i + 2] as number) < rev && held?.[by] === undefined) this.hear(key, bucket, cell, by, 0, rev);
      }
    }
    const now = this.engineNowMs ?? Number.NEGATIVE_INFINITY;
    for (const bucketText in cells) {
      const remote = cells[bucketText]!;
      const bucket = Number(bucketText);
      const expiresAtMs = Number(remote.e);
      let cell = book.cells.get(bucket);
      if (!cell) {
        // Redis prunes a counter's old buckets only when a new one arrives: one already swept here must not come back.
        if (expiresAtMs <= now) continue;
        let others = 0;
        for (const by in remote.w) if (by !== this.incarnation) others += Number(remote.w[by]);
        if (others === 0) continue;
        cell = this.cell(key, bucket, expiresAtMs);
      }
      if (expiresAtMs > cell.expiresAtMs) cell.expiresAtMs = expiresAtMs;
      for (const by in remote.w)
        if (by !== this.incarnation) this.hear(key, bucket, cell, by, Number(remote.w[by]), rev);
    }
  }

  /**
   * Reconciles with Redis after every (re)connect: writes the whole local state back (Redis may
   * have lost it, and every op is idempotent), then reads every key under the prefix.
   */
  resync(): Promise<void> {
    if (this.resyncing) {
      this.resyncAgain = true;
      return this.resyncing;
    }
    this.resyncing = (async () => {
      for (let attempt = 0; ; attempt++) {
        this.resyncAgain = false;
        try {
          const since = this.readyCount;
          await this.reconcile();
          if (since === this.readyCount && this.connected) this.reconciledSinceReady = true;
          this.nodeLost = false;
          this.metrics?.resyncs.inc();
        } catch (err) {
          // A node went away mid-way (a cluster settling its topology, a failover): try again
          // while connected; once disconnected, the next `ready` starts over.
          this.logger.debug({ err, attempt }, 'reconciliation with redis interrupted');
          this.resyncAgain = true;
          await new Promise((r) => setTimeout(r, reconnectDelay(attempt)).unref());
        }
        if (!this.resyncAgain || !this.connected || this.closed) break;
      }
    })().finally(() => {
      this.resyncing = undefined;
    });
    return this.resyncing;
  }

  private async reconcile(): Promise<void> {
    // Sequence numbers restart if Redis lost its data, so forget the ones seen so far.
    for (const book of this.books.values()) {
      book.floor = -1;
      for (const cell of book.cells.values())
        for (let i = 2; i < (cell.heard?.length ?? 0); i += 3) cell.heard![i] = -1;
    }
    for (const [key, book] of this.books) {
      let owned = false;
      for (const cell of book.cells.values()) {
        if (cell.own === 0) continue;
        cell.dirty = true;
        owned = true;
      }
      if (owned) this.owe(key, { counter: true });
    }
    for (const key of this.local.keys('')) {
      if (this.pending.has(key)) continue; // its latest write is on its way already
      // The local entry's expiry: a mark's or a set's greatest, a register's winning write's.
      const expiresAtMs = this.local.entryOf(key)?.expiresAtMs ?? this.engineNow() + this.ttlGraceMs;
      const mark = this.local.readMax(key);
      if (mark !== undefined) this.owe(key, { mark: { value: mark, expiresAtMs } });
      const register = this.local.read(key);
      if (register !== undefined) this.owe(key, { register: { register, expiresAtMs } });
      const members = this.local.readSet(key);
      const limit = this.local.setLimit(key);
      if (members !== undefined && limit !== undefined)
        this.owe(key, { set: { members: members.slice(), limit, expiresAtMs } });
    }
    await this.drain();
    if (this.pending.size > 0) throw new Error('could not write local state back to redis');
    const keys = await this.scanStateKeys();
    const byTag = new Map<string, string[]>();
    for (const redisKey of keys) {
      const key = this.redisKeys.decode(redisKey);
      if (key === undefined) continue;
      const tag = this.redisKeys.tagOf(key);
      let list = byTag.get(tag);
      if (!list) byTag.set(tag, (list = []));
      list.push(key);
    }
    const calls: Promise<void>[] = [];
    for (const [tag, list] of byTag) {
      for (let i = 0; i < list.length; i += OPS_PER_CALL) {
        const chunk = list.slice(i, i + OPS_PER_CALL);
        calls.push(
          this.call(
            tag,
            chunk.map((k) => this.redisKeys.stateKey(k, tag)),
            chunk.map((k) => `{"t":"s","k":${JSON.stringify(k)}}`),
            false,
          ),
        );
      }
    }
    await Promise.all(calls);
    // The first agent to reconcile with an empty Redis names its epoch; the others take it up.
    const key = this.redisKeys.epochKey;
    await this.client.set(key, randomBytes(8).toString('hex'), 'NX');
    this.epoch = (await this.client.get(key)) ?? undefined;
  }

  private async scanStateKeys(): Promise<string[]> {
    const nodes = this.client instanceof Cluster ? this.client.nodes('master') : [this.client];
    const found: string[] = [];
    for (const node of nodes) {
      // A cluster connects to each node on its first command; scanning is the first here.
      if (node.status === 'wait') await node.connect();
      let cursor = '0';
      do {
        const [next, batch] = await node.scan(cursor, 'MATCH', this.redisKeys.statePattern, 'COUNT', 1000);
        cursor = next;
        found.push(...batch);
      } while (cursor !== '0');
    }
    return found;
  }
}
