import { createHmac } from 'node:crypto';
import { FakeHttpServer, parseJsonBody, type RecordedRequest, type Reply } from './server.ts';

export type JiraFlavour = 'cloud' | 'dc';

interface Status {
  id?: string;
  name: string;
  statusCategory: { key: 'new' | 'indeterminate' | 'done'; name: string };
}

const STATUSES: Record<string, Status> = {
  'To Do': { id: '10000', name: 'To Do', statusCategory: { key: 'new', name: 'To Do' } },
  'In Progress': { id: '3', name: 'In Progress', statusCategory: { key: 'indeterminate', name: 'In Progress' } },
  Done: { id: '10001', name: 'Done', statusCategory: { key: 'done', name: 'Done' } },
};

/** A Jira user as webhooks and changelogs show one (Cloud: account id and display name, no e-mail). */
export interface JiraUser {
  accountId: string;
  displayName: string;
}

interface History {
  id: string;
  author: JiraUser;
  created: string;
  items: {
    field: string;
    fieldtype: string;
    fieldId: string;
    from: string;
    fromString: string;
    to: string;
    toString: string;
  }[];
}
/** The workflow's transitions: ids are workflow-specific, which is why clients look them up by name. */
const TRANSITIONS = [
  { id: '11', name: 'Back to do', to: 'To Do' },
  { id: '21', name: 'Start progress', to: 'In Progress' },
  { id: '31', name: 'Done', to: 'Done' },
];

export interface JiraIssue {
  id: string;
  key: string;
  fields: {
    summary: string;
    description: unknown;
    labels: string[];
    priority?: { name: string };
    components: { name: string }[];
    issuetype: { name: string };
    status: Status;
  };
  /** The comments' bodies, as posted. */
  comments: unknown[];
  /** The comments as `GET issue/{key}/comment` lists them, oldest first. */
  thread: JiraComment[];
  histories: History[];
}

/** Data Center names users by name and key, not account id. */
type DcUser = { name: string; key: string; displayName: string };
const DC_API_USER = { name: 'vigil-bot', key: 'JIRAUSER10100' };

export interface JiraComment {
  id: string;
  author: JiraUser | DcUser;
  body: unknown;
  created: string;
}

const errors = (status: number, errorMessages: string[], errs: Record<string, string> = {}): Reply => ({
  status,
  body: { errorMessages, errors: errs },
});

/** A minimal but strict check of an Atlassian Document: doc → block nodes → non-empty text nodes. */
function isAdf(v: unknown): boolean {
  const doc = v as {
    type?: string;
    version?: number;
    content?: { type?: string; content?: { type?: string; text?: string }[] }[];
  };
  if (!doc || doc.type !== 'doc' || doc.version !== 1 || !Array.isArray(doc.content)) return false;
  return doc.content.every(
    (b) =>
      ['paragraph', 'heading', 'codeBlock', 'bulletList', 'rule'].includes(b.type ?? '') &&
      (b.content ?? []).every((t) => t.type !== 'text' || (typeof t.text === 'string' && t.text.length > 0)),
  );
}

/**
 * Jira REST as documented for Cloud (v3: Basic email:API token, ADF rich text, /search/jql,
 * old /search answering 410) and Data Center (v2: Bearer PAT, plain strings, /search), with
 * ErrorCollection bodies, 201 `{id,key,self}`, transitions looked up per issue and 204 on POST.
 */
export class FakeJira extends FakeHttpServer {
  readonly issues = new Map<string, JiraIssue>();
  private seq = 0;
  private readonly flavour: JiraFlavour;
  private readonly credentials: string;
  readonly project = 'OPS';
  readonly priorities = ['Highest', 'High', 'Medium', 'Low', 'Lowest'];
  /** The account whose credentials Vigil holds. */
  readonly apiUser: JiraUser = { accountId: '5b10ac8d82e05b22cc7d4ef5', displayName: 'Vigil bot' };
  /** `jira:issue_updated` and `comment_created` events, in order, as Jira sends them to its registered webhooks: for every status change and comment, Vigil's own included. */
  readonly webhooks: object[] = [];

