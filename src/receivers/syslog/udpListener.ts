import { Worker } from 'node:worker_threads';
import { nowNanos } from '../../model/event.ts';
import type { SyslogUdpConfig } from './config.ts';
import type { SyslogIngest, SyslogRecord } from './ingest.ts';
import type { Origin } from './mapping.ts';
import { RateLimitedWarn } from '../../telemetry/rateLimitedLog.ts';
import type { UdpBatch } from './udpBatch.ts';
import type { UdpReaderCommand, UdpReaderMessage, UdpReaderOptions } from './udpReader.ts';

/** Messages read but not yet processed by the main thread; about 30 MiB of 300-byte lines. */
const MAX_PENDING = 100_000;

/**
 * After the pipeline refuses a batch, what arrives within this long is dropped unparsed: an
 * overloaded daemon then spends its CPU on what it can store, not on parsing what the full
 * pipeline would refuse anyway (at 100,000 datagrams/s into a file, 45-55 % lost instead of 85 %).
 */
const SHED_MS = 5;

/**
 * Syslog over UDP. A worker thread reads the socket (see udpReader.ts) and hands over batches;
 * here they are parsed and given to the pipeline. UDP cannot push back: what the pipeline
 * refuses, or what overflows the worker's hand-over, is dropped and counted
 * (`vigil_syslog_dropped_messages_total{reason="refused"|"overflow"}`).
 */
export class SyslogUdpListener {
  private readonly config: SyslogUdpConfig;
  private readonly ingest: SyslogIngest;
  private worker: Worker | undefined;
  private closed: Promise<void> | undefined;
  private resolveClosed: (() => void) | undefined;
  private readonly origins = new Map<string, Origin>();
  private readonly dropWarn: RateLimitedWarn;
  private shedUntil = 0;
  private readonly now: () => number;

  constructor(config: SyslogUdpConfig, ingest: SyslogIngest, now: () => number = () => performance.now()) {
    this.config = config;
    this.ingest = ingest;
    this.now = now;
    this.dropWarn = new RateLimitedWarn(ingest.logger);
  }

  async start(): Promise<{ host: string; port: number }> {
    const { host, port } = this.config.endpoint;
    const workerData: UdpReaderOptions = {
      host,
      port,
      recvBufferSize: this.config.receive_buffer_size,
      maxPending: MAX_PENDING,
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
            this.drop(m.dropped, 'overflow', 'the main thread fell behind the UDP reader');
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

  /** One batch the reader handed over: parsed and delivered, or dropped unparsed while shedding. */
  take(batch: UdpBatch): void {
    const { ingest } = this;
    const { ends, peers, runEnds } = batch;
    const n = ends.length;
    if (n === 0) return;
    if (this.now() < this.shedUntil) {
      this.worker?.postMessage({ type: 'ack', n } satisfies UdpReaderCommand);
      ingest.refused(n, 'udp');
      this.drop(n, 'refused', 'the pipeline refused them');
      return;
    }
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
      events[i] = ingest.toRecord(bytes.toString('utf8', start, end), false, origin, observed);
      start = end;
    }
    this.worker?.postMessage({ type: 'ack', n } satisfies UdpReaderCommand);
    ingest.deliver(events, 'udp').catch(() => {
      this.shedUntil = this.now() + SHED_MS;
      this.drop(n, 'refused', 'the pipeline refused them');
    });
  }

  /** Closes the socket, processes what the reader still held, and ends the thread. */
  async close(): Promise<void> {
    const worker = this.worker;
    this.worker = undefined;
    if (!worker) return;
    worker.postMessage({ type: 'close' } satisfies UdpReaderCommand);
    await this.closed;
    await worker.terminate();
  }
}
