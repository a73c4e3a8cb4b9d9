import type { ExporterFactory } from '../../pipeline/component.ts';
import { clickhouseExporterSchema, type ClickHouseExporterConfig } from './config.ts';
import { ClickHouseExporter } from './exporter.ts';

export const clickhouseExporterFactory: ExporterFactory<ClickHouseExporterConfig> = {
  kind: 'exporter',
  type: 'clickhouse',
  signals: ['logs', 'metrics', 'traces', 'incidents'],
  description:
    "Stores events, metrics, spans and incidents in ClickHouse tables shaped like the OTel Collector exporter's: a server over HTTP(S), or embedded (chdb) under the data dir.",
  configSchema: clickhouseExporterSchema,
  create: (settings, config) => new ClickHouseExporter(settings, config),
};
