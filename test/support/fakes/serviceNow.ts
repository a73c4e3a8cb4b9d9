import { randomBytes } from 'node:crypto';
import { FakeHttpServer, parseJsonBody, type RecordedRequest, type Reply } from './server.ts';

/** An incident row as the Table API returns it: every value a string. */
export type SnIncident = Record<string, string> & { sys_id: string; number: string; state: string };

/** A `sys_journal_field` row: one entry of a journal field (work notes, additional comments) of a record. */
export interface SnJournalEntry {
  sys_id: string;
  name: string;
  element: 'work_notes' | 'comments';
  element_id: string;
  value: string;
  sys_created_by: string;
  sys_created_on: string;
}

/** A `sys_user` row. */
export interface SnUser {
  sys_id: string;
  user_name: string;
  name: string;
}

const failure = (status: number, message: string, detail: string | null = null): Reply => ({
  status,
  body: { error: { message, detail }, status: 'failure' },
});

const NOT_AUTHENTICATED = () => failure(401, 'User Not Authenticated', 'Required to provide Auth information');
const NO_RECORD = () => failure(404, 'No Record found', "Record doesn't exist or ACL restricts the record retrieval");

/** The columns this fake knows; the Table API ignores others on write, and refuses them in a query. */
const COLUMNS = new Set([
  'sys_id',
  'number',
  'state',
  'active',
  'short_description',
  'description',
  'urgency',
  'impact',
  'priority',
  'caller_id',
  'assignment_group',
  'category',
  'subcategory',
  'contact_type',
  'cmdb_ci',
  'correlation_id',
  'correlation_display',
  'close_code',
  'close_notes',
  'work_notes',
  'comments',
  'sys_created_on',
  'sys_created_by',
  'sys_updated_by',
  'resolved_by',
  'reopen_count',
]);
const JOURNAL_COLUMNS = new Set([
  'sys_id',
  'name',
  'element',
  'element_id',
  'value',
  'sys_created_by',
  'sys_created_on',
]);
const USER_COLUMNS = new Set(['sys_id', 'user_name', 'name']);
/** Written by the system only: a write of them is ignored, as for any read-only field. */
const SYSTEM_FIELDS = [
  'sys_id',
  'number',
  'sys_created_on',
  'sys_created_by',
  'sys_updated_by',
  'resolved_by',
  'priority',
  'active',
];
const REFERENCES = new Set(['caller_id', 'assignment_group', 'cmdb_ci', 'resolved_by']);
const STATE_LABELS: Record<string, string> = {
  '1': 'New',
  '2': 'In Progress',
  '3': 'On Hold',
  '6': 'Resolved',
  '7': 'Closed',
  '8': 'Canceled',
};
const STATES = new Set(Object.keys(STATE_LABELS));

/** Priority from impact and urgency, as the base system's priority lookup rules compute it. */
function priority(impact: string, urgency: string): string {
  return String(Math.min(5, Number(impact) + Number(urgency) - 1));
}

/**
 * ServiceNow's Table API (`/api/now/table/incident`, `sys_journal_field`, `sys_user`) and OAuth
 * token endpoint (`/oauth_token.do`) as the public REST API reference describes them: Basic or
 * Bearer auth (a token acts as the OAuth application's user), `{"result": …}` bodies, string
 * values, 201 on insert, PATCH merging fields, `work_notes` and `comments` as journal entries
 * written by the session's user, `sys_created_by`/`sys_updated_by` as its `user_name`,
 * `{"error":{"message","detail"},"status":"failure"}` errors, `sysparm_query` encoded queries
 * (`field=v`, `!=`, `IN`, `NOT IN`, `^` for AND, `^OR` binding tighter, `ORDERBY`/`ORDERBYDESC`),
 * `sysparm_fields`, `sysparm_limit` and `sysparm_display_value=all` (`{display_value, value}`,
 * reference links unless `sysparm_exclude_reference_link`), and the base system's rules: the
 * Resolved state needs a close code and close notes (a data policy, 403) and sets `resolved_by`,
 * closed and canceled incidents cannot be updated (an ACL, 403).
 */
export class FakeServiceNow extends FakeHttpServer {
  readonly incidents = new Map<string, SnIncident>();
  /** Work notes by incident sys_id, as written (every author). */
  readonly workNotes = new Map<string, string[]>();
  readonly journal: SnJournalEntry[] = [];
  readonly users = new Map<string, SnUser>();
  /** Access tokens issued and not revoked. */
  readonly tokens = new Set<string>();
  /** Seconds the next tokens are valid for, as `expires_in` says. */
  tokenLifetimeSeconds = 1799;
  /** A user without the rights to write incidents: every insert and update is refused (403). */
  readOnly = false;
  /** Read ACLs the account lacks, by table (`sys_user`, `sys_journal_field`): reads answer 403. */
  readonly unreadable = new Set<string>();
  private seq = 10_000;
  private readonly basic: string;
  private readonly basicUser: string;
  private readonly client: { id: string; secret: string; user: string };

