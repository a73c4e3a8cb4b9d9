import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { VigilError } from '../../errors.ts';
import { nowNanos, type VigilEvent } from '../../model/event.ts';
import type { CreateSettings, Receiver } from '../../pipeline/component.ts';
import type { Consumer } from '../../pipeline/signals.ts';
import { RateLimitedWarn } from '../../telemetry/rateLimitedLog.ts';
import type { SnmpTrapReceiverConfig } from './config.ts';
import { trapToEvent } from './mapping.ts';
import { SnmpMetrics } from './metrics.ts';
import { desUnavailable } from './desSupport.ts';
import { loadMibDir, type OidNames } from './oidNames.ts';
import { TrapDecoder } from './trapDecoder.ts';
import { warnIfReceiveBufferCapped } from '../udpReceiveBuffer.ts';

/** Events handed to the pipeline at once; a storm is cut into batches of this size. */
const MAX_BATCH = 512;

/**
 * SNMP traps and informs (v1, v2c, v3) over UDP into the logs pipelines. The receiver owns its
 * socket and hands each datagram to net-snmp (through TrapDecoder) inside a guard, so that no
 * datagram, however malformed, can throw out of the socket handler. UDP cannot push back: while
 * the pipeline refuses, datagrams are dropped before they are decoded (an inform is then not
 * acknowledged, and its sender sends it again) and counted.
 */
export class SnmpTrapReceiver implements Receiver {
  private readonly settings: CreateSettings;
  private readonly config: SnmpTrapReceiverConfig;
  private readonly consumer: Consumer<VigilEvent>;
  private readonly metrics: SnmpMetrics;
  private readonly rejectWarn: RateLimitedWarn;
  private readonly dropWarn: RateLimitedWarn;
  private socket: Socket | undefined;
  private decoder: TrapDecoder | undefined;
  private names: OidNames | undefined;
  private batch: VigilEvent[] = [];
  private flushScheduled = false;
  /** Bound address, once started (port 0 resolved). */
  address: { host: string; port: number } | undefined;

  constructor(settings: CreateSettings, config: SnmpTrapReceiverConfig, consumer: Consumer<VigilEvent>) {
    this.settings = settings;
    this.config = config;
    this.consumer = consumer;
    this.metrics = new SnmpMetrics(settings.metrics.registry);
    this.rejectWarn = new RateLimitedWarn(settings.logger);
    this.dropWarn = new RateLimitedWarn(settings.logger);
  }

  async start(): Promise<void> {
    const { settings, config } = this;
    const des = desUnavailable(config.users);
    if (des)
      throw new VigilError(
        'VIGIL_CONFIG_INVALID',
        `receivers.${settings.id}.users[${des.index}].priv_protocol: ${des.message}`,
      );
    if (config.mib_dir) this.names = this.loadMibs(config.mib_dir);
    this.decoder = new TrapDecoder({ communities: config.communities, users: config.users });
    const { host, port } = config.endpoint;
    const socket = createSocket({
      type: host.includes(':') ? 'udp6' : 'udp4',
      recvBufferSize: config.receive_buffer_size,
    });
    this.socket = socket;
    try {
      await new Promise<void>((resolve, reject) => {
        socket.once('error', reject);
        socket.bind(port, host, () => {
          socket.off('error', reject);
          resolve();
        });
      });
    } catch (err) {
      this.socket = undefined;
      socket.close();
      const hint =
        (err as NodeJS.ErrnoException).code === 'EADDRINUSE'
          ? 'another process listens there; pick another port'
          : (err as NodeJS.ErrnoException).code === 'EACCES'
            ? 'ports below 1024 need root or NET_BIND_SERVICE; use 1162'
            : 'check the address';
      throw new VigilError(
        'VIGIL_LISTEN_FAILED',
        `receivers.${settings.id}.endpoint (${host}:${port}): ${(err as Error).message}; ${hint}`,
        { cause: err },
      );
    }
    socket.on('error', (err) => settings.logger.error({ err }, 'SNMP trap socket error'));
    socket.on('message', (msg, rinfo) => this.onDatagram(msg, rinfo, socket));
    warnIfReceiveBufferCapped(settings.logger, 'SNMP traps', config.receive_buffer_size, socket.getRecvBufferSize());
    const bound = socket.address();
    this.address = { host: bound.address, port: bound.port };
    // Tests and operators read the bound port (port 0) from this line.
    settings.logger.info(
      { snmp_trap: this.address, communities: config.communities.length, users: config.users.length },
      'SNMP trap receiver listening',
    );
  }

