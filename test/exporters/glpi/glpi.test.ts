import { afterEach, describe, expect, it, vi } from 'vitest';
import { registry } from '../../../src/components.ts';
import { parseConfig } from '../../../src/service/config/load.ts';
import { glpiExporterSchema } from '../../../src/exporters/glpi/config.ts';
import { GlpiDriver } from '../../../src/exporters/glpi/driver.ts';
import { incidentExporterDir } from '../../../src/exporters/tickets/incidentExporter.ts';
import { readStuckEntries, requestRetry } from '../../../src/exporters/tickets/outboxJournal.ts';
import { VigilService } from '../../../src/service/service.ts';
import { createLogger } from '../../../src/telemetry/logger.ts';
import { engineFrom, ev, Timeline } from '../../support/correlation.ts';
import { FakeGlpi } from '../../support/fakes/glpi.ts';
import { ManualTimers } from '../../support/fakes/timers.ts';
import { IncidentStory, parseWith, startIncidentExporter, testSettings } from '../incidentFixtures.ts';

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

async function glpiFake(opts?: ConstructorParameters<typeof FakeGlpi>[0]) {
  const glpi = await new FakeGlpi(opts).listen();
  cleanup.push(() => glpi.close());
  return glpi;
}

async function exporter(
  glpi: FakeGlpi,
  extra: Record<string, unknown> = {},
  opts: { timers?: ManualTimers; dataDir?: string } = {},
) {
  const config = parseWith(glpiExporterSchema, {
    url: glpi.apiUrl,
    app_token: 'app-token-1',
    user_token: 'user-token-1',
    ...extra,
  });
  return startIncidentExporter('glpi', config, new GlpiDriver(config), opts, cleanup);
}