  constructor(
    opts: { username?: string; password?: string; clientId?: string; clientSecret?: string; oauthUser?: string } = {},
  ) {
    super((r) => this.answer(r));
    this.basicUser = opts.username ?? 'vigil.integration';
    this.basic = `Basic ${Buffer.from(`${this.basicUser}:${opts.password ?? 'secret'}`).toString('base64')}`;
    this.client = {
      id: opts.clientId ?? 'client-1',
      secret: opts.clientSecret ?? 'client-secret-1',
      user: opts.oauthUser ?? 'vigil.oauth',
    };
    this.addUser(this.basicUser, 'Vigil Integration');
    this.addUser(this.client.user, 'Vigil OAuth');
    this.addUser('beth.anglin', 'Beth Anglin');
    this.addUser('david.loo', 'David Loo');
  }

  addUser(userName: string, name: string): SnUser {
    const user = { sys_id: randomBytes(16).toString('hex'), user_name: userName, name };
    this.users.set(userName, user);
    return user;
  }

  /**
   * A person's edit in ServiceNow's form (`user_name`, e.g. `beth.anglin`): fields set as a PATCH
   * would, `work_notes` and `comments` to the journal in their name. Returns the Table API's answer.
   */
  personUpdates(userName: string, sysId: string, fields: Record<string, string>): Reply {
    const inc = this.incidents.get(sysId);
    if (!inc) return NO_RECORD();
    return this.modify(inc, fields, undefined, userName);
  }

  /** The journal entries of an incident's work notes and comments, oldest first. */
  journalOf(sysId: string): SnJournalEntry[] {
    return this.journal.filter((e) => e.element_id === sysId);
  }

  /** Revokes every access token, as an administrator or a token's early expiry does. */
  revokeTokens(): void {
    this.tokens.clear();
  }

  count(method: string, path: RegExp): number {
    return this.requests.filter((r) => r.method === method && path.test(r.path)).length;
  }

  /** The `user_name` the request is authenticated as. */
  private authenticated(r: RecordedRequest): string | undefined {
    const auth = r.headers.authorization ?? '';
    if (auth === this.basic) return this.basicUser;
    return auth.startsWith('Bearer ') && this.tokens.has(auth.slice(7)) ? this.client.user : undefined;
  }

  private answer(r: RecordedRequest): Reply {
    if (r.path === '/oauth_token.do')
      return r.method === 'POST' ? this.issueToken(r) : failure(405, 'Method not Supported');
    const user = this.authenticated(r);
    if (!user) return NOT_AUTHENTICATED();
    const m = /^\/api\/now(?:\/v[12])?\/table\/(\w+)(?:\/([^/]+))?$/.exec(r.path);
    if (m && m[1] !== 'incident' && !m[2] && r.method === 'GET') return this.readTable(m[1]!, r.query);
    if (m?.[1] !== 'incident') return failure(400, 'Requested URI does not represent any resource', r.path);
    const id = m[2] ? decodeURIComponent(m[2]) : undefined;
    const body = ['POST', 'PATCH', 'PUT'].includes(r.method)
      ? (parseJsonBody(r) as Record<string, unknown> | undefined)
      : undefined;
    if (body !== undefined || ['POST', 'PATCH', 'PUT'].includes(r.method)) {
      if (!(r.headers['content-type'] ?? '').startsWith('application/json'))
        return failure(
          415,
          'Unsupported Media Type',
          `Content-Type ${r.headers['content-type'] ?? '(none)'} is not supported`,
        );
      if (!body || typeof body !== 'object' || Array.isArray(body))
        return failure(400, 'Exception while reading request', 'The payload is not valid JSON.');
    }
    const fields = r.query.get('sysparm_fields')?.split(',').filter(Boolean);
    const show = (row: SnIncident) => this.shown(row, fields, r.query);
    if (!id && r.method === 'GET') return this.list([...this.incidents.values()], COLUMNS, r.query, show);
    if (!id && r.method === 'POST') return this.insert(body!, show, user);
    const inc = id ? this.incidents.get(id) : undefined;
    if (!inc) return NO_RECORD();
    if (r.method === 'GET') return { status: 200, body: { result: show(inc) } };
    if (r.method === 'PATCH' || r.method === 'PUT') return this.modify(inc, body!, show, user);
    return failure(405, 'Method not Supported', `${r.method} is not supported for this resource`);
  }

