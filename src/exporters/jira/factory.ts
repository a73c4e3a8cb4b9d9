import type { ExporterFactory } from '../../pipeline/component.ts';
import { ticketLedgerRefs } from '../tickets/config.ts';
import { ticketExporterImplementation } from '../tickets/lazyImplementation.ts';
import { jiraExporterSchema, type JiraExporterConfig } from './config.ts';

const implementation = ticketExporterImplementation('jira', async () => ({
  ...(await import('./driver.ts')),
  ...(await import('./sync.ts')),
}));

export const jiraExporterFactory: ExporterFactory<JiraExporterConfig> = {
  kind: 'exporter',
  type: 'jira',
  signals: ['incidents'],
  description:
    'One Jira issue per incident: created on open, comments on updates, a transition on resolve (REST v3 Cloud or v2 Data Center); with `sync`, issues people move to done or in progress resolve or acknowledge their incident (signed webhooks or polling).',
  configSchema: jiraExporterSchema,
  extensionRefs: ticketLedgerRefs,
  load: implementation.load,
  create: (settings, config) => {
    const { IncidentExporter, JiraDriver, jiraSync } = implementation.get();
    const driver = new JiraDriver(config);
    return new IncidentExporter(settings, config, driver, { sync: jiraSync(config, driver) });
  },
};
