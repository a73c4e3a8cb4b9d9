import type { ExporterFactory } from '../../pipeline/component.ts';
import { lazyModule } from '../../pipeline/lazyModule.ts';
import { clickhouseExporterSchema, type ClickHouseExporterConfig } from './config.ts';

// Loaded when a config uses it, with @clickhouse/client.
const implementation = lazyModule('the clickhouse exporter', () => import('./exporter.ts'));

/** Whether the optional chdb package can be imported, found without loading it. */
function chdbInstalled(): boolean {
  try {
    import.meta.resolve('chdb');
    return true;
  } catch {
    return false;
  }
}

export const clickhouseExporterFactory: ExporterFactory<ClickHouseExporterConfig> = {
  kind: 'exporter',
  type: 'clickhouse',
  signals: ['logs', 'metrics', 'traces', 'incidents'],
  description:
    "Stores events, metrics, spans and incidents in ClickHouse tables shaped like the OTel Collector exporter's: a server over HTTP(S), or embedded (chdb) under the data dir.",
  configSchema: clickhouseExporterSchema,
  validate: (config, path) =>
    config.endpoint === undefined && !chdbInstalled()
      ? [
          {
            path: `${path}.endpoint`,
            message:
              'is not set, so ClickHouse would be embedded, but the optional "chdb" package is not installed (an install with --omit=optional leaves it out): set endpoint to a ClickHouse server, or install chdb (npm install chdb; Linux x64/arm64 glibc or macOS)',
          },
        ]
      : [],
  load: implementation.load,
  create: (settings, config) => new (implementation.get().ClickHouseExporter)(settings, config),
};
