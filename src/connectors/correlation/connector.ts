import type { IncidentDesk } from '../../correlation/incidentActions.ts';
import type { MetricPoint } from '../../model/metric.ts';
import type { VigilEvent } from '../../model/event.ts';
import type { Connector, ConnectorFactory, CreateSettings } from '../../pipeline/component.ts';
import { HEALTHY, type ComponentHealth } from '../../pipeline/health.ts';
import type { Host } from '../../pipeline/host.ts';
import type { Consumers } from '../../pipeline/signals.ts';
import { correlationConnectorSchema, validateCorrelationConnector, type CorrelationConnectorConfig } from './config.ts';
import { lazyModule } from '../../pipeline/lazyModule.ts';

// The engine, state stores (ioredis) and ledger load only when a config correlates.
const runtimeModule = lazyModule('the correlation connector', () =>
  Promise.all([import('./runtime.ts'), import('./partitionRuntime.ts')]).then(([runtime, partitions]) => ({
    CorrelationRuntime: runtime.CorrelationRuntime,
    PartitionRuntime: partitions.PartitionRuntime,
  })),
);

/** What the connector needs of its runtime, whichever way the state is shared. */
type Runtime = IncidentDesk & {
  readonly state: { health(): ComponentHealth };
  start(): Promise<void>;
  consumeLogs(batch: VigilEvent[]): Promise<void>;
  consumeMetrics(batch: MetricPoint[]): Promise<void>;
  reload(config: CorrelationConnectorConfig): Promise<void>;
  stop(): Promise<void>;
};

/**
 * The `correlation` connector: the exporter end of logs and metrics pipelines, whose records go
 * through the rules, and the receiver end of the `incidents` pipelines, which get the changes.
 */
class CorrelationConnector implements Connector {
  private readonly settings: CreateSettings;
  private readonly config: CorrelationConnectorConfig;
  private readonly consumers: Consumers;
  /** Made at start, once the redis_state extension that may keep its state can be looked up. */
  private runtime: Runtime | undefined;
  private started = false;

  constructor(settings: CreateSettings, config: CorrelationConnectorConfig, consumers: Consumers) {
    this.settings = settings;
    this.config = config;
    this.consumers = consumers;
  }

  async start(host: Host): Promise<void> {
    const { settings, config, consumers } = this;
    const extension = config.state.extension;
    const { CorrelationRuntime, PartitionRuntime } = runtimeModule.get();
    const Made = config.state.sharing === 'partitions' ? PartitionRuntime : CorrelationRuntime;
    this.runtime = new Made(config, {
      logger: settings.logger,
      metrics: settings.metrics,
      output: () => consumers.incidents,
      dataDir: settings.dataDir,
      ...(extension !== undefined ? { redis: host.redisState(extension) } : {}),
    });
    await this.runtime.start();
    this.started = true;
  }

  /** The state store's: shared state out of reach leaves the connector degraded, correlating on local state. */
  health(): ComponentHealth {
    return this.started ? this.running.state.health() : HEALTHY;
  }

  private get running(): Runtime {
    if (!this.runtime) throw new Error('the correlation connector was used before it started');
    return this.runtime;
  }

  consumeLogs(batch: VigilEvent[]): Promise<void> {
    return this.running.consumeLogs(batch);
  }

  consumeMetrics(batch: MetricPoint[]): Promise<void> {
    return this.running.consumeMetrics(batch);
  }

  reload(config: unknown): Promise<void> {
    return this.running.reload(config as CorrelationConnectorConfig);
  }

  incidentDesk(): IncidentDesk | undefined {
    return this.runtime;
  }

  /** Called once every pipeline feeding it has drained: hands over what it still holds. */
  async shutdown(): Promise<void> {
    await this.runtime?.stop();
  }
}

export const correlationConnectorFactory: ConnectorFactory<CorrelationConnectorConfig> = {
  kind: 'connector',
  type: 'correlation',
  signals: ['logs', 'metrics'],
  emits: ['incidents'],
  description:
    'Runs events and metric points through the correlation rules; the incident changes go to the `incidents` pipelines that list it as a receiver.',
  configSchema: correlationConnectorSchema,
  validate: validateCorrelationConnector,
  extensionRefs: (config) =>
    config.state.extension === undefined
      ? []
      : [{ id: config.state.extension, capability: 'redis_state', path: 'state.extension' }],
  shorthand: {
    section: 'correlation',
    title: 'Correlation (`correlation:`, or `connectors.correlation`; see docs/correlation.md)',
    whenSectionMissing: 'the correlation exporter needs a top-level correlation: section with rules',
  },
  load: runtimeModule.load,
  create: (settings, config, consumers) => new CorrelationConnector(settings, config, consumers),
};
