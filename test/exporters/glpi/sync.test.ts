import { afterEach, describe, expect, it } from 'vitest';
import { glpiExporterSchema } from '../../../src/exporters/glpi/config.ts';
import { followupText, GlpiDriver } from '../../../src/exporters/glpi/driver.ts';
import { pollSync } from '../../../src/exporters/tickets/incidentExporter.ts';
import { FakeGlpi } from '../../support/fakes/glpi.ts';
import { waitFor } from '../../support/waitFor.ts';
import { compileTree, parseWith } from '../incidentFixtures.ts';
import { MINUTE, syncWorld } from '../tickets/syncWorld.ts';

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

/** A GLPI exporter polling every minute, the fake, and the core (see syncWorld). */
async function world(extra: Record<string, unknown> = {}, routing?: object) {
  const glpi = await new FakeGlpi().listen();
  cleanup.push(() => glpi.close());
  const config = parseWith(glpiExporterSchema, {
    ...glpi.exporterConfig,
    sync: { mode: 'poll', interval: '1m' },
    delivery: { timeout: '500ms' },
    ...extra,
  });
  const driver = new GlpiDriver(config);
  const tree = routing && compileTree(routing, ['glpi']);
  const w = await syncWorld('glpi', config, driver, pollSync(driver, config.sync), cleanup, tree);
  const ticketReads = () => glpi.requests.filter((r) => r.method === 'GET' && /\/Ticket\/\d+$/.test(r.path)).length;
  return { ...w, glpi, ticketReads };
}

