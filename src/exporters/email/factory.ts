import type { ExporterFactory } from '../../pipeline/component.ts';
import { ticketLedgerRefs } from '../tickets/config.ts';
import { ticketExporterImplementation } from '../tickets/lazyImplementation.ts';
import { emailExporterSchema, type EmailExporterConfig } from './config.ts';

const implementation = ticketExporterImplementation('email', () => import('./driver.ts'));

export const emailExporterFactory: ExporterFactory<EmailExporterConfig> = {
  kind: 'exporter',
  type: 'email',
  signals: ['incidents'],
  description:
    'Mails every incident change over SMTP (STARTTLS, implicit TLS, AUTH), text and HTML from templates, threaded per incident under its first mail.',
  configSchema: emailExporterSchema,
  extensionRefs: ticketLedgerRefs,
  load: implementation.load,
  create: (settings, config) => {
    const { IncidentExporter, EmailDriver } = implementation.get();
    return new IncidentExporter(settings, config, new EmailDriver(config));
  },
};
