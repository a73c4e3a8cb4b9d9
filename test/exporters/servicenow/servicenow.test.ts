import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { serviceNowExporterSchema } from '../../../src/exporters/servicenow/config.ts';
import { correlationId, ServiceNowDriver } from '../../../src/exporters/servicenow/driver.ts';
import { incidentMarker } from '../../../src/exporters/tickets/incidentExporter.ts';
import { FakeServiceNow } from '../../support/fakes/serviceNow.ts';
import { ManualTimers } from '../../support/fakes/timers.ts';
import { IncidentStory, parseWith, startIncidentExporter } from '../incidentFixtures.ts';

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

async function snFake() {
  const sn = await new FakeServiceNow().listen();
  cleanup.push(() => sn.close());
  return sn;
}

const BASIC = { username: 'vigil.integration', password: 'secret' };
const OAUTH = { client_id: 'client-1', client_secret: 'client-secret-1' };
const KEY = 'disk-full{host="db-1"}';

async function exporter(
  sn: FakeServiceNow,
  extra: Record<string, unknown>,
  opts: { timers?: ManualTimers; dataDir?: string } = {},
) {
  const config = parseWith(serviceNowExporterSchema, { url: sn.url, ...extra });
  return startIncidentExporter('servicenow', config, new ServiceNowDriver(config, opts.timers), opts, cleanup);
}

const only = (sn: FakeServiceNow) => {
  expect(sn.incidents.size).toBe(1);
  return [...sn.incidents.values()][0]!;
};