describe('GLPI tickets back to incidents (sync.mode: poll)', () => {
  it('resolves the incident within one poll interval of a person solving its ticket, with them as the actor, and writes no second solution', async () => {
    const w = await world();
    await w.event('web-1', 'down');
    const [ticket] = [...w.glpi.tickets.values()];
    expect(ticket).toMatchObject({ status: 1 });
    const id = w.incident('web-1')!.id;

    w.timers.advance(30_000);
    w.glpi.personSets(ticket!.id, 5);
    w.timers.advance(30_000);
    await waitFor(() => w.incident('web-1')?.status === 'resolved', 'the incident resolved by its ticket');

    const resolved = w.delivered.filter((c) => c.kind === 'resolved');
    expect(resolved).toHaveLength(1);
    expect(resolved[0]).toMatchObject({
      actor: 'jdoe',
      reason: `resolved by ticket glpi#${ticket!.id} (jdoe)`,
      incident: { id, status: 'resolved' },
    });
    // The read asked GLPI to name the user rather than give their id.
    expect(w.glpi.requests.find((r) => r.path.endsWith(`/Ticket/${ticket!.id}`))!.query.get('expand_dropdowns')).toBe(
      'true',
    );

    // The change reaches the ticket exporter like any resolve: GLPI has the person's solution already.
    await waitFor(() => w.timers.pendingDelays().includes(MINUTE), 'the pass to end');
    await w.deliver();
    expect(w.glpi.solutions).toHaveLength(1);
    expect(w.glpi.tickets.get(ticket!.id)!.status).toBe(5);
    expect(await w.exp.ticketOf({ key: w.incident('web-1')!.key, id })).toMatchObject({ resolved: true });
    // A resolved incident's ticket is read no more.
    const reads = w.ticketReads();
    await w.pass();
    expect(w.ticketReads()).toBe(reads);
    expect(w.delivered.filter((c) => c.kind === 'resolved')).toHaveLength(1);
  });

  it('acknowledges the incident when a person takes the ticket (processing), once, and tells the ticket', async () => {
    const w = await world();
    await w.event('db-1', 'down');
    const [ticket] = [...w.glpi.tickets.values()];
    w.glpi.personSets(ticket!.id, 2);
    await w.pass();
    expect(w.incident('db-1')).toMatchObject({ status: 'acknowledged', acknowledgedBy: 'jdoe' });
    expect(w.glpi.followups).toEqual([
      { items_id: ticket!.id, content: expect.stringContaining(`acknowledged by ticket glpi#${ticket!.id} (jdoe)`) },
    ]);

    // Still processing at the next passes: nothing new.
    await w.pass();
    await w.pass();
    expect(w.ticketReads()).toBe(3);
    expect(w.delivered.filter((c) => c.kind === 'acknowledged')).toHaveLength(1);

    // Then closed by another person: resolved, acknowledged or not.
    w.glpi.personSets(ticket!.id, 6, 2);
    await w.pass();
    expect(w.incident('db-1')).toMatchObject({ status: 'resolved' });
    expect(w.delivered.at(-1)).toMatchObject({ kind: 'resolved', actor: 'glpi' });
  });

  it("never reads Vigil's own writes back: a ticket created assigned, solved because the incident resolved, set back to processing on reopen", async () => {
    const w = await world({ assign_group_id: 3 });
    await w.event('sw-1', 'down');
    const [ticket] = [...w.glpi.tickets.values()];
    // GLPI made it "processing (assigned)" on creation: not a person taking it.
    expect(ticket!.status).toBe(2);
    await w.pass();
    expect(w.ticketReads()).toBe(1);
    expect(w.incident('sw-1')!.status).toBe('open');

    // Vigil resolves the incident (an operator, through the API): the exporter solves the ticket; no pass reads that back.
    const id = w.incident('sw-1')!.id;
    await w.act('sw-1', 'alice', { kind: 'resolve', reason: 'replaced' });
    expect(w.glpi.tickets.get(ticket!.id)!.status).toBe(5);
    await w.pass();
    expect(w.ticketReads()).toBe(1);

    // It comes back within the reopen window: the exporter sets the ticket to processing
    // (reopen_status 2); a pass reads that and leaves the incident open.
    await w.event('sw-1', 'down');
    expect(w.incident('sw-1')).toMatchObject({ id, status: 'open' });
    expect(w.glpi.tickets.get(ticket!.id)!.status).toBe(2);
    await w.pass();
    expect(w.ticketReads()).toBe(2);
    expect(w.incident('sw-1')!.status).toBe('open');
    expect(w.glpi.solutions).toHaveLength(1);
    const byTicket = () => w.delivered.filter((c) => c.reason.includes('by ticket'));
    expect(byTicket()).toEqual([]);

    // A person's change after Vigil's write still counts.
    w.glpi.personSets(ticket!.id, 5);
    await w.pass();
    expect(w.incident('sw-1')!.status).toBe('resolved');
    expect(byTicket().map((c) => [c.kind, c.actor])).toEqual([['resolved', 'jdoe']]);
  });

  it('backs off on 429 (after its Retry-After), 5xx, timeouts and a refused login, and catches up once GLPI answers', async () => {
    const w = await world();
    await w.event('web-2', 'down');
    const [ticket] = [...w.glpi.tickets.values()];
    w.glpi.personSets(ticket!.id, 5);
    const readsTicket = (r: { method: string; path: string }) =>
      r.method === 'GET' && r.path.endsWith(`/Ticket/${ticket!.id}`);
    w.glpi.failNext(
      { status: 429, headers: { 'retry-after': '300' }, body: ['ERROR', 'Too many requests'] },
      readsTicket,
    );
    w.glpi.failNext({ status: 503, body: 'Service Unavailable' }, readsTicket);
    w.glpi.failNext({ hang: true }, readsTicket);

    const waitForReads = (n: number) => waitFor(() => w.glpi.requests.filter(readsTicket).length === n, `read ${n}`);
    const settled = () => waitFor(() => w.exp.health().status === 'degraded', 'polling reported failing');
    w.timers.advance(MINUTE);
    await waitForReads(1);
    await settled();
    expect(w.exp.health().reason).toMatch(/reading tickets back fails \(1 pass\(es\) in a row\): .*HTTP 429/);
    // Retry-After: 300 s, not the 2-minute back-off.
    w.timers.advance(299_000);
    expect(w.glpi.requests.filter(readsTicket)).toHaveLength(1);
    w.timers.advance(1_000);
    await waitForReads(2);
    await waitFor(() => /2 pass\(es\)/.test(w.exp.health().reason ?? ''), 'the 503 counted');
    // Back-off: the 2nd failure in a row waits 4 min, double the first wait of twice the interval (random 0.5: no jitter).
    w.timers.advance(239_000);
    expect(w.glpi.requests.filter(readsTicket)).toHaveLength(2);
    w.timers.advance(1_000);
    await waitForReads(3);
    // The request hangs: the delivery timeout (500 ms) ends it.
    await waitFor(() => /3 pass\(es\).*timed out/.test(w.exp.health().reason ?? ''), 'the timeout counted');
    // GLPI forgot the session, and refuses the login once (401).
    w.glpi.expireSessions();
    w.glpi.failNext({ status: 401, body: ['ERROR_GLPI_LOGIN_USER_TOKEN', 'parameter user_token seems invalid'] }, (r) =>
      r.path.endsWith('/initSession'),
    );
    w.timers.advance(10 * MINUTE);
    await waitFor(
      () => /4 pass\(es\).*initSession: HTTP 401/.test(w.exp.health().reason ?? ''),
      'the refused login counted',
    );
    expect(w.incident('web-2')!.status).toBe('open');
    w.timers.advance(10 * MINUTE);
    await waitFor(() => w.incident('web-2')?.status === 'resolved', 'the incident resolved once GLPI answers');
    expect(w.delivered.filter((c) => c.kind === 'resolved')).toHaveLength(1);
    await waitFor(() => w.exp.health().status === 'ok', 'polling healthy again');
    expect(w.glpi.count('GET', 'initSession')).toBe(3);
  });

  it('keeps to max_requests_per_minute: a pass over more open tickets waits for the next minute', async () => {
    // Two requests a ticket: its follow-ups, then the ticket.
    const w = await world({ sync: { mode: 'poll', interval: '1m', max_requests_per_minute: 4 } });
    for (const asset of ['a-1', 'a-2', 'a-3']) await w.event(asset, 'down');
    expect(w.glpi.tickets.size).toBe(3);
    for (const t of w.glpi.tickets.values()) w.glpi.personSets(t.id, 5);
    w.timers.advance(MINUTE);
    await waitFor(() => w.ticketReads() === 2, 'two reads');
    await waitFor(() => w.delivered.length === 2, 'two incidents resolved');
    // The third waits for a request of the minute to age out.
    w.timers.advance(MINUTE - 1);
    expect(w.ticketReads()).toBe(2);
    w.timers.advance(1);
    await waitFor(() => w.ticketReads() === 3, 'the third read');
    await waitFor(() => w.delivered.length === 3, 'every incident resolved');
    expect(['a-1', 'a-2', 'a-3'].map((a) => w.incident(a)!.status)).toEqual(['resolved', 'resolved', 'resolved']);
  });

  it("adds a person's follow-up to the incident's timeline once, as text, reads none of Vigil's own, and does not echo it back", async () => {
    const w = await world();
    await w.event('web-5', 'down');
    const [ticket] = [...w.glpi.tickets.values()];
    await w.act('web-5', 'alice', { kind: 'comment', text: 'looking at the PSU' });
    w.glpi.personFollowsUp(ticket!.id, '<p>PSU swapped &amp; fan <b>replaced</b></p><p>watching it</p>');
    await w.pass();
    await w.pass();
    expect(w.comments('web-5')).toEqual([
      ['alice', 'comment by alice: looking at the PSU'],
      ['jdoe', `comment by ticket glpi#${ticket!.id} (jdoe): PSU swapped & fan replaced\nwatching it`],
    ]);
    expect(w.delivered.at(-1)).toMatchObject({ kind: 'commented', actor: 'jdoe', ticket: `glpi#${ticket!.id}` });
    // Vigil's follow-up for alice's comment, and jdoe's own: not posted a second time.
    expect(w.glpi.followups).toHaveLength(2);
  });

  it('adds an API comment to the ticket as a follow-up', async () => {
    const w = await world();
    await w.event('web-3', 'down');
    const [ticket] = [...w.glpi.tickets.values()];
    const out = w.engine.act(
      w.incident('web-3')!.id,
      'alice',
      { kind: 'comment', text: 'looking at the PSU' },
      w.timers.now(),
    );
    expect(out.ok).toBe(true);
    await w.deliver(out.ok ? out.changes : []);
    expect(w.glpi.followups).toEqual([
      { items_id: ticket!.id, content: expect.stringContaining('comment by alice: looking at the PSU') },
    ]);
  });
});

