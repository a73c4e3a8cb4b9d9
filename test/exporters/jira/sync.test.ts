import { createHmac } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { apiSchema } from '../../../src/api/config.ts';
import { ApiServer } from '../../../src/api/server.ts';
import { jiraExporterSchema } from '../../../src/exporters/jira/config.ts';
import { JiraDriver } from '../../../src/exporters/jira/driver.ts';
import { jiraSync } from '../../../src/exporters/jira/sync.ts';
import { FakeJira } from '../../support/fakes/jira.ts';
import { waitFor } from '../../support/waitFor.ts';
import { compileTree, parseWith } from '../incidentFixtures.ts';
import { syncWorld, type SyncWorld } from '../tickets/syncWorld.ts';

const SECRET = 'It5-a-s3cret-only-Jira-and-Vigil-know';
const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

/** A Jira exporter `jira/ops` syncing back by `sync`, the Cloud fake, the core, and the API listener its webhooks arrive on. */
async function world(sync: Record<string, unknown>, extra: Record<string, unknown> = {}, routing?: object) {
  const jira = await new FakeJira('cloud').listen();
  cleanup.push(() => jira.close());
  const config = parseWith(jiraExporterSchema, {
    url: jira.url,
    email: 'ops@example.com',
    api_token: 'api-token-1',
    project: 'OPS',
    reopen_transition: 'In Progress',
    sync,
    ...extra,
  });
  const driver = new JiraDriver(config);
  const tree = routing && compileTree(routing, ['jira/ops']);
  const w: SyncWorld = await syncWorld('jira/ops', config, driver, jiraSync(config, driver), cleanup, tree);
  const api = new ApiServer({
    config: apiSchema.parse({ endpoint: '127.0.0.1:0' }, 'api', [])!,
    desk: () => w.desk,
    ticketWebhook: (id) => (id === 'jira/ops' ? w.exp.ticketWebhook() : undefined),
  });
  await api.start();
  cleanup.push(() => api.stop());
  const base = `http://127.0.0.1:${api.address!.port}`;
  /** Posts a body to the webhook endpoint as Jira would, signed with `secret` unless told otherwise. */
  const post = async (
    payload: object,
    opts: { secret?: string; unsigned?: boolean; path?: string; headers?: Record<string, string>; body?: string } = {},
  ) => {
    const signed = FakeJira.signed(payload, opts.secret ?? SECRET);
    if (opts.unsigned) delete signed.headers['x-hub-signature'];
    const res = await fetch(`${base}${opts.path ?? '/api/v1/webhooks/jira/ops'}`, {
      method: 'POST',
      headers: { ...signed.headers, ...opts.headers },
      body: opts.body ?? signed.body,
    });
    const text = await res.text();
    return { status: res.status, type: res.headers.get('content-type'), body: text ? JSON.parse(text) : undefined };
  };
  /** Delivers Jira's queued webhooks (Vigil's own transitions' included), each signed and expected to be taken. */
  const flushWebhooks = async () => {
    for (const event of jira.webhooks.splice(0)) expect((await post(event)).status).toBe(204);
    await w.deliver();
  };
  return { ...w, jira, post, flushWebhooks };
}