describe('ServiceNow exporter', () => {
  it('creates one incident with its correlation_id and mapped fields, adds work notes, resolves it with a close code and notes', async () => {
    const sn = await snFake();
    const { exp } = await exporter(sn, {
      ...BASIC,
      caller_id: 'a8f98bb0eb32010045e1a5115206fe3a',
      assignment_group: '287ebd7da9fe198100f92cc8d1d2154e',
      category: 'hardware',
      fields: { contact_type: 'monitoring' },
    });
    const story = new IncidentStory();
    await exp.consumeIncidents([
      story.next('opened'),
      story.next('updated'),
      story.next('escalated'),
      story.next('resolved'),
    ]);
    await exp.outbox.whenIdle();
    expect(exp.outbox.parked).toBe(0);
    const inc = only(sn);
    expect(inc).toMatchObject({
      short_description: '[ERROR] Disk full on db-1',
      correlation_id: KEY,
      correlation_display: 'Vigil',
      urgency: '1',
      impact: '2',
      priority: '2',
      caller_id: 'a8f98bb0eb32010045e1a5115206fe3a',
      assignment_group: '287ebd7da9fe198100f92cc8d1d2154e',
      category: 'hardware',
      contact_type: 'monitoring',
      state: '6',
      close_code: 'Solution provided',
    });
    expect(inc.description).toContain(`Incident: ${KEY}`);
    expect(inc.close_notes).toContain('resolved: resolved by test');
    expect(sn.workNotes.get(inc.sys_id)!.map((n) => n.split('\n')[0])).toEqual([
      'updated: updated by test',
      'escalated: escalated by test',
    ]);
    expect(sn.count('POST', /\/incident$/)).toBe(1);
    expect(
      sn.requests.every(
        (r) => r.headers.authorization === `Basic ${Buffer.from('vigil.integration:secret').toString('base64')}`,
      ),
    ).toBe(true);
  });

  it('reopens a resolved incident when the incident comes back, and accepts one a person closed meanwhile', async () => {
    const sn = await snFake();
    const { exp } = await exporter(sn, { ...BASIC, reopen_state: 1 });
    const story = new IncidentStory();
    await exp.consumeIncidents([story.next('opened'), story.next('resolved'), story.next('reopened')]);
    await exp.outbox.whenIdle();
    const inc = only(sn);
    expect(inc).toMatchObject({ state: '1', reopen_count: '1' });
    expect(sn.workNotes.get(inc.sys_id)!.at(-1)).toContain('reopened: reopened by test');
    inc.state = '7'; // closed by hand: the ACL refuses further updates
    await exp.consumeIncidents([story.next('resolved')]);
    await exp.outbox.whenIdle();
    expect(exp.outbox.parked).toBe(0);
    expect(inc.state).toBe('7');
  });

  it('gets an OAuth token once, uses it until it expires, and renews a revoked one once without a retry', async () => {
    const sn = await snFake();
    const timers = new ManualTimers();
    const { exp } = await exporter(sn, OAUTH, { timers });
    const story = new IncidentStory();
    await exp.consumeIncidents([story.next('opened'), story.next('updated')]);
    await exp.outbox.whenIdle();
    expect(sn.count('POST', /^\/oauth_token\.do$/)).toBe(1);
    const tokenRequest = sn.requests.find((r) => r.path === '/oauth_token.do')!;
    expect(Object.fromEntries(new URLSearchParams(tokenRequest.body))).toEqual({
      grant_type: 'client_credentials',
      client_id: 'client-1',
      client_secret: 'client-secret-1',
    });
    expect(
      sn.requests
        .filter((r) => r.path.startsWith('/api/'))
        .every((r) => r.headers.authorization?.startsWith('Bearer ')),
    ).toBe(true);

    sn.revokeTokens();
    await exp.consumeIncidents([story.next('updated')]);
    await exp.outbox.whenIdle();
    expect(sn.count('POST', /^\/oauth_token\.do$/)).toBe(2);
    expect(sn.workNotes.get(only(sn).sys_id)).toHaveLength(2);
    expect(timers.delays).toEqual([]);

    // 1799 s tokens are renewed a minute early, before any request is refused.
    timers.advance(1740_000);
    await exp.consumeIncidents([story.next('resolved')]);
    await exp.outbox.whenIdle();
    expect(sn.count('POST', /^\/oauth_token\.do$/)).toBe(3);
    // one note, the refused and the renewed try of the second, the resolve: none refused for an expired token
    expect(sn.count('PATCH', /\/incident\/\w+$/)).toBe(4);
    expect(only(sn).state).toBe('6');
  });

  it('renews a refused token once per attempt: a second 401 is a failure that waits for the next attempt', async () => {
    const sn = await snFake();
    const timers = new ManualTimers();
    const { exp } = await exporter(sn, OAUTH, { timers });
    const unauthorized = {
      status: 401,
      body: {
        error: { message: 'User Not Authenticated', detail: 'Required to provide Auth information' },
        status: 'failure',
      },
    };
    const isApi = (r: { path: string }) => r.path.startsWith('/api/');
    sn.failNext(unauthorized, isApi);
    sn.failNext(unauthorized, isApi);
    await exp.consumeIncidents([new IncidentStory().next('opened')]);
    await vi.waitFor(() => expect(timers.delays).toHaveLength(1), { timeout: 5000 });
    expect(sn.count('POST', /^\/oauth_token\.do$/)).toBe(2);
    expect(exp.health().reason).toContain(
      'HTTP 401 User Not Authenticated: Required to provide Auth information (check the credentials',
    );
    timers.advance(timers.delays[0]!);
    await exp.outbox.whenIdle();
    expect(sn.count('POST', /^\/oauth_token\.do$/)).toBe(3);
    expect(sn.incidents.size).toBe(1);
  });

  it("keeps changes while the OAuth client or the account's roles are wrong, and parks them after max_attempts with the reason", async () => {
    const sn = await snFake();
    const timers = new ManualTimers();
    const bad = await exporter(sn, { ...OAUTH, client_secret: 'wrong' }, { timers });
    await bad.exp.consumeIncidents([new IncidentStory('a').next('opened')]);
    await vi.waitFor(() => expect(timers.delays).toHaveLength(1), { timeout: 5000 });
    expect([bad.exp.outbox.depth, bad.exp.outbox.parked, sn.incidents.size]).toEqual([1, 0, 0]);
    await bad.stop();

    sn.readOnly = true;
    const { exp } = await exporter(sn, { ...BASIC, delivery: { max_attempts: 2 } }, { timers });
    await exp.consumeIncidents([new IncidentStory('b').next('opened')]);
    await vi.waitFor(() => expect(timers.delays).toHaveLength(2), { timeout: 5000 });
    timers.advance(timers.delays[1]!);
    await exp.outbox.whenIdle();
    expect(exp.outbox.parked).toBe(1);
    const parked = readFileSync(exp.outbox.parkedPath, 'utf8');
    expect(parked).toContain('HTTP 403 Operation Failed: ACL Exception Insert Failed due to security constraints');
    expect(parked).toContain('check the credentials and the account');
  });

  it('waits out 429 Retry-After and 503, retries a timeout, and still makes one incident', async () => {
    const sn = await snFake();
    const timers = new ManualTimers();
    const { exp } = await exporter(sn, { ...BASIC, delivery: { timeout: '1s' } }, { timers });
    const isCreate = (r: { method: string; path: string }) => r.method === 'POST' && r.path.endsWith('/incident');
    sn.failNext(
      {
        status: 429,
        headers: { 'retry-after': '30', 'x-ratelimit-limit': '100' },
        body: { error: { message: 'Rate limit exceeded', detail: 'Too many requests' }, status: 'failure' },
      },
      isCreate,
    );
    sn.failNext({ status: 503, body: '<html>Service Unavailable</html>' }, isCreate);
    sn.failNext({ hang: true, processed: true }, (r) => r.method === 'PATCH');
    const story = new IncidentStory();
    await exp.consumeIncidents([story.next('opened'), story.next('updated')]);
    await vi.waitFor(() => expect(timers.delays).toEqual([30_000]), { timeout: 5000 });
    timers.advance(30_000);
    await vi.waitFor(() => expect(timers.delays).toHaveLength(2), { timeout: 5000 });
    timers.advance(timers.delays[1]!);
    await vi.waitFor(() => expect(timers.delays).toHaveLength(3), { timeout: 5000 });
    timers.advance(timers.delays[2]!);
    await exp.outbox.whenIdle();
    expect(sn.count('POST', /\/incident$/)).toBe(3);
    const inc = only(sn);
    // the timed-out note reached ServiceNow, and the retry adds it again: notes are at least once
    expect(sn.workNotes.get(inc.sys_id)).toHaveLength(2);
  });

  it('finds its incident by correlation_id after a lost answer and a restart: no twin', async () => {
    const sn = await snFake();
    const timers = new ManualTimers();
    const first = await exporter(sn, { ...BASIC, delivery: { timeout: '1s' } }, { timers });
    sn.failNext({ hang: true, processed: true }, (r) => r.method === 'POST' && r.path.endsWith('/incident'));
    const story = new IncidentStory();
    await first.exp.consumeIncidents([story.next('opened')]);
    await vi.waitFor(() => expect(timers.delays).toHaveLength(1), { timeout: 5000 });
    await first.stop();

    const second = await exporter(sn, BASIC, { dataDir: first.dataDir });
    await second.exp.consumeIncidents([story.next('updated'), story.next('resolved')]);
    await second.exp.outbox.whenIdle();
    const inc = only(sn);
    expect(sn.count('POST', /\/incident$/)).toBe(1);
    const searches = sn.requests.filter((r) => r.method === 'GET' && r.path.endsWith('/incident'));
    expect(searches.map((r) => r.query.get('sysparm_query'))).toEqual([
      `correlation_id=${KEY}^stateNOT IN6,7,8^ORDERBYDESCsys_created_on`,
      `correlation_id=${KEY}^stateNOT IN6,7,8^ORDERBYDESCsys_created_on`,
    ]);
    expect(searches[0]!.query.get('sysparm_limit')).toBe('1');
    expect(sn.workNotes.get(inc.sys_id)).toHaveLength(1);
    expect(inc.state).toBe('6');
  });

  it('gives a new occurrence its own incident, and the same change delivered twice one incident', async () => {
    const sn = await snFake();
    const { exp } = await exporter(sn, BASIC);
    const story = new IncidentStory();
    const opened = story.next('opened');
    await exp.consumeIncidents([opened, opened]);
    await exp.consumeIncidents([story.next('resolved')]);
    await exp.outbox.whenIdle();
    expect(sn.incidents.size).toBe(1);
    const again = new IncidentStory(KEY, { id: 'inc-second' });
    await exp.consumeIncidents([again.next('opened')]);
    await exp.outbox.whenIdle();
    expect([...sn.incidents.values()].map((i) => i.state)).toEqual(['6', '1']);
  });

  it('uses the marker as correlation_id for a key that does not fit, and cuts short_description to 160 characters', async () => {
    const sn = await snFake();
    const { exp } = await exporter(sn, { ...BASIC, title: '{{incident.title}}' });
    const key = `disk-full{host="${'h'.repeat(100)}"}`;
    await exp.consumeIncidents([new IncidentStory(key, { title: `${'x'.repeat(158)}😀😀 more` }).next('opened')]);
    await exp.outbox.whenIdle();
    const inc = only(sn);
    expect(inc.correlation_id).toBe(incidentMarker(key));
    expect(inc.short_description).toBe(`${'x'.repeat(158)}😀…`);
    expect(correlationId('a^b', 'vigil-1')).toBe('vigil-1');
    expect(correlationId(KEY, 'vigil-1')).toBe(KEY);
  });

  it('requires one kind of credentials', () => {
    expect(() => parseWith(serviceNowExporterSchema, { url: 'https://acme.service-now.com' })).toThrow(
      'username: set username and password (basic auth), or client_id and client_secret',
    );
    expect(() => parseWith(serviceNowExporterSchema, { url: 'https://acme.service-now.com', client_id: 'c' })).toThrow(
      'client_secret: is required with client_id',
    );
    expect(() =>
      parseWith(serviceNowExporterSchema, { url: 'https://acme.service-now.com', ...BASIC, ...OAUTH }),
    ).toThrow('client_id: set username and password, or client_id and client_secret, not both');
    expect(() =>
      parseWith(serviceNowExporterSchema, { url: 'https://acme.service-now.com', ...BASIC, urgency: { FATAL: 4 } }),
    ).toThrow('urgency.FATAL: must be at most 3');
  });
});
