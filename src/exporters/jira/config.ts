import { list, literalUnion, obj, optional, record, refine, str, url, type Infer } from '../../config/schema.ts';
import { DEFAULT_DESCRIPTION, DEFAULT_TITLE, incidentExporterFields, pollFields } from '../tickets/config.ts';

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
    sync: obj(
      {
        mode: literalUnion(['off', 'webhook', 'poll'], {
          default: 'off',
          doc: "`webhook`: Jira calls Vigil's API listener at `/api/v1/webhooks/<exporter id>` (a Jira admin webhook on `jira:issue_updated` and `comment_created`, with `secret`); `poll`: Vigil reads the issues and their comments back every `interval`. A person's comment joins the incident's timeline. An issue a person moves to a done status resolves its incident, to an in-progress one acknowledges it. `off`: issues are only written.",
        }),
        secret: optional(
          str({
            nonEmpty: true,
            doc: "The webhook's secret, as set in Jira (System → WebHooks): Jira signs each body with it (HMAC-SHA256, `X-Hub-Signature: sha256=…`) and unsigned or wrongly signed calls are refused (401). Required with `mode: webhook`.",
          }),
        ),
        ...pollFields('the open issues of open incidents (GET issue/<key> with its changelog)'),
      },
      {
        doc: "Issues back to incidents. A status Vigil itself set (the `resolve_transition`'s, the `reopen_transition`'s) is never read back as a person's.",
      },
    ),
    ...incidentExporterFields({ title: DEFAULT_TITLE, description: DEFAULT_DESCRIPTION }),
  }),
  (c) => {
    if (!c.token && !(c.email && c.api_token))
      return { path: 'token', message: 'set email and api_token (Cloud) or token (Data Center)' };
    if (c.sync.mode === 'webhook' && !c.sync.secret)
      return { path: 'sync.secret', message: "set the webhook's secret: Vigil takes only signed webhooks" };
    return undefined;
  },
  'Either `email` and `api_token` (Cloud) or `token` (Data Center); `sync.secret` with `sync.mode: webhook`.',
);

export type JiraExporterConfig = Infer<typeof jiraExporterSchema>;
