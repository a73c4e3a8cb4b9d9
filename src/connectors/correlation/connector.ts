import { validateCorrelation } from '../../correlation/configSection.ts';
import type { IncidentDesk } from '../../correlation/incidentActions.ts';
import type { TicketLedger } from '../../exporters/tickets/ledger.ts';
import type { MetricPoint } from '../../model/metric.ts';
import type { VigilEvent } from '../../model/event.ts';
import type { Connector, ConnectorFactory, CreateSettings } from '../../pipeline/component.ts';
import { HEALTHY, type ComponentHealth } from '../../pipeline/health.ts';
import type { Consumers } from '../../pipeline/signals.ts';
import { correlationConnectorSchema, type CorrelationConnectorConfig } from './config.ts';
import { lazyModule } from '../../pipeline/lazyModule.ts';
import type { CorrelationRuntime } from './runtime.ts';

// The engine, state stores (ioredis) and ledger load only when a config correlates.
const runtimeModule = lazyModule('the correlation connector', () => import('./runtime.ts'));

/**
 * The `correlation` connector: the exporter end of logs and metrics pipelines, whose records go
 * through the rules, and the receiver end of the `incidents` pipelines, which get the changes.
 */
class CorrelationConnector implements Connector {
  private readonly runtime: CorrelationRuntime;
  private started = false;

  constructor(settings: CreateSettings, config: CorrelationConnectorConfig, consumers: Consumers) {
    this.runtime = new (runtimeModule.get().CorrelationRuntime)(config, {
      logger: settings.logger,
      metrics: settings.metrics,
      output: () => consumers.incidents,
      dataDir: settings.dataDir,
    });
  }

  async start(): Promise<void> {
    await this.runtime.start();
    this.started = true;
  }

  /** The state store's: shared state out of reach leaves the connector degraded, correlating on local state. */
  health(): ComponentHealth {
    return this.started ? this.runtime.state.health() : HEALTHY;
  }

  consumeLogs(batch: VigilEvent[]): Promise<void> {
    return this.runtime.consumeLogs(batch);
  }

  consumeMetrics(batch: MetricPoint[]): Promise<void> {
    return this.runtime.consumeMetrics(batch);
  }

  reload(config: unknown): Promise<void> {
    return this.runtime.reload(config as CorrelationConnectorConfig);
  }

  incidentDesk(): IncidentDesk {
    return this.runtime;
  }

  ticketLedger(): TicketLedger | undefined {
    return this.runtime.state.ticketLedger();
  }

  /** Called once every pipeline feeding it has drained: hands over what it still holds. */
  shutdown(): Promise<void> {
    return this.runtime.stop();
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
  validate: validateCorrelation,
  shorthand: {
    section: 'correlation',
    title: 'Correlation (`correlation:`, or `connectors.correlation`; see docs/correlation.md)',
    whenSectionMissing: 'the correlation exporter needs a top-level correlation: section with rules',
  },
  load: runtimeModule.load,
  create: (settings, config, consumers) => new CorrelationConnector(settings, config, consumers),
};