describe('Jira issues back to incidents, by signed webhook (sync.mode: webhook)', () => {
  it('acknowledges when a person starts progress and resolves when they move it to done, with them as the actor', async () => {
    const w = await world({ mode: 'webhook', secret: SECRET });
    await w.event('web-1', 'down');
    expect([...w.jira.issues.keys()]).toEqual(['OPS-1']);

    w.jira.personMoves('OPS-1', 'In Progress');
    await w.flushWebhooks();
    expect(w.incident('web-1')).toMatchObject({ status: 'acknowledged', acknowledgedBy: 'Jane Doe' });
    expect(w.delivered.at(-1)).toMatchObject({
      kind: 'acknowledged',
      actor: 'Jane Doe',
      reason: 'acknowledged by ticket jira/ops#OPS-1 (Jane Doe)',
    });
    // Told back to the issue as a comment.
    expect(JSON.stringify(w.jira.issues.get('OPS-1')!.comments)).toContain(
      'acknowledged by ticket jira/ops#OPS-1 (Jane Doe)',
    );

    w.jira.personMoves('OPS-1', 'Done');
    await w.flushWebhooks();
    expect(w.incident('web-1')).toMatchObject({ status: 'resolved' });
    expect(w.delivered.at(-1)).toMatchObject({ kind: 'resolved', actor: 'Jane Doe' });
    // The issue was done already: Vigil took no transition, only commented.
    expect(w.jira.count('POST', /\/transitions$/)).toBe(0);
    expect(w.jira.webhooks.map((e) => (e as { webhookEvent: string }).webhookEvent)).toEqual(['comment_created']);
    expect(w.delivered.map((c) => c.kind)).toEqual(['acknowledged', 'resolved']);
  });

  it("reads none of Vigil's own transitions back: done on resolve, in progress on reopen, and Jira's retries of them", async () => {
    const w = await world({ mode: 'webhook', secret: SECRET });
    await w.event('db-1', 'down');
    await w.act('db-1', 'alice', { kind: 'resolve', reason: 'failed over' });
    expect(w.jira.issues.get('OPS-1')!.fields.status.name).toBe('Done');
    const resolveHook = w.jira.webhooks[0];
    expect(resolveHook).toMatchObject({
      user: { displayName: 'Vigil bot' },
      changelog: { items: [{ toString: 'Done' }] },
    });
    await w.flushWebhooks();

    // Back within the reopen window: the exporter takes the issue to In Progress.
    await w.event('db-1', 'down');
    expect(w.jira.issues.get('OPS-1')!.fields.status.name).toBe('In Progress');
    const reopenHook = w.jira.webhooks[0]!;
    await w.flushWebhooks();
    // Jira retries a delivery it did not hear back from.
    expect((await w.post(reopenHook)).status).toBe(204);
    expect((await w.post(resolveHook!)).status).toBe(204);
    await w.deliver();
    expect(w.incident('db-1')!.status).toBe('open');
    expect(w.incident('db-1')!.acknowledgedBy).toBeUndefined();
    expect(w.delivered.map((c) => [c.kind, c.actor])).toEqual([['resolved', 'alice']]);

    // A person's move after Vigil's still counts.
    w.jira.personMoves('OPS-1', 'Done');
    await w.flushWebhooks();
    expect(w.incident('db-1')!.status).toBe('resolved');
    expect(w.delivered.map((c) => [c.kind, c.actor])).toEqual([
      ['resolved', 'alice'],
      ['resolved', 'Jane Doe'],
    ]);
  });

  it('refuses a missing or bad signature (401), a body that is not JSON (400), an exporter without webhooks (404) and a body over 1 MiB (413)', async () => {
    const w = await world({ mode: 'webhook', secret: SECRET });
    await w.event('sw-1', 'down');
    const moved = w.jira.personMoves('OPS-1', 'Done');
    const problem = (code: string, status: number) => ({
      status,
      type: expect.stringMatching(/^application\/problem\+json/),
      body: expect.objectContaining({ status, code }),
    });
    const unauthenticated = problem('VIGIL_UNAUTHENTICATED', 401);
    expect(await w.post(moved, { unsigned: true })).toMatchObject(unauthenticated);
    expect(await w.post(moved, { headers: { 'x-hub-signature': '' } })).toMatchObject(unauthenticated);
    expect(await w.post(moved, { secret: 'another-secret' })).toMatchObject(unauthenticated);
    expect(await w.post(moved, { headers: { 'x-hub-signature': 'sha1=0123' } })).toMatchObject(unauthenticated);
    // Signed, then changed on the way.
    const signed = FakeJira.signed(moved, SECRET);
    expect(
      await w.post(moved, { headers: signed.headers, body: signed.body.replace('Jane Doe', 'Mallory') }),
    ).toMatchObject(unauthenticated);
    expect(w.incident('sw-1')!.status).toBe('open');

    const notJson = 'not json';
    const signature = `sha256=${createHmac('sha256', SECRET).update(notJson).digest('hex')}`;
    expect(await w.post({}, { headers: { 'x-hub-signature': signature }, body: notJson })).toMatchObject(
      problem('VIGIL_INVALID_REQUEST', 400),
    );
    expect(await w.post(moved, { path: '/api/v1/webhooks/jira/other' })).toMatchObject(
      problem('VIGIL_ROUTE_NOT_FOUND', 404),
    );
    // Larger than an operator's request may be (64 KiB), as an issue with a long description is: taken.
    const long = {
      webhookEvent: 'jira:issue_updated',
      issue: { key: 'OPS-1', fields: { description: 'x'.repeat(200_000) } },
    };
    expect((await w.post(long)).status).toBe(204);
    const huge = { ...moved, padding: 'x'.repeat(1024 * 1024) };
    expect(await w.post(huge)).toMatchObject(problem('VIGIL_PAYLOAD_TOO_LARGE', 413));
    expect(w.incident('sw-1')!.status).toBe('open');

    // The genuine delivery goes through.
    expect((await w.post(moved)).status).toBe(204);
    expect(w.incident('sw-1')!.status).toBe('resolved');
  });

  it('takes other events and changes that move no status, and issues Vigil holds for no open incident, without acting', async () => {
    const w = await world({ mode: 'webhook', secret: SECRET });
    await w.event('web-2', 'down');
    const worklog = {
      webhookEvent: 'worklog_created',
      worklog: { timeSpent: '1h', comment: 'on it' },
      issue: { key: 'OPS-1' },
    };
    expect((await w.post(worklog)).status).toBe(204);
    const labelled = {
      webhookEvent: 'jira:issue_updated',
      user: { displayName: 'Jane Doe' },
      issue: { key: 'OPS-1', fields: { status: { name: 'Done', statusCategory: { key: 'done' } } } },
      changelog: { items: [{ field: 'labels', fromString: '', toString: 'urgent' }] },
    };
    expect((await w.post(labelled)).status).toBe(204);
    const strangers = {
      ...labelled,
      issue: { ...labelled.issue, key: 'OPS-99' },
      changelog: { items: [{ field: 'status', toString: 'Done' }] },
    };
    expect((await w.post(strangers)).status).toBe(204);
    expect(w.incident('web-2')!.status).toBe('open');
    expect(w.delivered).toEqual([]);
  });
});