describe('GLPI exporter', () => {
  it('opens one ticket, adds a follow-up per update and a solution on resolve', async () => {
    const glpi = await glpiFake();
    const { exp, stop } = await exporter(glpi, { category_id: 12, entity_id: 3 });
    const story = new IncidentStory('disk-full{host="db-1"}', { title: 'Disk <full> on db-1' });
    await exp.consumeIncidents([story.next('opened'), story.next('updated')]);
    await exp.consumeIncidents([story.next('escalated'), story.next('resolved')]);
    await exp.outbox.whenIdle();
    await stop();

    expect(glpi.count('POST', 'Ticket')).toBe(1);
    expect(glpi.count('POST', 'ITILFollowup')).toBe(2);
    expect(glpi.count('POST', 'ITILSolution')).toBe(1);
    const [ticket] = [...glpi.tickets.values()];
    expect(glpi.page(ticket!.id)).toContain('<h1>[ERROR] Disk &lt;full&gt; on db-1</h1>');
    expect(ticket).toMatchObject({
      status: 5,
      urgency: 4,
      impact: 3,
      type: 1,
      itilcategories_id: 12,
      entities_id: 3,
    });
    // values are HTML-escaped by Vigil, then stored escaped again by GLPI
    expect(ticket!.content).toContain('&#60;p&#62;opened: opened by test&#60;/p&#62;');
    expect(glpi.followups.map((f) => f.items_id)).toEqual([ticket!.id, ticket!.id]);
    expect(glpi.solutions[0]!.content).toContain('resolved by test');
    expect(glpi.count('GET', 'initSession')).toBe(1);
    expect(glpi.requests.find((r) => r.path.endsWith('initSession'))!.headers.authorization).toBe(
      'user_token user-token-1',
    );
    expect(glpi.count('GET', 'killSession')).toBe(1);
    expect(glpi.sessions.size).toBe(0);
  });

  for (const version of [10, 11] as const) {
    it(`keeps markup from event data inert in the ticket's name and content on GLPI ${version}`, async () => {
      const glpi = await glpiFake({ version });
      const { exp, stop } = await exporter(glpi);
      const title = 'Disk <script>alert(1)</script> & <a href="https://evil.example">"full"</a>\u202e on db-1';
      const story = new IncidentStory('disk-full{host="db-1"}', {
        title,
        asset: '<img src=x onerror=alert(2)>',
        labels: { host: '<b>db-1</b>', note: 'a\nb' },
      });
      await exp.consumeIncidents([story.next('opened'), story.next('resolved')]);
      await exp.outbox.whenIdle();
      await stop();

      const page = glpi.page([...glpi.tickets.keys()][0]!);
      // The name is plain text in GLPI: sent as written (GLPI escapes it, on input in 10 and on
      // output in 11), so it reads as the title did, never as entities, and no tag comes alive.
      const shownTitle = '[ERROR] Disk <script>alert(1)</script> & <a href="https://evil.example">"full"</a> on db-1';
      const h1 = /<h1>(.*)<\/h1>/.exec(page)![1]!;
      expect(
        h1
          .replace(/&lt;/g, '<')
          .replace(/&gt;/g, '>')
          .replace(/&quot;/g, '"')
          .replace(/&amp;/g, '&'),
      ).toBe(shownTitle);
      // The content is HTML: Vigil's own paragraphs, every inserted value escaped.
      expect(page).not.toMatch(/<(script|a|img|b)[\s>]/);
      expect(page).toContain('Asset: &lt;img src=x onerror=alert(2)&gt;');
      expect(page).toContain('host=&lt;b&gt;db-1&lt;/b&gt;');
      expect(page).toMatch(/<p>opened: /);
      expect(page).not.toContain('\u202e');
    });
  }

  it("adds a person's acknowledgement, comment and assignment to the open ticket as follow-ups, and never opens or reopens one for them", async () => {
    const glpi = await glpiFake();
    const { exp } = await exporter(glpi);
    // No ticket yet: an acknowledgement alone opens none.
    const early = new IncidentStory('disk-full{host="db-2"}');
    await exp.consumeIncidents([
      early.next('acknowledged', { reason: 'acknowledged by alice' }),
      early.next('commented', { reason: 'looking' }),
    ]);
    await exp.outbox.whenIdle();
    expect(glpi.count('POST', 'Ticket')).toBe(0);
    const story = new IncidentStory();
    await exp.consumeIncidents([
      story.next('opened'),
      story.next('acknowledged', { reason: 'acknowledged by alice: on it' }),
      story.next('commented', { reason: 'the disk is a spare' }),
      story.next('assigned', { reason: 'assigned to bob by alice' }),
    ]);
    await exp.consumeIncidents([
      story.next('resolved'),
      story.next('commented', { reason: 'post-mortem: log rotation was off' }),
    ]);
    await exp.outbox.whenIdle();
    expect(glpi.count('POST', 'Ticket')).toBe(1);
    expect(
      glpi.followups.map(
        (f) => /<p>(\w+: [^<]*)<\/p>/.exec(String(f.content).replaceAll('&#60;', '<').replaceAll('&#62;', '>'))?.[1],
      ),
    ).toEqual([
      'acknowledged: acknowledged by alice: on it',
      'commented: the disk is a spare',
      'assigned: assigned to bob by alice',
    ]);
    expect(glpi.solutions).toHaveLength(1);
    expect([...glpi.tickets.values()][0]!.status).toBe(5);
  });

  it('renews an expired session once and carries on without a retry', async () => {
    const glpi = await glpiFake({ login: 'vigil', password: 'pw' });
    const timers = new ManualTimers();
    const { exp } = await exporter(glpi, { user_token: undefined, username: 'vigil', password: 'pw' }, { timers });
    const story = new IncidentStory();
    await exp.consumeIncidents([story.next('opened')]);
    await exp.outbox.whenIdle();
    glpi.expireSessions();
    await exp.consumeIncidents([story.next('updated')]);
    await exp.outbox.whenIdle();
    expect(glpi.count('GET', 'initSession')).toBe(2);
    expect(glpi.followups).toHaveLength(1);
    expect(timers.delays).toEqual([]);
  });

  it('waits out 429 Retry-After and 503, then still creates exactly one ticket', async () => {
    const glpi = await glpiFake();
    const timers = new ManualTimers();
    const { exp } = await exporter(glpi, {}, { timers });
    const isCreate = (r: { method: string; path: string }) => r.method === 'POST' && r.path.endsWith('/Ticket');
    glpi.failNext({ status: 429, headers: { 'retry-after': '120' }, body: ['ERROR', 'Too many requests'] }, isCreate);
    glpi.failNext({ status: 503, body: 'Service Unavailable' }, isCreate);
    await exp.consumeIncidents([new IncidentStory().next('opened')]);
    await vi.waitFor(() => expect(timers.delays).toEqual([120_000]), { timeout: 5000 });
    timers.advance(120_000);
    await vi.waitFor(() => expect(timers.delays).toHaveLength(2), { timeout: 5000 });
    timers.advance(timers.delays[1]!);
    await exp.outbox.whenIdle();
    expect(glpi.count('POST', 'Ticket')).toBe(3);
    expect(glpi.tickets.size).toBe(1);
  });

  it('finds the ticket it created when the answer was lost and the exporter restarted: no twin', async () => {
    const glpi = await glpiFake();
    const timers = new ManualTimers();
    const first = await exporter(glpi, { delivery: { timeout: '1s' } }, { timers });
    // GLPI creates the ticket but the answer never arrives; the exporter is then stopped mid-retry.
    glpi.failNext({ hang: true, processed: true }, (r) => r.method === 'POST' && r.path.endsWith('/Ticket'));
    const story = new IncidentStory();
    await first.exp.consumeIncidents([story.next('opened')]);
    await vi.waitFor(() => expect(timers.delays).toHaveLength(1), { timeout: 5000 });
    await first.stop();
    expect(glpi.tickets.size).toBe(1);

    const second = await exporter(glpi, {}, { dataDir: first.dataDir });
    await second.exp.consumeIncidents([story.next('resolved')]);
    await second.exp.outbox.whenIdle();
    expect(glpi.tickets.size).toBe(1);
    expect(glpi.count('POST', 'Ticket')).toBe(1);
    expect([...glpi.tickets.values()][0]!.status).toBe(5);
  });

  it('reopens a solved ticket when the incident comes back, and accepts a ticket someone else solved', async () => {
    const glpi = await glpiFake();
    const { exp } = await exporter(glpi);
    const story = new IncidentStory();
    await exp.consumeIncidents([story.next('opened'), story.next('resolved'), story.next('reopened')]);
    await exp.outbox.whenIdle();
    const ticket = [...glpi.tickets.values()][0]!;
    expect(glpi.tickets.size).toBe(1);
    expect(ticket.status).toBe(2);
    expect(glpi.followups).toHaveLength(1);
    ticket.status = 5; // a technician solved it by hand
    await exp.consumeIncidents([story.next('resolved')]);
    await exp.outbox.whenIdle();
    expect(exp.outbox.parked).toBe(0);
    expect(glpi.solutions).toHaveLength(1);
  });

  it('keeps the ticket open through a flap within group_interval and solves it once, on the held resolve', async () => {
    const glpi = await glpiFake();
    const { exp } = await exporter(glpi);
    // A link down at 0 s, up at 10 s, down at 20 s, up at 30 s; group_interval 1m after the page.
    const tl = new Timeline(
      engineFrom(`
defaults: { group_wait: 0s, group_interval: 1m, reopen_window: 5m, allowed_lateness: 0s }
rules:
  - { kind: pair, name: link, group_by: [asset] }
`),
    );
    const link = (t: number, type: 'down' | 'up') =>
      ev(t, { asset: 'sw-1', type, severityNumber: 17, severityText: 'ERROR' });
    for (const [t, type] of [
      [0, 'down'],
      [10_000, 'up'],
      [20_000, 'down'],
      [30_000, 'up'],
    ] as const)
      await exp.consumeIncidents(tl.send([link(t, type)]));
    await exp.consumeIncidents(tl.advance(59_000));
    await exp.outbox.whenIdle();
    expect(tl.changes.map((c) => `${c.kind}${c.notify ? '!' : c.held ? ' (held)' : ''}`)).toEqual([
      'opened!',
      'resolved (held)',
      'reopened',
      'resolved (held)',
    ]);
    expect(glpi.tickets.size).toBe(1);
    expect([...glpi.tickets.values()][0]!.status).toBeLessThan(5);
    expect(glpi.solutions).toHaveLength(0);

    // Still up once group_interval has passed: the held resolution is told, and solves the ticket.
    await exp.consumeIncidents(tl.advance(120_000));
    await exp.outbox.whenIdle();
    expect(tl.changes.at(-1)).toMatchObject({ kind: 'resolved', notify: true, atMs: 60_000 });
    expect([...glpi.tickets.values()][0]!.status).toBe(5);
    expect(glpi.solutions).toHaveLength(1);
    expect(glpi.followups).toHaveLength(0);
    expect(glpi.count('POST', 'Ticket')).toBe(1);
  });

  it('keeps changes while credentials are wrong, instead of dropping them', async () => {
    const glpi = await glpiFake();
    const timers = new ManualTimers();
    const { exp } = await exporter(glpi, { user_token: 'revoked' }, { timers });
    await exp.consumeIncidents([new IncidentStory().next('opened')]);
    await vi.waitFor(() => expect(timers.delays).toHaveLength(1), { timeout: 5000 });
    expect(exp.outbox.depth).toBe(1);
    expect(exp.outbox.parked).toBe(0);
    expect(glpi.tickets.size).toBe(0);
  });

  it('runs from config in a real service: incidents pipeline → outbox → ticket', async () => {
    const glpi = await glpiFake();
    const cfg = parseConfig(
      `
exporters:
  glpi/ops:
    url: ${glpi.apiUrl}
    app_token: app-token-1
    user_token: \${env:GLPI_USER_TOKEN}
    routes: [{ matchers: ['severity >= error'] }]
service:
  pipelines: { incidents: { exporters: [glpi/ops] } }
  telemetry: { metrics: { endpoint: 127.0.0.1:0 }, logs: { level: silent } }
`,
      registry,
      { GLPI_USER_TOKEN: 'user-token-1' },
    );
    const settings = testSettings('unused');
    const service = new VigilService(cfg, { dataDir: settings.dataDir, registry, logger: createLogger('silent') });
    await service.start();
    cleanup.push(() => service.shutdown());
    const story = new IncidentStory();
    await service.incidentsConsumer!.consume([
      story.next('opened'),
      new IncidentStory('low', { severityNumber: 9, severityText: 'INFO' }).next('opened'),
    ]);
    await vi.waitFor(() => expect(glpi.tickets.size).toBe(1), { timeout: 5000 });
    const metrics = await (await fetch(`http://127.0.0.1:${service.adminAddress!.port}/metrics`)).text();
    expect(metrics).toMatch(/vigil_exporter_outbox_depth\{exporter="glpi\/ops"\} [01]/);
  });

  it('holds the later changes of an incident behind its parked create, and sends them in order once it is retried', async () => {
    const glpi = await glpiFake();
    const { exp, stop, dataDir } = await exporter(glpi);
    const dir = incidentExporterDir(dataDir, 'glpi');
    glpi.failNext(
      { status: 400, body: ['ERROR_GLPI_ADD', 'Mandatory field itilcategories_id is missing'] },
      (r) => r.method === 'POST' && r.path.endsWith('/Ticket'),
    );
    const story = new IncidentStory();
    await exp.consumeIncidents([story.next('opened')]);
    await exp.outbox.whenIdle();
    await exp.consumeIncidents([story.next('updated')]);
    await exp.consumeIncidents([story.next('resolved')]);
    await exp.outbox.whenIdle();
    expect(exp.outbox.parked).toBe(1);
    expect(exp.outbox.waitingOnParked).toBe(2);
    // Neither the follow-up nor the solution was attempted, nor silently dropped.
    expect(glpi.count('POST', 'Ticket')).toBe(1);
    expect(glpi.count('POST', 'ITILFollowup') + glpi.count('POST', 'ITILSolution')).toBe(0);
    const stuck = await readStuckEntries<{ kind: string }>(dir);
    expect(stuck.map((e) => [e.payload.kind, e.parked?.reason.includes('ERROR_GLPI_ADD') ?? false, e.waitsOn])).toEqual(
      [
        ['opened', true, undefined],
        ['updated', false, stuck[0]!.seq],
        ['resolved', false, stuck[0]!.seq],
      ],
    );

    // A restart keeps them parked and waiting.
    await stop();
    const again = await exporter(glpi, {}, { dataDir });
    expect([again.exp.outbox.parked, again.exp.outbox.waitingOnParked]).toEqual([1, 2]);
    await requestRetry(dir, [{ seq: stuck[0]!.seq }]);
    await again.exp.outbox.checkRetryRequests();
    await again.exp.outbox.whenIdle();
    expect(glpi.tickets.size).toBe(1);
    const ticket = [...glpi.tickets.values()][0]!;
    expect(ticket.status).toBe(5);
    expect(glpi.followups.map((f) => f.items_id)).toEqual([ticket.id]);
    expect(glpi.solutions.map((f) => f.items_id)).toEqual([ticket.id]);
    const order = glpi.requests.filter((r) => r.method === 'POST').map((r) => r.path.split('/').pop());
    expect(order).toEqual(['Ticket', 'Ticket', 'ITILFollowup', 'ITILSolution']);
    expect(await readStuckEntries(dir)).toEqual([]);
    expect(again.exp.outbox.parked).toBe(0);
  });

  it("cuts ticket names to the 255 characters of GLPI's name column", async () => {
    const glpi = await glpiFake();
    const { exp } = await exporter(glpi, { title: '{{incident.title}}' });
    await exp.consumeIncidents([
      new IncidentStory('long', { title: `${'x'.repeat(253)}😀😀 and more` }).next('opened'),
    ]);
    await exp.outbox.whenIdle();
    const name = [...glpi.tickets.values()][0]!.name;
    expect([...name]).toHaveLength(255);
    expect(name).toBe(`${'x'.repeat(253)}😀…`);
  });

  it('requires a user token or a login', () => {
    expect(() => parseWith(glpiExporterSchema, { url: 'https://glpi.example/apirest.php' })).toThrow(
      'user_token: set user_token, or username and password',
    );
  });
});
