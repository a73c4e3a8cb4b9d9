import { ShuttingDownError } from '../../errors.ts';
import type { Signal } from '../../pipeline/signals.ts';
import type { Logger } from '../../telemetry/logger.ts';
import { isPermanent } from '../helper/exportError.ts';
import type { PruneLimits, PruneReport } from '../helper/prune.ts';
import type { DurableQueue, QueueBacklog } from '../helper/queue.ts';
import { FailureLog, RetryPolicy } from '../helper/retry.ts';
import type { ExporterTelemetry } from '../helper/telemetry.ts';
import { RetryWait } from '../helper/timers.ts';
import { isSizeError, needsOperator, type ClickHouseBackend } from './backend.ts';
import { countLines, type Segment, type Spool } from './spool.ts';

export interface BatchWriterOptions {
  id: string;
  backend: ClickHouseBackend;
  database: string;
  spool: Spool;
  maxRows: number;
  maxBytes: number;
  maxDelayMs: number;
  spoolMaxBytes: number;
  retryInitialMs: number;
  retryMaxMs: number;
  /** Jitter source in [0, 1); Math.random by default. */
  random?: () => number;
  /** Runs before the first insert and again after a failure until it succeeds (schema creation). */
  prepare: () => Promise<void>;
  /** The pipeline signal a table belongs to, for self-metrics labels. */
  signalOf: (table: string) => Signal;
  logger: Logger;
  telemetry: ExporterTelemetry;
  /** Limits of the spool's `rejected/`, pruned at start, after each batch set aside and every PRUNE_EVERY_MS. */
  rejected?: { limits: PruneLimits; report: PruneReport };
}

/** How often `rejected/` is checked for batches past their age when none is being set aside. */
const PRUNE_EVERY_MS = 10 * 60_000;

/**
 * JSONEachRow data cut into pieces of whole rows of at most `maxBytes` each (a longer row is
 * a piece alone). Rows end with a newline, which JSON never holds inside a row; the last piece
 * gets what the caller's count leaves, so the counts add up to `rows` whatever the data's end.
 */
export function rowPieces(data: Buffer, rows: number, maxBytes: number): { data: Buffer; rows: number }[] {
  if (data.length <= maxBytes) return [{ data, rows }];
  const pieces: { data: Buffer; rows: number }[] = [];
  let start = 0;
  let counted = 0;
  while (data.length - start > maxBytes) {
    const nl = data.lastIndexOf(0x0a, start + maxBytes - 1);
    let end = nl >= start ? nl + 1 : data.indexOf(0x0a, start + maxBytes) + 1;
    if (end === 0) end = data.length;
    if (end === data.length) break;
    const piece = data.subarray(start, end);
    const n = countLines(piece);
    pieces.push({ data: piece, rows: n });
    counted += n;
    start = end;
  }
  pieces.push({ data: data.subarray(start), rows: rows - counted });
  return pieces;
}

type OpenBatch = Awaited<ReturnType<Spool['create']>> & {
  timer?: NodeJS.Timeout;
  chain: Promise<void>;
  /** Set (synchronously) when sealing starts: resolves once the batch is closed (and, with fsync, synced). */
  sealed?: Promise<void>;
};

/**
 * Batches rows per table and inserts them in order, through the spool. write() resolves once
 * the rows are in the spool file, so what it acknowledges survives a crash; a background loop
 * inserts sealed batches oldest first, retrying with backoff (each attempt carries the
 * batch's dedup token) and keeping them on disk while ClickHouse is away. Memory holds only
 * the batch being inserted, whatever the outage length; the spool ceiling is what makes
 * write() wait, and that wait is the back-pressure the pipeline passes on to receivers.
 */
