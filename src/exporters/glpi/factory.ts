import type { ExporterFactory } from '../../pipeline/component.ts';
import { IncidentExporter } from '../tickets/incidentExporter.ts';
import { glpiExporterSchema, type GlpiExporterConfig } from './config.ts';
import { GlpiDriver } from './driver.ts';

export const glpiExporterFactory: ExporterFactory<GlpiExporterConfig> = {
  kind: 'exporter',
  type: 'glpi',
  signals: ['incidents'],
  description:
    'One GLPI ticket per incident: created on open, follow-ups on updates, a solution on resolve (REST apirest.php).',
  configSchema: glpiExporterSchema,
  create: (settings, config) => new IncidentExporter(settings, config, new GlpiDriver(config)),
};
