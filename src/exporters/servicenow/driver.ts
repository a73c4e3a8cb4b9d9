import { severityName } from '../../model/severity.ts';
import { DeliveryError, realTimers, type Timers } from '../tickets/delivery.ts';
import { credentialsFailure, httpFailure, parseJson, send, type HttpResult } from '../tickets/http.ts';
import type { Notice, TicketDriver } from '../tickets/incidentExporter.ts';
import type { ObservedTicket, TicketProgress, TicketReader, TrackerComment } from '../tickets/ticketSync.ts';
import type { ServiceNowExporterConfig } from './config.ts';

/** `incident.state` choices (the base system's, unchanged on most instances). */
export const IncidentState = { New: 1, InProgress: 2, OnHold: 3, Resolved: 6, Closed: 7, Canceled: 8 } as const;

/**
 * Where an incident stands by its `state`: someone works on it (In Progress), it waits on the
 * caller (On Hold, which says nothing new about the incident), or it is over: resolved, closed,
 * or canceled as no incident at all. No prototype: a state the server sends is read as data.
 */
const PROGRESS: Readonly<Record<string, TicketProgress>> = Object.assign(
  Object.create(null) as Record<string, TicketProgress>,
  {
    '1': 'open',
    '2': 'in_progress',
    '3': 'open',
    '6': 'done',
    '7': 'done',
    '8': 'done',
  },
);

/** The journal fields people write on an incident: additional comments (caller-visible) and work notes. */
const JOURNAL_QUERY = (sysId: string) =>
  `element_id=${sysId}^element=comments^ORelement=work_notes^ORDERBYsys_created_on`;
/** Journal entries read per incident, oldest first: a busy incident's first thousand. */
const JOURNAL_LIMIT = 1000;

/** A field as `sysparm_display_value=all` returns it (`{display_value, value}`), or a plain string. */
type Shown = string | { value?: unknown; display_value?: unknown } | undefined;
const valueOf = (f: Shown) => String((typeof f === 'object' ? f.value : f) ?? '');
const displayOf = (f: Shown) => String((typeof f === 'object' ? f.display_value : f) ?? '');

/** `task.short_description` is a 160-character string; `task.correlation_id` a 100-character one. */
const SHORT_DESCRIPTION_MAX = 160;
const CORRELATION_ID_MAX = 100;

/** A token is renewed this long before ServiceNow says it expires, so a request never carries one about to lapse. */
const TOKEN_MARGIN_MS = 60_000;

/**
 * The incident's `correlation_id`: its key, which people can read and search for, unless the key
 * does not fit the column or holds `^` (the encoded-query separator, which no query can match
 * literally); then the marker `vigil-<hex>`. Both come from the key alone, so every instance and
 * every restart looks for the same value.
 */
export function correlationId(key: string, marker: string): string {
  return key.length <= CORRELATION_ID_MAX && !/[\^\r\n]/.test(key) ? key : marker;
}

/** ServiceNow's error body `{"error":{"message","detail"},"status":"failure"}` as one line; the raw text otherwise. */
function errorText(res: HttpResult): string {
  try {
    const e = (JSON.parse(res.text) as { error?: { message?: unknown; detail?: unknown } }).error;
    if (e && typeof e.message === 'string')
      return typeof e.detail === 'string' && e.detail ? `${e.message}: ${e.detail}` : e.message;
  } catch {
    // not JSON: an HTML error page from a proxy, say
  }
  return res.text;
}

/** The request itself was refused (a rule, an ACL, a missing record): not the credentials, not a passing state. */
function refused(err: DeliveryError): boolean {
  return err.status !== undefined && err.status >= 400 && err.status < 500 && ![401, 408, 429].includes(err.status);
}

/** Cut by code points, so the text never ends in half a surrogate pair. */
function cut(text: string, max: number): string {
  const chars = [...text];
  return chars.length <= max ? text : `${chars.slice(0, max - 1).join('')}…`;
}

