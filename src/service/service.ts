import type { FastifyInstance } from 'fastify';
import type { Endpoint } from '../config/schema.ts';
import type { FactoryRegistry } from '../config/load.ts';
import type { VigilConfig } from '../config/vigilConfig.ts';
import { componentType, type CreateSettings, type Exporter, type Processor, type ProcessorFactory, type Receiver, type ReceiverFactory, type ExporterFactory } from '../pipeline/component.ts';
import type { Host } from '../pipeline/host.ts';
import { MemoryGuard } from '../pipeline/memoryGuard.ts';
import { FanOut, Pipeline, type PipelineSink } from '../pipeline/pipeline.ts';
import type { Consumer, Consumers, Signal, SignalItem } from '../pipeline/signals.ts';
import type { TlsServerConfig } from '../receivers/http/tlsConfig.ts';
import { createLogger, type Logger } from '../telemetry/logger.ts';
import { SelfMetrics } from '../telemetry/selfMetrics.ts';
import { CorrelationRuntime } from '../correlation/runtime.ts';
import type { CorrelationConfig } from '../correlation/config.ts';
import { AdminServer } from './adminServer.ts';
import { HttpListeners } from './httpListeners.ts';

export interface ServiceOptions {
  dataDir: string;
  registry: FactoryRegistry;
  logger?: Logger;
}

const CONSUME_METHOD = {
  logs: 'consumeLogs',
  metrics: 'consumeMetrics',
  traces: 'consumeTraces',
  incidents: 'consumeIncidents',
} as const satisfies Record<Signal, keyof Exporter>;

/**
 * The running graph: builds every component from config, wires `service.pipelines`, and
 * owns the start and orderly-stop sequence. Start order is exporters → pipelines →
 * receivers → listeners, so nothing is accepted before it can be delivered; stop order is
 * the reverse, and every queue drains before exporters close.
 */
export class VigilService {
  readonly config: VigilConfig;
  readonly logger: Logger;
  readonly metrics = new SelfMetrics();
  readonly memory: MemoryGuard;
  readonly dataDir: string;
  private readonly registry: FactoryRegistry;
  private readonly listeners = new HttpListeners();
  private readonly exporters = new Map<string, Exporter>();
  private readonly receivers = new Map<string, Receiver>();
  private readonly processors: Processor[] = [];
  private readonly pipelines: Pipeline<unknown>[] = [];
  private readonly readinessChecks = new Map<string, () => boolean | 'degraded'>();
  private admin: AdminServer | undefined;
  private incidents: Consumer<SignalItem['incidents']> | undefined;
  /** The correlation engine's shell, when the config has a `correlation:` section. */
  readonly correlation: CorrelationRuntime | undefined;
  private started = false;

  constructor(config: VigilConfig, opts: ServiceOptions) {
    this.config = config;
    this.registry = opts.registry;
    this.dataDir = opts.dataDir;
    this.logger = opts.logger ?? createLogger(config.service.telemetry.logs.level);
    this.memory = new MemoryGuard(config.service.memory_limiter, this.metrics);
    this.correlation = config.correlation && new CorrelationRuntime(config.correlation, { logger: this.logger.child({ component: 'correlation' }), metrics: this.metrics, output: () => this.incidents, dataDir: opts.dataDir });
  }

  private settings(id: string): CreateSettings {
    return { id, logger: this.logger.child({ component: id }), metrics: this.metrics, dataDir: this.dataDir };
  }

  private host(): Host {
    return {
      logger: this.logger,
      metrics: this.metrics,
      dataDir: this.dataDir,
      httpListener: (endpoint: Endpoint, tls?: TlsServerConfig): FastifyInstance => this.listeners.get(endpoint, tls),
      addReadinessCheck: (name, check) => this.readinessChecks.set(name, check),
      correlation: this.correlation,
    };
  }

  /** The consumer feeding every `incidents` pipeline; the correlation engine emits into it. */
  get incidentsConsumer(): Consumer<SignalItem['incidents']> | undefined {
    return this.incidents;
  }

