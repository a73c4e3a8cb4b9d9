import type { ExporterFactory } from '../../pipeline/component.ts';
import { ticketLedgerRefs } from '../tickets/config.ts';
import { ticketExporterImplementation } from '../tickets/lazyImplementation.ts';
import { webhookExporterSchema, type WebhookExporterConfig } from './config.ts';

const implementation = ticketExporterImplementation('webhook', () => import('./driver.ts'));

export const webhookExporterFactory: ExporterFactory<WebhookExporterConfig> = {
  kind: 'exporter',
  type: 'webhook',
  signals: ['incidents'],
  description:
    'Posts incident changes as signed JSON, Slack messages, Alertmanager (v4) webhooks or PagerDuty events, through a durable outbox.',
  configSchema: webhookExporterSchema,
  extensionRefs: ticketLedgerRefs,
  load: implementation.load,
  create: (settings, config) => {
    const { IncidentExporter, WebhookDriver } = implementation.get();
    return new IncidentExporter(settings, config, new WebhookDriver(config));
  },
};
