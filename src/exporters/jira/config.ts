import { list, literalUnion, obj, optional, record, refine, str, url, type Infer } from '../../config/schema.ts';
import { DEFAULT_DESCRIPTION, DEFAULT_TITLE, incidentExporterFields } from '../tickets/config.ts';

export const jiraExporterSchema = refine(
  obj({
    url: url({
      doc: 'Jira base URL: `https://<site>.atlassian.net` (Cloud) or `https://jira.example.com[/context]` (Data Center).',
    }),
    api_version: literalUnion(['3', '2'], {
      default: '3',
      doc: '`3` (Cloud: descriptions and comments in Atlassian Document Format) or `2` (Data Center: plain text).',
    }),
    email: optional(str({ nonEmpty: true, doc: 'Cloud: the account email, sent with `api_token` as Basic auth.' })),
    api_token: optional(str({ nonEmpty: true, doc: 'Cloud: an API token of that account.' })),
    token: optional(
      str({ nonEmpty: true, doc: 'Data Center: a personal access token, sent as `Authorization: Bearer`.' }),
    ),
    project: str({ nonEmpty: true, doc: 'Project key of new issues, e.g. `OPS`.' }),
    issue_type: str({ default: 'Task', doc: 'Issue type name of new issues.' }),
    labels: list(str({ pattern: /^\S+$/, patternHint: 'a label without spaces' }), {
      default: ['vigil'],
      doc: 'Labels of new issues; Vigil adds the incident marker label (`vigil-<hex>`) it searches for.',
    }),
    components: list(str(), { default: [], doc: 'Component names of new issues.' }),
    priorities: record(str(), {
      doc: 'Priority name by incident severity (TRACE, DEBUG, INFO, WARN, ERROR, FATAL), e.g. `{FATAL: Highest, ERROR: High}`; unmapped severities leave the project default.',
    }),
    resolve_transition: str({
      default: 'Done',
      doc: 'On resolve, the transition taken: matched by transition name or target status name, ignoring case.',
    }),
    reopen_transition: optional(
      str({ doc: 'On reopen, the transition taken (e.g. `To Do`); without it a reopen only adds a comment.' }),
    ),
    ...incidentExporterFields({ title: DEFAULT_TITLE, description: DEFAULT_DESCRIPTION }),
  }),
  (c) =>
    c.token || (c.email && c.api_token)
      ? undefined
      : { path: 'token', message: 'set email and api_token (Cloud) or token (Data Center)' },
  'Either `email` and `api_token` (Cloud) or `token` (Data Center).',
);

export type JiraExporterConfig = Infer<typeof jiraExporterSchema>;