  constructor(flavour: JiraFlavour, credentials: { email?: string; apiToken?: string; pat?: string } = {}) {
    super((r) => this.answer(r));
    this.flavour = flavour;
    this.credentials =
      flavour === 'cloud'
        ? `Basic ${Buffer.from(`${credentials.email ?? 'ops@example.com'}:${credentials.apiToken ?? 'api-token-1'}`).toString('base64')}`
        : `Bearer ${credentials.pat ?? 'pat-1'}`;
  }

  get version(): '3' | '2' {
    return this.flavour === 'cloud' ? '3' : '2';
  }

  /** A person moves an issue in Jira's interface (the board, the issue view): the status, the changelog, a webhook. */
  personMoves(
    key: string,
    to: string,
    who: JiraUser = { accountId: '557058:f58131cb', displayName: 'Jane Doe' },
  ): object {
    const issue = this.issues.get(key);
    if (!issue || !STATUSES[to]) throw new Error(`no issue ${key} or status ${to}`);
    return this.move(issue, STATUSES[to], who);
  }

  /** A person comments on an issue in Jira's interface. */
  personComments(
    key: string,
    text: string,
    who: JiraUser = { accountId: '557058:f58131cb', displayName: 'Jane Doe' },
  ): JiraComment {
    const issue = this.issues.get(key);
    if (!issue) throw new Error(`no issue ${key}`);
    const body =
      this.flavour === 'cloud'
        ? {
            type: 'doc',
            version: 1,
            content: text.split('\n').map((line) => ({ type: 'paragraph', content: [{ type: 'text', text: line }] })),
          }
        : text;
    return this.comment(issue, body, who);
  }

  /** Every comment, Vigil's own included, is also a `comment_created` webhook. */
  private comment(issue: JiraIssue, body: unknown, author: JiraUser | DcUser): JiraComment {
    issue.comments.push(body);
    const c = { id: String(10_000 + issue.comments.length), author, body, created: new Date().toISOString() };
    issue.thread.push(c);
    this.webhooks.push({
      timestamp: Date.now(),
      webhookEvent: 'comment_created',
      comment: { ...c, updateAuthor: author, updated: c.created },
      issue: { id: issue.id, key: issue.key, fields: { summary: issue.fields.summary, status: issue.fields.status } },
    });
    return c;
  }

  /**
   * A webhook body signed as Jira Cloud signs an admin webhook with a secret: HMAC-SHA256 of
   * the exact body, hex, in `X-Hub-Signature: sha256=…`.
   */
  static signed(payload: object, secret: string): { body: string; headers: Record<string, string> } {
    const body = JSON.stringify(payload);
    return {
      body,
      headers: {
        'content-type': 'application/json; charset=utf-8',
        'x-hub-signature': `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`,
        'x-atlassian-webhook-identifier': String(Math.floor(Math.random() * 1e9)),
      },
    };
  }

  private move(issue: JiraIssue, to: Status, who: JiraUser): object {
    const from = issue.fields.status;
    issue.fields.status = to;
    const item = {
      field: 'status',
      fieldtype: 'jira',
      fieldId: 'status',
      from: from.id ?? '',
      fromString: from.name,
      to: to.id ?? '',
      toString: to.name,
    };
    const history: History = {
      id: String(20_000 + issue.histories.length + this.webhooks.length),
      author: who,
      created: new Date().toISOString(),
      items: [item],
    };
    issue.histories.push(history);
    const event = {
      timestamp: Date.now(),
      webhookEvent: 'jira:issue_updated',
      issue_event_type_name: 'issue_generic',
      user: {
        self: `${this.url}/rest/api/3/user?accountId=${who.accountId}`,
        ...who,
        active: true,
        accountType: 'atlassian',
      },
      // The issue as it was when the event happened.
      issue: {
        id: issue.id,
        self: `${this.url}/rest/api/3/issue/${issue.id}`,
        key: issue.key,
        fields: structuredClone(issue.fields),
      },
      changelog: { id: history.id, items: [item] },
    };
    this.webhooks.push(event);
    return event;
  }

  count(method: string, pathEnd: RegExp): number {
    return this.requests.filter((r) => r.method === method && pathEnd.test(r.path)).length;
  }

