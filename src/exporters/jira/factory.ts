import type { ExporterFactory } from '../../pipeline/component.ts';
import { IncidentExporter, pollSync, type TicketSyncSettings } from '../tickets/incidentExporter.ts';
import { jiraExporterSchema, type JiraExporterConfig } from './config.ts';
import { JiraDriver } from './driver.ts';
import { JiraWebhookParser } from './webhook.ts';

/** `sync:` as the exporter runs it: a verified webhook receiver, or polling with the driver. */
export function jiraSync(config: JiraExporterConfig, driver: JiraDriver): TicketSyncSettings | undefined {
  const { sync } = config;
  if (sync.mode === 'webhook') return { mode: 'webhook', parser: new JiraWebhookParser(sync.secret!) };
  return sync.mode === 'poll' ? pollSync(driver, sync) : undefined;
}

export const jiraExporterFactory: ExporterFactory<JiraExporterConfig> = {
  kind: 'exporter',
  type: 'jira',
  signals: ['incidents'],
  description:
    'One Jira issue per incident: created on open, comments on updates, a transition on resolve (REST v3 Cloud or v2 Data Center); with `sync`, issues people move to done or in progress resolve or acknowledge their incident (signed webhooks or polling).',
  configSchema: jiraExporterSchema,
  create: (settings, config) => {
    const driver = new JiraDriver(config);
    return new IncidentExporter(settings, config, driver, { sync: jiraSync(config, driver) });
  },
};
