import { VigilError } from '../../errors.ts';
import type { VigilEvent } from '../../model/event.ts';
import type { CreateSettings, Receiver } from '../../pipeline/component.ts';
import type { Consumer } from '../../pipeline/signals.ts';
import type { SyslogReceiverConfig } from './config.ts';
import { SyslogIngest } from './ingest.ts';
import { SyslogMetrics } from './metrics.ts';
import { SyslogParser } from './parser.ts';
import { SyslogStreamListener } from './streamListener.ts';
import { SyslogUdpListener } from './udpListener.ts';

type Address = { host: string; port: number };

/** Syslog over UDP, TCP and TLS, RFC 5424 and RFC 3164, into the logs pipelines. */
export class SyslogReceiver implements Receiver {
  private readonly settings: CreateSettings;
  private readonly config: SyslogReceiverConfig;
  private readonly consumer: Consumer<VigilEvent>;
  private udp: SyslogUdpListener | undefined;
  private readonly streams: SyslogStreamListener[] = [];
  /** Bound addresses, once started (port 0 resolved). */
  readonly addresses: { udp?: Address; tcp?: Address; tls?: Address } = {};

  constructor(settings: CreateSettings, config: SyslogReceiverConfig, consumer: Consumer<VigilEvent>) {
    this.settings = settings;
    this.config = config;
    this.consumer = consumer;
  }

  async start(): Promise<void> {
    const { settings, config } = this;
    const ingest = new SyslogIngest({
      id: settings.id,
      parser: new SyslogParser(config.protocol, config.location),
      attributeNames: config.attribute_names,
      consumer: this.consumer,
      metrics: new SyslogMetrics(settings.metrics.registry),
      self: settings.metrics,
      logger: settings.logger,
    });
    let current = '';
    try {
      if (config.udp) {
        current = 'udp';
        this.udp = new SyslogUdpListener(config.udp, ingest);
        this.addresses.udp = await this.udp.start();
      }
      for (const transport of ['tcp', 'tls'] as const) {
        const c = config[transport];
        if (!c) continue;
        current = transport;
        const listener = new SyslogStreamListener(c, ingest, transport);
        this.streams.push(listener);
        this.addresses[transport] = await listener.start();
      }
    } catch (err) {
      await this.shutdown();
      const endpoint = config[current as 'udp' | 'tcp' | 'tls']!.endpoint;
      const hint =
        (err as NodeJS.ErrnoException).code === 'EADDRINUSE'
          ? 'another process listens there; pick another port'
          : current === 'tls'
            ? 'check cert_file, key_file and client_ca_file'
            : 'check the address';
      throw new VigilError(
        'VIGIL_LISTEN_FAILED',
        `receivers.${settings.id}.${current} (${endpoint.host}:${endpoint.port}): ${(err as Error).message}; ${hint}`,
        { cause: err },
      );
    }
    // Tests and operators read bound ports (port 0) from this line.
    settings.logger.info({ syslog: this.addresses }, 'syslog receiver listening');
  }

  async shutdown(): Promise<void> {
    await Promise.all([this.udp?.close(), ...this.streams.map((s) => s.close())]);
  }
}