  private loadMibs(dir: string): OidNames {
    let result;
    try {
      result = loadMibDir(dir);
    } catch (err) {
      throw new VigilError(
        'VIGIL_CONFIG_INVALID',
        `receivers.${this.settings.id}.mib_dir: cannot read ${dir}: ${(err as Error).message}`,
        { cause: err },
      );
    }
    for (const s of result.skipped)
      this.settings.logger.warn(
        { file: s.file, reason: s.reason },
        'MIB file not loaded; the OIDs it defines stay numeric',
      );
    this.settings.logger.info(
      { mib_dir: dir, loaded: result.loaded.length, skipped: result.skipped.length },
      'MIB files loaded',
    );
    return result.names;
  }

  private onDatagram(msg: Buffer, rinfo: RemoteInfo, socket: Socket): void {
    try {
      this.consumer.admit?.(1);
    } catch {
      this.drop(1);
      return;
    }
    const decoded = this.decoder!.decode(msg, rinfo, socket);
    if (decoded.kind === 'rejected') {
      this.metrics.rejected.inc({ receiver: this.settings.id, reason: decoded.reason });
      this.rejectWarn.warn(
        { peer: rinfo.address, reason: decoded.reason, error: decoded.message },
        'SNMP message dropped',
      );
      return;
    }
    if (decoded.kind !== 'notification') return;
    try {
      this.batch.push(
        trapToEvent(
          decoded.pdu,
          { peerAddress: rinfo.address, peerPort: rinfo.port, version: decoded.version },
          this.names,
          nowNanos(),
        ),
      );
    } catch (err) {
      // A PDU net-snmp accepted but whose fields defeat the mapping is still one bad datagram.
      this.metrics.rejected.inc({ receiver: this.settings.id, reason: 'malformed' });
      this.rejectWarn.warn(
        { peer: rinfo.address, reason: 'malformed', error: (err as Error).message },
        'SNMP message dropped',
      );
      return;
    }
    if (this.batch.length >= MAX_BATCH) void this.flush();
    else if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(() => {
        this.flushScheduled = false;
        void this.flush();
      });
    }
  }

  private flush(): Promise<void> {
    const events = this.batch;
    if (events.length === 0) return Promise.resolve();
    this.batch = [];
    const { id } = this.settings;
    return this.consumer.consume(events).then(
      () =>
        this.settings.metrics.receiverAccepted.inc({ receiver: id, signal: 'logs', transport: 'udp' }, events.length),
      (err: unknown) => {
        this.settings.metrics.receiverRefused.inc({ receiver: id, signal: 'logs', transport: 'udp' }, events.length);
        this.settings.metrics.countMemoryRefusal(id, err);
        this.drop(events.length);
      },
    );
  }

  private drop(n: number): void {
    this.metrics.dropped.inc({ receiver: this.settings.id, reason: 'refused' }, n);
    this.dropWarn.warn(
      { dropped: n },
      'SNMP traps dropped: the pipeline refused them, and UDP cannot ask the sender to wait',
    );
  }

  async shutdown(): Promise<void> {
    const socket = this.socket;
    this.socket = undefined;
    if (socket) await new Promise<void>((resolve) => socket.close(() => resolve()));
    await this.flush();
  }
}
