import { severityName } from '../../model/severity.ts';
import { DeliveryError } from '../tickets/delivery.ts';
import { credentialsFailure, httpFailure, parseJson, send, type HttpResult } from '../tickets/http.ts';
import type { Notice, TicketDriver } from '../tickets/incidentExporter.ts';
import type { ObservedTicket, TicketReader, TrackerComment } from '../tickets/ticketSync.ts';
import { adfToText, textToAdf } from './adf.ts';
import type { JiraExporterConfig } from './config.ts';

interface Transition {
  id: string;
  name: string;
  to?: { name?: string };
}

interface IssueStatus {
  name?: string;
  statusCategory?: { key?: string };
}

/** Jira's status categories: `new` (to do), `indeterminate` (in progress), `done`. */
export function progressOf(categoryKey: string | undefined): ObservedTicket['progress'] {
  return categoryKey === 'done' ? 'done' : categoryKey === 'indeterminate' ? 'in_progress' : 'open';
}

type JiraUser = { displayName?: unknown; accountId?: unknown; name?: unknown } | undefined;

/** A Jira user's id: the account id (Cloud) or the user name (Data Center). */
export function jiraUserId(user: JiraUser): string | undefined {
  for (const v of [user?.accountId, user?.name]) if (typeof v === 'string' && v) return v;
  return undefined;
}

/** Who a Jira user is to people: the display name (Cloud hides e-mails), else their id. */
export function jiraUserName(user: JiraUser): string {
  return typeof user?.displayName === 'string' && user.displayName ? user.displayName : (jiraUserId(user) ?? 'Jira');
}

/** Speaks Jira REST v3 (Cloud, ADF) or v2 (Data Center, text): issue, comment, transitions, JQL search. */
export class JiraDriver implements TicketDriver, TicketReader {
  private readonly config: JiraExporterConfig;
  private readonly api: string;
  private readonly auth: string;
  private ownId: string | undefined;

  constructor(config: JiraExporterConfig) {
    this.config = config;
    this.api = `${config.url.replace(/\/+$/, '')}/rest/api/${config.api_version}`;
    this.auth = config.token
      ? `Bearer ${config.token}`
      : `Basic ${Buffer.from(`${config.email}:${config.api_token}`).toString('base64')}`;
  }

  ticketUrl(ref: string): string {
    return `${this.config.url.replace(/\/+$/, '')}/browse/${encodeURIComponent(ref)}`;
  }

  /** v2 bodies are wiki markup, where `{host="a"}` would be read as a macro: inserted values are escaped. */
  escapeBody = (text: string): string => (this.config.api_version === '2' ? escapeWiki(text) : text);

  private rich(text: string): object | string {
    return this.config.api_version === '3' ? textToAdf(text) : text;
  }

  private async call(method: string, path: string, what: string, body?: object): Promise<HttpResult> {
    const res = await send({
      method,
      url: `${this.api}/${path}`,
      headers: {
        Authorization: this.auth,
        Accept: 'application/json',
        ...(body ? { 'Content-Type': 'application/json' } : {}),
      },
      body: body ? JSON.stringify(body) : undefined,
      timeoutMs: this.config.delivery.timeout,
    });
    if (res.status >= 200 && res.status < 300) return res;
    throw credentialsFailure(
      httpFailure(`Jira ${what}`, res),
      "check the credentials and the account's project permissions",
    );
  }

  async find(n: Notice): Promise<string | undefined> {
    const jql = `project = "${this.config.project}" AND labels = "${n.marker}" AND statusCategory != Done`;
    // Cloud removed /search (410) in favour of /search/jql; Data Center only has /search.
    const path = this.config.api_version === '3' ? 'search/jql' : 'search';
    const res = await this.call('POST', path, 'issue search', { jql, fields: ['key'], maxResults: 1 });
    return parseJson<{ issues?: { key: string }[] }>('Jira issue search', res).issues?.[0]?.key;
  }

  async create(n: Notice): Promise<string> {
    const c = this.config;
    const fields: Record<string, unknown> = {
      project: { key: c.project },
      issuetype: { name: c.issue_type },
      summary: n.title.slice(0, 255),
      description: this.rich(n.body),
      labels: [...c.labels, n.marker],
    };
    if (c.components.length) fields.components = c.components.map((name) => ({ name }));
    const priority = c.priorities[severityName(n.change.incident.severityNumber)];
    if (priority) fields.priority = { name: priority };
    const res = await this.call('POST', 'issue', 'create issue', { fields });
    const key = parseJson<{ key?: string }>('Jira create issue', res).key;
    if (!key)
      throw new DeliveryError(`Jira created an issue but returned no key: ${res.text.slice(0, 200)}`, {
        retryable: false,
      });
    return key;
  }

  async update(ref: string, n: Notice): Promise<void> {
    await this.call('POST', `issue/${encodeURIComponent(ref)}/comment`, `comment on ${ref}`, {
      body: this.rich(n.body),
    });
  }

  /** Transition first: a retry after a failed comment then finds the issue done and only comments. */
  async resolve(ref: string, n: Notice): Promise<string | undefined> {
    const status = await this.transition(ref, this.config.resolve_transition, true);
    await this.update(ref, n);
    return status;
  }

  async reopen(ref: string, n: Notice): Promise<string | undefined> {
    const status = this.config.reopen_transition
      ? await this.transition(ref, this.config.reopen_transition, false)
      : undefined;
    await this.update(ref, n);
    return status;
  }

