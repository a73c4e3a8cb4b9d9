import { pollSync, type TicketSyncSettings } from '../tickets/incidentExporter.ts';
import type { JiraExporterConfig } from './config.ts';
import type { JiraDriver } from './driver.ts';
import { JiraWebhookParser } from './webhook.ts';

/** `sync:` as the exporter runs it: a verified webhook receiver, or polling with the driver. */
export function jiraSync(config: JiraExporterConfig, driver: JiraDriver): TicketSyncSettings | undefined {
  const { sync } = config;
  if (sync.mode === 'webhook') return { mode: 'webhook', parser: new JiraWebhookParser(sync.secret!) };
  return sync.mode === 'poll' ? pollSync(driver, sync) : undefined;
}
