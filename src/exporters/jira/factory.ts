import type { ExporterFactory } from '../../pipeline/component.ts';
import { IncidentExporter } from '../tickets/incidentExporter.ts';
import { jiraExporterSchema, type JiraExporterConfig } from './config.ts';
import { JiraDriver } from './driver.ts';

export const jiraExporterFactory: ExporterFactory<JiraExporterConfig> = {
  kind: 'exporter',
  type: 'jira',
  signals: ['incidents'],
  description:
    'One Jira issue per incident: created on open, comments on updates, a transition on resolve (REST v3 Cloud or v2 Data Center).',
  configSchema: jiraExporterSchema,
  create: (settings, config) => new IncidentExporter(settings, config, new JiraDriver(config)),
};