  private rich(v: unknown): boolean {
    return this.flavour === 'cloud' ? isAdf(v) : typeof v === 'string';
  }

  private answer(r: RecordedRequest): Reply {
    if (r.headers.authorization !== this.credentials)
      return errors(401, ['You are not authenticated. Authentication required to perform this operation.']);
    const m = /^\/rest\/api\/(2|3)\/(.*)$/.exec(r.path);
    if (!m) return errors(404, ['null for uri']);
    const [, version, rest] = m as unknown as [string, string, string];
    if (this.flavour === 'dc' && version === '3') return errors(404, ['null for uri']);
    const body = r.method === 'POST' ? (parseJsonBody(r) as Record<string, unknown> | undefined) : undefined;
    if (r.method === 'POST' && (!body || !(r.headers['content-type'] ?? '').startsWith('application/json')))
      return errors(415, ['Unsupported Media Type']);
    const rich = version === '3' ? this.rich.bind(this) : (v: unknown) => typeof v === 'string';

    if (rest === 'search' && this.flavour === 'cloud')
      return errors(410, [
        'The requested API has been removed. Please migrate to the /rest/api/3/search/jql API. A full migration guideline is available at https://developer.atlassian.com/changelog/#CHANGE-2046',
      ]);
    if ((rest === 'search/jql' && this.flavour === 'cloud') || (rest === 'search' && this.flavour === 'dc'))
      return r.method === 'POST' ? this.search(body!) : errors(405, ['Method not allowed']);
    if (rest === 'issue' && r.method === 'POST') return this.create(body!, rich, version);
    // The calling account: Cloud names it by accountId, Data Center by name (and key).
    if (rest === 'myself' && r.method === 'GET')
      return {
        status: 200,
        body:
          this.flavour === 'cloud'
            ? { self: `${this.url}/rest/api/3/user?accountId=${this.apiUser.accountId}`, ...this.apiUser, active: true }
            : { ...DC_API_USER, displayName: this.apiUser.displayName, active: true },
      };

    const im = /^issue\/([^/]+)(?:\/(comment|transitions))?$/.exec(rest);
    const issue = im ? this.issues.get(decodeURIComponent(im[1]!)) : undefined;
    if (im && !issue) return errors(404, ['Issue does not exist or you do not have permission to see it.']);
    if (im && issue) {
      const sub = im[2];
      if (!sub && r.method === 'GET') {
        const body: Record<string, unknown> = { id: issue.id, key: issue.key, fields: issue.fields };
        // expand=changelog embeds the issue's histories, oldest first.
        if ((r.query.get('expand') ?? '').split(',').includes('changelog'))
          body.changelog = {
            startAt: 0,
            maxResults: issue.histories.length,
            total: issue.histories.length,
            histories: issue.histories,
          };
        return { status: 200, body };
      }
      if (sub === 'comment' && r.method === 'POST') {
        if (!rich(body!.body))
          return errors(400, [], {
            comment:
              version === '3' ? 'Operation value must be an Atlassian Document' : 'Comment body can not be empty!',
          });
        const own = this.flavour === 'cloud' ? this.apiUser : { ...DC_API_USER, displayName: this.apiUser.displayName };
        const c = this.comment(issue, body!.body, own);
        return { status: 201, body: { id: c.id, body: c.body } };
      }
      // Paged, oldest first unless `orderBy=-created`, as Jira lists them.
      if (sub === 'comment' && r.method === 'GET') {
        const all = r.query.get('orderBy') === '-created' ? [...issue.thread].reverse() : issue.thread;
        const startAt = Number(r.query.get('startAt') ?? 0);
        const maxResults = Math.min(Number(r.query.get('maxResults') ?? 50), 100);
        return {
          status: 200,
          body: { startAt, maxResults, total: all.length, comments: all.slice(startAt, startAt + maxResults) },
        };
      }
      if (sub === 'transitions' && r.method === 'GET') {
        const transitions = TRANSITIONS.filter((t) => t.to !== issue.fields.status.name).map((t) => ({
          id: t.id,
          name: t.name,
          to: STATUSES[t.to],
          hasScreen: false,
          isGlobal: true,
          isInitial: false,
          isAvailable: true,
          isConditional: false,
          isLooped: false,
        }));
        return { status: 200, body: { expand: 'transitions', transitions } };
      }
      if (sub === 'transitions' && r.method === 'POST') {
        const id = (body!.transition as { id?: string } | undefined)?.id;
        const t = TRANSITIONS.find((x) => x.id === id && x.to !== issue.fields.status.name);
        if (!t) return errors(400, [`Transition id '${id}' is not valid for this issue.`]);
        this.move(issue, STATUSES[t.to]!, this.apiUser);
        return { status: 204 };
      }
    }
    return errors(404, ['null for uri']);
  }

