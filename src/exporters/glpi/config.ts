import { int, literalUnion, obj, optional, record, refine, str, url, type Infer } from '../../config/schema.ts';
import { DEFAULT_DESCRIPTION, DEFAULT_TITLE, incidentExporterFields, pollFields } from '../tickets/config.ts';

const level = (doc: string, def: Record<string, number>) => record(int({ min: 1, max: 5 }), { default: def, doc });

export const glpiExporterSchema = refine(
  obj({
    url: url({
      doc: 'The legacy REST API root, ending in `apirest.php` (GLPI 9.5, 10 and 11), e.g. `https://glpi.example.com/apirest.php`.',
    }),
    app_token: optional(str({ nonEmpty: true, doc: "The API client's App-Token, when the client has one." })),
    user_token: optional(
      str({
        nonEmpty: true,
        doc: "The API user's token (Preferences → Remote access keys). Or `username` + `password`.",
      }),
    ),
    username: optional(
      str({ nonEmpty: true, doc: 'Login for Basic auth, when credentials login is enabled for the API.' }),
    ),
    password: optional(str({ doc: 'Password for Basic auth.' })),
    entity_id: optional(int({ min: 0, doc: "Entity of new tickets; default: the API user's active entity." })),
    category_id: optional(int({ min: 0, doc: 'ITIL category (`itilcategories_id`) of new tickets.' })),
    requester_id: optional(int({ min: 0, doc: 'User id set as requester of new tickets.' })),
    assign_group_id: optional(int({ min: 0, doc: 'Group id assigned to new tickets.' })),
    ticket_type: int({ default: 1, min: 1, max: 2, doc: '1 incident, 2 request.' }),
    urgency: level(
      'Urgency (1 very low … 5 very high) by incident severity (TRACE, DEBUG, INFO, WARN, ERROR, FATAL); others get 3.',
      { FATAL: 5, ERROR: 4, WARN: 3, INFO: 2, DEBUG: 1, TRACE: 1 },
    ),
    impact: level(
      'Impact (1 … 5) by incident severity; others get 3. GLPI computes the priority from urgency and impact.',
      { FATAL: 4, ERROR: 3, WARN: 3, INFO: 2, DEBUG: 1, TRACE: 1 },
    ),
    solution_type_id: int({
      default: 0,
      min: 0,
      doc: '`solutiontypes_id` of the solution added on resolve (0: none).',
    }),
    reopen_status: int({
      default: 2,
      min: 1,
      max: 4,
      doc: 'Status a solved ticket is set back to when its incident reopens (2 = processing, assigned).',
    }),
    sync: obj(
      {
        mode: literalUnion(['off', 'poll'], {
          default: 'off',
          doc: "`poll`: tickets a person solves or closes resolve their incident, tickets set to processing (assigned or planned) acknowledge it, and people's follow-ups join their incident's timeline as comments. `off`: tickets are only written.",
        }),
        ...pollFields('the open tickets of open incidents (GET Ticket/<id>, the API user needs read rights on them)'),
      },
      {
        doc: "Tickets back to incidents. A status Vigil itself set (solved on resolve, `reopen_status` on reopen, assigned on create when `assign_group_id` is set) is never read back as a person's.",
      },
    ),
    ...incidentExporterFields({ title: DEFAULT_TITLE, description: DEFAULT_DESCRIPTION }),
  }),
  (c) =>
    c.user_token || c.username
      ? undefined
      : { path: 'user_token', message: 'set user_token, or username and password' },
  'Either `user_token`, or `username` and `password`.',
);

export type GlpiExporterConfig = Infer<typeof glpiExporterSchema>;
