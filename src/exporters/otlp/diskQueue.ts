import { mkdir, open, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { ShuttingDownError } from '../../errors.ts';
import type { OtlpSignal } from '../../receivers/otlp/signals.ts';
import type { DurableQueue, QueueBacklog } from '../helper/queue.ts';

/** One accepted batch on disk: an encoded Export*ServiceRequest, uncompressed. */
export interface QueuedBatch {
  readonly seq: number;
  readonly signal: OtlpSignal;
  readonly records: number;
  readonly bytes: number;
  /** When it was accepted (for one a previous run left, its file's last change). */
  readonly createdAtMs: number;
}

const NAME = /^(\d{12})\.(logs|metrics|traces)\.(\d+)\.pb$/;

/**
 * The OTLP exporter's durable queue: one file per accepted batch, written under a temporary
 * name and renamed, so a file either holds a whole request or is not there (a crash leaves at
 * most a `.tmp` that was never acknowledged). Batches of one signal concatenate into one valid
 * request (protobuf merges repeated fields), which lets the sender merge small batches. The
 * ClickHouse spool appends JSON lines to open segments and cuts a torn line on recovery;
 * protobuf has no line to cut back to, hence a queue of its own.
 */
export class DiskQueue implements DurableQueue<{ signal: OtlpSignal; data: Buffer; records: number }> {
  readonly dir: string;
  private readonly maxBytes: number;
  private readonly fsync: boolean;
  private readonly waiting: QueuedBatch[] = [];
  private readonly inFlight = new Set<QueuedBatch>();
  private nextSeq = 1;
  private total = 0;
  private roomWaiters: { resolve: () => void; reject: (err: Error) => void }[] = [];
  private workWaiter: (() => void) | undefined;
  private closed = false;

  constructor(dir: string, maxBytes: number, fsync: boolean) {
    this.dir = dir;
    this.maxBytes = maxBytes;
    this.fsync = fsync;
  }

  /** Opens the directory and queues what a previous run left, oldest first. */
  async open(): Promise<QueuedBatch[]> {
    await mkdir(this.dir, { recursive: true });
    const found: QueuedBatch[] = [];
    for (const name of (await readdir(this.dir)).sort()) {
      if (name.endsWith('.tmp')) {
        await rm(join(this.dir, name), { force: true });
        continue;
      }
      const m = NAME.exec(name);
      if (!m) continue;
      const st = await stat(join(this.dir, name));
      const b: QueuedBatch = {
        seq: Number(m[1]),
        signal: m[2] as OtlpSignal,
        records: Number(m[3]),
        bytes: st.size,
        createdAtMs: st.mtimeMs,
      };
      this.nextSeq = Math.max(this.nextSeq, b.seq + 1);
      this.total += b.bytes;
      found.push(b);
    }
    this.waiting.push(...found);
    return found;
  }

  get bytes(): number {
    return this.total;
  }

  /** Batches not yet confirmed by the server, the one being sent included. */
  get length(): number {
    return this.waiting.length + this.inFlight.size;
  }

  /** False while puts wait for room. */
  get hasRoom(): boolean {
    return this.roomWaiters.length === 0 && this.total < this.maxBytes;
  }

  backlog(): QueueBacklog {
    return { items: this.length, bytes: this.total, oldestAcceptedAtMs: this.oldestCreatedAtMs() };
  }

  oldestCreatedAtMs(): number | undefined {
    let oldest: number | undefined;
    for (const b of [...this.waiting, ...this.inFlight])
      if (oldest === undefined || b.createdAtMs < oldest) oldest = b.createdAtMs;
    return oldest;
  }

  private file(b: Pick<QueuedBatch, 'seq' | 'signal' | 'records'>): string {
    return join(this.dir, `${String(b.seq).padStart(12, '0')}.${b.signal}.${b.records}.pb`);
  }

  /**
   * Stores a batch; resolves once it is on disk (and fsynced, with fsync on). Waits while the
   * queue is full, which is the back-pressure the pipeline turns into 429s at the receivers.
   */
  async put({ signal, data, records }: { signal: OtlpSignal; data: Buffer; records: number }): Promise<void> {
    while (this.total > 0 && this.total + data.length > this.maxBytes) {
      if (this.closed) throw new ShuttingDownError();
      await new Promise<void>((resolve, reject) => this.roomWaiters.push({ resolve, reject }));
    }
    if (this.closed) throw new ShuttingDownError();
    this.total += data.length;
    const b: QueuedBatch = { seq: this.nextSeq++, signal, records, bytes: data.length, createdAtMs: Date.now() };
    const path = this.file(b);
    try {
      const handle = await open(`${path}.tmp`, 'w', 0o600);
      try {
        await handle.writeFile(data);
        if (this.fsync) await handle.datasync();
      } finally {
        await handle.close();
      }
      await rename(`${path}.tmp`, path);
    } catch (err) {
      this.total -= data.length;
      await rm(`${path}.tmp`, { force: true });
      this.freed();
      throw err;
    }
    this.waiting.push(b);
    this.workWaiter?.();
  }

  /**
   * The oldest waiting batch and the later ones of its signal, up to `maxBytes` together (at
   * least one), marked in flight; empty when nothing waits.
   */
  take(maxBytes: number): QueuedBatch[] {
    this.waiting.sort((a, b) => a.seq - b.seq);
    const first = this.waiting[0];
    if (!first) return [];
    const out = [first];
    let size = first.bytes;
    for (let i = 1; i < this.waiting.length; i++) {
      const b = this.waiting[i]!;
      if (b.signal !== first.signal) continue;
      if (size + b.bytes > maxBytes) break;
      out.push(b);
      size += b.bytes;
    }
    for (const b of out) {
      this.waiting.splice(this.waiting.indexOf(b), 1);
      this.inFlight.add(b);
    }
    return out;
  }

  /** The batches as one request body. */
  async read(batches: readonly QueuedBatch[]): Promise<Buffer> {
    const parts = await Promise.all(batches.map((b) => readFile(this.file(b))));
    return parts.length === 1 ? parts[0]! : Buffer.concat(parts);
  }

  /** Puts batches taken but not sent back at the head of the queue. */
  release(batches: readonly QueuedBatch[]): void {
    for (const b of batches) {
      this.inFlight.delete(b);
      this.waiting.push(b);
    }
  }

  /** Deletes batches the server confirmed (or refused for good). */
  async remove(batches: readonly QueuedBatch[]): Promise<void> {
    for (const b of batches) {
      await rm(this.file(b), { force: true });
      this.inFlight.delete(b);
      this.total -= b.bytes;
    }
    this.freed();
  }

  private freed(): void {
    for (const w of this.roomWaiters.splice(0)) w.resolve();
  }

  /** Resolves when a batch waits to be sent (at once if one does) or the queue closes. */
  async nextWork(): Promise<void> {
    if (this.waiting.length > 0 || this.closed) return;
    await new Promise<void>((resolve) => (this.workWaiter = resolve));
    this.workWaiter = undefined;
  }

  /** Refuses further puts; what is on disk stays for the next start. */
  close(): void {
    this.closed = true;
    for (const w of this.roomWaiters.splice(0)) w.reject(new ShuttingDownError());
    this.workWaiter?.();
  }
}