describe('GLPI follow-up text', () => {
  it('reads GLPI 10 (sanitized) and GLPI 11 (HTML) rich text alike: a line per paragraph or break, tags dropped, entities decoded', () => {
    const html =
      '<p>PSU &lt;A&gt; swapped<br>fan&nbsp;ok</p><ul><li>rack 4</li></ul><p>&quot;done&quot; &amp; closed</p>';
    const want = 'PSU <A> swapped\nfan ok\nrack 4\n"done" & closed';
    expect(followupText(html)).toBe(want);
    expect(followupText(html.replace(/&/g, '&#38;').replace(/</g, '&#60;').replace(/>/g, '&#62;'))).toBe(want);
  });
});

/** Every asset_down incident in one group per rule: 30 s to gather, then a notification per 5 min at most. */
const GROUPED = {
  receiver: 'tickets',
  group_by: ['alertname'],
  group_wait: '30s',
  group_interval: '5m',
  repeat_interval: '4h',
  receivers: [{ name: 'tickets', exporters: ['glpi'] }],
};

describe('GLPI group tickets back to incidents', () => {
  it("resolves every member the group's ticket listed when a person solves it, each with them as actor; a later member stays open", async () => {
    const w = await world({}, GROUPED);
    await w.event('web-1', 'down');
    await w.event('web-2', 'down');
    await w.advanceGroups(30_000);
    expect(w.glpi.tickets.size).toBe(1);
    const [ticket] = [...w.glpi.tickets.values()];
    // web-3 joins after the notification: the ticket has not shown it yet.
    await w.event('web-3', 'down');
    w.glpi.personSets(ticket!.id, 5);
    await w.pass();

    for (const asset of ['web-1', 'web-2']) {
      expect(w.incident(asset)!.status).toBe('resolved');
      expect(w.audit(asset, 'resolved')).toEqual([['jdoe', `resolved by ticket glpi#${ticket!.id} (jdoe)`]]);
    }
    expect(w.incident('web-3')!.status).toBe('open');
    expect(
      w.delivered
        .filter((c) => c.kind === 'resolved')
        .map((c) => c.incident.asset)
        .sort(),
    ).toEqual(['web-1', 'web-2']);

    // The next passes read the same status: nothing more, web-3 included.
    await w.pass();
    expect(w.incident('web-3')!.status).toBe('open');
    // The group's next notification tells the ticket that web-3 joined and the others resolved.
    await w.advanceGroups(5 * MINUTE - 2 * MINUTE);
    await w.pass();
    expect(w.glpi.followups.at(-1)!.content).toContain('1 joined, 2 resolved; 1 firing, 2 resolved');
    expect(w.incident('web-3')!.status).toBe('open');
    expect(w.glpi.count('POST', 'Ticket')).toBe(1);
  });

  it("acknowledges every listed member when a person takes the group's ticket, and tells the ticket once", async () => {
    const w = await world({}, GROUPED);
    await w.event('db-1', 'down');
    await w.event('db-2', 'down');
    await w.advanceGroups(30_000);
    const [ticket] = [...w.glpi.tickets.values()];
    w.glpi.personSets(ticket!.id, 2);
    await w.pass();
    for (const asset of ['db-1', 'db-2'])
      expect(w.incident(asset)).toMatchObject({ status: 'acknowledged', acknowledgedBy: 'jdoe' });
    await w.pass();
    expect(w.delivered.filter((c) => c.kind === 'acknowledged')).toHaveLength(2);
    // A person's acknowledgement notifies nobody through a group: the ticket gets no follow-up of its own making.
    expect(w.glpi.followups).toEqual([]);
  });

  it("adds a comment on the group's ticket to every listed member's timeline", async () => {
    const w = await world({}, GROUPED);
    await w.event('sw-1', 'down');
    await w.event('sw-2', 'down');
    await w.advanceGroups(30_000);
    const [ticket] = [...w.glpi.tickets.values()];
    w.glpi.personFollowsUp(ticket!.id, '<p>the core switch is back</p>');
    await w.pass();
    for (const asset of ['sw-1', 'sw-2'])
      expect(w.comments(asset)).toEqual([
        ['jdoe', `comment by ticket glpi#${ticket!.id} (jdoe): the core switch is back`],
      ]);
  });
});