  private issueToken(r: RecordedRequest): Reply {
    if (!(r.headers['content-type'] ?? '').startsWith('application/x-www-form-urlencoded'))
      return { status: 400, body: { error_description: 'invalid request', error: 'invalid_request' } };
    const form = new URLSearchParams(r.body);
    if (form.get('grant_type') !== 'client_credentials')
      return { status: 400, body: { error_description: 'unsupported grant type', error: 'unsupported_grant_type' } };
    if (form.get('client_id') !== this.client.id || form.get('client_secret') !== this.client.secret)
      return { status: 401, body: { error_description: 'access_denied', error: 'server_error' } };
    const token = randomBytes(24).toString('base64url');
    this.tokens.add(token);
    return {
      status: 200,
      body: { access_token: token, scope: 'useraccount', token_type: 'Bearer', expires_in: this.tokenLifetimeSeconds },
    };
  }

  private project(row: Record<string, string>, fields: string[] | undefined): Record<string, string> {
    if (!fields) return { ...row };
    return Object.fromEntries(fields.map((f) => [f, row[f] ?? '']));
  }

  /** An incident as asked: its fields, each `{display_value, value}` with `sysparm_display_value=all`. */
  private shown(inc: SnIncident, fields: string[] | undefined, q: URLSearchParams): Record<string, unknown> {
    const row = this.project(inc, fields);
    if (q.get('sysparm_display_value') !== 'all') return row;
    const withLinks = q.get('sysparm_exclude_reference_link') !== 'true';
    return Object.fromEntries(
      Object.entries(row).map(([f, value]) => {
        const display =
          f === 'state'
            ? STATE_LABELS[value]
            : f === 'resolved_by'
              ? [...this.users.values()].find((u) => u.sys_id === value)?.name
              : value;
        const link = withLinks && REFERENCES.has(f) && value ? { link: `${this.url}/api/now/table/x/${value}` } : {};
        return [f, { display_value: display ?? '', value, ...link }];
      }),
    );
  }

  /** `sys_journal_field` and `sys_user`, read-only here. */
  private readTable(table: string, q: URLSearchParams): Reply {
    if (this.unreadable.has(table))
      return failure(403, 'Operation Failed', 'ACL Exception Read Failed due to security constraints');
    const fields = q.get('sysparm_fields')?.split(',').filter(Boolean);
    const show = (row: Record<string, string>) => this.project(row, fields);
    if (table === 'sys_journal_field')
      return this.list(this.journal as unknown as Record<string, string>[], JOURNAL_COLUMNS, q, show);
    if (table === 'sys_user')
      return this.list([...this.users.values()] as unknown as Record<string, string>[], USER_COLUMNS, q, show);
    return failure(400, 'Invalid table', `Invalid table ${table}`);
  }

  /** An encoded query's rows: `^` ANDs terms, `^OR` ORs a term with the one before it. */
  private list<R extends Record<string, string>>(
    all: R[],
    columns: Set<string>,
    q: URLSearchParams,
    show: (row: R) => Record<string, unknown>,
  ): Reply {
    let rows = all;
    let order: { field: string; desc: boolean } | undefined;
    const clauses: ((row: R) => boolean)[][] = [];
    for (const raw of (q.get('sysparm_query') ?? '').split('^').filter(Boolean)) {
      const o = /^ORDERBY(DESC)?(\w+)$/.exec(raw);
      if (o) {
        order = { field: o[2]!, desc: o[1] === 'DESC' };
        continue;
      }
      const or = raw.startsWith('OR') && clauses.length > 0;
      const term = or ? raw.slice(2) : raw;
      const t = /^(\w+)(NOT IN|IN|!=|=)(.*)$/.exec(term);
      if (!t || !columns.has(t[1]!)) return failure(400, 'Invalid query', `Unsupported or unknown query term: ${raw}`);
      const [, field, op, value] = t as unknown as [string, string, string, string];
      const test = (row: R) =>
        op === '=' || op === '!=' ? (row[field] ?? '') === value : value.split(',').includes(row[field] ?? '');
      const pred = (row: R) => (op === '=' || op === 'IN' ? test(row) : !test(row));
      if (or) clauses.at(-1)!.push(pred);
      else clauses.push([pred]);
    }
    rows = rows.filter((row) => clauses.every((any) => any.some((p) => p(row))));
    if (order) rows.sort((a, b) => (a[order.field] ?? '').localeCompare(b[order.field] ?? '') * (order.desc ? -1 : 1));
    const limit = Number(q.get('sysparm_limit') ?? '10000');
    return { status: 200, body: { result: rows.slice(0, limit).map(show) } };
  }