describe('Jira comments back to incidents, by signed webhook (sync.mode: webhook)', () => {
  it("adds a person's comment to the incident's timeline once, even redelivered, and never Vigil's own", async () => {
    const w = await world({ mode: 'webhook', secret: SECRET });
    await w.event('web-1', 'down');
    await w.act('web-1', 'alice', { kind: 'comment', text: 'looking into it' });
    w.jira.personComments('OPS-1', 'rebooted the switch', { accountId: '557058:1', displayName: 'Sam Ops' });
    const [own, person] = w.jira.webhooks.slice();
    expect(own).toMatchObject({ webhookEvent: 'comment_created', comment: { author: { displayName: 'Vigil bot' } } });
    await w.flushWebhooks();
    // Jira retries a delivery it did not hear back from.
    expect((await w.post(person!)).status).toBe(204);
    expect((await w.post(own!)).status).toBe(204);
    await w.deliver();
    expect(w.comments('web-1')).toEqual([
      ['alice', 'comment by alice: looking into it'],
      ['Sam Ops', 'comment by ticket jira/ops#OPS-1 (Sam Ops): rebooted the switch'],
    ]);
    expect(w.jira.issues.get('OPS-1')!.comments).toHaveLength(2);
  });

  it('refuses a comment event without the issue key or the comment id', async () => {
    const w = await world({ mode: 'webhook', secret: SECRET });
    expect((await w.post({ webhookEvent: 'comment_created', comment: { id: '1', body: 'x' } })).status).toBe(400);
    expect((await w.post({ webhookEvent: 'comment_created', issue: { key: 'OPS-1' }, comment: {} })).status).toBe(400);
  });
});

