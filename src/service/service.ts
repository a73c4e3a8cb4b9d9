import type { FastifyInstance } from 'fastify';
import type { RuleReplayer } from '../api/dryRunRoutes.ts';
import type { ApiServer } from '../api/server.ts';
import type { IncidentDesk } from '../correlation/incidentActions.ts';
import type { Incident } from '../model/incident.ts';
import type { Endpoint } from '../config/schema.ts';
import type { FactoryRegistry } from './config/load.ts';
import type { VigilConfig } from './config/vigilConfig.ts';
import {
  componentType,
  type AnyFactory,
  type TicketLink,
  type Connector,
  type ConnectorFactory,
  type CreateSettings,
  type Exporter,
  type Processor,
  type ProcessorFactory,
  type Receiver,
  type ReceiverFactory,
  type ExporterFactory,
} from '../pipeline/component.ts';
import { createExporter } from '../exporters/helper/telemetry.ts';
import { CONSUME_METHOD, type Extension } from '../pipeline/component.ts';
import type { Authenticator } from '../extensions/auth/principal.ts';
import type { SharedRedis } from '../extensions/redisState/sharedRedis.ts';
import type { TicketLedger } from '../exporters/tickets/ledger.ts';
import { extensionStartOrder } from './config/implicitExtensions.ts';
import { pipelineGraph } from '../pipeline/graph.ts';
import type { Host } from '../pipeline/host.ts';
import { HEALTHY, type HealthSettings } from '../pipeline/health.ts';
import { MemoryGuard } from '../pipeline/memoryGuard.ts';
import type { MemorySource } from '../pipeline/memorySource.ts';
import { FanOut, Pipeline, type PipelineSink } from '../pipeline/pipeline.ts';
import { SIGNALS, type Consumer, type Consumers, type Signal, type SignalItem } from '../pipeline/signals.ts';
import type { HttpServerLimits } from '../receivers/http/serverConfig.ts';
import type { TlsServerConfig } from '../config/tls.ts';
import { createLogger, type Logger } from '../telemetry/logger.ts';
import { SelfMetrics } from '../telemetry/selfMetrics.ts';
import { AdminServer } from './adminServer.ts';
import { HttpListeners } from './httpListeners.ts';
import { readinessReport, registerHealthGauge, type ComponentHealthEntry, type ReadinessReport } from './readiness.ts';

export interface ServiceOptions {
  dataDir: string;
  registry: FactoryRegistry;
  logger?: Logger;
  /** Where the memory limiter reads memory; tests fake a cgroup or a flood with it. */
  memorySource?: MemorySource;
  /** The memory limiter's clock (milliseconds, monotonic); tests step it. */
  memoryClock?: () => number;
}

/**
 * The running graph: builds every component from config, wires `service.pipelines` through
 * the connectors between them, and owns the start and orderly-stop sequence. Pipelines start
 * downstream first (each with its exporters and connectors before it), then receivers, then
 * listeners, so nothing is accepted before it can be delivered; stop drains upstream first,
 * and a connector stops once every pipeline feeding it has drained.
 */
export class VigilService {
  readonly config: VigilConfig;
  readonly logger: Logger;
  readonly metrics = new SelfMetrics();
  readonly memory: MemoryGuard;
  readonly dataDir: string;
  private readonly registry: FactoryRegistry;
  private readonly listeners: HttpListeners;
  private readonly exporters = new Map<string, Exporter>();
  private readonly connectors = new Map<string, Connector>();
  /** Exporters and connectors whose start() has run, so shutdown leaves the others alone. */
  private readonly startedSinks = new Set<string>();
  private readonly receivers = new Map<string, Receiver>();
  /** Started extensions, in start order. */
  private readonly extensions = new Map<string, Extension>();
  private readonly processors = new Map<string, Processor[]>();
  /** Upstream first, by stage (see pipelineGraph). */
  private readonly stages: Pipeline<unknown>[][] = [];
  private readonly pipelines = new Map<string, Pipeline<unknown>>();
  private readonly healthSettings: HealthSettings;
  private admin: AdminServer | undefined;
  private api: ApiServer | undefined;
  /** The config as it runs: the start's, with the rules of the last reload. */
  private reloaded: VigilConfig;
  private started = false;
  private stopping = false;

