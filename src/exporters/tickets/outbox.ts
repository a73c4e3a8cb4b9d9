import { appendFile, mkdir, open, readFile, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { replaceFile } from './atomicFile.ts';
import { GroupCommit } from './groupCommit.ts';
import type { DurableQueue, QueueBacklog } from '../helper/queue.ts';
import { RetryPolicy } from '../helper/retry.ts';
import { realTimers, type Timers } from '../helper/timers.ts';
import { asDeliveryError, DeliveryDeferredError, type DeliveryError } from './delivery.ts';
import {
  addedRecord,
  entryRecords,
  JOURNAL_FILE,
  replayJournal,
  takeRetryRequests,
  type JournalRecord,
  type ParkInfo,
  type RetryRequest,
} from './outboxJournal.ts';

export interface OutboxEntry<T, P = unknown> {
  /** Position in the journal; also the idempotency id of this change. */
  seq: number;
  /** Entries with the same key are delivered one at a time, in append order. */
  key: string;
  payload: T;
  enqueuedAtMs: number;
  /** Attempts made in this process (restarts begin again at 0). */
  attempts: number;
  /** Set while the entry is parked: it and the later entries of its key wait for a retry request. */
  parked?: ParkInfo;
  /** What an earlier attempt achieved before failing (recordProgress()), kept across restarts. */
  progress?: P;
  /** The change's own id, when the appender gave one (see OutboxItem). */
  id?: string;
}

/** What append() takes. */
export interface OutboxItem<T> {
  key: string;
  payload: T;
  /**
   * Identifies the change the payload carries, whoever hands it over and however often: an item
   * whose id the outbox has taken before (among the last `rememberIds`, across restarts) is
   * dropped, neither journaled nor delivered again. Without one, every append is a new entry.
   */
  id?: string;
}

export interface OutboxOptions<T, P = unknown> {
  dir: string;
  /** fsync every append: an acknowledged change then survives power loss, not only a crash. */
  fsync: boolean;
  maxAttempts: number;
  /** Retry waits: doubling from `initialMs` up to `maxMs`, with the exporters' jitter (helper/retry.ts). */
  backoff: { initialMs: number; maxMs: number };
  /** Keys delivered at the same time; one key never has two attempts in flight. */
  concurrency: number;
  /** Most attempts started in any 60 s (0: no limit); the others wait in the journal, never dropped. */
  maxPerMinute?: number;
  /** How many ids of changes taken (OutboxItem.id) are remembered to drop repeats; default DEFAULT_REMEMBER_IDS. */
  rememberIds?: number;
  deliver(entry: OutboxEntry<T, P>): Promise<void>;
  timers?: Timers;
  random?: () => number;
  onDelivered?(entry: OutboxEntry<T>): void;
  onRetry?(entry: OutboxEntry<T>, err: DeliveryError, delayMs: number): void;
  onPark?(entry: OutboxEntry<T>, reason: string): void;
  /** An attempt was deferred (DeliveryDeferredError): no attempt spent, tried again after the error's delay. */
  onDeferred?(entry: OutboxEntry<T>, err: DeliveryDeferredError): void;
  onJournalError?(err: unknown): void;
  /** An entry ready for delivery waits for the rate limit (once per entry); `waiting` counts such entries now. */
  onThrottled?(entry: OutboxEntry<T>, waiting: number): void;
  /** A parked entry was moved back into delivery by a retry request. */
  onRetryRequested?(entry: OutboxEntry<T>): void;
  /** An appended item carried the id of a change the outbox had taken already: it was dropped. */
  onDuplicate?(item: OutboxItem<T>): void;
  /** How often a running outbox looks for `vigil tickets retry` requests (real time; 0 or absent: only at open()). */
  retryRequestPollMs?: number;
}

const RATE_WINDOW_MS = 60_000;

/** Journal lines to append; `sync`: fsync before the caller hears back; `written`: runs once they are on disk. */
interface JournalWrite {
  text: string;
  sync: boolean;
  written?: () => void;
}

/** Rewrite the journal once this many finished entries sit in it. */
const COMPACT_AFTER = 1000;

/**
 * Ids of changes taken that the outbox remembers. A change comes again when whoever handed it
 * over crashed before recording the hand-over (correlation records it with its next commit, at
 * the next tick), so only the last few changes can come again; this leaves a wide margin.
 */
export const DEFAULT_REMEMBER_IDS = 4096;

/**
 * A durable, per-key ordered delivery queue on disk. append() resolves only once the entries
 * are written to the journal, so whoever acknowledges upstream after it can crash without
 * losing them; open() replays the journal after a restart. Failed deliveries are retried with
 * backoff (or after the server's Retry-After). An entry that keeps failing, or fails for a
 * reason retrying cannot fix, is parked: it stays in the journal with the reason, and the later
 * entries of its key wait behind it rather than go out without it (an update or resolve of a
 * ticket that was never created would be lost). A retry request (`vigil tickets retry`, taken
 * from a file in the directory so it is safe while the daemon runs) moves it back into delivery.
 * `parked.ndjson` keeps a history of every parking for operators. A deferred attempt (the
 * delivery's own dependency cannot answer, see DeliveryDeferredError) is neither a failure nor
 * a rate-limited request: it waits, and is never parked for it. An item appended with the id of
 * a change taken before (the last `rememberIds`, across restarts) is dropped: whoever hands
 * changes over may repeat its last ones after a crash.
 */
export class Outbox<T, P = unknown> implements DurableQueue<{ key: string; payload: T }> {
  private readonly opts: OutboxOptions<T, P>;
  private readonly timers: Timers;
  private readonly retry: RetryPolicy;
  readonly journalPath: string;
  /** Every parking, one JSON line each with the reason: a history for operators (the journal holds the state). */
  readonly parkedPath: string;
  private journal: FileHandle | undefined;
  private readonly queues = new Map<string, OutboxEntry<T, P>[]>();
  private readonly notBefore = new Map<string, number>();
  /** No attempt of any key starts before this time: a deferral that holds for every delivery. */
  private heldUntil = 0;
  private readonly inFlight = new Map<string, Promise<void>>();
  private nextSeq = 1;
  private finishedInJournal = 0;
  private writes: Promise<void> = Promise.resolve();
  /** Journal lines that arrive while a write is under way go together in the next one, with one fsync. */
  private readonly commit = new GroupCommit<JournalWrite>((batch) => this.writeBatch(batch));
  /** Ids of the changes taken, oldest first, at most `rememberIds`: those on disk and those on their way. */
  private readonly takenIds = new Set<string>();
  /** Ids whose entry is on its way to the journal: a repeat waits for that write rather than trust it. */
  private readonly idsBeingWritten = new Map<string, Promise<void>>();
  /** fsyncs of the journal since open (group commit makes this far fewer than the appends). */
  fsyncs = 0;
  private timer: unknown;
  private timerAt = Infinity;
  private running = false;
  private idleWaiters: (() => void)[] = [];
  /** Delivered entries whose "done" line is on its way to disk (onDelivered follows it). */
  private readonly recording = new Set<Promise<void>>();
  private pollTimer: NodeJS.Timeout | undefined;
  private checkingRequests: Promise<void> | undefined;
  private journalDamaged = false;
  /** Start times of the attempts of the last minute, oldest first (the rate limit's sliding window). */
  private readonly starts: number[] = [];
  /** Entries that were ready but waited for the rate limit, by seq. */
  private readonly throttled = new Set<number>();

  constructor(opts: OutboxOptions<T, P>) {
    this.opts = opts;
    this.timers = opts.timers ?? realTimers;
    this.retry = new RetryPolicy(
      { initialIntervalMs: opts.backoff.initialMs, maxIntervalMs: opts.backoff.maxMs, maxAttempts: opts.maxAttempts },
      opts.random,
    );
    this.journalPath = join(opts.dir, JOURNAL_FILE);
    this.parkedPath = join(opts.dir, 'parked.ndjson');
  }

  /** Loads what a previous run left undelivered and compacts the journal. */
  async open(): Promise<void> {
    await mkdir(this.opts.dir, { recursive: true });
    let text = '';
    try {
      text = await readFile(this.journalPath, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    const replayed = replayJournal<T, P>(text);
    this.nextSeq = replayed.nextSeq;
    for (const id of replayed.takenIds) this.rememberId(id);
    for (const e of replayed.entries) this.enqueue({ ...e, attempts: 0 });
    // Requests made while the daemon was stopped: applied in memory, then written by the rewrite.
    const taken = await takeRetryRequests(this.opts.dir, this.timers.now());
    this.applyRetryRequests(taken.requests);
    await this.rewriteJournal();
    await taken.done();
  }

  /**
   * Persists the entries; resolves once they are on disk (and fsynced when configured). Appends
   * made while the journal is busy are written and fsynced together (GroupCommit). An item whose
   * id was taken before is dropped (and reported to `onDuplicate`); its append still resolves
   * only once the first one's entry is on disk.
   */
  append(items: readonly OutboxItem<T>[]): Promise<void> {
    const now = this.timers.now();
    const entries: OutboxEntry<T, P>[] = [];
    const earlier = new Set<Promise<void>>();
    for (const i of items) {
      if (i.id !== undefined && this.takenIds.has(i.id)) {
        const writing = this.idsBeingWritten.get(i.id);
        if (writing) earlier.add(writing);
        this.opts.onDuplicate?.(i);
        continue;
      }
      const e: OutboxEntry<T, P> = {
        seq: this.nextSeq++,
        key: i.key,
        payload: i.payload,
        enqueuedAtMs: now,
        attempts: 0,
      };
      if (i.id !== undefined) {
        e.id = i.id;
        this.rememberId(i.id);
      }
      entries.push(e);
    }
    const written = entries.length ? this.appendEntries(entries) : Promise.resolve();
    return earlier.size ? Promise.all([written, ...earlier]).then(() => undefined) : written;
  }

  put(item: OutboxItem<T>): Promise<void> {
    return this.append([item]);
  }

  private appendEntries(entries: OutboxEntry<T, P>[]): Promise<void> {
    let text = '';
    for (const e of entries) text += addedRecord(e);
    const written = this.commit.add({
      text,
      sync: this.opts.fsync,
      written: () => entries.forEach((e) => this.enqueue(e)),
    });
    const ids = entries.flatMap((e) => (e.id === undefined ? [] : [e.id]));
    if (ids.length === 0) return written;
    for (const id of ids) this.idsBeingWritten.set(id, written);
    return written.then(
      () => ids.forEach((id) => this.idsBeingWritten.delete(id)),
      (err: unknown) => {
        // Not taken after all: the caller is told and hands the change over again, which must not be dropped.
        for (const id of ids) {
          this.idsBeingWritten.delete(id);
          this.takenIds.delete(id);
        }
        throw err;
      },
    );
  }

  /** Remembers the id of a change taken, forgetting the oldest beyond `rememberIds`. */
  private rememberId(id: string): void {
    this.takenIds.delete(id);
    this.takenIds.add(id);
    const limit = this.opts.rememberIds ?? DEFAULT_REMEMBER_IDS;
    for (const oldest of this.takenIds) {
      if (this.takenIds.size <= limit) break;
      this.takenIds.delete(oldest);
    }
  }

  backlog(): QueueBacklog {
    return { items: this.depth, bytes: 0, oldestAcceptedAtMs: this.oldestEnqueuedAtMs() };
  }

  start(): void {
    this.running = true;
    const every = this.opts.retryRequestPollMs;
    if (every) {
      this.pollTimer = setInterval(
        () => void this.checkRetryRequests().catch((err: unknown) => this.opts.onJournalError?.(err)),
        every,
      );
      this.pollTimer.unref();
    }
    this.pump();
  }

  /** Applies the retry requests written since the last check (`vigil tickets retry`); the journal records them first. */
  checkRetryRequests(): Promise<void> {
    this.checkingRequests ??= (async () => {
      const taken = await takeRetryRequests(this.opts.dir, this.timers.now());
      if (taken.requests.length === 0) return taken.done();
      const moved = this.applyRetryRequests(taken.requests);
      if (moved.length)
        await this.commit.add({
          text: moved.map((e) => JSON.stringify({ retry: e.seq }) + '\n').join(''),
          sync: false,
        });
      await taken.done();
      this.pump();
    })().finally(() => (this.checkingRequests = undefined));
    return this.checkingRequests;
  }

  /** Un-parks the entries the requests name; returns those it moved back into delivery. */
  private applyRetryRequests(requests: readonly RetryRequest[]): OutboxEntry<T, P>[] {
    const moved: OutboxEntry<T, P>[] = [];
    const all = requests.some((r) => 'all' in r);
    const seqs = new Set(requests.flatMap((r) => ('seq' in r ? [r.seq] : [])));
    for (const q of this.queues.values()) {
      const head = q[0]!;
      if (!head.parked || (!all && !seqs.has(head.seq))) continue;
      delete head.parked;
      head.attempts = 0;
      this.notBefore.delete(head.key);
      moved.push(head);
      this.opts.onRetryRequested?.(head);
    }
    return moved;
  }

  /**
   * Journals what an attempt of `entry` achieved before it failed (a ticket created whose id
   * could not be stored), so the next attempt, in this process or after a restart, finishes the
   * job instead of doing it again. Durable like append(): resolves once written (and fsynced).
   */
  recordProgress(entry: OutboxEntry<T, P>, progress: P): Promise<void> {
    return this.commit.add({
      text: JSON.stringify({ progress: entry.seq, v: progress }) + '\n',
      sync: this.opts.fsync,
      written: () => (entry.progress = progress),
    });
  }

  /** Stops starting attempts, waits for those in flight, and closes the journal. */
  async close(): Promise<void> {
    this.running = false;
    this.clearTimer();
    clearInterval(this.pollTimer);
    await this.checkingRequests?.catch(() => undefined);
    await Promise.allSettled([...this.inFlight.values()]);
    await Promise.allSettled([...this.recording]);
    await this.commit.settled();
    await this.writes;
    await this.journal?.close();
    this.journal = undefined;
  }

  /** Entries waiting for delivery or in flight (not those parked or waiting behind a parked one). */
  get depth(): number {
    let n = 0;
    for (const q of this.queues.values()) if (!q[0]!.parked) n += q.length;
    return n;
  }

  /** Entries parked now. */
  get parked(): number {
    let n = 0;
    for (const q of this.queues.values()) if (q[0]!.parked) n++;
    return n;
  }

  /** Entries waiting behind a parked entry of their key. */
  get waitingOnParked(): number {
    let n = 0;
    for (const q of this.queues.values()) if (q[0]!.parked) n += q.length - 1;
    return n;
  }

  oldestEnqueuedAtMs(): number | undefined {
    let oldest: number | undefined;
    for (const q of this.queues.values())
      if (!q[0]!.parked && (oldest === undefined || q[0]!.enqueuedAtMs < oldest)) oldest = q[0]!.enqueuedAtMs;
    return oldest;
  }

  /** Resolves when nothing is waiting for delivery and every attempt has finished its bookkeeping (parked entries do not count). */
  whenIdle(): Promise<void> {
    if (this.idle()) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private idle(): boolean {
    return this.depth === 0 && this.inFlight.size === 0 && this.recording.size === 0;
  }

  private enqueue(e: OutboxEntry<T, P>): void {
    const q = this.queues.get(e.key);
    if (q) q.push(e);
    else this.queues.set(e.key, [e]);
  }

  /** One write (and at most one fsync) for a batch of journal lines, then what each waits to do once they are on disk. */
  private writeBatch(batch: readonly JournalWrite[]): Promise<void> {
    return this.serialised(async () => {
      let text = '';
      let sync = false;
      for (const w of batch) {
        text += w.text;
        sync ||= w.sync;
      }
      await this.journal!.write(text);
      if (sync) {
        await this.journal!.sync();
        this.fsyncs++;
      }
      for (const w of batch) w.written?.();
      this.pump();
    });
  }

  /**
   * Runs journal writes one at a time. A failed write (disk full) may leave a torn line that
   * the next append would glue onto, hiding it from replay; so after a failure the journal is
   * rewritten from memory before anything else is written.
   */
  private serialised(fn: () => Promise<void>): Promise<void> {
    const next = this.writes.then(async () => {
      if (this.journalDamaged) {
        await this.rewriteJournal();
        this.journalDamaged = false;
      }
      try {
        await fn();
      } catch (err) {
        this.journalDamaged = true;
        throw err;
      }
    });
    this.writes = next.catch(() => undefined);
    return next;
  }

  private pump(): void {
    if (!this.running) return;
    const now = this.timers.now();
    let earliest = Infinity;
    if (this.heldUntil > now) earliest = this.heldUntil;
    else
      for (const [key, q] of this.queues) {
        if (this.inFlight.size >= this.opts.concurrency) break;
        if (this.inFlight.has(key) || q.length === 0 || q[0]!.parked) continue;
        const at = this.notBefore.get(key) ?? 0;
        if (at > now) {
          earliest = Math.min(earliest, at);
          continue;
        }
        const entry = q[0]!;
        const slotAt = this.nextSlotAt(now);
        if (slotAt > now) {
          earliest = Math.min(earliest, slotAt);
          this.noteThrottled(entry);
          continue;
        }
        this.throttled.delete(entry.seq);
        if (this.opts.maxPerMinute) this.starts.push(now);
        // Started on a later tick so the attempt's own bookkeeping never runs before this set.
        this.inFlight.set(
          key,
          Promise.resolve().then(() => this.attempt(entry, now)),
        );
      }
    if (earliest < this.timerAt) {
      this.clearTimer();
      this.timerAt = earliest;
      this.timer = this.timers.setTimeout(() => {
        this.timerAt = Infinity;
        this.timer = undefined;
        this.pump();
      }, earliest - now);
    }
  }

  /** When the next attempt may start under `maxPerMinute`: now, or when the oldest start of the window leaves it. */
  private nextSlotAt(now: number): number {
    const limit = this.opts.maxPerMinute;
    if (!limit) return now;
    while (this.starts.length > 0 && this.starts[0]! <= now - RATE_WINDOW_MS) this.starts.shift();
    return this.starts.length < limit ? now : this.starts[0]! + RATE_WINDOW_MS;
  }

  private noteThrottled(entry: OutboxEntry<T, P>): void {
    if (this.throttled.has(entry.seq)) return;
    this.throttled.add(entry.seq);
    this.opts.onThrottled?.(entry, this.throttled.size);
  }

  private clearTimer(): void {
    if (this.timer !== undefined) this.timers.clearTimeout(this.timer);
    this.timer = undefined;
    this.timerAt = Infinity;
  }

  private async attempt(entry: OutboxEntry<T, P>, startedAt: number): Promise<void> {
    entry.attempts++;
    try {
      await this.opts.deliver(entry);
      this.record(entry);
    } catch (raw) {
      if (raw instanceof DeliveryDeferredError) {
        this.defer(entry, raw, startedAt);
        return;
      }
      const err = asDeliveryError(raw);
      const next = this.retry.decide(err, entry.attempts, 0);
      if (!next.retry) {
        const reason =
          next.reason === 'permanent' ? err.message : `gave up after ${entry.attempts} attempts: ${err.message}`;
        await this.park(entry, reason);
      } else {
        this.notBefore.set(entry.key, this.timers.now() + next.delayMs);
        this.opts.onRetry?.(entry, err, next.delayMs);
      }
    } finally {
      this.inFlight.delete(entry.key);
      this.wakeIdleWaiters();
      this.pump();
    }
  }

  /**
   * Records a delivered entry done, then tells onDelivered. The attempt's slot is free meanwhile:
   * held through the fsync of the "done" line, four slots capped a storm at the disk's sync rate
   * (docs/benchmarks.md). The key's next entry may go out before the line is on disk; a crash
   * then repeats both, in order.
   */
  private record(entry: OutboxEntry<T, P>): void {
    const recorded = this.finish(entry, { d: entry.seq })
      .then(() => this.opts.onDelivered?.(entry))
      .catch((err: unknown) => this.opts.onJournalError?.(err))
      .finally(() => {
        this.recording.delete(recorded);
        this.wakeIdleWaiters();
      });
    this.recording.add(recorded);
  }

  private wakeIdleWaiters(): void {
    if (this.idle()) for (const w of this.idleWaiters.splice(0)) w();
  }

  /**
   * Tries the entry again later as if this attempt had not been made: no attempt spent, its
   * rate-limit slot given back. A deferral comes before any request to the destination, but for
   * one per change at most: a ticket made whose id could not be stored.
   */
  private defer(entry: OutboxEntry<T, P>, err: DeliveryDeferredError, startedAt: number): void {
    entry.attempts--;
    const slot = this.starts.indexOf(startedAt);
    if (slot >= 0) this.starts.splice(slot, 1);
    const until = this.timers.now() + err.retryAfterMs;
    if (err.allKeys) this.heldUntil = Math.max(this.heldUntil, until);
    else this.notBefore.set(entry.key, until);
    this.opts.onDeferred?.(entry, err);
  }

  private async park(entry: OutboxEntry<T, P>, reason: string): Promise<void> {
    const atMs = this.timers.now();
    entry.parked = { atMs, reason, attempts: entry.attempts };
    this.notBefore.delete(entry.key);
    try {
      await appendFile(
        this.parkedPath,
        JSON.stringify({
          parkedAtMs: atMs,
          reason,
          key: entry.key,
          seq: entry.seq,
          attempts: entry.attempts,
          payload: entry.payload,
        }) + '\n',
        { mode: 0o600 },
      );
    } catch (err) {
      this.opts.onJournalError?.(err);
    }
    try {
      // Written before the key's later entries could be taken as free to go: they wait behind this one.
      await this.commit.add({
        text: JSON.stringify({ park: entry.seq, at: atMs, why: reason, tries: entry.attempts }) + '\n',
        sync: false,
      });
    } catch (err) {
      this.opts.onJournalError?.(err);
    }
    this.opts.onPark?.(entry, reason);
  }

  /**
   * Removes a delivered entry; resolves once its "done" line is written (and fsynced when
   * configured), so whoever is told of the delivery after it (onDelivered, the sent counter)
   * never hears of one that a crash, or with fsync a power loss, would have repeated.
   */
  private async finish(entry: OutboxEntry<T, P>, rec: JournalRecord<T, P>): Promise<void> {
    const q = this.queues.get(entry.key)!;
    q.shift();
    if (q.length === 0) this.queues.delete(entry.key);
    this.notBefore.delete(entry.key);
    try {
      await this.commit.add({
        text: JSON.stringify(rec) + '\n',
        sync: this.opts.fsync,
        written: () => this.finishedInJournal++,
      });
      if (this.finishedInJournal >= COMPACT_AFTER)
        await this.serialised(async () => {
          if (this.finishedInJournal >= COMPACT_AFTER) await this.rewriteJournal();
        });
    } catch (err) {
      this.opts.onJournalError?.(err);
    }
  }

  /** Replaces the journal with the pending entries only (write, fsync, rename: never a half file). */
  private async rewriteJournal(): Promise<void> {
    await this.journal?.close();
    const all = [...this.queues.values()].flat().sort((x, y) => x.seq - y.seq);
    // The sequence floor keeps sequence numbers unique across restarts even when the journal empties.
    let text = JSON.stringify({ n: this.nextSeq }) + '\n';
    // Ids of entries still on their way stay out: a failed write must not leave them taken.
    const ids = [...this.takenIds].filter((id) => !this.idsBeingWritten.has(id));
    if (ids.length) text += JSON.stringify({ ids }) + '\n';
    for (const e of all) text += entryRecords(e);
    await replaceFile(this.journalPath, text);
    this.journal = await open(this.journalPath, 'a', 0o600);
    this.finishedInJournal = 0;
  }
}