export class BatchWriter implements DurableQueue<{ table: string; data: Buffer; rows: number }> {
  private readonly o: BatchWriterOptions;
  private readonly retry: RetryPolicy;
  /** The retry backoff: close() ends it, and retryNow() once ClickHouse answers again; new batches never do. */
  private readonly backoff = new RetryWait();
  private readonly open = new Map<string, OpenBatch>();
  private readonly creating = new Map<string, Promise<OpenBatch>>();
  private readonly sealed: Segment[] = [];
  /**
   * What each insert reads its batch into, one after another; dropped when nothing waits. A
   * buffer per insert was garbage V8 counts as external memory and collects late: measured
   * while embedded ClickHouse drained a flood, 2.5 MiB more resident per insert for seconds,
   * 60 MiB before a collection took it back.
   */
  private readBuffer: Buffer | undefined;
  private loop: Promise<void> | undefined;
  /** Wakes the loop while it waits for a sealed batch (seal and close call it). */
  private wakeIdle: (() => void) | undefined;
  private roomWaiters: (() => void)[] = [];
  private prepared = false;
  private sealing = 0;
  private closing = false;
  private stopped = false;
  private failing_ = false;
  private failingSince_: number | undefined;
  private lastError_ = '';
  private waitingSince_: number | undefined;
  private lastInsertAt_: number | undefined;
  private pruneTimer: NodeJS.Timeout | undefined;
  private pruning: Promise<void> = Promise.resolve();

  constructor(o: BatchWriterOptions) {
    this.o = o;
    this.retry = new RetryPolicy({ initialIntervalMs: o.retryInitialMs, maxIntervalMs: o.retryMaxMs }, o.random);
  }

  /** Queues what a previous run left, then starts inserting. */
  async start(): Promise<void> {
    const left = await this.o.spool.recover();
    if (left.length)
      this.o.logger.info(
        { exporter: this.o.id, batches: left.length, bytes: this.o.spool.bytes },
        'replaying spooled ClickHouse batches from a previous run',
      );
    this.sealed.push(...left);
    if (left.length) this.waitingSince_ = Date.now();
    await this.pruneRejected();
    if (this.o.rejected) {
      this.pruneTimer = setInterval(() => void this.pruneRejected(), PRUNE_EVERY_MS);
      this.pruneTimer.unref();
    }
    this.loop = this.run();
  }

  /** Keeps `rejected/` within its limits; one prune at a time, and a failure only logged. */
  pruneRejected(): Promise<void> {
    const r = this.o.rejected;
    if (!r) return this.pruning;
    this.pruning = this.pruning.then(async () => {
      try {
        r.report.record(await this.o.spool.pruneRejected(r.limits), 'ClickHouse batches set aside');
      } catch (err) {
        this.o.logger.error({ err, exporter: this.o.id }, "could not prune the spool's rejected/ directory");
      }
    });
    return this.pruning;
  }

  /** False once the spool is full: writes wait until ClickHouse takes some of it. */
  get hasRoom(): boolean {
    return this.roomWaiters.length === 0 && this.o.spool.bytes < this.o.spoolMaxBytes;
  }

  /** Writes waiting for spool room right now. */
  get waitingWrites(): number {
    return this.roomWaiters.length;
  }

  /** True while the last insert attempt failed (ClickHouse away or refusing). */
  get failing(): boolean {
    return this.failing_;
  }

  /** Since when inserts have failed without one succeeding (wall-clock ms); undefined while they succeed. */
  get failingSince(): number | undefined {
    return this.failingSince_;
  }

  /** When ClickHouse last took a batch (wall-clock ms). */
  get lastInsertAt(): number | undefined {
    return this.lastInsertAt_;
  }

  /** What the last failed attempt said. */
  get lastError(): string {
    return this.lastError_;
  }

  /**
   * Since when sealed batches have waited without one leaving the spool (the later of the last
   * batch to leave and the moment one started waiting); undefined while none waits.
   */
  get waitingSince(): number | undefined {
    return this.waitingSince_;
  }

  /** When the oldest row still waiting, sealed or in a batch being filled, was written. */
  oldestBatchCreatedAtMs(): number | undefined {
    let oldest: number | undefined;
    for (const s of [...this.sealed, ...this.open.values()])
      if (oldest === undefined || s.createdAtMs < oldest) oldest = s.createdAtMs;
    return oldest;
  }