  private create(body: Record<string, unknown>, rich: (v: unknown) => boolean, version: string): Reply {
    const f = (body.fields ?? {}) as Record<string, unknown>;
    const errs: Record<string, string> = {};
    const messages: string[] = [];
    if ((f.project as { key?: string } | undefined)?.key !== this.project) errs.project = 'valid project is required';
    if (!['Task', 'Bug', 'Incident'].includes((f.issuetype as { name?: string } | undefined)?.name ?? ''))
      errs.issuetype = 'Specify a valid issue type';
    if (typeof f.summary !== 'string' || f.summary === '') errs.summary = 'You must specify a summary of the issue.';
    else if (f.summary.includes('\n') || f.summary.length > 255)
      errs.summary = 'Summary must be a single line of at most 255 characters.';
    if (f.description !== undefined && !rich(f.description))
      errs.description =
        version === '3' ? 'Operation value must be an Atlassian Document' : 'Operation value must be a string';
    const labels = (f.labels ?? []) as string[];
    const bad = labels.find((l) => typeof l !== 'string' || /\s/.test(l));
    if (bad !== undefined) errs.labels = `The label '${bad}' contains spaces which is invalid.`;
    const priority = f.priority as { name?: string } | undefined;
    if (priority && !this.priorities.includes(priority.name ?? '')) errs.priority = `The priority selected is invalid.`;
    if (Object.keys(errs).length || messages.length) return errors(400, messages, errs);
    const n = ++this.seq;
    const issue: JiraIssue = {
      id: String(10_000 + n),
      key: `${this.project}-${n}`,
      fields: {
        summary: f.summary as string,
        description: f.description,
        labels,
        priority: priority as { name: string } | undefined,
        components: (f.components ?? []) as { name: string }[],
        issuetype: f.issuetype as { name: string },
        status: STATUSES['To Do']!,
      },
      comments: [],
      thread: [],
      histories: [],
    };
    this.issues.set(issue.key, issue);
    return {
      status: 201,
      body: { id: issue.id, key: issue.key, self: `${this.url}/rest/api/${version}/issue/${issue.id}` },
    };
  }

  /** The JQL this fake understands: `field = "v"` / `!=` clauses joined by AND, over project, labels, statusCategory. */
  private search(body: Record<string, unknown>): Reply {
    const jql = String(body.jql ?? '');
    let hits = [...this.issues.values()];
    for (const clause of jql.split(/\s+AND\s+/i)) {
      const c = /^\s*(project|labels|statusCategory)\s*(=|!=)\s*"?([^"]*?)"?\s*$/.exec(clause);
      if (!c) return errors(400, [`Error in the JQL Query: unsupported clause '${clause}'.`]);
      const [, field, op, value] = c as unknown as [string, string, string, string];
      const test = (i: JiraIssue) =>
        field === 'project'
          ? i.key.startsWith(`${value}-`)
          : field === 'labels'
            ? i.fields.labels.includes(value)
            : i.fields.status.statusCategory.name.toLowerCase() === value.toLowerCase();
      hits = hits.filter((i) => (op === '=' ? test(i) : !test(i)));
    }
    const max = Number(body.maxResults ?? 50);
    const issues = hits.slice(0, max).map((i) => ({
      id: i.id,
      key: i.key,
      self: `${this.url}/rest/api/${this.version}/issue/${i.id}`,
      fields: { key: i.key },
    }));
    return {
      status: 200,
      body:
        this.flavour === 'cloud'
          ? { issues, isLast: hits.length <= max }
          : { startAt: 0, maxResults: max, total: hits.length, issues },
    };
  }
}
