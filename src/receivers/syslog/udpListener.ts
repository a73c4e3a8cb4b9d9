import { Worker } from 'node:worker_threads';
import { RefusedError, TooManyRecordsError } from '../../errors.ts';
import { nowNanos } from '../../model/event.ts';
import type { SyslogUdpConfig } from './config.ts';
import type { SyslogIngest, SyslogRecord } from './ingest.ts';
import type { Origin } from './mapping.ts';
import { RateLimitedWarn } from '../../telemetry/rateLimitedLog.ts';
import { warnIfReceiveBufferCapped } from '../udpReceiveBuffer.ts';
import { splitBatch, type UdpBatch } from './udpBatch.ts';
import type { UdpReaderCommand, UdpReaderMessage, UdpReaderOptions } from './udpReader.ts';

/**
 * Datagrams read but not yet parsed, in the reader's hand-over or held here while the pipeline
 * has no room: a burst of one second at 100,000/s, or 32 MiB, whichever comes first. Past it
 * the reader drops what arrives, unread, and counts it.
 */
const DEFAULT_LIMITS: PendingLimits = { maxPending: 100_000, maxPendingBytes: 32 * 1024 * 1024 };

export interface PendingLimits {
  maxPending: number;
  maxPendingBytes: number;
}

/** How soon a pipeline that had no room is asked again; doubled up to RETRY_MAX_MS while it still has none. */
const RETRY_FIRST_MS = 2;
const RETRY_MAX_MS = 50;

/**
 * Syslog over UDP. A worker thread reads the socket (see udpReader.ts) and hands over batches;
 * here they are parsed and given to the pipeline. UDP cannot push back, so while the pipeline
 * has no room the batches wait here unparsed, in order, and the reader stops taking datagrams
 * once the limits' datagrams (or bytes) wait: a full queue for a moment (a daemon's first
 * second, an exporter's slow write) loses nothing, and one that stays full costs the reader a
 * count per datagram, not a parse. What the reader drops, or the pipeline refuses once it had
 * admitted a batch, is counted (`vigil_syslog_dropped_messages_total{reason="overflow"|"refused"}`).
 */
export class SyslogUdpListener {
  private readonly config: SyslogUdpConfig;
  private readonly ingest: SyslogIngest;
  private worker: Worker | undefined;
  private closed: Promise<void> | undefined;
  private resolveClosed: (() => void) | undefined;
  private readonly origins = new Map<string, Origin>();
  private readonly dropWarn: RateLimitedWarn;
  /** Batches the pipeline had no room for yet, oldest first; not acknowledged to the reader. */
  private readonly waiting: UdpBatch[] = [];
  private retryTimer: NodeJS.Timeout | undefined;
  private retryMs = RETRY_FIRST_MS;
  private readonly limits: PendingLimits;

  constructor(config: SyslogUdpConfig, ingest: SyslogIngest, limits: PendingLimits = DEFAULT_LIMITS) {
    this.config = config;
    this.ingest = ingest;
    this.limits = limits;
    this.dropWarn = new RateLimitedWarn(ingest.logger);
  }

  async start(): Promise<{ host: string; port: number }> {
    const { host, port } = this.config.endpoint;
    const workerData: UdpReaderOptions = {
      host,
      port,
      recvBufferSize: this.config.receive_buffer_size,
      ...this.limits,
    };
    const worker = new Worker(new URL('./udpReader.ts', import.meta.url), { workerData });
    this.worker = worker;
    worker.on('error', (err) => this.ingest.logger.error({ err }, 'syslog UDP reader thread failed'));
    this.closed = new Promise<void>((resolve) => {
      this.resolveClosed = resolve;
      worker.once('exit', () => resolve());
    });
    let listening = false;
    return new Promise((resolve, reject) => {
      worker.on('message', (m: UdpReaderMessage) => {
        switch (m.type) {
          case 'listening':
            listening = true;
            warnIfReceiveBufferCapped(
              this.ingest.logger,
              'syslog UDP',
              this.config.receive_buffer_size,
              m.receiveBufferSize,
            );
            resolve({ host: m.host, port: m.port });
            break;
          case 'failed':
            if (listening) this.ingest.logger.error({ err: m.message, code: m.code }, 'syslog UDP socket error');
            else {
              reject(Object.assign(new Error(m.message), { code: m.code }));
              void worker.terminate();
            }
            break;
          case 'batch':
            this.take(m.batch);
            break;
          case 'overflow':
            this.drop(
              m.dropped,
              'overflow',
              `${this.limits.maxPending} datagrams or ${this.limits.maxPendingBytes} bytes already waited to be parsed`,
            );
            break;
          case 'closed':
            this.resolveClosed?.();
            break;
        }
      });
      worker.once('exit', (code) => reject(new Error(`syslog UDP reader thread exited with ${code} before listening`)));
    });
  }

