import { afterEach, describe, expect, it } from 'vitest';
import { serviceNowExporterSchema } from '../../../src/exporters/servicenow/config.ts';
import { ServiceNowDriver } from '../../../src/exporters/servicenow/driver.ts';
import { pollSync } from '../../../src/exporters/tickets/incidentExporter.ts';
import { FakeServiceNow, type SnIncident } from '../../support/fakes/serviceNow.ts';
import { waitFor } from '../../support/waitFor.ts';
import { parseWith } from '../incidentFixtures.ts';
import { MINUTE, syncWorld } from '../tickets/syncWorld.ts';

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

const BASIC = { username: 'vigil.integration', password: 'secret' };
const OAUTH = { client_id: 'client-1', client_secret: 'client-secret-1' };

/** A ServiceNow exporter polling every minute, the fake, and the core (see syncWorld). */
async function world(extra: Record<string, unknown> = {}) {
  const sn = await new FakeServiceNow().listen();
  cleanup.push(() => sn.close());
  const config = parseWith(serviceNowExporterSchema, {
    url: sn.url,
    ...BASIC,
    sync: { mode: 'poll', interval: '1m' },
    delivery: { timeout: '500ms' },
    ...extra,
  });
  const driver = () => new ServiceNowDriver(config, w.timers);
  const first = new ServiceNowDriver(config);
  const w = await syncWorld('servicenow', config, first, pollSync(first, config.sync), cleanup);
  const incidentReads = () => sn.requests.filter((r) => r.method === 'GET' && /\/table\/incident\/\w+$/.test(r.path));
  const only = (): SnIncident => {
    expect(sn.incidents.size).toBe(1);
    return [...sn.incidents.values()][0]!;
  };
  const person = (user: string, fields: Record<string, string>) =>
    expect(sn.personUpdates(user, only().sys_id, fields).status).toBe(200);
  return {
    ...w,
    sn,
    only,
    person,
    incidentReads,
    /** The exporter restarted with a new driver: nothing of the last run in memory, its ledger on disk. */
    restart: () => {
      const d = driver();
      return w.restart(d, pollSync(d, config.sync));
    },
  };
}

const RESOLVED_BY_BETH = { state: '6', close_code: 'Workaround provided', close_notes: 'PSU reseated' };

