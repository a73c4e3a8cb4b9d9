import type { ExporterFactory } from '../../pipeline/component.ts';
import { IncidentExporter } from '../tickets/incidentExporter.ts';
import { webhookExporterSchema, type WebhookExporterConfig } from './config.ts';
import { WebhookDriver } from './driver.ts';

export const webhookExporterFactory: ExporterFactory<WebhookExporterConfig> = {
  kind: 'exporter',
  type: 'webhook',
  signals: ['incidents'],
  description:
    'Posts incident changes as signed JSON, Slack messages, Alertmanager (v4) webhooks or PagerDuty events, through a durable outbox.',
  configSchema: webhookExporterSchema,
  create: (settings, config) => new IncidentExporter(settings, config, new WebhookDriver(config)),
};
