import { obj } from '../config/schema.ts';
import { VigilError } from '../errors.ts';
import type { Exporter, ExporterFactory } from '../pipeline/component.ts';
import type { Host } from '../pipeline/host.ts';
import type { MetricPoint } from '../model/metric.ts';
import type { VigilEvent } from '../model/event.ts';
import type { CorrelationRuntime } from './runtime.ts';

/** The `correlation` exporter: where logs and metrics pipelines hand their records to the engine. */
class CorrelationExporter implements Exporter {
  private runtime: CorrelationRuntime | undefined;

  async start(host: Host): Promise<void> {
    if (!host.correlation) throw new VigilError('VIGIL_CORRELATION_MISSING', 'the correlation exporter needs a top-level correlation: section with rules');
    this.runtime = host.correlation;
  }

  consumeLogs(batch: VigilEvent[]): Promise<void> {
    return this.runtime!.consumeLogs(batch);
  }

  consumeMetrics(batch: MetricPoint[]): Promise<void> {
    return this.runtime!.consumeMetrics(batch);
  }

  async shutdown(): Promise<void> {}
}

export const correlationExporterFactory: ExporterFactory<Record<string, never>> = {
  kind: 'exporter',
  type: 'correlation',
  signals: ['logs', 'metrics'],
  description: 'Feeds events and metric points to the correlation engine (rules under the top-level `correlation:` section); its incident changes go to the `incidents` pipelines.',
  configSchema: obj({}) as never,
  create: () => new CorrelationExporter(),
};