  async start(): Promise<void> {
    const { config } = this;
    const host = this.host();
    const pipelinesUsing = (section: 'receivers' | 'exporters', id: string) =>
      Object.entries(config.service.pipelines).filter(([, p]) => p[section].includes(id));

    for (const [id, c] of Object.entries(config.exporters)) {
      if (pipelinesUsing('exporters', id).length === 0) {
        this.logger.warn({ exporter: id }, 'exporter is not used by any pipeline; not started');
        continue;
      }
      const factory = this.registry.exporters.find((f) => f.type === c.type) as ExporterFactory;
      const exporter = factory.create(this.settings(id), c.config);
      await exporter.start(host);
      this.exporters.set(id, exporter);
    }

    const bySignal = new Map<Signal, Map<string, Pipeline<unknown>>>();
    for (const [name, p] of Object.entries(config.service.pipelines)) {
      const signal = componentType(name) as Signal;
      const processors = p.processors.map((pid) => {
        const c = config.processors[pid]!;
        const factory = this.registry.processors.find((f) => f.type === c.type) as ProcessorFactory;
        const processor = factory.create({ ...this.settings(pid), signal, pipeline: name }, c.config) as Processor<unknown>;
        this.processors.push(processor);
        return { id: pid, processor };
      });
      const sinks: PipelineSink<unknown>[] = p.exporters.map((eid) => {
        const exporter = this.exporters.get(eid)!;
        const method = exporter[CONSUME_METHOD[signal]] as ((b: unknown[]) => Promise<void>) | undefined;
        if (!method) throw new Error(`exporter ${eid} has no ${CONSUME_METHOD[signal]}`);
        return { id: eid, consume: (b) => method.call(exporter, b as never) };
      });
      const pipeline = new Pipeline<unknown>({ name, signal, queueSize: p.queue_size, acknowledge: p.acknowledge, processors, sinks, memory: this.memory, logger: this.logger, metrics: this.metrics });
      this.pipelines.push(pipeline);
      if (!bySignal.has(signal)) bySignal.set(signal, new Map());
      bySignal.get(signal)!.set(name, pipeline);
    }
    for (const p of this.processors) await p.start?.(host);
    for (const p of this.pipelines) p.start();
    const incidentPipelines = [...(bySignal.get('incidents')?.values() ?? [])];
    if (incidentPipelines.length) this.incidents = new FanOut(incidentPipelines) as Consumer<SignalItem['incidents']>;
    if (this.correlation) {
      await this.correlation.start();
      const state = this.correlation.state;
      this.readinessChecks.set('correlation_state', () => state.health());
    }

    for (const [id, c] of Object.entries(config.receivers)) {
      const used = pipelinesUsing('receivers', id);
      if (used.length === 0) {
        this.logger.warn({ receiver: id }, 'receiver is not used by any pipeline; not started');
        continue;
      }
      const consumers: Consumers = {};
      for (const signal of ['logs', 'metrics', 'traces'] as const) {
        const targets = used.filter(([name]) => componentType(name) === signal).map(([name]) => bySignal.get(signal)!.get(name)!);
        if (targets.length) (consumers as Record<string, Consumer<unknown>>)[signal] = new FanOut(targets);
      }
      const factory = this.registry.receivers.find((f) => f.type === c.type) as ReceiverFactory;
      const receiver = factory.create(this.settings(id), c.config, consumers);
      await receiver.start(host);
      this.receivers.set(id, receiver);
    }

    this.memory.start();
    await this.listeners.listenAll();
    this.admin = new AdminServer(config.service.telemetry.metrics.endpoint, this.metrics, () => this.readiness());
    await this.admin.start();
    this.started = true;
    this.logger.info({ receivers: [...this.receivers.keys()], exporters: [...this.exporters.keys()], pipelines: this.pipelines.map((p) => p.name), http: this.listeners.addresses(), admin: this.admin.address }, 'Vigil started');
  }

  /** For /readyz: every listener bound, every exporter able to write, every extra check true. */
  readiness(): { ready: boolean; checks: Record<string, boolean | 'degraded'> } {
    const checks: Record<string, boolean | 'degraded'> = { started: this.started, listeners: this.listeners.allListening };
    for (const [id, e] of this.exporters) if (e.ready) checks[`exporter:${id}`] = e.ready();
    for (const [name, check] of this.readinessChecks) checks[name] = check();
    // A degraded check (say, shared state unreachable) leaves the agent ready: it still does its work.
    return { ready: Object.values(checks).every((c) => c !== false), checks };
  }

  get httpAddresses(): { host: string; port: number }[] {
    return this.listeners.addresses();
  }

  get adminAddress(): { host: string; port: number } | undefined {
    return this.admin?.address;
  }

  receiver(id: string): Receiver | undefined {
    return this.receivers.get(id);
  }

  exporter(id: string): Exporter | undefined {
    return this.exporters.get(id);
  }

  /** Swaps in the `correlation:` section of a reloaded config; rules that did not change keep their state. */
  async reloadCorrelation(config: CorrelationConfig | undefined): Promise<void> {
    if (!this.correlation || !config) {
      this.logger.warn('adding or removing the correlation: section needs a restart; rules not reloaded');
      return;
    }
    await this.correlation.reload(config);
  }

  /**
   * Orderly stop: refuse new work, drain every queue into the exporters, then close them.
   * Anything acknowledged to a sender before this call reaches the exporters.
   */
  async shutdown(): Promise<void> {
    this.started = false;
    this.logger.info('shutting down: closing receivers, draining queues');
    const timeout = this.config.service.shutdown_timeout;
    // Senders waiting on an exporter (acknowledge: exported) keep their requests open, so closing
    // the listeners counts against the same deadline as draining the queues. Incidents pipelines
    // drain last: draining the others still feeds the correlation engine.
    const drained = (async () => {
      await this.listeners.closeAll();
      for (const [id, r] of this.receivers) await r.shutdown().catch((err) => this.logger.error({ err, receiver: id }, 'receiver shutdown failed'));
      await Promise.all(this.pipelines.filter((p) => p.signal !== 'incidents').map((p) => p.drain()));
      await this.correlation?.stop();
      await Promise.all(this.pipelines.filter((p) => p.signal === 'incidents').map((p) => p.drain()));
    })();
    let timer: NodeJS.Timeout | undefined;
    const timedOut = await Promise.race([
      drained.then(() => false),
      new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(true), timeout);
      }),
    ]);
    clearTimeout(timer);
    if (timedOut) {
      this.logger.error({ timeoutMs: timeout, queued: this.pipelines.reduce((n, p) => n + p.queue.size, 0) }, 'queues did not drain before shutdown_timeout; exiting anyway');
      // Whoever still waits was never told its data is safe: dropping the connection makes it retry elsewhere.
      this.listeners.forceCloseAll();
    }
    for (const p of this.processors) await p.shutdown?.().catch((err) => this.logger.error({ err }, 'processor shutdown failed'));
    for (const [id, e] of this.exporters) await e.shutdown().catch((err) => this.logger.error({ err, exporter: id }, 'exporter shutdown failed'));
    this.memory.stop();
    await this.admin?.stop();
    this.logger.info('Vigil stopped');
  }
}