/**
 * Speaks the Table API (`/api/now/table/incident`) with basic auth or an OAuth client-credentials
 * token; reads incidents and their journal (`sys_journal_field`) back for `sync`.
 */
export class ServiceNowDriver implements TicketDriver, TicketReader {
  private readonly config: ServiceNowExporterConfig;
  private readonly base: string;
  private readonly timers: Timers;
  private token: { value: string; expiresAtMs: number } | undefined;
  private tokenPromise: Promise<string> | undefined;
  /**
   * The `user_name` Vigil writes as: `username` with basic auth; with OAuth the user the token
   * acts as, which ServiceNow tells only through what that user wrote (`sys_created_by`).
   */
  private ownUser: string | undefined;
  /** People's names by `user_name`, as the journal names its authors by `user_name` only. */
  private readonly userNames = new Map<string, string>();
  readonly createdStatus = String(IncidentState.New);

  constructor(config: ServiceNowExporterConfig, timers: Timers = realTimers) {
    this.config = config;
    this.base = config.url.replace(/\/+$/, '');
    this.timers = timers;
    this.ownUser = config.client_id ? undefined : config.username;
  }

  private async authorization(): Promise<string> {
    const c = this.config;
    if (!c.client_id) return `Basic ${Buffer.from(`${c.username}:${c.password ?? ''}`).toString('base64')}`;
    if (this.token && this.token.expiresAtMs > this.timers.now()) return `Bearer ${this.token.value}`;
    // One token request at a time, shared by every concurrent delivery.
    this.tokenPromise ??= this.requestToken().finally(() => (this.tokenPromise = undefined));
    return `Bearer ${await this.tokenPromise}`;
  }

  private async requestToken(): Promise<string> {
    const c = this.config;
    const body = new URLSearchParams({
      grant_type: 'client_credentials',
      client_id: c.client_id!,
      client_secret: c.client_secret!,
    }).toString();
    const res = await send({
      method: 'POST',
      url: `${this.base}/oauth_token.do`,
      headers: { 'Content-Type': 'application/x-www-form-urlencoded', Accept: 'application/json' },
      body,
      timeoutMs: c.delivery.timeout,
    });
    if (res.status !== 200)
      throw credentialsFailure(
        httpFailure('ServiceNow OAuth token', { ...res, text: errorText(res) }),
        'check client_id, client_secret and that the OAuth application allows the client_credentials grant',
        { login: true },
      );
    const t = parseJson<{ access_token?: string; expires_in?: number }>('ServiceNow OAuth token', res);
    if (!t.access_token)
      throw new DeliveryError('ServiceNow answered the OAuth token request without an access_token', {
        retryable: true,
      });
    const lifetimeMs = (Number(t.expires_in) || 1800) * 1000;
    this.token = {
      value: t.access_token,
      expiresAtMs: this.timers.now() + Math.max(lifetimeMs / 2, lifetimeMs - TOKEN_MARGIN_MS),
    };
    return t.access_token;
  }

  /** A Table API call; with OAuth, a token ServiceNow no longer takes (revoked, expired early) is renewed once. */
  private async call(method: string, path: string, what: string, body?: object): Promise<HttpResult> {
    for (let renewed = false; ; renewed = true) {
      const auth = await this.authorization();
      const res = await send({
        method,
        url: `${this.base}/api/now/table/${path}`,
        headers: {
          Authorization: auth,
          Accept: 'application/json',
          ...(body ? { 'Content-Type': 'application/json' } : {}),
        },
        body: body ? JSON.stringify(body) : undefined,
        timeoutMs: this.config.delivery.timeout,
      });
      if (res.status === 401 && this.config.client_id) {
        // A token ServiceNow refuses is never used again, even when the renewed one is refused too.
        if (this.token && `Bearer ${this.token.value}` === auth) this.token = undefined;
        if (!renewed) continue;
      }
      if (res.status >= 200 && res.status < 300) return res;
      throw credentialsFailure(
        httpFailure(`ServiceNow ${what}`, { ...res, text: errorText(res) }),
        "check the credentials and the account's roles (itil or sn_incident_write)",
      );
    }
  }

