import { randomBytes } from 'node:crypto';
import { FakeHttpServer, parseJsonBody, type RecordedRequest, type Reply } from './server.ts';

/** An incident row as the Table API returns it: every value a string. */
export type SnIncident = Record<string, string> & { sys_id: string; number: string; state: string };

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
  'sys_created_on',
  'reopen_count',
]);
const STATES = new Set(['1', '2', '3', '6', '7', '8']);

/** Priority from impact and urgency, as the base system's priority lookup rules compute it. */
function priority(impact: string, urgency: string): string {
  return String(Math.min(5, Number(impact) + Number(urgency) - 1));
}

/**
 * ServiceNow's Table API (`/api/now/table/incident`) and OAuth token endpoint (`/oauth_token.do`)
 * as the public REST API reference describes them: Basic or Bearer auth, `{"result": …}` bodies,
 * string values, 201 on insert, PATCH merging fields, `work_notes` as a journal,
 * `{"error":{"message","detail"},"status":"failure"}` errors, `sysparm_query` encoded queries
 * (`field=v`, `!=`, `IN`, `NOT IN`, `^` for AND, `ORDERBY`/`ORDERBYDESC`), `sysparm_fields` and
 * `sysparm_limit`, and the base system's rules: the Resolved state needs a close code and close
 * notes (a data policy, 403), closed and canceled incidents cannot be updated (an ACL, 403).
 */
export class FakeServiceNow extends FakeHttpServer {
  readonly incidents = new Map<string, SnIncident>();
  readonly workNotes = new Map<string, string[]>();
  /** Access tokens issued and not revoked. */
  readonly tokens = new Set<string>();
  /** Seconds the next tokens are valid for, as `expires_in` says. */
  tokenLifetimeSeconds = 1799;
  /** A user without the rights to write incidents: every insert and update is refused (403). */
  readOnly = false;
  private seq = 10_000;
  private readonly basic: string;
  private readonly client: { id: string; secret: string };

  constructor(opts: { username?: string; password?: string; clientId?: string; clientSecret?: string } = {}) {
    super((r) => this.answer(r));
    this.basic = `Basic ${Buffer.from(`${opts.username ?? 'vigil.integration'}:${opts.password ?? 'secret'}`).toString('base64')}`;
    this.client = { id: opts.clientId ?? 'client-1', secret: opts.clientSecret ?? 'client-secret-1' };
  }

  /** Revokes every access token, as an administrator or a token's early expiry does. */
  revokeTokens(): void {
    this.tokens.clear();
  }

  count(method: string, path: RegExp): number {
    return this.requests.filter((r) => r.method === method && path.test(r.path)).length;
  }

  private authenticated(r: RecordedRequest): boolean {
    const auth = r.headers.authorization ?? '';
    return auth === this.basic || (auth.startsWith('Bearer ') && this.tokens.has(auth.slice(7)));
  }

  private answer(r: RecordedRequest): Reply {
    if (r.path === '/oauth_token.do')
      return r.method === 'POST' ? this.issueToken(r) : failure(405, 'Method not Supported');
    if (!this.authenticated(r)) return NOT_AUTHENTICATED();
    const m = /^\/api\/now(?:\/v[12])?\/table\/incident(?:\/([^/]+))?$/.exec(r.path);
    if (!m) return failure(400, 'Requested URI does not represent any resource', r.path);
    const id = m[1] ? decodeURIComponent(m[1]) : undefined;
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
    if (!id && r.method === 'GET') return this.list(r.query, fields);
    if (!id && r.method === 'POST') return this.insert(body!, fields);
    const inc = id ? this.incidents.get(id) : undefined;
    if (!inc) return NO_RECORD();
    if (r.method === 'GET') return { status: 200, body: { result: this.project(inc, fields) } };
    if (r.method === 'PATCH' || r.method === 'PUT') return this.modify(inc, body!, fields);
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

  private project(inc: SnIncident, fields: string[] | undefined): Record<string, string> {
    if (!fields) return { ...inc };
    return Object.fromEntries(fields.map((f) => [f, inc[f] ?? '']));
  }

  private list(q: URLSearchParams, fields: string[] | undefined): Reply {
    let rows = [...this.incidents.values()];
    let order: { field: string; desc: boolean } | undefined;
    for (const term of (q.get('sysparm_query') ?? '').split('^').filter(Boolean)) {
      const o = /^ORDERBY(DESC)?(\w+)$/.exec(term);
      if (o) {
        order = { field: o[2]!, desc: o[1] === 'DESC' };
        continue;
      }
      const t = /^(\w+)(NOT IN|IN|!=|=)(.*)$/.exec(term);
      if (!t || !COLUMNS.has(t[1]!)) return failure(400, 'Invalid query', `Unsupported or unknown query term: ${term}`);
      const [, field, op, value] = t as unknown as [string, string, string, string];
      const test = (row: SnIncident) =>
        op === '=' || op === '!=' ? (row[field] ?? '') === value : value.split(',').includes(row[field] ?? '');
      rows = rows.filter((row) => (op === '=' || op === 'IN' ? test(row) : !test(row)));
    }
    if (order) rows.sort((a, b) => (a[order.field] ?? '').localeCompare(b[order.field] ?? '') * (order.desc ? -1 : 1));
    const limit = Number(q.get('sysparm_limit') ?? '10000');
    return { status: 200, body: { result: rows.slice(0, limit).map((row) => this.project(row, fields)) } };
  }

  private insert(body: Record<string, unknown>, fields: string[] | undefined): Reply {
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
      sys_created_on: new Date(Date.UTC(2026, 0, 1) + n * 1000).toISOString().replace('T', ' ').slice(0, 19),
      reopen_count: '0',
    };
    const refused = this.apply(inc, body);
    if (refused) return refused;
    this.incidents.set(inc.sys_id, inc);
    return {
      status: 201,
      headers: { location: `${this.url}/api/now/table/incident/${inc.sys_id}` },
      body: { result: this.project(inc, fields) },
    };
  }

  private modify(inc: SnIncident, body: Record<string, unknown>, fields: string[] | undefined): Reply {
    if (this.readOnly || inc.state === '7' || inc.state === '8')
      return failure(403, 'Operation Failed', 'ACL Exception Update Failed due to security constraints');
    const copy = { ...inc };
    const refused = this.apply(copy, body);
    if (refused) return refused;
    if (inc.state === '6' && copy.state !== '6' && copy.state !== '7')
      copy.reopen_count = String(Number(copy.reopen_count) + 1);
    Object.assign(inc, copy);
    return { status: 200, body: { result: this.project(inc, fields) } };
  }

  /** Writes the known columns (string values; work notes go to the journal); returns a refusal when a rule is broken. */
  private apply(inc: SnIncident, body: Record<string, unknown>): Reply | undefined {
    const notes: string[] = [];
    for (const [k, v] of Object.entries(body)) {
      if (!COLUMNS.has(k) || ['sys_id', 'number', 'sys_created_on', 'priority', 'active'].includes(k)) continue;
      const s = typeof v === 'string' ? v : typeof v === 'number' ? String(v) : JSON.stringify(v);
      if (k === 'work_notes') notes.push(s);
      else inc[k] = s;
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
    if (notes.length) this.workNotes.set(inc.sys_id, [...(this.workNotes.get(inc.sys_id) ?? []), ...notes]);
    return undefined;
  }
}
