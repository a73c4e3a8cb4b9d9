import { FakeHttpServer, parseJsonBody, type RecordedRequest, type Reply } from './server.ts';

export interface GlpiTicket {
  id: number;
  name: string;
  content: string;
  status: number;
  type: number;
  urgency: number;
  impact: number;
  entities_id: number;
  itilcategories_id: number;
  /** Who changed the ticket last: GLPI sets it on every update, a follow-up or a solution included. */
  users_id_lastupdater: number;
}

const err = (status: number, code: string, message: string): Reply => ({ status, body: [code, message] });
const doc = (code: string) => `; view documentation in your browser at http://glpi/apirest.php/#${code}`;

/** GLPI 10's input sanitizer: `&`, `<`, `>` as numeric entities (and back, for display). */
function sanitize(text: string): string {
  return text.replace(/&/g, '&#38;').replace(/</g, '&#60;').replace(/>/g, '&#62;');
}
function unsanitize(text: string): string {
  return text.replace(/&#60;/g, '<').replace(/&#62;/g, '>').replace(/&#38;/g, '&');
}
function escapeText(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** Reads PHP-style `criteria[0][field]=21` parameters into a list of criteria. */
function criteria(q: URLSearchParams): Record<string, string>[] {
  const out: Record<string, string>[] = [];
  for (const [k, v] of q) {
    const m = /^criteria\[(\d+)\]\[(\w+)\]$/.exec(k);
    if (m) (out[Number(m[1])] ??= {})[m[2]!] = v;
  }
  return out;
}

/**
 * GLPI's legacy REST API (apirest.php) as its documentation and source describe it: App-Token
 * and user_token / Basic initSession, Session-Token on every call (400 when missing, 401
 * `ERROR_SESSION_TOKEN_INVALID` when unknown), `{"input": …}` bodies, 2-element error arrays,
 * 201 + Location on create, ITILSolution refusing an already solved ticket, search with no
 * `data` key when nothing matched. Stored text is as the version keeps it: GLPI 10 sanitizes
 * every input field (`<` as `&#60;`…) and decodes it for display; GLPI 11 stores it raw and
 * escapes on output (its upgrade guide, "Removal of input variables auto-sanitize"). Either way
 * a ticket's name is shown as text and its content as (purified) HTML: `page()` is that view.
 */
export class FakeGlpi extends FakeHttpServer {
  readonly tickets = new Map<number, GlpiTicket>();
  readonly followups: { items_id: number; content: string }[] = [];
  /** Who wrote each of `followups` (same index): its `users_id`; its id is its index + 1. */
  private readonly followupAuthors: number[] = [];
  readonly solutions: { items_id: number; content: string }[] = [];
  readonly sessions = new Set<string>();
  /** GLPI's users by id; the API user (whose token Vigil holds) is 2, as on a fresh install's `glpi` account. */
  readonly users = new Map<number, string>([
    [2, 'glpi'],
    [7, 'jdoe'],
  ]);
  private readonly apiUser = 2;
  private nextId = 100;
  private readonly appToken: string;
  private readonly userToken: string;
  private readonly basic: string;

  private readonly store: (text: string) => string;
  private readonly load: (text: string) => string;

  constructor(
    opts: { appToken?: string; userToken?: string; login?: string; password?: string; version?: 10 | 11 } = {},
  ) {
    super((r) => this.answer(r));
    const v10 = (opts.version ?? 10) === 10;
    this.store = v10 ? sanitize : (t) => t;
    this.load = v10 ? unsanitize : (t) => t;
    this.appToken = opts.appToken ?? 'app-token-1';
    this.userToken = opts.userToken ?? 'user-token-1';
    this.basic = `Basic ${Buffer.from(`${opts.login ?? 'vigil'}:${opts.password ?? 'secret'}`).toString('base64')}`;
  }

  get apiUrl(): string {
    return `${this.url}/apirest.php`;
  }

  /** The exporter settings that reach this fake: its URL and the tokens it accepts. */
  get exporterConfig(): { url: string; app_token: string; user_token: string } {
    return { url: this.apiUrl, app_token: this.appToken, user_token: this.userToken };
  }

  /**
   * The ticket as GLPI's page shows it: the name escaped as text, the content and timeline as
   * HTML (GLPI also runs HTMLPurifier on those, which this view leaves out, so whatever markup
   * Vigil let through shows here).
   */
  page(id: number): string {
    const t = this.tickets.get(id)!;
    const timeline = [...this.followups, ...this.solutions].filter((f) => f.items_id === id);
    return [
      `<h1>${escapeText(this.load(t.name))}</h1>`,
      `<div>${this.load(t.content)}</div>`,
      ...timeline.map((f) => `<div>${this.load(f.content)}</div>`),
    ].join('\n');
  }

  /**
   * A person's change in GLPI's interface: `status` 5 (solved) adds their solution, as the
   * form does; any status sets the ticket's last updater to them.
   */
  personSets(ticketId: number, status: number, userId = 7): void {
    const t = this.tickets.get(ticketId);
    if (!t) throw new Error(`no ticket ${ticketId}`);
    if (status === 5) this.solutions.push({ items_id: ticketId, content: this.store('<p>fixed by hand</p>') });
    t.status = status;
    t.users_id_lastupdater = userId;
  }

  /** A person adds a follow-up in GLPI's interface (its rich text editor makes HTML). */
  personFollowsUp(ticketId: number, html: string, userId = 7): void {
    const t = this.tickets.get(ticketId);
    if (!t) throw new Error(`no ticket ${ticketId}`);
    this.followups.push({ items_id: ticketId, content: this.store(html) });
    this.followupAuthors.push(userId);
    t.users_id_lastupdater = userId;
  }

  /** Forgets every session, as GLPI does when they time out. */
  expireSessions(): void {
    this.sessions.clear();
  }

  count(method: string, path: string): number {
    return this.requests.filter((r) => r.method === method && r.path === `/apirest.php/${path}`).length;
  }

  private answer(r: RecordedRequest): Reply {
    if (!r.path.startsWith('/apirest.php/')) return { status: 404, body: 'Not Found' };
    const resource = r.path.slice('/apirest.php/'.length);
    if (r.method === 'GET' && r.body !== '')
      return err(400, 'ERROR_JSON_PAYLOAD_FORBIDDEN', 'GET Request should not have json payload (http body)');
    const app = r.headers['app-token'];
    if (app === undefined)
      return err(
        400,
        'ERROR_APP_TOKEN_PARAMETERS_MISSING',
        'missing parameter app_token' + doc('ERROR_APP_TOKEN_PARAMETERS_MISSING'),
      );
    if (app !== this.appToken)
      return err(
        400,
        'ERROR_WRONG_APP_TOKEN_PARAMETER',
        'parameter app_token seems wrong' + doc('ERROR_WRONG_APP_TOKEN_PARAMETER'),
      );
    if (resource === 'initSession') return this.initSession(r);
    const token = r.headers['session-token'];
    if (!token)
      return err(
        400,
        'ERROR_SESSION_TOKEN_MISSING',
        'parameter session_token is missing or empty' + doc('ERROR_SESSION_TOKEN_MISSING'),
      );
    if (!this.sessions.has(String(token)))
      return err(401, 'ERROR_SESSION_TOKEN_INVALID', 'session_token seems invalid');
    if (resource === 'killSession' && r.method === 'GET') {
      this.sessions.delete(String(token));
      return { status: 200, body: true as unknown as object };
    }
    if (resource === 'search/Ticket' && r.method === 'GET') return this.search(r);
    // The session's user, among much else (rights, profiles, entities).
    if (resource === 'getFullSession' && r.method === 'GET')
      return {
        status: 200,
        body: { session: { glpiID: this.apiUser, glpiname: this.users.get(this.apiUser), glpiactiveprofile: {} } },
      };
    const userPath = /^User\/(\d+)$/.exec(resource);
    if (userPath && r.method === 'GET') {
      const name = this.users.get(Number(userPath[1]));
      if (name === undefined) return err(404, 'ERROR_ITEM_NOT_FOUND', 'Item not found');
      return { status: 200, body: { id: Number(userPath[1]), name, realname: '', firstname: '' } };
    }
    // A ticket's follow-ups, oldest first, as stored (GLPI 10 sanitized, 11 raw), `range` paged.
    const followupsPath = /^Ticket\/(\d+)\/ITILFollowup$/.exec(resource);
    if (followupsPath && r.method === 'GET') {
      const id = Number(followupsPath[1]);
      if (!this.tickets.has(id)) return err(404, 'ERROR_ITEM_NOT_FOUND', 'Item not found');
      const all = this.followups
        .map((f, i) => ({
          id: i + 1,
          itemtype: 'Ticket',
          items_id: f.items_id,
          users_id: this.followupAuthors[i]!,
          content: f.content,
          is_private: 0,
        }))
        .filter((f) => f.items_id === id);
      const [start, end] = (r.query.get('range') ?? '0-49').split('-').map(Number) as [number, number];
      const page = all.slice(start, end + 1);
      return {
        status: page.length < all.length ? 206 : 200,
        headers: {
          'content-range': `${start}-${start + page.length - 1}/${all.length}`,
          'accept-range': 'ITILFollowup 1000',
        },
        body: page,
      };
    }
    let body: { input?: unknown } | undefined;
    if (r.method === 'POST' || r.method === 'PUT' || r.method === 'PATCH') {
      if (!(r.headers['content-type'] ?? '').startsWith('application/json'))
        return err(400, 'ERROR_BAD_ARRAY', 'input parameter must be an array of objects' + doc('ERROR_BAD_ARRAY'));
      body = parseJsonBody(r) as typeof body;
      if (body === undefined) return err(400, 'ERROR_JSON_PAYLOAD_INVALID', 'JSON payload seems not valid');
      if (!body.input || typeof body.input !== 'object' || Array.isArray(body.input))
        return err(400, 'ERROR_BAD_ARRAY', 'input parameter must be an array of objects' + doc('ERROR_BAD_ARRAY'));
    }
    const input = body?.input as Record<string, unknown> | undefined;
    const ticketPath = /^Ticket\/(\d+)$/.exec(resource);
    if (resource === 'Ticket' && r.method === 'POST') return this.createTicket(input!);
    if (ticketPath && r.method === 'GET') {
      const t = this.tickets.get(Number(ticketPath[1]));
      if (!t) return err(404, 'ERROR_ITEM_NOT_FOUND', 'Item not found');
      // expand_dropdowns names foreign keys (a user by their login) instead of giving their id.
      if (r.query.get('expand_dropdowns') !== 'true') return { status: 200, body: t };
      return { status: 200, body: { ...t, users_id_lastupdater: this.users.get(t.users_id_lastupdater) ?? '' } };
    }
    if (ticketPath && (r.method === 'PUT' || r.method === 'PATCH')) {
      const t = this.tickets.get(Number(ticketPath[1]));
      if (!t) return err(400, 'ERROR_GLPI_UPDATE', 'Item not found');
      Object.assign(t, input, { users_id_lastupdater: this.apiUser });
      return { status: 200, body: [{ [String(t.id)]: true, message: '' }] };
    }
    if (resource === 'ITILFollowup' && r.method === 'POST') return this.addTimeline(input!, this.followups, false);
    if (resource === 'ITILSolution' && r.method === 'POST') return this.addTimeline(input!, this.solutions, true);
    return err(400, 'ERROR_RESOURCE_NOT_FOUND_NOR_COMMONDBTM', 'resource not found or not an instance of CommonDBTM');
  }

  private initSession(r: RecordedRequest): Reply {
    const auth = r.headers.authorization;
    if (!auth)
      return err(
        400,
        'ERROR_LOGIN_PARAMETERS_MISSING',
        'parameter(s) login, password or user_token are missing' + doc('ERROR_LOGIN_PARAMETERS_MISSING'),
      );
    if (auth.startsWith('user_token ')) {
      if (auth.slice(11) !== this.userToken)
        return err(401, 'ERROR_GLPI_LOGIN_USER_TOKEN', 'parameter user_token seems invalid');
    } else if (auth !== this.basic) return err(401, 'ERROR_GLPI_LOGIN', 'Incorrect username or password');
    const token = Math.random().toString(16).slice(2).padEnd(40, '0');
    this.sessions.add(token);
    return { status: 200, body: { session_token: token } };
  }

  private createTicket(input: Record<string, unknown>): Reply {
    if (typeof input.content !== 'string' || input.content === '')
      return err(400, 'ERROR_GLPI_ADD', 'Mandatory field content is missing');
    for (const f of ['urgency', 'impact'] as const) {
      if (
        input[f] !== undefined &&
        (!Number.isInteger(input[f]) || (input[f] as number) < 1 || (input[f] as number) > 5)
      )
        return err(400, 'ERROR_GLPI_ADD', `Invalid ${f}`);
    }
    const id = this.nextId++;
    this.tickets.set(id, {
      id,
      name: this.store(String(input.name ?? '')),
      content: this.store(input.content),
      status: Number(input.status ?? 1),
      type: Number(input.type ?? 1),
      urgency: Number(input.urgency ?? 3),
      impact: Number(input.impact ?? 3),
      entities_id: Number(input.entities_id ?? 0),
      itilcategories_id: Number(input.itilcategories_id ?? 0),
      users_id_lastupdater: this.apiUser,
    });
    // GLPI makes a new ticket with an assigned technician or group "processing (assigned)".
    if (input._groups_id_assign !== undefined && Number(input.status ?? 1) === 1) this.tickets.get(id)!.status = 2;
    return { status: 201, headers: { location: `${this.apiUrl}/Ticket/${id}` }, body: { id, message: '' } };
  }

  private addTimeline(
    input: Record<string, unknown>,
    into: { items_id: number; content: string }[],
    solution: boolean,
  ): Reply {
    const ticket = input.itemtype === 'Ticket' ? this.tickets.get(Number(input.items_id)) : undefined;
    if (!ticket || typeof input.content !== 'string') return err(400, 'ERROR_GLPI_ADD', 'Item not found');
    if (solution) {
      if (ticket.status >= 5)
        return err(400, 'ERROR_GLPI_ADD', 'The item is already solved, did anyone pushed a solution before you?');
      ticket.status = 5;
    }
    ticket.users_id_lastupdater = this.apiUser;
    into.push({ items_id: ticket.id, content: this.store(input.content) });
    if (!solution) this.followupAuthors.push(this.apiUser);
    return {
      status: 201,
      headers: { location: `${this.apiUrl}/${solution ? 'ITILSolution' : 'ITILFollowup'}/${into.length}` },
      body: { id: into.length, message: '' },
    };
  }

  private search(r: RecordedRequest): Reply {
    let hits = [...this.tickets.values()];
    for (const c of criteria(r.query)) {
      if (c.field === '21' && c.searchtype === 'contains')
        hits = hits.filter((t) => t.content.includes(this.store(c.value ?? '')));
      else if (c.field === '1' && c.searchtype === 'contains')
        hits = hits.filter((t) => t.name.includes(this.store(c.value ?? '')));
      else if (c.field === '12' && c.searchtype === 'equals' && c.value === 'notold')
        hits = hits.filter((t) => t.status < 5);
      else if (c.field === '12' && c.searchtype === 'equals') hits = hits.filter((t) => String(t.status) === c.value);
      else return err(400, 'ERROR', 'Bad field ID in search criteria' + doc('ERROR'));
    }
    const [start, end] = (r.query.get('range') ?? '0-49').split('-').map(Number) as [number, number];
    const page = hits.slice(start, end + 1);
    const body: Record<string, unknown> = {
      totalcount: hits.length,
      count: page.length,
      sort: [1],
      order: ['ASC'],
      'content-range': `${start}-${start + page.length - 1}/${hits.length}`,
    };
    if (page.length) body.data = page.map((t) => ({ 1: t.name, 2: t.id, 12: t.status }));
    const headers: Record<string, string> = { 'accept-range': 'Ticket 1000' };
    if (hits.length) headers['content-range'] = `${start}-${start + page.length - 1}/${hits.length}`;
    return { status: page.length < hits.length ? 206 : 200, headers, body };
  }
}