  async find(n: Notice): Promise<string | undefined> {
    const q = new URLSearchParams({
      // Open ones only: a resolved incident of an earlier occurrence stays resolved, and the new one gets its own.
      sysparm_query: `correlation_id=${correlationId(n.change.incident.key, n.marker)}^stateNOT IN${IncidentState.Resolved},${IncidentState.Closed},${IncidentState.Canceled}^ORDERBYDESCsys_created_on`,
      sysparm_fields: 'sys_id',
      sysparm_limit: '1',
    });
    const res = await this.call('GET', `incident?${q}`, 'incident search');
    return parseJson<{ result?: { sys_id?: string }[] }>('ServiceNow incident search', res).result?.[0]?.sys_id;
  }

  async create(n: Notice): Promise<string> {
    const c = this.config;
    const sev = severityName(n.change.incident.severityNumber);
    const record: Record<string, string> = {
      ...c.fields,
      short_description: cut(n.title, SHORT_DESCRIPTION_MAX),
      description: n.body,
      urgency: String(c.urgency[sev] ?? 3),
      impact: String(c.impact[sev] ?? 3),
      correlation_id: correlationId(n.change.incident.key, n.marker),
      correlation_display: 'Vigil',
    };
    if (c.caller_id) record.caller_id = c.caller_id;
    if (c.assignment_group) record.assignment_group = c.assignment_group;
    if (c.category) record.category = c.category;
    if (c.subcategory) record.subcategory = c.subcategory;
    const res = await this.call(
      'POST',
      'incident?sysparm_fields=sys_id,number,sys_created_by',
      'create incident',
      record,
    );
    const created = parseJson<{ result?: { sys_id?: string; sys_created_by?: string } }>(
      'ServiceNow create incident',
      res,
    ).result;
    this.ownUser ??= created?.sys_created_by || undefined;
    const id = created?.sys_id;
    if (!id)
      throw new DeliveryError(`ServiceNow created an incident but returned no sys_id: ${res.text.slice(0, 200)}`, {
        retryable: false,
      });
    return id;
  }

  async update(ref: string, n: Notice): Promise<void> {
    await this.patch(ref, 'work note', { work_notes: n.body });
  }

  async resolve(ref: string, n: Notice): Promise<string> {
    // Resolved or closed by a person already (read back by sync, or by chance): their close code
    // and notes stay, and a closed incident would refuse the write anyway.
    const before = await this.state(ref);
    if (before >= IncidentState.Resolved) return String(before);
    try {
      await this.patch(ref, 'resolve', {
        state: String(IncidentState.Resolved),
        close_code: this.config.close_code,
        close_notes: n.body,
      });
      return String(IncidentState.Resolved);
    } catch (err) {
      // Refused (a data policy or an ACL on closed records): fine if someone resolved or closed it already.
      if (err instanceof DeliveryError && refused(err)) {
        const state = await this.state(ref);
        if (state >= IncidentState.Resolved) return String(state);
      }
      throw err;
    }
  }

  async reopen(ref: string, n: Notice): Promise<string> {
    await this.patch(ref, 'reopen', { state: String(this.config.reopen_state), work_notes: n.body });
    return String(this.config.reopen_state);
  }

  private async patch(ref: string, what: string, fields: Record<string, string>): Promise<void> {
    await this.call(
      'PATCH',
      `incident/${encodeURIComponent(ref)}?sysparm_fields=sys_id`,
      `${what} on incident ${ref}`,
      fields,
    );
  }

  private async state(ref: string): Promise<number> {
    const res = await this.call(
      'GET',
      `incident/${encodeURIComponent(ref)}?sysparm_fields=state`,
      `reading incident ${ref}`,
    );
    return Number(parseJson<{ result?: { state?: string } }>(`ServiceNow incident ${ref}`, res).result?.state);
  }

