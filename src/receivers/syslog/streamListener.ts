import { createServer as createNetServer, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer, type TLSSocket } from 'node:tls';
import { RefusedError } from '../../errors.ts';
import { nowNanos } from '../../model/event.ts';
import { hardenTlsServer, loadTlsOptions } from '../http/tlsConfig.ts';
import type { SyslogStreamConfig, SyslogTlsConfig } from './config.ts';
import { SyslogFramer, type Frame } from './framing.ts';
import type { SyslogIngest, SyslogRecord } from './ingest.ts';
import type { Origin } from './mapping.ts';
import { RateLimitedWarn } from '../../telemetry/rateLimitedLog.ts';
import { peerGroup } from '../peerGroup.ts';

const RETRY_FIRST_MS = 5;
// Short: a queue frees up as fast as exporters write, and a paused sender is idle throughput.
const RETRY_MAX_MS = 100;
/** Largest batch offered again after a refusal. */
const MAX_SLICE = 1024;

/**
 * Records (events or their lines) owed to the pipeline, in order. Retries take from the front while the pipeline
 * refuses, possibly hundreds of times: what stays behind is never copied for that, and a
 * refused offer leaves the queue as it was, so a long refusal makes no garbage beyond the
 * offers themselves (at most one slice each).
 */
class HeldEvents {
  private items: SyslogRecord[] = [];
  private start = 0;

  get length(): number {
    return this.items.length - this.start;
  }

  append(records: readonly SyslogRecord[]): void {
    for (const r of records) this.items.push(r);
  }

  /** A copy of the first `n`, to offer; they stay held until drop(n). */
  first(n: number): SyslogRecord[] {
    return this.items.slice(this.start, this.start + n);
  }

  drop(n: number): void {
    this.start += n;
    if (this.start >= this.items.length) this.clear();
    // Copies what is left once the taken part is the larger: each event is copied at most about once.
    else if (this.start >= MAX_SLICE && this.start * 2 >= this.items.length) {
      this.items = this.items.slice(this.start);
      this.start = 0;
    }
  }

  /** Everything held, which is no longer. */
  takeAll(): SyslogRecord[] {
    const all = this.start === 0 ? this.items : this.items.slice(this.start);
    this.clear();
    return all;
  }

  clear(): void {
    this.items = [];
    this.start = 0;
  }
}

/**
 * One syslog stream. Back-pressure is TCP's own: when the pipeline refuses a batch the socket
 * stops reading, the kernel buffers fill and the sender blocks; the batch is retried with
 * backoff and reading resumes once it is taken. Order is kept: anything read meanwhile queues
 * behind the held batch. Exported for tests, which drive it with a stand-in socket.
 */
export class SyslogConnection {
  private readonly socket: Socket;
  private readonly ingest: SyslogIngest;
  private readonly framer: SyslogFramer;
  private readonly origin: Origin;
  private readonly idleMs: number;
  /** Batches refused by the pipeline, and anything read after, in order. */
  private readonly held = new HeldEvents();
  /** From a refusal until a retry is taken: reading is paused and sends queue in `held`. */
  private blocked = false;
  private sliceSize = MAX_SLICE;
  private retryMs = RETRY_FIRST_MS;
  private retryTimer: NodeJS.Timeout | undefined;
  /** How many of the held events a retry has offered and the pipeline has yet to answer. */
  private offered = 0;
  private closed = false;
  private shutDown = false;
  private readonly onDone: () => void;

  constructor(
    socket: Socket,
    ingest: SyslogIngest,
    transport: 'tcp' | 'tls',
    config: SyslogStreamConfig,
    onDone: () => void,
  ) {
    this.socket = socket;
    this.onDone = onDone;
    this.ingest = ingest;
    this.framer = new SyslogFramer(config.max_message_size);
    this.origin = { peerAddress: socket.remoteAddress ?? '', transport };
    this.idleMs = config.idle_timeout;
    if (this.idleMs > 0) socket.setTimeout(this.idleMs);
    socket.on('timeout', () => {
      ingest.metrics.connectionsClosed.inc({ receiver: ingest.id, transport, reason: 'idle' });
      socket.destroy();
    });
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('end', () => this.onEnd());
    socket.on('error', (err: NodeJS.ErrnoException) => {
      ingest.metrics.connectionsClosed.inc({ receiver: ingest.id, transport, reason: 'error' });
      ingest.logger.debug({ err, peer: this.origin.peerAddress }, 'syslog connection error');
    });
    // A held batch outlives its socket: the sender finished, and its messages are still owed.
    socket.on('close', () => {
      this.closed = true;
      this.maybeDone();
    });
  }