  constructor(config: VigilConfig, opts: ServiceOptions) {
    this.config = config;
    this.reloaded = config;
    this.registry = opts.registry;
    this.dataDir = opts.dataDir;
    this.logger = opts.logger ?? createLogger(config.service.telemetry.logs.level);
    this.memory = new MemoryGuard(config.service.memory_limiter, {
      metrics: this.metrics,
      logger: this.logger,
      inFlight: () => this.holdsData(),
      ...(opts.memorySource ? { source: opts.memorySource } : {}),
      ...(opts.memoryClock ? { now: opts.memoryClock } : {}),
    });
    this.listeners = new HttpListeners(this.logger, this.metrics.registry);
    const { failing_after, check_interval } = config.service.telemetry.health;
    this.healthSettings = { failingAfterMs: failing_after, checkIntervalMs: check_interval };
    registerHealthGauge(this.metrics.registry, () => this.componentHealth());
  }

  /** Whether accepted data is still on its way: being received, queued, or in an exporter's spool or queue. */
  private holdsData(): boolean {
    if (this.memory.receiveBuffers.bytes > 0) return true;
    for (const p of this.pipelines.values()) if (!p.idle) return true;
    for (const e of this.exporters.values()) if ((e.backlog?.().items ?? 0) > 0) return true;
    return false;
  }

  private settings(id: string): CreateSettings {
    return {
      id,
      logger: this.logger.child({ component: id }),
      metrics: this.metrics,
      dataDir: this.dataDir,
      health: this.healthSettings,
      memoryLimitBytes: this.memory.limitBytes,
      nativeMemory: this.memory,
    };
  }

  private host(): Host {
    return {
      logger: this.logger,
      metrics: this.metrics,
      dataDir: this.dataDir,
      httpListener: (endpoint: Endpoint, tls?: TlsServerConfig, limits?: HttpServerLimits): FastifyInstance =>
        this.listeners.get(endpoint, tls, limits),
      receiveBuffers: this.memory.receiveBuffers,
      ...(this.config.routing ? { routingTree: this.config.routing } : {}),
      authenticator: (id: string): Authenticator =>
        this.startedExtension(id, 'authenticator', (x) => x.authenticator?.()),
      redisState: (id: string): SharedRedis => this.startedExtension(id, 'redis_state', (x) => x.redisState?.()),
      ticketLedger: (id: string, exporter: string): TicketLedger =>
        this.startedExtension(id, 'ticket_ledger', (x) => x.ticketLedger?.(exporter, this.ledgerUsers(id))),
      incidentDesk: () => this.incidentDesk(),
    };
  }

  /** The exporters created from the config that keep their tickets in ledger extension `id`. */
  private ledgerUsers(id: string): string[] {
    return [...this.exporters.keys()].filter((e) => {
      const c = this.config.exporters[e]!;
      const refs = this.registry.exporters.find((f) => f.type === c.type)?.extensionRefs?.(c.config as never);
      return refs?.some((r) => r.id === id && r.capability === 'ticket_ledger');
    });
  }

  private startedExtension<T>(id: string, capability: string, as: (x: Extension) => T | undefined): T {
    const x = this.extensions.get(id);
    const found = x && as(x);
    if (found === undefined)
      throw new Error(
        `extension "${id}" is not a started ${capability}; list it under extensions: and service.extensions`,
      );
    return found;
  }

  /** What feeds every `incidents` pipeline at once, as a connector would: for tests and embedding programs. */
  get incidentsConsumer(): Consumer<SignalItem['incidents']> | undefined {
    const targets = [...this.pipelines.values()].filter((p) => p.signal === 'incidents');
    return targets.length ? (new FanOut(targets) as Consumer<SignalItem['incidents']>) : undefined;
  }

  /** The pipelines that list `id` (a receiver or connector) as a receiver, by signal. */
  private consumersOf(id: string): Consumers {
    const consumers: Consumers = {};
    for (const signal of SIGNALS) {
      const targets = Object.entries(this.config.service.pipelines)
        .filter(([name, p]) => componentType(name) === signal && p.receivers.includes(id))
        .map(([name]) => this.pipelines.get(name)!);
      if (targets.length) (consumers as Record<string, Consumer<unknown>>)[signal] = new FanOut(targets);
    }
    return consumers;
  }

