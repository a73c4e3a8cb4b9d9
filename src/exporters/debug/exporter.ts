import { inspect } from 'node:util';
import { literalUnion, obj, type Infer } from '../../config/schema.ts';
import type { CreateSettings, Exporter, ExporterFactory } from '../../pipeline/component.ts';
import type { Signal } from '../../pipeline/signals.ts';

export const debugExporterSchema = obj({
  verbosity: literalUnion(['basic', 'normal', 'detailed'], {
    default: 'basic',
    doc: 'basic: one line per batch; normal: one line per record; detailed: every field.',
  }),
});
export type DebugExporterConfig = Infer<typeof debugExporterSchema>;

/** Prints what passes through to stdout, like the OTel Collector's debug exporter. */
export class DebugExporter implements Exporter {
  private readonly settings: CreateSettings;
  private readonly config: DebugExporterConfig;
  private readonly out: NodeJS.WritableStream;

  constructor(settings: CreateSettings, config: DebugExporterConfig, out: NodeJS.WritableStream = process.stdout) {
    this.settings = settings;
    this.config = config;
    this.out = out;
  }

  async start(): Promise<void> {}
  async shutdown(): Promise<void> {}

  consumeLogs = (batch: unknown[]) => this.print('logs', batch);
  consumeMetrics = (batch: unknown[]) => this.print('metrics', batch);
  consumeTraces = (batch: unknown[]) => this.print('traces', batch);
  consumeIncidents = (batch: unknown[]) => this.print('incidents', batch);

  private async print(signal: Signal, batch: unknown[]): Promise<void> {
    let text = `${new Date().toISOString()} ${this.settings.id} ${signal}: ${batch.length} record(s)\n`;
    if (this.config.verbosity !== 'basic') {
      for (const rec of batch) {
        text +=
          this.config.verbosity === 'detailed'
            ? `${inspect(rec, { depth: 6, colors: false, breakLength: 120 })}\n`
            : `  ${summary(signal, rec)}\n`;
      }
    }
    this.out.write(text);
  }
}

function summary(signal: Signal, rec: unknown): string {
  const r = rec as Record<string, unknown>;
  switch (signal) {
    case 'logs':
      return `[${String(r.severityText || r.severityNumber)}] ${String(r.asset)} ${String(r.type)} ${String(r.title || r.body)}`;
    case 'metrics':
      return `${String(r.name)} ${String(r.kind)} ${String(r.value ?? r.count)}`;
    case 'traces':
      return `${String(r.name)} trace=${String(r.traceId)} status=${String(r.statusCode)}`;
    case 'incidents': {
      const inc = r.incident as Record<string, unknown>;
      return `${String(r.kind)} ${String(inc.key)} (${String(r.reason)})`;
    }
  }
}

export const debugExporterFactory: ExporterFactory<DebugExporterConfig> = {
  kind: 'exporter',
  type: 'debug',
  signals: ['logs', 'metrics', 'traces', 'incidents'],
  description: 'Prints records to stdout.',
  configSchema: debugExporterSchema,
  create: (settings, config) => new DebugExporter(settings, config),
};