  private onData(chunk: Buffer): void {
    const frames: Frame[] = [];
    this.framer.push(chunk, frames);
    if (frames.length) this.send(this.toRecords(frames));
  }

  private onEnd(): void {
    const frames: Frame[] = [];
    this.framer.end(frames);
    if (frames.length) this.send(this.toRecords(frames));
    if (!this.blocked) this.socket.end();
  }

  private toRecords(frames: Frame[]): SyslogRecord[] {
    const { ingest, origin } = this;
    ingest.beginBatch();
    const observed = nowNanos();
    const records: SyslogRecord[] = new Array(frames.length);
    for (let i = 0; i < frames.length; i++) {
      const f = frames[i]!;
      records[i] = ingest.toRecordBytes(f.bytes, f.from, f.to, f.truncated, origin, observed);
    }
    ingest.finishBatch(records);
    return records;
  }

  private send(records: SyslogRecord[]): void {
    if (this.blocked) {
      this.held.append(records);
      return;
    }
    this.ingest.deliver(records, this.origin.transport).catch((err: unknown) => this.onRefused(records, err));
  }

  private onRefused(events: SyslogRecord[], err: unknown): void {
    if (!(err instanceof RefusedError)) {
      this.ingest.logger.error({ err }, 'syslog batch failed in the pipeline');
      this.ingest.metrics.dropped.inc(
        { receiver: this.ingest.id, transport: this.origin.transport, reason: 'error' },
        events.length,
      );
      return;
    }
    // A resumed stream emits several chunks in one tick, so several batches may be refused in
    // a row; their refusals arrive in send order, before anything read after the block.
    this.held.append(events);
    if (this.blocked) return;
    this.blocked = true;
    this.ingest.metrics.paused.inc({ receiver: this.ingest.id, transport: this.origin.transport });
    if (!this.closed) this.socket.pause();
    // Not reading is our choice, not the client's idleness.
    if (this.idleMs > 0) this.socket.setTimeout(0);
    this.scheduleRetry();
  }

  private scheduleRetry(): void {
    this.retryTimer = setTimeout(() => this.retry(), this.retryMs);
    this.retryMs = Math.min(this.retryMs * 2, RETRY_MAX_MS);
  }

  /**
   * Offers the held events again, a slice at a time: a batch larger than the whole queue would
   * otherwise be refused forever. The slice halves on each refusal and grows back on success.
   * Reading stays paused until everything held is taken.
   */
  private retry(): void {
    const n = (this.offered = Math.min(this.held.length, this.sliceSize));
    const delivered = n > 0 ? this.ingest.deliver(this.held.first(n), this.origin.transport) : Promise.resolve();
    delivered.then(
      () => {
        // Shutdown took the rest meanwhile, and left these to this answer.
        if (this.shutDown) return this.maybeDone();
        this.offered = 0;
        this.held.drop(n);
        this.sliceSize = Math.min(this.sliceSize * 2, MAX_SLICE);
        this.retryMs = RETRY_FIRST_MS;
        if (this.held.length) {
          this.retry();
          return;
        }
        this.blocked = false;
        if (this.closed) {
          this.maybeDone();
          return;
        }
        if (this.idleMs > 0) this.socket.setTimeout(this.idleMs);
        if (this.socket.readableEnded) this.socket.end();
        else this.socket.resume();
      },
      (err: unknown) => {
        this.sliceSize = Math.max(1, this.sliceSize >> 1);
        if (this.shutDown) {
          this.ingest.metrics.dropped.inc(
            { receiver: this.ingest.id, transport: this.origin.transport, reason: 'shutdown' },
            n,
          );
          return this.maybeDone();
        }
        this.offered = 0;
        if (err instanceof RefusedError) this.scheduleRetry();
        else {
          this.blocked = false;
          this.dropHeld('error');
        }
      },
    );
  }

  /** Closed and owing nothing: the listener may forget this connection. */
  private maybeDone(): void {
    if (this.closed && !this.blocked && this.held.length === 0) this.onDone();
  }

  private dropHeld(reason: string): void {
    const n = this.held.length;
    this.held.clear();
    if (n) this.ingest.metrics.dropped.inc({ receiver: this.ingest.id, transport: this.origin.transport, reason }, n);
    this.maybeDone();
  }

