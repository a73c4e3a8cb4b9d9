import type { ExporterFactory } from '../../pipeline/component.ts';
import { ticketLedgerRefs } from '../tickets/config.ts';
import { ticketExporterImplementation } from '../tickets/lazyImplementation.ts';
import { glpiExporterSchema, type GlpiExporterConfig } from './config.ts';

const implementation = ticketExporterImplementation('glpi', () => import('./driver.ts'));

export const glpiExporterFactory: ExporterFactory<GlpiExporterConfig> = {
  kind: 'exporter',
  type: 'glpi',
  signals: ['incidents'],
  description:
    'One GLPI ticket per incident: created on open, follow-ups on updates, a solution on resolve (REST apirest.php); with `sync`, tickets people solve or take resolve or acknowledge their incident.',
  configSchema: glpiExporterSchema,
  extensionRefs: ticketLedgerRefs,
  load: implementation.load,
  create: (settings, config) => {
    const { IncidentExporter, GlpiDriver, pollSync } = implementation.get();
    const driver = new GlpiDriver(config);
    return new IncidentExporter(settings, config, driver, {
      sync: config.sync.mode === 'poll' ? pollSync(driver, config.sync) : undefined,
    });
  },
};
