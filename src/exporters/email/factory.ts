import type { ExporterFactory } from '../../pipeline/component.ts';
import { IncidentExporter } from '../tickets/incidentExporter.ts';
import { emailExporterSchema, type EmailExporterConfig } from './config.ts';
import { EmailDriver } from './driver.ts';

export const emailExporterFactory: ExporterFactory<EmailExporterConfig> = {
  kind: 'exporter',
  type: 'email',
  signals: ['incidents'],
  description:
    'Mails every incident change over SMTP (STARTTLS, implicit TLS, AUTH), text and HTML from templates, threaded per incident under its first mail.',
  configSchema: emailExporterSchema,
  create: (settings, config) => new IncidentExporter(settings, config, new EmailDriver(config)),
};