  /** Imports the code of the components the config names, and of no other (`load` of each factory). */
  private async loadComponents(): Promise<void> {
    const { config, registry } = this;
    const used = (factories: readonly AnyFactory[], sections: Record<string, { type: string }>) =>
      Object.values(sections).map((c) => factories.find((f) => f.type === c.type)?.load?.());
    await Promise.all([
      ...used(registry.extensions, config.extensions),
      ...used(registry.receivers, config.receivers),
      ...used(registry.processors, config.processors),
      ...used(registry.exporters, config.exporters),
      ...used(registry.connectors, config.connectors),
    ]);
  }

  async start(): Promise<void> {
    const { config } = this;
    const host = this.host();
    const pipelinesUsing = (section: 'receivers' | 'exporters', id: string) =>
      Object.entries(config.service.pipelines).filter(([, p]) => p[section].includes(id));
    const graph = pipelineGraph(config.service.pipelines, new Set(Object.keys(config.connectors)));
    const downstreamFirst = graph.stages.toReversed().flat();
    await this.loadComponents();

    // Extensions first: receivers and exporters look them up during their own start().
    for (const id of extensionStartOrder(config, this.registry)) {
      const c = config.extensions[id]!;
      const factory = this.registry.extensions.find((f) => f.type === c.type)!;
      const extension = factory.create(this.settings(id), c.config);
      await extension.start(host);
      this.extensions.set(id, extension);
    }
    if (this.extensions.size) this.logger.info({ extensions: [...this.extensions.keys()] }, 'extensions started');

    for (const [id, c] of Object.entries(config.exporters)) {
      if (pipelinesUsing('exporters', id).length === 0) {
        this.logger.warn({ exporter: id }, 'exporter is not used by any pipeline; not started');
        continue;
      }
      const factory = this.registry.exporters.find((f) => f.type === c.type) as ExporterFactory;
      this.exporters.set(id, createExporter(factory, this.settings(id), c.config));
    }
    for (const id of Object.keys(config.connectors)) {
      if (!graph.feeders.has(id))
        this.logger.warn({ connector: id }, 'connector is not an exporter of any pipeline; not started');
    }

    // Built downstream first: a connector's consumers are the pipelines after it, which exist by then.
    // Everything is created before anything starts, so a ticket exporter finds the shared ledger.
    for (const name of downstreamFirst) {
      const p = config.service.pipelines[name]!;
      const signal = componentType(name) as Signal;
      for (const eid of p.exporters) {
        const c = config.connectors[eid];
        if (!c || this.connectors.has(eid)) continue;
        const factory = this.registry.connectors.find((f) => f.type === c.type) as ConnectorFactory;
        this.connectors.set(eid, factory.create(this.settings(eid), c.config, this.consumersOf(eid)));
      }
      const processors = p.processors.map((pid) => {
        const c = config.processors[pid]!;
        const factory = this.registry.processors.find((f) => f.type === c.type) as ProcessorFactory;
        const processor = factory.create(
          { ...this.settings(pid), signal, pipeline: name },
          c.config,
        ) as Processor<unknown>;
        return { id: pid, processor };
      });
      this.processors.set(
        name,
        processors.map((p) => p.processor),
      );
      const sinks: PipelineSink<unknown>[] = p.exporters.map((eid) => {
        const exporter = this.exporters.get(eid) ?? this.connectors.get(eid)!;
        const method = exporter[CONSUME_METHOD[signal]] as ((b: unknown[]) => Promise<void>) | undefined;
        if (!method) throw new Error(`exporter ${eid} has no ${CONSUME_METHOD[signal]}`);
        return {
          id: eid,
          consume: (b) => method.call(exporter, b as never),
          takesLines: signal === 'logs' && exporter.takesLogLines === true,
        };
      });
      this.pipelines.set(
        name,
        new Pipeline<unknown>({
          name,
          signal,
          queueSize: p.queue_size,
          acknowledge: p.acknowledge,
          processors,
          sinks,
          memory: this.memory,
          logger: this.logger,
          metrics: this.metrics,
        }),
      );
    }
    for (const stage of graph.stages) this.stages.push(stage.map((name) => this.pipelines.get(name)!));

    for (const name of downstreamFirst) {
      for (const eid of config.service.pipelines[name]!.exporters) {
        if (this.startedSinks.has(eid)) continue;
        await (this.exporters.get(eid) ?? this.connectors.get(eid)!).start(host);
        this.startedSinks.add(eid);
      }
      for (const p of this.processors.get(name)!) await p.start?.(host);
      this.pipelines.get(name)!.start();
    }

    for (const [id, c] of Object.entries(config.receivers)) {
      if (pipelinesUsing('receivers', id).length === 0) {
        this.logger.warn({ receiver: id }, 'receiver is not used by any pipeline; not started');
        continue;
      }
      const factory = this.registry.receivers.find((f) => f.type === c.type) as ReceiverFactory;
      const receiver = factory.create(this.settings(id), c.config, this.consumersOf(id));
      await receiver.start(host);
      this.receivers.set(id, receiver);
    }

    this.memory.start();
    await this.listeners.listenAll();
    this.admin = new AdminServer(config.service.telemetry.metrics, this.metrics, () => this.readiness(), this.logger);
    await this.admin.start(this.logger);
    if (config.api) {
      const authenticator = config.api.auth ? host.authenticator(config.api.auth.authenticator) : undefined;
      // The operators' API and its routes load only when `api:` is configured.
      const { ApiServer } = await import('../api/server.ts');
      this.api = new ApiServer({
        config: config.api,
        desk: () => this.incidentDesk(),
        ticketsOf: (i) => this.ticketsOf(i),
        eventStore: () => (config.api?.event_store ? this.exporter(config.api.event_store)?.eventStore?.() : undefined),
        replayer: () => this.ruleReplayer(),
        ticketWebhook: (id) => this.exporters.get(id)?.ticketWebhook?.(),
        authenticator,
        logger: this.logger.child({ component: 'api' }),
        registry: this.metrics.registry,
      });
      await this.api.start(this.logger);
      await this.incidentDesk()?.serve?.();
    }
    this.started = true;
    this.logger.info(
      {
        receivers: [...this.receivers.keys()],
        exporters: [...this.exporters.keys()],
        connectors: [...this.connectors.keys()],
        pipelines: [...this.pipelines.keys()],
        http: this.listeners.addresses(),
        admin: this.admin.address,
        ...(this.api ? { api: this.api.address } : {}),
      },
      'Vigil started',
    );
  }