describe('Jira issues back to incidents, by polling (sync.mode: poll)', () => {
  it("resolves within one interval of a person moving the issue to done, naming them from the changelog; Vigil's reopen transition is not read back", async () => {
    const w = await world({ mode: 'poll', interval: '1m' });
    await w.event('web-1', 'down');
    await w.act('web-1', 'alice', { kind: 'resolve', reason: '' });
    await w.event('web-1', 'down');
    expect(w.jira.issues.get('OPS-1')!.fields.status.name).toBe('In Progress');
    await w.pass();
    expect(w.incident('web-1')!.status).toBe('open');
    expect(w.jira.requests.at(-1)!.query.get('expand')).toBe('changelog');

    w.jira.personMoves('OPS-1', 'Done', { accountId: '557058:1', displayName: 'Sam Ops' });
    await w.pass();
    expect(w.incident('web-1')!.status).toBe('resolved');
    expect(w.delivered.map((c) => [c.kind, c.actor])).toEqual([
      ['resolved', 'alice'],
      ['resolved', 'Sam Ops'],
    ]);
    await waitFor(() => w.jira.issues.get('OPS-1')!.comments.length === 3, 'the comment on the resolve');
  });

  it("adds a person's comment on the issue to the incident's timeline once, reads none of Vigil's own, and does not echo it back", async () => {
    const w = await world({ mode: 'poll', interval: '1m' });
    await w.event('web-1', 'down');
    await w.act('web-1', 'alice', { kind: 'comment', text: 'looking into it' });
    w.jira.personComments('OPS-1', 'rebooted the switch in rack 4\nlink is back', {
      accountId: '557058:1',
      displayName: 'Sam Ops',
    });
    await w.pass();
    await w.pass();
    expect(w.comments('web-1')).toEqual([
      ['alice', 'comment by alice: looking into it'],
      ['Sam Ops', 'comment by ticket jira/ops#OPS-1 (Sam Ops): rebooted the switch in rack 4\nlink is back'],
    ]);
    expect(w.delivered.at(-1)).toMatchObject({ kind: 'commented', actor: 'Sam Ops', ticket: 'jira/ops#OPS-1' });
    // Vigil's comment for alice's, and Sam's own: his is not posted to the issue a second time.
    expect(w.jira.issues.get('OPS-1')!.comments).toHaveLength(2);
  });

  it('adds an API comment to the issue', async () => {
    const w = await world({ mode: 'off' });
    await w.event('web-4', 'down');
    await w.act('web-4', 'alice', { kind: 'comment', text: 'vendor ticket 4711 opened' });
    expect(JSON.stringify(w.jira.issues.get('OPS-1')!.comments)).toContain(
      'comment by alice: vendor ticket 4711 opened',
    );
  });
});

describe('Jira sync config', () => {
  it('requires the secret with mode webhook', () => {
    expect(() =>
      parseWith(jiraExporterSchema, {
        url: 'https://acme.atlassian.net',
        token: 't',
        project: 'OPS',
        sync: { mode: 'webhook' },
      }),
    ).toThrow("sync.secret: set the webhook's secret: Vigil takes only signed webhooks");
  });
});

describe('Jira group issues back to incidents', () => {
  /** One issue per rule's group of incidents, 30 s to gather. */
  const GROUPED = {
    receiver: 'tickets',
    group_by: ['alertname'],
    group_wait: '30s',
    receivers: [{ name: 'tickets', exporters: ['jira/ops'] }],
  };

  for (const sync of [
    { mode: 'webhook', secret: SECRET },
    { mode: 'poll', interval: '1m' },
  ])
    it(`resolves every member the group's issue listed when a person moves it to Done (sync.mode: ${sync.mode})`, async () => {
      const w = await world(sync, {}, GROUPED);
      await w.event('web-1', 'down');
      await w.event('web-2', 'down');
      await w.advanceGroups(30_000);
      expect([...w.jira.issues.keys()]).toEqual(['OPS-1']);
      w.jira.webhooks.splice(0);
      w.jira.personMoves('OPS-1', 'Done');
      if (sync.mode === 'webhook') await w.flushWebhooks();
      else await w.pass();
      for (const asset of ['web-1', 'web-2']) {
        expect(w.incident(asset)!.status).toBe('resolved');
        expect(w.audit(asset, 'resolved')).toEqual([['Jane Doe', 'resolved by ticket jira/ops#OPS-1 (Jane Doe)']]);
      }
      expect(w.delivered.filter((c) => c.kind === 'resolved')).toHaveLength(2);
      // The group's resolution, at its next notification, finds the issue done: no transition of Vigil's.
      await w.advanceGroups(5 * 60_000);
      expect(w.jira.count('POST', /\/transitions$/)).toBe(0);
      expect(w.jira.issues.get('OPS-1')!.fields.status.name).toBe('Done');
      expect(w.jira.issues.size).toBe(1);
    });
});