describe('ServiceNow incidents back to incidents (sync.mode: poll)', () => {
  it('resolves the incident within one poll interval of a person resolving it in ServiceNow, with them as the actor, and keeps their close notes', async () => {
    const w = await world();
    await w.event('web-1', 'down');
    const inc = w.only();
    expect(inc).toMatchObject({ state: '1', sys_created_by: 'vigil.integration' });
    const id = w.incident('web-1')!.id;

    w.timers.advance(30_000);
    w.person('beth.anglin', RESOLVED_BY_BETH);
    w.timers.advance(30_000);
    await waitFor(() => w.incident('web-1')?.status === 'resolved', 'the incident resolved by ServiceNow');

    const resolved = w.delivered.filter((c) => c.kind === 'resolved');
    expect(resolved).toHaveLength(1);
    expect(resolved[0]).toMatchObject({
      actor: 'Beth Anglin',
      reason: `resolved by ticket servicenow#${inc.sys_id} (Beth Anglin)`,
      incident: { id, status: 'resolved' },
    });
    expect(await w.exp.ticketOf({ key: w.incident('web-1')!.key, id })).toMatchObject({
      url: `${w.sn.url}/incident.do?sys_id=${inc.sys_id}`,
    });
    const read = w.incidentReads()[0]!;
    expect(read.query.get('sysparm_display_value')).toBe('all');
    expect(read.query.get('sysparm_fields')?.split(',')).toEqual(expect.arrayContaining(['state', 'resolved_by']));

    // The resolve reaches the exporter like any other: ServiceNow keeps the person's resolution.
    await waitFor(() => w.timers.pendingDelays().includes(MINUTE), 'the pass to end');
    const patches = w.sn.count('PATCH', /\/incident\//);
    await w.deliver();
    expect(w.sn.count('PATCH', /\/incident\//)).toBe(patches);
    expect(w.only()).toMatchObject({ state: '6', close_code: 'Workaround provided', close_notes: 'PSU reseated' });
    expect(await w.exp.ticketOf({ key: w.incident('web-1')!.key, id })).toMatchObject({ resolved: true });
    // A resolved incident's ServiceNow incident is read no more.
    const reads = w.incidentReads().length;
    await w.pass();
    expect(w.incidentReads().length).toBe(reads);
    expect(w.delivered.filter((c) => c.kind === 'resolved')).toHaveLength(1);
  });

  it('acknowledges the incident when a person sets it In Progress, once, and resolves it when another cancels it', async () => {
    const w = await world();
    await w.event('db-1', 'down');
    const inc = w.only();
    w.person('david.loo', { state: '2' });
    await w.pass();
    expect(w.incident('db-1')).toMatchObject({ status: 'acknowledged', acknowledgedBy: 'David Loo' });
    // Vigil tells the ServiceNow incident in a work note, as for any change.
    expect(w.sn.workNotes.get(inc.sys_id)).toEqual([
      expect.stringContaining(`acknowledged by ticket servicenow#${inc.sys_id} (David Loo)`),
    ]);

    // Still In Progress at the next passes (On Hold says nothing new): nothing more.
    await w.pass();
    w.person('david.loo', { state: '3' });
    await w.pass();
    expect(w.delivered.filter((c) => c.kind === 'acknowledged')).toHaveLength(1);
    expect(w.incident('db-1')!.status).toBe('acknowledged');

    // Canceled by another person (no incident at all): resolved.
    w.person('beth.anglin', { state: '8' });
    await w.pass();
    expect(w.incident('db-1')!.status).toBe('resolved');
    expect(w.delivered.at(-1)).toMatchObject({ kind: 'resolved', actor: 'Beth Anglin' });
  });

  it("never reads Vigil's own writes back: resolved because the incident resolved, set back to In Progress on reopen", async () => {
    const w = await world();
    await w.event('sw-1', 'down');
    const inc = w.only();
    await w.pass();
    expect(w.incident('sw-1')!.status).toBe('open');

    // An operator resolves the incident: the exporter resolves the ServiceNow incident; no pass reads that back.
    const id = w.incident('sw-1')!.id;
    await w.act('sw-1', 'alice', { kind: 'resolve', reason: 'replaced' });
    expect(w.only()).toMatchObject({
      state: '6',
      close_code: 'Solution provided',
      sys_updated_by: 'vigil.integration',
    });
    const reads = w.incidentReads().length;
    await w.pass();
    expect(w.incidentReads().length).toBe(reads);

    // It comes back within the reopen window: the exporter sets it In Progress (reopen_state 2),
    // which a pass reads and leaves alone: Vigil's state, not a person taking it.
    await w.event('sw-1', 'down');
    expect(w.incident('sw-1')).toMatchObject({ id, status: 'open' });
    expect(w.only().state).toBe('2');
    await w.pass();
    expect(w.incidentReads().length).toBe(reads + 1);
    expect(w.incident('sw-1')!.status).toBe('open');
    const byTicket = () => w.delivered.filter((c) => c.reason.includes('by ticket'));
    expect(byTicket()).toEqual([]);

    // A person's change after Vigil's write still counts.
    w.person('beth.anglin', RESOLVED_BY_BETH);
    await w.pass();
    expect(w.incident('sw-1')!.status).toBe('resolved');
    expect(byTicket().map((c) => [c.kind, c.actor])).toEqual([['resolved', 'Beth Anglin']]);
    expect(inc.reopen_count).toBe('1');
  });

  it.each([
    ['basic auth', BASIC],
    ['OAuth client credentials', OAUTH],
  ])(
    "adds a person's work note and comment to the timeline once, across a restart, reads none of Vigil's own notes and posts none back (%s)",
    async (_auth, credentials) => {
      const w = await world({
        ...credentials,
        ...(credentials === OAUTH ? { username: undefined, password: undefined } : {}),
      });
      await w.event('web-5', 'down');
      const inc = w.only();
      const vigilUser = credentials === OAUTH ? 'vigil.oauth' : 'vigil.integration';
      expect(inc.sys_created_by).toBe(vigilUser);
      // Vigil's own work note (an operator's comment), then a person's work note and additional comment.
      await w.act('web-5', 'alice', { kind: 'comment', text: 'looking at the PSU' });
      w.person('beth.anglin', { work_notes: 'PSU swapped, fan replaced\nwatching it' });
      w.person('david.loo', { comments: 'Users report the shop is back' });
      await w.pass();
      await w.pass();
      const want = [
        ['alice', 'comment by alice: looking at the PSU'],
        [
          'Beth Anglin',
          `comment by ticket servicenow#${inc.sys_id} (Beth Anglin): PSU swapped, fan replaced\nwatching it`,
        ],
        ['David Loo', `comment by ticket servicenow#${inc.sys_id} (David Loo): Users report the shop is back`],
      ];
      expect(w.comments('web-5')).toEqual(want);
      expect(w.delivered.at(-1)).toMatchObject({ kind: 'commented', ticket: `servicenow#${inc.sys_id}` });
      // The journal was read as the Table API reads it: this incident's comments and work notes.
      const journalRead = w.sn.requests.find((r) => r.path.endsWith('/table/sys_journal_field'))!;
      expect(journalRead.query.get('sysparm_query')).toBe(
        `element_id=${inc.sys_id}^element=comments^ORelement=work_notes^ORDERBYsys_created_on`,
      );
      // Vigil wrote one work note (alice's comment) and none for the people's entries.
      const journal = () => w.sn.journalOf(inc.sys_id).map((e) => [e.sys_created_by, e.element]);
      expect(journal()).toEqual([
        [vigilUser, 'work_notes'],
        ['beth.anglin', 'work_notes'],
        ['david.loo', 'comments'],
      ]);

      // Restarted: nothing in memory; the journal is read again and nothing is added twice.
      await w.restart();
      await w.pass();
      await w.pass();
      expect(w.comments('web-5')).toEqual(want);
      // And a new note after the restart is read, once.
      w.person('beth.anglin', { work_notes: 'fan ordered' });
      await w.pass();
      await w.pass();
      expect(w.comments('web-5').at(-1)).toEqual([
        'Beth Anglin',
        `comment by ticket servicenow#${inc.sys_id} (Beth Anglin): fan ordered`,
      ]);
      expect(w.comments('web-5')).toHaveLength(4);
      expect(journal()).toHaveLength(4);
    },
  );

  it('names people by user_name when the account may not read sys_user', async () => {
    const w = await world();
    w.sn.unreadable.add('sys_user');
    await w.event('web-6', 'down');
    w.person('beth.anglin', { work_notes: 'on it' });
    w.person('beth.anglin', { state: '2' });
    await w.pass();
    expect(w.incident('web-6')).toMatchObject({ status: 'acknowledged', acknowledgedBy: 'beth.anglin' });
    expect(w.comments('web-6').map(([actor]) => actor)).toEqual(['beth.anglin']);
  });

  it('backs off on 429 (after its Retry-After), 5xx, timeouts and refused credentials, and catches up once ServiceNow answers', async () => {
    const w = await world();
    await w.event('web-2', 'down');
    const inc = w.only();
    w.person('beth.anglin', RESOLVED_BY_BETH);
    const readsIncident = (r: { method: string; path: string }) =>
      r.method === 'GET' && r.path.endsWith(`/incident/${inc.sys_id}`);
    const readsJournal = (r: { method: string; path: string }) =>
      r.method === 'GET' && r.path.endsWith('/sys_journal_field');
    const failure = (message: string) => ({ error: { message, detail: null }, status: 'failure' });
    // One fault a pass (each pass reads the journal, then the incident).
    w.sn.failNext({ status: 429, headers: { 'retry-after': '300' }, body: failure('Too many requests') }, readsJournal);
    const passes = (n: number) =>
      waitFor(() => new RegExp(`${n} pass\\(es\\)`).test(w.exp.health().reason ?? ''), `${n} failed passes`);
    w.timers.advance(MINUTE);
    await passes(1);
    expect(w.exp.health()).toMatchObject({ status: 'degraded' });
    expect(w.exp.health().reason).toMatch(/reading tickets back fails \(1 pass\(es\) in a row\): .*HTTP 429/);
    // Retry-After: 300 s, not the 2-minute back-off.
    w.sn.failNext({ status: 503, body: 'Service Unavailable' }, readsIncident);
    w.timers.advance(299_000);
    expect(w.sn.requests.filter(readsJournal)).toHaveLength(1);
    w.timers.advance(1_000);
    await passes(2);
    expect(w.exp.health().reason).toMatch(/HTTP 503/);
    // The 2nd failure in a row waits 4 min (twice the interval, doubled; random 0.5: no jitter).
    w.sn.failNext({ hang: true }, readsIncident);
    w.timers.advance(239_000);
    expect(w.sn.requests.filter(readsIncident)).toHaveLength(1);
    w.timers.advance(1_000);
    // The read hangs: the delivery timeout (500 ms) ends it.
    await waitFor(() => /3 pass\(es\).*timed out/.test(w.exp.health().reason ?? ''), 'the timeout counted');
    w.sn.failNext({ status: 401, body: failure('User Not Authenticated') }, readsJournal);
    w.timers.advance(10 * MINUTE);
    await waitFor(() => /4 pass\(es\).*HTTP 401/.test(w.exp.health().reason ?? ''), 'the refused credentials');
    expect(w.incident('web-2')!.status).toBe('open');
    w.timers.advance(10 * MINUTE);
    await waitFor(() => w.incident('web-2')?.status === 'resolved', 'the incident resolved once ServiceNow answers');
    expect(w.delivered.filter((c) => c.kind === 'resolved')).toHaveLength(1);
    await waitFor(() => w.exp.health().status === 'ok', 'polling healthy again');
  });

  it('renews a revoked OAuth token once and reads on', async () => {
    const w = await world({ ...OAUTH, username: undefined, password: undefined });
    await w.event('web-7', 'down');
    w.sn.revokeTokens();
    w.person('beth.anglin', RESOLVED_BY_BETH);
    await w.pass();
    expect(w.incident('web-7')!.status).toBe('resolved');
    expect(w.sn.count('POST', /^\/oauth_token\.do$/)).toBe(2);
  });
});
