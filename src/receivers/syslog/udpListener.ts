import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { nowNanos, type VigilEvent } from '../../model/event.ts';
import type { SyslogUdpConfig } from './config.ts';
import type { SyslogIngest } from './ingest.ts';
import type { Origin } from './mapping.ts';
import { RateLimitedWarn } from './rateLimitedLog.ts';

const MAX_BATCH = 1024;

/** One message per datagram (RFC 5426); a trailing LF, CR or NUL some senders add is not part of it. */
function datagramText(msg: Buffer): string {
  let end = msg.length;
  while (end > 0) {
    const c = msg[end - 1];
    if (c !== 10 && c !== 13 && c !== 0) break;
    end--;
  }
  return msg.toString('utf8', 0, end);
}

/**
 * Syslog over UDP. Datagrams that arrive in one event-loop turn go to the pipeline as one
 * batch. UDP cannot push back: when the pipeline refuses, the batch is dropped and counted
 * (`vigil_syslog_dropped_messages_total{reason="refused"}`).
 */
export class SyslogUdpListener {
  private readonly config: SyslogUdpConfig;
  private readonly ingest: SyslogIngest;
  private socket: Socket | undefined;
  private lines: string[] = [];
  private peers: string[] = [];
  private flushScheduled = false;
  private readonly origins = new Map<string, Origin>();
  private readonly dropWarn: RateLimitedWarn;

  constructor(config: SyslogUdpConfig, ingest: SyslogIngest) {
    this.config = config;
    this.ingest = ingest;
    this.dropWarn = new RateLimitedWarn(ingest.logger);
  }

  async start(): Promise<{ host: string; port: number }> {
    const { host, port } = this.config.endpoint;
    const socket = createSocket({ type: host.includes(':') ? 'udp6' : 'udp4', recvBufferSize: this.config.receive_buffer_size });
    this.socket = socket;
    socket.on('message', (msg, rinfo) => this.onMessage(msg, rinfo));
    socket.on('error', (err) => this.ingest.logger.error({ err }, 'syslog UDP socket error'));
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(port, host, () => {
        socket.off('error', reject);
        resolve();
      });
    });
    const addr = socket.address();
    return { host: addr.address, port: addr.port };
  }

  private onMessage(msg: Buffer, rinfo: RemoteInfo): void {
    if (msg.length === 0) return;
    this.lines.push(datagramText(msg));
    this.peers.push(rinfo.address);
    // Under a flood libuv keeps delivering datagrams without yielding to setImmediate: flush by
    // size too, or the batch (and memory) would grow until the flood stops.
    if (this.lines.length >= MAX_BATCH) this.flush();
    else if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(() => {
        this.flushScheduled = false;
        this.flush();
      });
    }
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

  private flush(): void {
    const lines = this.lines;
    const peers = this.peers;
    this.lines = [];
    this.peers = [];
    if (lines.length === 0) return;
    const { ingest } = this;
    ingest.beginBatch();
    const observed = nowNanos();
    const events: VigilEvent[] = new Array(lines.length);
    for (let i = 0; i < lines.length; i++) events[i] = ingest.toEvent(lines[i]!, false, this.origin(peers[i]!), observed);
    ingest.deliver(events).catch((err: unknown) => {
      ingest.metrics.dropped.inc({ receiver: ingest.id, transport: 'udp', reason: 'refused' }, events.length);
      this.dropWarn.warn({ dropped: events.length, reason: (err as Error).message }, 'syslog UDP messages dropped: the pipeline refused them and UDP cannot ask the sender to wait');
    });
  }

  async close(): Promise<void> {
    const socket = this.socket;
    this.socket = undefined;
    if (!socket) return;
    await new Promise<void>((resolve) => socket.close(() => resolve()));
    this.flush();
  }
}