  private origin(peer: string): Origin {
    let o = this.origins.get(peer);
    if (!o) {
      if (this.origins.size > 10_000) this.origins.clear();
      o = { peerAddress: peer, transport: 'udp' };
      this.origins.set(peer, o);
    }
    return o;
  }

  private drop(n: number, reason: 'refused' | 'overflow', why: string): void {
    this.ingest.metrics.dropped.inc({ receiver: this.ingest.id, transport: 'udp', reason }, n);
    this.dropWarn.warn(
      { dropped: n, reason },
      `syslog UDP messages dropped: ${why}, and UDP cannot ask the sender to wait`,
    );
  }

  /** One batch the reader handed over: parsed and delivered now, or after those waiting for room. */
  take(batch: UdpBatch): void {
    if (batch.ends.length === 0) return;
    this.waiting.push(batch);
    // More than this one waiting: a retry is due and takes them in order.
    if (this.waiting.length === 1) this.offer();
  }

  /** Hands the waiting batches over while the pipeline has room; asks again later when it has none. */
  private offer(): void {
    this.retryTimer = undefined;
    const { waiting } = this;
    while (waiting.length > 0) {
      const batch = waiting[0]!;
      const n = batch.ends.length;
      try {
        // Asked before parsing: a pipeline without room costs the batch nothing.
        this.ingest.admit(n);
      } catch (err) {
        if (err instanceof TooManyRecordsError && n > 1) {
          // More than the whole queue holds (a queue_size under the reader's 1,024): in pieces it can take.
          waiting.splice(0, 1, ...splitBatch(batch, Math.max(1, Math.min(n >> 1, err.limit))));
          continue;
        }
        if (err instanceof RefusedError) {
          if (this.retryMs === RETRY_FIRST_MS)
            this.ingest.metrics.paused.inc({ receiver: this.ingest.id, transport: 'udp' });
          this.retryTimer = setTimeout(() => this.offer(), this.retryMs);
          this.retryMs = Math.min(this.retryMs * 2, RETRY_MAX_MS);
          return;
        }
        // Never taken, whenever asked: counted, not kept.
        waiting.shift();
        this.ack(batch);
        this.ingest.logger.error({ err }, 'syslog UDP batch not taken by the pipeline');
        this.drop(n, 'refused', 'the pipeline failed to take them');
        continue;
      }
      waiting.shift();
      this.retryMs = RETRY_FIRST_MS;
      this.deliver(batch);
    }
  }

  /** Tells the reader a batch is off its hands, so that it takes as many new datagrams. */
  private ack(batch: UdpBatch): void {
    this.worker?.postMessage({
      type: 'ack',
      n: batch.ends.length,
      bytes: batch.bytes.byteLength,
    } satisfies UdpReaderCommand);
  }

  /** Parses a batch, tells the reader it is taken, and gives it to the pipeline. */
  private deliver(batch: UdpBatch): void {
    const { ingest } = this;
    const { ends, peers, runEnds } = batch;
    const n = ends.length;
    ingest.beginBatch();
    const observed = nowNanos();
    const bytes = Buffer.from(batch.bytes.buffer, batch.bytes.byteOffset, batch.bytes.byteLength);
    const events: SyslogRecord[] = new Array(n);
    let start = 0;
    let run = 0;
    let origin = this.origin(peers[0]!);
    for (let i = 0; i < n; i++) {
      if (i === runEnds[run]) origin = this.origin(peers[++run]!);
      const end = ends[i]!;
      events[i] = ingest.toRecordBytes(bytes, start, end, false, origin, observed);
      start = end;
    }
    ingest.finishBatch(events);
    this.ack(batch);
    ingest.deliver(events, 'udp').catch(() => this.drop(n, 'refused', 'the pipeline refused them'));
  }

  /** Closes the socket, processes what the reader still held and what waited for room, and ends the thread. */
  async close(): Promise<void> {
    const worker = this.worker;
    this.worker = undefined;
    if (!worker) return;
    worker.postMessage({ type: 'close' } satisfies UdpReaderCommand);
    await this.closed;
    clearTimeout(this.retryTimer);
    // One last offer, as a TCP connection's held messages get: what the pipeline refuses is counted.
    for (const batch of this.waiting.splice(0)) this.deliver(batch);
    await worker.terminate();
  }
}
