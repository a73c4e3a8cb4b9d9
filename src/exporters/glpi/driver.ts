import { severityName } from '../../model/severity.ts';
import { DeliveryError } from '../tickets/delivery.ts';
import { credentialsFailure, httpFailure, parseJson, send, type HttpResult } from '../tickets/http.ts';
import type { Notice, TicketDriver } from '../tickets/incidentExporter.ts';
import type { ObservedTicket, TicketProgress, TicketReader, TrackerComment } from '../tickets/ticketSync.ts';
import { escapeHtml } from '../tickets/template.ts';
import type { GlpiExporterConfig } from './config.ts';

/** GLPI's 2-element error body: `["ERROR_CODE", "message"]` (the message is localised; match on the code). */
function errorCode(res: HttpResult): string | undefined {
  try {
    const body = JSON.parse(res.text) as unknown;
    return Array.isArray(body) && typeof body[0] === 'string' ? body[0] : undefined;
  } catch {
    return undefined;
  }
}

/** GLPI 10+ stores rich text as HTML: one paragraph per line of the rendered template. */
function toHtml(body: string): string {
  return body
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => `<p>${l}</p>`)
    .join('');
}

const SOLVED = 5;

/**
 * GLPI's ticket statuses (CommonITILObject): 1 new, 2 processing (assigned), 3 processing
 * (planned), 4 pending, 5 solved, 6 closed. Someone assigned or planning works on it; pending
 * waits on the requester, which says nothing new about the incident.
 */
const PROGRESS: Record<number, TicketProgress> = {
  1: 'open',
  2: 'in_progress',
  3: 'in_progress',
  4: 'open',
  5: 'done',
  6: 'done',
};

/** `expand_dropdowns` names the user; an unset one shows as an empty or `&nbsp;` name, or stays an id. */
function userName(v: unknown): string | undefined {
  if (typeof v === 'string') {
    const name = v.replace(/&nbsp;/g, ' ').trim();
    return name || undefined;
  }
  return typeof v === 'number' && v > 0 ? `GLPI user ${v}` : undefined;
}

/**
 * A follow-up's text: GLPI 10 stores rich text sanitized (`&#60;p&#62;`), GLPI 11 as HTML; either
 * way a line per paragraph or line break, tags dropped, entities decoded.
 */