  /** Ends a retry backoff now: for when something else (a probe) found ClickHouse answering again. */
  retryNow(): void {
    this.backoff.end();
  }

  get pendingBatches(): number {
    return this.sealed.length + this.open.size + this.creating.size + this.sealing;
  }

  get spooledBytes(): number {
    return this.o.spool.bytes;
  }

  put(item: { table: string; data: Buffer; rows: number }): Promise<void> {
    return this.write(item.table, item.data, item.rows);
  }

  backlog(): QueueBacklog {
    return { items: this.pendingBatches, bytes: this.spooledBytes, oldestAcceptedAtMs: this.oldestBatchCreatedAtMs() };
  }

  /**
   * Appends rows (JSONEachRow, `rows` lines) for `table`; resolves once they are on disk. Data
   * larger than a quarter of `maxBytes` is appended in pieces of whole rows, so a batch seals
   * at most a quarter above `maxBytes` however large the pipeline's batches are: the size of an
   * insert is what bounds its working memory (embedded ClickHouse held about 9× an insert's
   * bytes while inserting it, and pipeline batches of 6 MiB went in whole past a 4 MiB bound).
   */
  async write(table: string, data: Buffer, rows: number): Promise<void> {
    if (rows === 0) return;
    // Room for all of it first: a write refused at shutdown leaves none of its rows behind.
    await this.waitForRoom(data.length);
    const touched = new Set<OpenBatch>();
    for (const piece of rowPieces(data, rows, Math.max(1, Math.ceil(this.o.maxBytes / 4))))
      touched.add(await this.writePiece(table, piece.data, piece.rows));
    // With fsync, one sync per batch written, after its last piece: not one per piece.
    if (this.o.spool.fsync) for (const batch of touched) await this.syncBatch(batch);
  }

  /** Syncs a batch's file in its append order, or waits for the seal that syncs it. */
  private async syncBatch(batch: OpenBatch): Promise<void> {
    if (batch.sealed) return batch.sealed;
    const done = batch.chain.then(() => this.o.spool.sync(batch));
    batch.chain = done.catch(() => undefined);
    await done;
  }

  private async writePiece(table: string, data: Buffer, rows: number): Promise<OpenBatch> {
    let batch: OpenBatch;
    let done: Promise<void>;
    while (true) {
      batch = await this.openBatch(table);
      if (batch.sealed) continue;
      // Several pipelines may write one table at once; appends to a file go one after another.
      done = batch.chain.then(() => this.o.spool.append(batch, data, rows));
      batch.chain = done.catch(() => undefined);
      break;
    }
    await done;
    if (batch.sealed) return batch;
    if (batch.rows >= this.o.maxRows || batch.bytes >= this.o.maxBytes) await this.seal(table, batch);
    else if (!batch.timer) {
      batch.timer = setTimeout(
        () =>
          void this.seal(table, batch).catch((err) =>
            this.o.logger.error({ err, exporter: this.o.id }, 'sealing a ClickHouse batch failed'),
          ),
        this.o.maxDelayMs,
      );
    }
    return batch;
  }

  private async openBatch(table: string): Promise<OpenBatch> {
    while (true) {
      const b = this.open.get(table);
      if (b) return b;
      let c = this.creating.get(table);
      if (!c) {
        c = this.o.spool.create(table).then((seg) => {
          const created = Object.assign(seg, { chain: Promise.resolve() }) as OpenBatch;
          this.open.set(table, created);
          this.creating.delete(table);
          return created;
        });
        this.creating.set(table, c);
      }
      await c;
    }
  }

