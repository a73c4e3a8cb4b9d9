import type { ExporterFactory } from '../../pipeline/component.ts';
import { ticketLedgerRefs } from '../tickets/config.ts';
import { ticketExporterImplementation } from '../tickets/lazyImplementation.ts';
import { smsExporterSchema, type SmsExporterConfig } from './config.ts';

const implementation = ticketExporterImplementation('sms', () => import('./driver.ts'));

/** An SMS has one text: it is both the headline and the body the incident exporter renders. */
export function smsIncidentConfig(config: SmsExporterConfig) {
  return { ...config, title: config.message, description: config.message };
}

export const smsExporterFactory: ExporterFactory<SmsExporterConfig> = {
  kind: 'exporter',
  type: 'sms',
  signals: ['incidents'],
  description:
    'Texts every incident change to phones through Twilio or any HTTP SMS gateway, cut to a segment budget and rate-limited per recipient.',
  configSchema: smsExporterSchema,
  extensionRefs: ticketLedgerRefs,
  load: implementation.load,
  create: (settings, config) => {
    const { IncidentExporter, SmsDriver } = implementation.get();
    return new IncidentExporter(
      settings,
      smsIncidentConfig(config),
      new SmsDriver(config, { exporterId: settings.id, registry: settings.metrics.registry }),
    );
  },
};