export function followupText(stored: string): string {
  const html = stored.replace(/&#60;/g, '<').replace(/&#62;/g, '>').replace(/&#38;/g, '&');
  return html
    .replace(/<br\s*\/?>|<\/(p|div|li|h[1-6]|tr|blockquote)>/gi, '\n')
    .replace(/<[^>]*>/g, '')
    .replace(/&(nbsp|lt|gt|quot|#39|amp);/g, (_, e: string) => ENTITIES[e]!)
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '')
    .join('\n');
}
const ENTITIES: Record<string, string> = { nbsp: ' ', lt: '<', gt: '>', quot: '"', '#39': "'", amp: '&' };

/** GLPI's `glpi_tickets.name` is a VARCHAR(255) of characters: a longer name is refused or cut by the database. */
const NAME_MAX = 255;

/** Cut by code points, so a name never ends in half a surrogate pair. */
export function ticketName(title: string): string {
  const chars = [...title];
  return chars.length <= NAME_MAX ? title : `${chars.slice(0, NAME_MAX - 1).join('')}…`;
}

/** Speaks GLPI's legacy REST API (apirest.php): session, Ticket, ITILFollowup, ITILSolution, search. */
export class GlpiDriver implements TicketDriver, TicketReader {
  private readonly config: GlpiExporterConfig;
  private readonly base: string;
  private session: string | undefined;
  private sessionPromise: Promise<string> | undefined;
  /** The API user's id (`getFullSession`), once GLPI said. */
  private ownUser: string | undefined;
  /** Users' names by id, as follow-ups name their authors by id only. */
  private readonly userNames = new Map<string, string>();

  constructor(config: GlpiExporterConfig) {
    this.config = config;
    this.base = config.url.replace(/\/+$/, '');
  }

  escapeBody = escapeHtml;

  /** GLPI makes a ticket created with an assigned group "processing (assigned)" at once. */
  get createdStatus(): string {
    return this.config.assign_group_id === undefined ? '1' : '2';
  }

  /** GLPI's ticket page sits beside its REST endpoint (`…/apirest.php` → `…/front/ticket.form.php`). */
  ticketUrl(ref: string): string {
    return `${this.base.replace(/\/apirest\.php$/, '')}/front/ticket.form.php?id=${encodeURIComponent(ref)}`;
  }

  private appHeaders(): Record<string, string> {
    return this.config.app_token ? { 'App-Token': this.config.app_token } : {};
  }

  private authorization(): string {
    const c = this.config;
    if (c.user_token) return `user_token ${c.user_token}`;
    return `Basic ${Buffer.from(`${c.username}:${c.password ?? ''}`).toString('base64')}`;
  }

  /** One initSession at a time, shared by every concurrent delivery. */
  private sessionToken(): Promise<string> {
    if (this.session) return Promise.resolve(this.session);
    this.sessionPromise ??= this.initSession().finally(() => (this.sessionPromise = undefined));
    return this.sessionPromise;
  }

  private async initSession(): Promise<string> {
    const res = await send({
      method: 'GET',
      url: `${this.base}/initSession`,
      headers: { ...this.appHeaders(), Authorization: this.authorization() },
      timeoutMs: this.config.delivery.timeout,
    });
    if (res.status !== 200) {
      // Bad tokens or a disabled API stay failures until an operator fixes them: keep the changes and retry slowly.
      const err = httpFailure('GLPI initSession', res);
      throw new DeliveryError(`${err.message} (check url, app_token and user_token)`, {
        retryable: true,
        retryAfterMs: err.retryAfterMs,
        status: res.status,
      });
    }
    const token = parseJson<{ session_token?: string }>('GLPI initSession', res).session_token;
    if (!token) throw new DeliveryError('GLPI initSession answered without a session_token', { retryable: true });
    this.session = token;
    return token;
  }

  /** A call with the session; a session GLPI forgot (expiry, restart) is renewed once. */
  private async call(method: string, path: string, body?: object): Promise<HttpResult> {
    for (let renewed = false; ; renewed = true) {
      const token = await this.sessionToken();
      const res = await send({
        method,
        url: `${this.base}/${path}`,
        headers: {
          ...this.appHeaders(),
          'Session-Token': token,
          ...(body ? { 'Content-Type': 'application/json' } : {}),
        },
        body: body ? JSON.stringify(body) : undefined,
        timeoutMs: this.config.delivery.timeout,
      });
      if (res.status === 401 && errorCode(res) === 'ERROR_SESSION_TOKEN_INVALID' && !renewed) {
        if (this.session === token) this.session = undefined;
        continue;
      }
      return res;
    }
  }

  async find(n: Notice): Promise<string | undefined> {
    const q = new URLSearchParams({
      'criteria[0][field]': '21',
      'criteria[0][searchtype]': 'contains',
      'criteria[0][value]': n.marker,
      'criteria[1][link]': 'AND',
      'criteria[1][field]': '12',
      'criteria[1][searchtype]': 'equals',
      'criteria[1][value]': 'notold',
      'forcedisplay[0]': '2',
      range: '0-0',
    });
    const res = await this.call('GET', `search/Ticket?${q}`);
    if (res.status !== 200 && res.status !== 206) throw httpFailure('GLPI search/Ticket', res);
    // No `data` key at all when nothing matched.
    const found = parseJson<{ data?: Record<string, unknown>[] }>('GLPI search/Ticket', res).data?.[0]?.['2'];
    return found === undefined ? undefined : String(found);
  }

  async create(n: Notice): Promise<string> {
    const c = this.config;
    const sev = severityName(n.change.incident.severityNumber);
    const input: Record<string, unknown> = {
      // Plain text in GLPI, so not HTML-escaped here: GLPI 10 encodes it on input and decodes it
      // for display, GLPI 11 stores it raw and escapes it on output; escaping it too would show
      // `&lt;` in the ticket list. Control and bidi characters are already stripped from values.
      name: ticketName(n.title),
      // The marker is what find() searches for after a crash; plain [a-z0-9-] survives GLPI's HTML escaping.
      content: `${toHtml(n.body)}<p>${n.marker}</p>`,
      type: c.ticket_type,
      urgency: c.urgency[sev] ?? 3,
      impact: c.impact[sev] ?? 3,
    };
    if (c.entity_id !== undefined) input.entities_id = c.entity_id;
    if (c.category_id !== undefined) input.itilcategories_id = c.category_id;
    if (c.requester_id !== undefined) input._users_id_requester = c.requester_id;
    if (c.assign_group_id !== undefined) input._groups_id_assign = c.assign_group_id;
    const res = await this.call('POST', 'Ticket', { input });
    if (res.status !== 201) throw httpFailure('GLPI Ticket create', res);
    const id = parseJson<{ id?: number | false }>('GLPI Ticket create', res).id;
    if (typeof id !== 'number')
      throw new DeliveryError(
        `GLPI did not create the ticket: ${res.text.slice(0, 200)} (check the API user's rights)`,
        { retryable: false },
      );
    return String(id);
  }

  async update(ref: string, n: Notice): Promise<void> {
    const res = await this.call('POST', 'ITILFollowup', {
      input: { itemtype: 'Ticket', items_id: Number(ref), content: toHtml(n.body), is_private: 0 },
    });
    if (res.status !== 201) throw httpFailure(`GLPI ITILFollowup on ticket ${ref}`, res);
  }

  async resolve(ref: string, n: Notice): Promise<string> {
    const res = await this.call('POST', 'ITILSolution', {
      input: {
        itemtype: 'Ticket',
        items_id: Number(ref),
        content: toHtml(n.body),
        solutiontypes_id: this.config.solution_type_id,
      },
    });
    if (res.status === 201) return String(SOLVED);
    // GLPI refuses a second solution; if someone solved the ticket already, the goal is met.
    if (res.status === 400 && errorCode(res) === 'ERROR_GLPI_ADD') {
      const status = (await this.ticket(ref))?.status;
      if (status !== undefined && status >= SOLVED) return String(status);
    }
    throw httpFailure(`GLPI ITILSolution on ticket ${ref}`, res);
  }

  async reopen(ref: string, n: Notice): Promise<string> {
    const res = await this.call('PUT', `Ticket/${ref}`, { input: { status: this.config.reopen_status } });
    if (res.status !== 200) throw httpFailure(`GLPI reopening ticket ${ref}`, res);
    await this.update(ref, n);
    return String(this.config.reopen_status);
  }

  /** The ticket with dropdowns named (its last updater's name, not id); undefined when GLPI has it no more. */
  private async ticket(ref: string): Promise<{ status: number; users_id_lastupdater?: unknown } | undefined> {
    const res = await this.call('GET', `Ticket/${encodeURIComponent(ref)}?expand_dropdowns=true`);
    if (res.status === 404) return undefined;
    if (res.status !== 200)
      throw credentialsFailure(
        httpFailure(`GLPI reading ticket ${ref}`, res),
        "check the API user's read rights on tickets",
      );
    const t = parseJson<{ status?: unknown; users_id_lastupdater?: unknown }>(`GLPI ticket ${ref}`, res);
    const status = Number(t.status);
    if (!Number.isInteger(status))
      throw new DeliveryError(`GLPI ticket ${ref} has no status: ${res.text.slice(0, 200)}`, { retryable: true });
    return { status, users_id_lastupdater: t.users_id_lastupdater };
  }

  async readTicket(ref: string): Promise<ObservedTicket | undefined> {
    const t = await this.ticket(ref);
    if (!t) return undefined;
    return {
      ref,
      status: String(t.status),
      progress: PROGRESS[t.status] ?? 'open',
      actor: userName(t.users_id_lastupdater) ?? 'GLPI',
    };
  }

  /** The API user's id, from the session (`getFullSession`), asked until GLPI answers. */
  async ownActorId(): Promise<string | undefined> {
    if (this.ownUser !== undefined) return this.ownUser;
    try {
      const res = await this.call('GET', 'getFullSession');
      const id =
        res.status === 200
          ? parseJson<{ session?: { glpiID?: unknown } }>('GLPI session', res).session?.glpiID
          : undefined;
      if (typeof id === 'number' || (typeof id === 'string' && id !== '')) this.ownUser = String(id);
    } catch {
      // Comments wait for the next pass.
    }
    return this.ownUser;
  }

  /** The ticket's follow-ups (the first 1000, GLPI's page limit), oldest first, authors named. */
  async readComments(ref: string): Promise<TrackerComment[] | undefined> {
    const res = await this.call('GET', `Ticket/${encodeURIComponent(ref)}/ITILFollowup?range=0-999`);
    if (res.status === 404) return undefined;
    if (res.status !== 200 && res.status !== 206)
      throw credentialsFailure(
        httpFailure(`GLPI reading the follow-ups of ticket ${ref}`, res),
        "check the API user's read rights on follow-ups",
      );
    const list = parseJson<{ id?: unknown; users_id?: unknown; content?: unknown }[]>(`GLPI follow-ups of ${ref}`, res);
    const out: TrackerComment[] = [];
    for (const f of Array.isArray(list) ? list : []) {
      if (typeof f.id !== 'number') continue;
      const authorId = String(f.users_id);
      out.push({
        id: String(f.id),
        authorId,
        // Vigil's own are never read back: no need to name their author.
        author: authorId === this.ownUser ? '' : await this.nameOfUser(authorId),
        text: followupText(typeof f.content === 'string' ? f.content : ''),
      });
    }
    return out;
  }

  private async nameOfUser(id: string): Promise<string> {
    const known = this.userNames.get(id);
    if (known !== undefined) return known;
    const res = await this.call('GET', `User/${encodeURIComponent(id)}`);
    // Without the right to read users, the id names them; asked again next time.
    if (res.status !== 200) return `GLPI user ${id}`;
    const u = parseJson<{ name?: unknown; realname?: unknown; firstname?: unknown }>(`GLPI user ${id}`, res);
    const full = [u.firstname, u.realname].filter((p) => typeof p === 'string' && p.trim()).join(' ');
    const name = full || (typeof u.name === 'string' && u.name ? u.name : `GLPI user ${id}`);
    this.userNames.set(id, name);
    return name;
  }

  async close(): Promise<void> {
    if (!this.session) return;
    const token = this.session;
    this.session = undefined;
    // Shutdown should not wait long on a tracker that is down; GLPI expires the session anyway.
    await send({
      method: 'GET',
      url: `${this.base}/killSession`,
      headers: { ...this.appHeaders(), 'Session-Token': token },
      timeoutMs: Math.min(this.config.delivery.timeout, 2000),
    });
  }
}
