import { severityName } from '../../model/severity.ts';
import { DeliveryError } from '../tickets/delivery.ts';
import { credentialsFailure, httpFailure, parseJson, send, type HttpResult } from '../tickets/http.ts';
import type { Notice, TicketDriver } from '../tickets/incidentExporter.ts';
import { textToAdf } from './adf.ts';
import type { JiraExporterConfig } from './config.ts';

interface Transition {
  id: string;
  name: string;
  to?: { name?: string };
}

/** Speaks Jira REST v3 (Cloud, ADF) or v2 (Data Center, text): issue, comment, transitions, JQL search. */
export class JiraDriver implements TicketDriver {
  private readonly config: JiraExporterConfig;
  private readonly api: string;
  private readonly auth: string;

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
  async resolve(ref: string, n: Notice): Promise<void> {
    await this.transition(ref, this.config.resolve_transition, true);
    await this.update(ref, n);
  }

  async reopen(ref: string, n: Notice): Promise<void> {
    if (this.config.reopen_transition) await this.transition(ref, this.config.reopen_transition, false);
    await this.update(ref, n);
  }

  /** Takes the transition named `name` (or leading to a status of that name); ids differ per workflow. */
  private async transition(ref: string, name: string, toDone: boolean): Promise<void> {
    const key = encodeURIComponent(ref);
    const res = await this.call('GET', `issue/${key}/transitions`, `transitions of ${ref}`);
    const list = parseJson<{ transitions?: Transition[] }>(`Jira transitions of ${ref}`, res).transitions ?? [];
    const want = name.toLowerCase();
    const t = list.find((x) => x.name.toLowerCase() === want) ?? list.find((x) => x.to?.name?.toLowerCase() === want);
    if (t) {
      await this.call('POST', `issue/${key}/transitions`, `transition ${ref} to ${name}`, { transition: { id: t.id } });
      return;
    }
    // No such transition from here: fine if a person already moved the issue there.
    const issue = await this.call('GET', `issue/${key}?fields=status`, `issue ${ref}`);
    const status = parseJson<{ fields?: { status?: { name?: string; statusCategory?: { key?: string } } } }>(
      `Jira issue ${ref}`,
      issue,
    ).fields?.status;
    if (status?.name?.toLowerCase() === want || (toDone && status?.statusCategory?.key === 'done')) return;
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