  /** Undefined when the incident is gone (deleted, or hidden from the account by an ACL). */
  async readTicket(ref: string): Promise<ObservedTicket | undefined> {
    const q = new URLSearchParams({
      sysparm_fields: 'state,sys_created_by,sys_updated_by,resolved_by',
      sysparm_display_value: 'all',
      sysparm_exclude_reference_link: 'true',
    });
    let res: HttpResult;
    try {
      res = await this.call('GET', `incident/${encodeURIComponent(ref)}?${q}`, `reading incident ${ref}`);
    } catch (err) {
      if (err instanceof DeliveryError && err.status === 404) return undefined;
      throw err;
    }
    const row = parseJson<{ result?: Record<string, Shown> }>(`ServiceNow incident ${ref}`, res).result ?? {};
    const state = valueOf(row.state);
    if (!state)
      throw new DeliveryError(`ServiceNow incident ${ref} has no state: ${res.text.slice(0, 200)}`, {
        retryable: true,
      });
    // Every incident the ledger holds is one Vigil created (or found by its correlation_id, which only Vigil sets).
    this.ownUser ??= valueOf(row.sys_created_by) || undefined;
    const progress = PROGRESS[state] ?? 'open';
    const updatedBy = valueOf(row.sys_updated_by);
    const resolvedBy = progress === 'done' ? displayOf(row.resolved_by) : '';
    return {
      ref,
      status: state,
      progress,
      actor: resolvedBy || (updatedBy ? await this.nameOfUser(updatedBy) : 'ServiceNow'),
      ...(updatedBy ? { actorId: updatedBy } : {}),
    };
  }

  /** The incident's form in ServiceNow's UI. */
  ticketUrl(ref: string): string {
    return `${this.base}/incident.do?sys_id=${encodeURIComponent(ref)}`;
  }

  async ownActorId(): Promise<string | undefined> {
    return this.ownUser;
  }

  /** The incident's work notes and additional comments, oldest first, authors named. */
  async readComments(ref: string): Promise<TrackerComment[] | undefined> {
    const q = new URLSearchParams({
      sysparm_query: JOURNAL_QUERY(ref),
      sysparm_fields: 'sys_id,element,value,sys_created_by',
      sysparm_limit: String(JOURNAL_LIMIT),
    });
    const res = await this.call('GET', `sys_journal_field?${q}`, `reading the journal of incident ${ref}`);
    const rows = parseJson<{ result?: Record<string, unknown>[] }>(`ServiceNow journal of ${ref}`, res).result;
    const out: TrackerComment[] = [];
    for (const e of Array.isArray(rows) ? rows : []) {
      if (typeof e.sys_id !== 'string') continue;
      const authorId = typeof e.sys_created_by === 'string' ? e.sys_created_by : '';
      out.push({
        id: e.sys_id,
        authorId,
        // Vigil's own are never read back: no need to name their author.
        author: authorId === this.ownUser ? '' : await this.nameOfUser(authorId),
        text: typeof e.value === 'string' ? e.value : '',
      });
    }
    return out;
  }

  /** A person's name (`sys_user.name`) by `user_name`; the `user_name` itself when the account may not read users. */
  private async nameOfUser(userName: string): Promise<string> {
    const known = this.userNames.get(userName);
    if (known !== undefined) return known;
    // An encoded query cannot hold `^` literally; such a user_name names itself.
    if (!userName || /[\^\r\n]/.test(userName)) return userName || 'ServiceNow';
    const q = new URLSearchParams({
      sysparm_query: `user_name=${userName}`,
      sysparm_fields: 'name',
      sysparm_limit: '1',
    });
    let res: HttpResult;
    try {
      res = await this.call('GET', `sys_user?${q}`, `reading user ${userName}`);
    } catch (err) {
      // Without read access to users, the user_name names them; asked again next time.
      if (err instanceof DeliveryError && refused(err)) return userName;
      throw err;
    }
    const name = parseJson<{ result?: { name?: unknown }[] }>(`ServiceNow user ${userName}`, res).result?.[0]?.name;
    const found = typeof name === 'string' && name.trim() ? name.trim() : userName;
    this.userNames.set(userName, found);
    return found;
  }
}