  private async waitForRoom(n: number): Promise<void> {
    while (this.o.spool.bytes > 0 && this.o.spool.bytes + n > this.o.spoolMaxBytes) {
      if (this.closing) throw new ShuttingDownError();
      const wait = new Promise<void>((resolve) => this.roomWaiters.push(resolve));
      // Open batches count against the spool too; sealing them now lets the loop free room
      // instead of waiting for max_delay.
      if (this.open.size > 0)
        void this.flush().catch((err) =>
          this.o.logger.error({ err, exporter: this.o.id }, 'sealing ClickHouse batches failed'),
        );
      await wait;
    }
    if (this.closing) throw new ShuttingDownError();
  }

  private seal(table: string, batch: OpenBatch): Promise<void> {
    // Marked synchronously so a write that picked this batch up a moment ago goes to a new one.
    if (batch.sealed) return batch.sealed;
    if (this.open.get(table) === batch) this.open.delete(table);
    clearTimeout(batch.timer);
    batch.sealed = this.closeBatch(batch);
    return batch.sealed;
  }

  private async closeBatch(batch: OpenBatch): Promise<void> {
    this.sealing++;
    try {
      await batch.chain;
      if (this.sealed.length === 0) this.waitingSince_ = Date.now();
      this.sealed.push(await this.o.spool.seal(batch));
    } finally {
      this.sealing--;
    }
    this.sealed.sort((a, b) => a.seq - b.seq);
    this.wakeIdle?.();
  }

  private async run(): Promise<void> {
    /** Failed attempts since the last success, so an outage logs a few lines, not one per try. */
    const failures = new FailureLog();
    while (true) {
      const seg = this.sealed[0];
      if (!seg) {
        this.readBuffer = undefined;
        if (this.closing) return;
        await new Promise<void>((resolve) => (this.wakeIdle = resolve));
        this.wakeIdle = undefined;
        continue;
      }
      let stage: 'prepare' | 'insert' | 'cleanup' = 'prepare';
      try {
        if (!this.prepared) {
          await this.o.prepare();
          this.prepared = true;
        }
        stage = 'insert';
        await this.insert(seg);
        stage = 'cleanup';
        this.dequeue(seg);
        await this.o.spool.remove(seg);
        const failed = failures.reset();
        if (failed > 0)
          this.o.logger.info({ exporter: this.o.id, failedAttempts: failed }, 'ClickHouse takes inserts again');
        this.failing_ = false;
        this.failingSince_ = undefined;
        this.lastInsertAt_ = Date.now();
        this.waitingSince_ = this.sealed.length ? this.lastInsertAt_ : undefined;
        for (const w of this.roomWaiters.splice(0)) w();
      } catch (err) {
        if (stage === 'cleanup') {
          // Stored, but its file lingers; a replay of it after a restart is deduplicated by its token.
          this.o.logger.error(
            { err, exporter: this.o.id, table: seg.table },
            'could not delete an inserted batch from the spool',
          );
          continue;
        }
        // Only the insert's own verdict says the rows are bad; a failing schema statement does not.
        if (stage === 'insert' && isPermanent(err)) {
          this.dequeue(seg);
          await this.setAside(seg, err);
          continue;
        }
        if (stage === 'insert' && isSizeError(err) && !this.closing && (await this.splitBatch(seg, err))) continue;
        this.failing_ = true;
        this.failingSince_ ??= Date.now();
        this.lastError_ = err instanceof Error ? err.message : String(err);
        if (this.closing) {
          this.o.logger.warn(
            { err, exporter: this.o.id, batches: this.sealed.length },
            'ClickHouse unavailable at shutdown; batches stay spooled for the next start',
          );
          return;
        }
        const next = this.retry.decide(err, failures.failures + 1, 0);
        const delayMs = next.retry ? next.delayMs : this.o.retryMaxMs;
        // The first failure, a new error, then attempts 2, 4, 8...: a long outage stays readable.
        if (failures.record(this.lastError_)) {
          // Wrong credentials, a missing table or an old server will not fix themselves: said loudly, rows kept.
          this.o.logger[needsOperator(err) ? 'error' : 'warn'](
            {
              err,
              exporter: this.o.id,
              failedAttempts: failures.failures,
              retryInMs: delayMs,
              spooledBytes: this.o.spool.bytes,
            },
            'ClickHouse insert failed; retrying, rows stay spooled',
          );
        }
        this.o.telemetry.retried();
        await this.backoff.wait(delayMs);
      }
    }
  }