  /** Every component's own account of its health, and the service's: what /readyz and the gauge show. */
  componentHealth(): ComponentHealthEntry[] {
    const lifecycle = this.started
      ? HEALTHY
      : { status: 'failing' as const, reason: this.stopping ? 'shutting down' : 'starting' };
    const entries: ComponentHealthEntry[] = [
      { kind: 'service', id: 'lifecycle', health: lifecycle },
      {
        kind: 'service',
        id: 'listeners',
        health: this.listeners.allListening
          ? HEALTHY
          : { status: 'failing', reason: 'not every HTTP listener is bound' },
      },
      {
        kind: 'service',
        id: 'memory_limiter',
        health: this.memory.health(),
      },
    ];
    const add = (kind: string, components: Map<string, Receiver | Exporter | Connector | Extension>) => {
      for (const [id, c] of components) entries.push({ kind, id, health: c.health?.() ?? HEALTHY });
    };
    add('receiver', this.receivers);
    add('exporter', this.exporters);
    add('connector', this.connectors);
    add('extension', this.extensions);
    return entries;
  }

  /** For /readyz: ready unless a component is failing; a degraded one (say, shared state unreachable) still does its work. */
  readiness(): ReadinessReport {
    return readinessReport(this.componentHealth());
  }

  get httpAddresses(): { host: string; port: number }[] {
    return this.listeners.addresses();
  }

  get adminAddress(): { host: string; port: number } | undefined {
    return this.admin?.address;
  }

  get apiAddress(): { host: string; port: number } | undefined {
    return this.api?.address;
  }

  /** The correlation connector's incidents, for the operators' API. */
  incidentDesk(): IncidentDesk | undefined {
    for (const c of this.connectors.values()) {
      const desk = c.incidentDesk?.();
      if (desk) return desk;
    }
    return undefined;
  }

  /** The rules as last loaded (a reload swaps them), replayed as `vigil rules test` does. */
  private ruleReplayer(): RuleReplayer | undefined {
    const config = this.reloaded;
    const rules = config.correlation?.rules;
    if (!rules) return undefined;
    return {
      ruleNames: () => rules.map((r) => r.name),
      replay: async (text, afterMs, tenant) =>
        (await import('./rulesReplay.ts')).replayAsDaemon(config, this.registry, text, afterMs, this.dataDir, {
          tenant,
        }),
    };
  }