  private insert(body: Record<string, unknown>, show: (row: SnIncident) => object, user: string): Reply {
    if (this.readOnly)
      return failure(403, 'Operation Failed', 'ACL Exception Insert Failed due to security constraints');
    const n = ++this.seq;
    const inc: SnIncident = {
      sys_id: randomBytes(16).toString('hex'),
      number: `INC00${n}`,
      state: '1',
      active: 'true',
      urgency: '3',
      impact: '3',
      sys_created_on: this.timestamp(),
      sys_created_by: user,
      sys_updated_by: user,
      reopen_count: '0',
    };
    const refused = this.apply(inc, body, user);
    if (refused) return refused;
    this.incidents.set(inc.sys_id, inc);
    return {
      status: 201,
      headers: { location: `${this.url}/api/now/table/incident/${inc.sys_id}` },
      body: { result: show(inc) },
    };
  }

  /** Each write a second after the one before: journal entries sort by it. */
  private timestamp(): string {
    return new Date(Date.UTC(2026, 0, 1) + ++this.seq * 1000).toISOString().replace('T', ' ').slice(0, 19);
  }

  private modify(
    inc: SnIncident,
    body: Record<string, unknown>,
    show: ((row: SnIncident) => object) | undefined,
    user: string,
  ): Reply {
    if (this.readOnly || inc.state === '7' || inc.state === '8')
      return failure(403, 'Operation Failed', 'ACL Exception Update Failed due to security constraints');
    const copy: SnIncident = { ...inc, sys_updated_by: user };
    const refused = this.apply(copy, body, user);
    if (refused) return refused;
    if (inc.state === '6' && copy.state !== '6' && copy.state !== '7')
      copy.reopen_count = String(Number(copy.reopen_count) + 1);
    // The base system's incident rules: resolving records who resolved; reopening clears it.
    if (copy.state === '6' && inc.state !== '6') copy.resolved_by = this.users.get(user)?.sys_id ?? '';
    if (Number(copy.state) < 6) copy.resolved_by = '';
    Object.assign(inc, copy);
    return { status: 200, body: { result: show ? show(inc) : { ...inc } } };
  }

  /** Writes the known columns (string values; work notes go to the journal); returns a refusal when a rule is broken. */
  private apply(inc: SnIncident, body: Record<string, unknown>, user: string): Reply | undefined {
    const notes: [SnJournalEntry['element'], string][] = [];
    for (const [k, v] of Object.entries(body)) {
      if (!COLUMNS.has(k) || SYSTEM_FIELDS.includes(k)) continue;
      const s = typeof v === 'string' ? v : typeof v === 'number' ? String(v) : JSON.stringify(v);
      if (k === 'work_notes' || k === 'comments') {
        if (s.trim()) notes.push([k, s]);
      } else inc[k] = s;
    }
    if (!STATES.has(inc.state)) return failure(400, 'Invalid state', `${inc.state} is not a valid incident state`);
    const urgency = inc.urgency ?? '3';
    const impact = inc.impact ?? '3';
    if (!['1', '2', '3'].includes(urgency) || !['1', '2', '3'].includes(impact))
      return failure(400, 'Invalid value', 'urgency and impact are 1, 2 or 3');
    if (!inc.short_description)
      return failure(
        403,
        'Operation Failed',
        'Data Policy Exception: \n The following fields are mandatory: Short description\n',
      );
    if (inc.state === '6' && (!inc.close_code || !inc.close_notes))
      return failure(
        403,
        'Operation Failed',
        'Data Policy Exception: \n The following fields are mandatory: Resolution code, Resolution notes\n',
      );
    // task.short_description is 160 characters: longer values are cut by the database.
    inc.short_description = [...inc.short_description].slice(0, 160).join('');
    inc.priority = priority(impact, urgency);
    inc.active = inc.state === '7' || inc.state === '8' ? 'false' : 'true';
    for (const [element, value] of notes) {
      this.journal.push({
        sys_id: randomBytes(16).toString('hex'),
        name: 'incident',
        element,
        element_id: inc.sys_id,
        value,
        sys_created_by: user,
        sys_created_on: this.timestamp(),
      });
      if (element === 'work_notes') this.workNotes.set(inc.sys_id, [...(this.workNotes.get(inc.sys_id) ?? []), value]);
    }
    return undefined;
  }
}
