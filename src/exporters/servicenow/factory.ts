import type { ExporterFactory } from '../../pipeline/component.ts';
import { ticketLedgerRefs } from '../tickets/config.ts';
import { ticketExporterImplementation } from '../tickets/lazyImplementation.ts';
import { serviceNowExporterSchema, type ServiceNowExporterConfig } from './config.ts';

const implementation = ticketExporterImplementation('servicenow', () => import('./driver.ts'));

export const serviceNowExporterFactory: ExporterFactory<ServiceNowExporterConfig> = {
  kind: 'exporter',
  type: 'servicenow',
  signals: ['incidents'],
  description:
    'One ServiceNow incident per incident (Table API): created with its correlation_id, work notes on updates, resolved with a close code and notes; with `sync`, incidents people resolve or take in ServiceNow resolve or acknowledge their incident, and their work notes join its timeline.',
  configSchema: serviceNowExporterSchema,
  extensionRefs: ticketLedgerRefs,
  load: implementation.load,
  create: (settings, config) => {
    const { IncidentExporter, ServiceNowDriver, pollSync } = implementation.get();
    const driver = new ServiceNowDriver(config);
    return new IncidentExporter(settings, config, driver, {
      sync: config.sync.mode === 'poll' ? pollSync(driver, config.sync) : undefined,
    });
  },
};