  /** The tickets the running ticket exporters made for an incident; an exporter whose ledger cannot answer now is left out. */
  private async ticketsOf(incident: Incident): Promise<TicketLink[]> {
    const found = await Promise.all(
      [...this.exporters.values()].map((e) =>
        e.ticketOf?.(incident).catch((err: unknown) => {
          this.logger.warn({ err, incident: incident.key }, "ticket ledger did not answer for the operators' API");
          return undefined;
        }),
      ),
    );
    return found.filter((t): t is TicketLink => t !== undefined);
  }

  receiver(id: string): Receiver | undefined {
    return this.receivers.get(id);
  }

  exporter(id: string): Exporter | undefined {
    return this.exporters.get(id);
  }

  /**
   * Swaps in the connector configs of a reloaded file (the correlation rules); rules that did
   * not change keep their state. The rest of the config needs a restart.
   */
  async reload(next: VigilConfig): Promise<void> {
    // Only the rules reload; the rest (processors, mappings) runs as started.
    this.reloaded = { ...this.config, connectors: next.connectors, correlation: next.correlation };
    for (const id of Object.keys(next.connectors)) {
      if (!this.connectors.has(id))
        this.logger.warn(
          { connector: id },
          'adding a connector (or the correlation: section) needs a restart; not reloaded',
        );
    }
    for (const [id, connector] of this.connectors) {
      const c = next.connectors[id];
      if (!c)
        this.logger.warn(
          { connector: id },
          'removing a connector (or the correlation: section) needs a restart; not reloaded',
        );
      else if (connector.reload) await connector.reload(c.config);
    }
  }

  /**
   * Orderly stop: refuse new work, drain every queue into the exporters, then close them.
   * Anything acknowledged to a sender before this call reaches the exporters.
   */
  async shutdown(): Promise<void> {
    this.started = false;
    this.stopping = true;
    this.logger.info('shutting down: closing receivers, draining queues');
    const timeout = this.config.service.shutdown_timeout;
    // Senders waiting on an exporter (acknowledge: exported) keep their requests open, so closing
    // the listeners counts against the same deadline as draining the queues. Pipelines drain
    // upstream first: draining one still feeds the connectors it exports to, and a connector
    // stops, handing over what it holds, once nothing feeds it any more.
    const drained = (async () => {
      // People's actions are changes too: none may start once the pipelines drain.
      await this.api?.stop();
      await this.listeners.closeAll();
      for (const [id, r] of this.receivers)
        await r.shutdown().catch((err) => this.logger.error({ err, receiver: id }, 'receiver shutdown failed'));
      const laterStages = [...this.stages];
      for (const stage of this.stages) {
        await Promise.all(stage.map((p) => p.drain()));
        laterStages.shift();
        for (const [id, c] of this.connectors) {
          const stillFed = laterStages.some((later) =>
            later.some((p) => this.config.service.pipelines[p.name]!.exporters.includes(id)),
          );
          if (stillFed || !this.startedSinks.delete(id)) continue;
          await c.shutdown().catch((err) => this.logger.error({ err, connector: id }, 'connector shutdown failed'));
        }
      }
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
      this.logger.error(
        { timeoutMs: timeout, queued: [...this.pipelines.values()].reduce((n, p) => n + p.queue.size, 0) },
        'queues did not drain before shutdown_timeout; exiting anyway',
      );
      // Whoever still waits was never told its data is safe: dropping the connection makes it retry elsewhere.
      this.listeners.forceCloseAll();
    }
    for (const p of [...this.processors.values()].flat())
      await p.shutdown?.().catch((err) => this.logger.error({ err }, 'processor shutdown failed'));
    for (const [id, e] of this.exporters) {
      if (this.startedSinks.has(id))
        await e.shutdown().catch((err) => this.logger.error({ err, exporter: id }, 'exporter shutdown failed'));
    }
    for (const [id, x] of [...this.extensions].toReversed())
      await x.shutdown().catch((err) => this.logger.error({ err, extension: id }, 'extension shutdown failed'));
    this.memory.stop();
    await this.admin?.stop();
    this.logger.info('Vigil stopped');
  }
}
