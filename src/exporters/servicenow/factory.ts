import type { ExporterFactory } from '../../pipeline/component.ts';
import { IncidentExporter } from '../tickets/incidentExporter.ts';
import { serviceNowExporterSchema, type ServiceNowExporterConfig } from './config.ts';
import { ServiceNowDriver } from './driver.ts';

export const serviceNowExporterFactory: ExporterFactory<ServiceNowExporterConfig> = {
  kind: 'exporter',
  type: 'servicenow',
  signals: ['incidents'],
  description:
    'One ServiceNow incident per incident (Table API): created with its correlation_id, work notes on updates, resolved with a close code and notes.',
  configSchema: serviceNowExporterSchema,
  create: (settings, config) => new IncidentExporter(settings, config, new ServiceNowDriver(config)),
};
