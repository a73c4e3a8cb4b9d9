import { afterEach, describe, expect, it } from 'vitest';
import type { CorrelationEngine } from '../../../src/correlation/engine.ts';
import { glpiExporterSchema } from '../../../src/exporters/glpi/config.ts';
import { GlpiDriver } from '../../../src/exporters/glpi/driver.ts';
import { IncidentExporter, pollSync } from '../../../src/exporters/tickets/incidentExporter.ts';
import type { IncidentChange } from '../../../src/model/incident.ts';
import type { Host } from '../../../src/pipeline/host.ts';
import { engineDesk } from '../../api/harness.ts';
import { engineFrom, ev } from '../../support/correlation.ts';
import { FakeGlpi } from '../../support/fakes/glpi.ts';
import { ManualTimers } from '../../support/fakes/timers.ts';
import { waitFor } from '../../support/waitFor.ts';
import { parseWith, testSettings } from '../incidentFixtures.ts';

const RULES = `
defaults: { allowed_lateness: 1h, group_wait: 0s, reopen_window: 1h }
rules:
  - { kind: pair, name: asset_down, group_by: [asset] }
`;
const MINUTE = 60_000;

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

/**
 * The correlation core on a manual clock, a GLPI exporter polling every minute, and the fake:
 * changes the core makes (events, or tickets read back) are handed to the exporter by `deliver`,
 * as the incidents pipeline would.
 */
async function world(extra: Record<string, unknown> = {}) {
  const glpi = await new FakeGlpi().listen();
  cleanup.push(() => glpi.close());
  const timers = new ManualTimers(Date.parse('2026-12-01T10:00:00Z'));
  const engine: CorrelationEngine = engineFrom(RULES);
  const delivered: IncidentChange[] = [];
  const desk = engineDesk(engine, () => timers.now(), delivered);
  const config = parseWith(glpiExporterSchema, {
    url: glpi.apiUrl,
    app_token: 'app-token-1',
    user_token: 'user-token-1',
    sync: { mode: 'poll', interval: '1m' },
    delivery: { timeout: '500ms' },
    ...extra,
  });
  const driver = new GlpiDriver(config);
  const exp = new IncidentExporter(testSettings('glpi'), config, driver, {
    timers,
    random: () => 0.5,
    sync: pollSync(driver, config.sync),
  });
  await exp.start({ incidentDesk: () => desk } as unknown as Host);
  cleanup.push(() => exp.shutdown());
  let handed = 0;
  const deliver = async (changes: IncidentChange[] = []) => {
    await exp.consumeIncidents(changes);
    await exp.consumeIncidents(delivered.slice(handed));
    handed = delivered.length;
    await exp.outbox.whenIdle();
  };
  const event = (asset: string, type: 'down' | 'up') =>
    deliver(engine.process([ev(timers.now(), { asset, type, title: `${asset} ${type}` })], timers.now()));
  const incident = (asset: string) => engine.book.get(`asset_down{asset="${asset}"}`)?.incident;
  const ticketReads = () => glpi.requests.filter((r) => r.method === 'GET' && /\/Ticket\/\d+$/.test(r.path)).length;
  /** One poll pass, run to its end (the next one scheduled); then the changes it made reach the exporter. */
  const pass = async () => {
    timers.advance(MINUTE);
    await waitFor(() => timers.pendingDelays().includes(MINUTE), 'the poll pass to end');
    await deliver();
  };
  return { glpi, timers, engine, delivered, exp, deliver, event, incident, ticketReads, pass };
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
    const out = w.engine.act(id, 'alice', { kind: 'resolve', reason: 'replaced' }, w.timers.now());
    await w.deliver(out.ok ? out.changes : []);
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

  it('backs off on 429 (after its Retry-After), 5xx and timeouts, renews a lost session, and catches up once GLPI answers', async () => {
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
    // Back-off: the 2nd failure in a row waits twice twice the interval (4 min; random 0.5 is the middle of the jitter).
    w.timers.advance(239_000);
    expect(w.glpi.requests.filter(readsTicket)).toHaveLength(2);
    w.timers.advance(1_000);
    await waitForReads(3);
    // The request hangs: the delivery timeout (500 ms) ends it.
    await waitFor(() => /3 pass\(es\).*timed out/.test(w.exp.health().reason ?? ''), 'the timeout counted');
    w.glpi.expireSessions();
    w.timers.advance(10 * MINUTE);
    await waitFor(() => w.incident('web-2')?.status === 'resolved', 'the incident resolved once GLPI answers');
    expect(w.delivered.filter((c) => c.kind === 'resolved')).toHaveLength(1);
    await waitFor(() => w.exp.health().status === 'ok', 'polling healthy again');
    expect(w.glpi.count('GET', 'initSession')).toBe(2);
  });

  it('keeps to max_requests_per_minute: a pass over more open tickets waits for the next minute', async () => {
    const w = await world({ sync: { mode: 'poll', interval: '1m', max_requests_per_minute: 2 } });
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
