import type { ExporterFactory } from '../../pipeline/component.ts';
import { fileExporterSchema, type FileExporterConfig } from './config.ts';
import { FileExporter } from './exporter.ts';

export const fileExporterFactory: ExporterFactory<FileExporterConfig> = {
  kind: 'exporter',
  type: 'file',
  signals: ['logs', 'metrics', 'traces', 'incidents'],
  description: 'Appends records to a file as NDJSON, rotating by size.',
  configSchema: fileExporterSchema,
  create: (settings, config) => new FileExporter(settings, config),
};