  /**
   * Takes a segment the loop is done with out of the order by identity, not position: while it
   * was being inserted, seal() may have sorted a batch with a lower number in front of it.
   */
  private dequeue(seg: Segment): void {
    const i = this.sealed.indexOf(seg);
    if (i !== -1) this.sealed.splice(i, 1);
  }

  /**
   * Puts the two halves of a batch the server refused for its size (memory, partitions) in its
   * place, to be inserted at once; false for a batch of one row, or when the spool could not
   * split it: then it waits out the backoff like any transient failure.
   */
  private async splitBatch(seg: Segment, cause: unknown): Promise<boolean> {
    let halves: [Segment, Segment] | undefined;
    try {
      halves = await this.o.spool.split(seg);
    } catch (err) {
      this.o.logger.error({ err, exporter: this.o.id, table: seg.table }, 'could not split a ClickHouse batch');
      return false;
    }
    if (!halves) return false;
    const i = this.sealed.indexOf(seg);
    if (i !== -1) this.sealed.splice(i, 1, ...halves);
    this.o.telemetry.retried();
    this.o.logger.warn(
      { err: cause, exporter: this.o.id, table: seg.table, rows: halves[0].rows + halves[1].rows },
      'ClickHouse refused a batch for its size; inserting it in two halves',
    );
    return true;
  }

  private async setAside(seg: Segment, cause: unknown): Promise<void> {
    try {
      const kept = await this.o.spool.setAside(seg);
      this.o.logger.error(
        { err: cause, exporter: this.o.id, table: seg.table, file: kept },
        'ClickHouse cannot take this batch as it is; set aside for inspection',
      );
    } catch (err) {
      this.o.logger.error(
        { err, cause, exporter: this.o.id, table: seg.table },
        'ClickHouse cannot take this batch and it could not be moved aside; dropped from the replay order',
      );
    }
    this.o.telemetry.failed(this.o.signalOf(seg.table), Math.max(seg.rows, 0));
    this.waitingSince_ = this.sealed.length ? Date.now() : undefined;
    for (const w of this.roomWaiters.splice(0)) w();
    await this.pruneRejected();
  }

  private async insert(seg: Segment): Promise<void> {
    const started = performance.now();
    const { backend, spool } = this.o;
    if (backend.insertFile) {
      // A batch a previous run left has an unknown row count: the only one read here.
      if (seg.rows < 0) seg.rows = countLines(await spool.read(seg));
      await backend.insertFile(this.o.database, seg.table, spool.sealedFile(seg), seg.token);
    } else {
      const { data, buffer } = await spool.readInto(seg, this.readBuffer);
      this.readBuffer = buffer;
      if (seg.rows < 0) seg.rows = countLines(data);
      await backend.insert(this.o.database, seg.table, data, seg.token);
    }
    this.o.telemetry.sent(this.o.signalOf(seg.table), seg.rows, started);
  }

  /** Seals every open batch and inserts the ready ones now (no wait for max_delay). */
  async flush(): Promise<void> {
    await Promise.all([...this.creating.values()]);
    for (const [table, b] of [...this.open]) await this.seal(table, b);
  }

  /**
   * Stops taking rows, seals what is open and makes one more pass over the spool; whatever
   * ClickHouse does not take stays on disk for the next start.
   */
  async close(): Promise<void> {
    if (this.stopped) return;
    this.closing = true;
    clearInterval(this.pruneTimer);
    for (const w of this.roomWaiters.splice(0)) w();
    await this.flush();
    this.wakeIdle?.();
    this.backoff.end();
    await this.loop;
    await this.pruning;
    this.stopped = true;
  }
}
