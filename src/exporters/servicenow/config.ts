import { int, literalUnion, obj, optional, record, refine, str, url, type Infer } from '../../config/schema.ts';
import { DEFAULT_DESCRIPTION, DEFAULT_TITLE, incidentExporterFields, pollFields } from '../tickets/config.ts';

/** ServiceNow's urgency and impact choices: 1 High, 2 Medium, 3 Low; priority is computed from both. */
const level = (doc: string, def: Record<string, number>) => record(int({ min: 1, max: 3 }), { default: def, doc });

export const serviceNowExporterSchema = refine(
  obj({
    url: url({ doc: 'The instance URL, e.g. `https://acme.service-now.com`.' }),
    username: optional(
      str({
        nonEmpty: true,
        doc: 'Basic auth: a user with the `itil` role (or `sn_incident_write`). Or `client_id` + `client_secret`.',
      }),
    ),
    password: optional(str({ doc: 'Basic auth: its password.' })),
    client_id: optional(
      str({
        nonEmpty: true,
        doc: 'OAuth client credentials: the client id of an OAuth application registry entry; Vigil gets a token from `/oauth_token.do`, keeps it until it expires and gets a new one once on a 401.',
      }),
    ),
    client_secret: optional(str({ nonEmpty: true, doc: 'OAuth client credentials: the client secret.' })),
    caller_id: optional(
      str({ nonEmpty: true, doc: '`caller_id` of new incidents: the sys_id of a user (e.g. the integration user).' }),
    ),
    assignment_group: optional(
      str({ nonEmpty: true, doc: '`assignment_group` of new incidents: the sys_id of a group.' }),
    ),
    category: optional(
      str({ nonEmpty: true, doc: '`category` of new incidents (a choice value, e.g. `network`, `software`).' }),
    ),
    subcategory: optional(str({ nonEmpty: true, doc: '`subcategory` of new incidents.' })),
    fields: record(str(), {
      doc: 'More fields of new incidents, by column name, e.g. `{contact_type: monitoring, cmdb_ci: <sys_id>}`.',
    }),
    urgency: level(
      'Urgency (1 High, 2 Medium, 3 Low) by incident severity (TRACE, DEBUG, INFO, WARN, ERROR, FATAL); others get 3.',
      { FATAL: 1, ERROR: 1, WARN: 2, INFO: 3, DEBUG: 3, TRACE: 3 },
    ),
    impact: level(
      'Impact (1 High, 2 Medium, 3 Low) by incident severity; others get 3. ServiceNow computes the priority from urgency and impact.',
      { FATAL: 1, ERROR: 2, WARN: 2, INFO: 3, DEBUG: 3, TRACE: 3 },
    ),
    close_code: str({
      default: 'Solution provided',
      doc: "`close_code` (Resolution code) set on resolve; a value of the instance's choice list (older instances: `Solved (Permanently)`).",
    }),
    reopen_state: int({
      default: 2,
      min: 1,
      max: 3,
      doc: '`state` a resolved incident is set back to when its incident reopens: 1 New, 2 In Progress, 3 On Hold.',
    }),
    sync: obj(
      {
        mode: literalUnion(['off', 'poll'], {
          default: 'off',
          doc: "`poll`: incidents a person resolves, closes or cancels in ServiceNow resolve their incident, incidents set to In Progress acknowledge it, and people's work notes and additional comments join their incident's timeline as comments. `off`: incidents are only written.",
        }),
        ...pollFields(
          'the open ServiceNow incidents of open incidents (`GET incident/<sys_id>`, and their journal in `sys_journal_field`: the account needs read access to both, and to `sys_user` to name people)',
        ),
      },
      {
        doc: "ServiceNow incidents back to incidents. A state Vigil itself set (Resolved on resolve, `reopen_state` on reopen) and journal entries written by the account Vigil authenticates as (`sys_created_by`: `username`, or with OAuth the user the token acts as) are never read back as a person's.",
      },
    ),
    ...incidentExporterFields({ title: DEFAULT_TITLE, description: DEFAULT_DESCRIPTION }),
  }),
  (c) => {
    if (c.client_id && !c.client_secret) return { path: 'client_secret', message: 'is required with client_id' };
    if (c.client_id && c.username)
      return { path: 'client_id', message: 'set username and password, or client_id and client_secret, not both' };
    return c.username || c.client_id
      ? undefined
      : {
          path: 'username',
          message: 'set username and password (basic auth), or client_id and client_secret (OAuth client credentials)',
        };
  },
  'Either `username` and `password`, or `client_id` and `client_secret`, not both.',
);

export type ServiceNowExporterConfig = Infer<typeof serviceNowExporterSchema>;