  /** The issue's status and who set it: the author of the last status change in its changelog. */
  async readTicket(ref: string): Promise<ObservedTicket | undefined> {
    const res = await send({
      method: 'GET',
      url: `${this.api}/issue/${encodeURIComponent(ref)}?fields=status&expand=changelog`,
      headers: { Authorization: this.auth, Accept: 'application/json' },
      timeoutMs: this.config.delivery.timeout,
    });
    if (res.status === 404) return undefined;
    if (res.status !== 200)
      throw credentialsFailure(httpFailure(`Jira reading ${ref}`, res), "check the account's browse permission");
    type History = { author?: JiraUser; items?: { field?: string }[] };
    const issue = parseJson<{ fields?: { status?: IssueStatus }; changelog?: { histories?: History[] } }>(
      `Jira issue ${ref}`,
      res,
    );
    const status = issue.fields?.status;
    if (!status?.name)
      throw new DeliveryError(`Jira issue ${ref} has no status: ${res.text.slice(0, 200)}`, { retryable: true });
    // Cloud lists histories oldest first, Data Center too; the last status change is the one that counts.
    const author = (issue.changelog?.histories ?? [])
      .filter((h) => h.items?.some((i) => i.field === 'status'))
      .at(-1)?.author;
    const actorId = jiraUserId(author);
    return {
      ref,
      status: status.name,
      progress: progressOf(status.statusCategory?.key),
      actor: jiraUserName(author),
      ...(actorId === undefined ? {} : { actorId }),
    };
  }

  /** The issue's latest comments (newest 50, a poll interval holds fewer), oldest first. */
  async readComments(ref: string): Promise<TrackerComment[] | undefined> {
    const res = await send({
      method: 'GET',
      url: `${this.api}/issue/${encodeURIComponent(ref)}/comment?orderBy=-created&maxResults=50`,
      headers: { Authorization: this.auth, Accept: 'application/json' },
      timeoutMs: this.config.delivery.timeout,
    });
    if (res.status === 404) return undefined;
    if (res.status !== 200)
      throw credentialsFailure(httpFailure(`Jira comments of ${ref}`, res), "check the account's browse permission");
    type Comment = { id?: unknown; author?: JiraUser; body?: unknown };
    const list = parseJson<{ comments?: Comment[] }>(`Jira comments of ${ref}`, res).comments ?? [];
    return list
      .filter((c) => typeof c.id === 'string')
      .reverse()
      .map((c) => {
        const authorId = jiraUserId(c.author);
        return {
          id: c.id as string,
          author: jiraUserName(c.author),
          ...(authorId === undefined ? {} : { authorId }),
          text: typeof c.body === 'string' ? c.body : adfToText(c.body),
        };
      });
  }

  /** The account of the credentials (`GET myself`), asked once it answers; until then undefined. */
  async ownActorId(): Promise<string | undefined> {
    if (this.ownId !== undefined) return this.ownId;
    try {
      const res = await this.call('GET', 'myself', 'current user');
      this.ownId = jiraUserId(parseJson<JiraUser & object>('Jira current user', res));
    } catch {
      // The status comparison still holds; the next webhook asks again.
    }
    return this.ownId;
  }

  /**
   * Takes the transition named `name` (or leading to a status of that name); ids differ per
   * workflow. Returns the status the issue is then in, when Jira said.
   */
  private async transition(ref: string, name: string, toDone: boolean): Promise<string | undefined> {
    const key = encodeURIComponent(ref);
    const res = await this.call('GET', `issue/${key}/transitions`, `transitions of ${ref}`);
    const list = parseJson<{ transitions?: Transition[] }>(`Jira transitions of ${ref}`, res).transitions ?? [];
    const want = name.toLowerCase();
    const t = list.find((x) => x.name.toLowerCase() === want) ?? list.find((x) => x.to?.name?.toLowerCase() === want);
    if (t) {
      await this.call('POST', `issue/${key}/transitions`, `transition ${ref} to ${name}`, { transition: { id: t.id } });
      return t.to?.name;
    }
    // No such transition from here: fine if a person already moved the issue there.
    const issue = await this.call('GET', `issue/${key}?fields=status`, `issue ${ref}`);
    const status = parseJson<{ fields?: { status?: IssueStatus } }>(`Jira issue ${ref}`, issue).fields?.status;
    if (status?.name?.toLowerCase() === want || (toDone && status?.statusCategory?.key === 'done')) return status?.name;
    throw new DeliveryError(
      `Jira issue ${ref} (status ${status?.name ?? '?'}) has no transition "${name}"; available: ${list.map((x) => x.name).join(', ') || 'none'}`,
      { retryable: false },
    );
  }
}

/**
 * An inserted value in Jira's wiki markup (Data Center, API v2): markup characters escaped, and
 * kept on one line with no line-start markup (`h1.`, `bq.`), so a value cannot start a heading,
 * a quote or a list, or lay out a link, wherever the template puts it.
 */
export function escapeWiki(text: string): string {
  return text
    .replace(/\s*[\r\n]+\s*/g, ' ')
    .replace(/[\\{}[\]*_|!~^+#-]/g, '\\$&')
    .replace(/^(\s*)(h[1-6]|bq)\./i, '$1$2\\.');
}