  /** Receiver shutdown: whatever is held gets one last chance, then the socket goes. */
  async close(): Promise<void> {
    this.shutDown = true;
    clearTimeout(this.retryTimer);
    const frames: Frame[] = [];
    this.framer.end(frames);
    // Those a retry offered are the pipeline's until it answers that retry.
    this.held.drop(this.offered);
    let events = this.held.takeAll();
    this.blocked = false;
    if (frames.length) events = events.concat(this.toRecords(frames));
    if (events.length) {
      await this.ingest.deliver(events, this.origin.transport).catch(() => {
        this.ingest.metrics.dropped.inc(
          { receiver: this.ingest.id, transport: this.origin.transport, reason: 'shutdown' },
          events.length,
        );
      });
    }
    this.closed = true;
    this.socket.destroy();
  }
}

/**
 * Syslog over TCP or TLS (RFC 6587 / RFC 5425). max_connections is enforced on accept, before
 * any TLS work, so a flood of handshakes cannot take more slots than allowed.
 */
export class SyslogStreamListener {
  private readonly config: SyslogStreamConfig;
  private readonly ingest: SyslogIngest;
  private readonly transport: 'tcp' | 'tls';
  private server: Server | undefined;
  private readonly connections = new Set<SyslogConnection>();
  private readonly sockets = new Set<Socket>();
  private readonly perPeer = new Map<string, number>();
  private readonly tlsWarn: RateLimitedWarn;

  constructor(config: SyslogStreamConfig, ingest: SyslogIngest, transport: 'tcp' | 'tls') {
    this.config = config;
    this.ingest = ingest;
    this.transport = transport;
    this.tlsWarn = new RateLimitedWarn(ingest.logger);
  }

  async start(): Promise<{ host: string; port: number }> {
    const { ingest, transport } = this;
    const labels = { receiver: ingest.id, transport };
    ingest.metrics.connections.set(labels, 0);
    let server: Server;
    if (transport === 'tls') {
      const tls = createTlsServer(loadTlsOptions(this.config as SyslogTlsConfig));
      hardenTlsServer(tls, this.config as SyslogTlsConfig);
      tls.on('secureConnection', (socket: TLSSocket) => this.serve(socket));
      tls.on('tlsClientError', (err, socket) => {
        ingest.metrics.connectionsRejected.inc({ ...labels, reason: 'tls' });
        this.tlsWarn.warn({ err: err.message, peer: socket.remoteAddress }, 'syslog TLS handshake failed');
      });
      server = tls;
    } else {
      server = createNetServer((socket) => this.serve(socket));
    }
    const perPeer = this.config.max_connections_per_peer ?? Math.max(1, Math.floor(this.config.max_connections / 4));
    // 'connection' fires for the raw socket, before any TLS handshake.
    server.prependListener('connection', (socket: Socket) => {
      const peer = peerGroup(socket.remoteAddress ?? '', this.config.peer_ipv6_prefix);
      const fromPeer = this.perPeer.get(peer) ?? 0;
      if (this.sockets.size >= this.config.max_connections || fromPeer >= perPeer) {
        const total = this.sockets.size >= this.config.max_connections;
        ingest.metrics.connectionsRejected.inc({ ...labels, reason: total ? 'limit' : 'peer_limit' });
        this.tlsWarn.warn(
          total ? { peer, max_connections: this.config.max_connections } : { peer, max_connections_per_peer: perPeer },
          `syslog connection refused: ${total ? 'max_connections' : 'max_connections_per_peer'} reached`,
        );
        socket.destroy();
        return;
      }
      this.sockets.add(socket);
      this.perPeer.set(peer, fromPeer + 1);
      ingest.metrics.connections.inc(labels);
      socket.once('close', () => {
        this.sockets.delete(socket);
        const left = this.perPeer.get(peer)! - 1;
        if (left > 0) this.perPeer.set(peer, left);
        else this.perPeer.delete(peer);
        ingest.metrics.connections.dec(labels);
      });
    });
    this.server = server;
    const { host, port } = this.config.endpoint;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    // Includes accept() failing with EMFILE when the descriptor table is full: logged, not fatal.
    server.on('error', (err) => this.tlsWarn.warn({ err: err.message }, `syslog ${transport} listener error`));
    const addr = server.address() as { address: string; port: number };
    return { host: addr.address, port: addr.port };
  }

  private serve(socket: Socket): void {
    if (socket.destroyed) return;
    const conn: SyslogConnection = new SyslogConnection(socket, this.ingest, this.transport, this.config, () =>
      this.connections.delete(conn),
    );
    this.connections.add(conn);
  }

  async close(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    await Promise.all([...this.connections].map((c) => c.close()));
    for (const s of this.sockets) s.destroy();
    await closed;
  }
}
