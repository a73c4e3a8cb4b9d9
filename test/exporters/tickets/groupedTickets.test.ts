import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { GlpiDriver } from '../../../src/exporters/glpi/driver.ts';
import { jiraExporterSchema } from '../../../src/exporters/jira/config.ts';
import { JiraDriver } from '../../../src/exporters/jira/driver.ts';
import { IncidentExporter, incidentMarker } from '../../../src/exporters/tickets/incidentExporter.ts';
import type { Host } from '../../../src/pipeline/host.ts';
import { FakeJira } from '../../support/fakes/jira.ts';
import { ManualTimers } from '../../support/fakes/timers.ts';
import { waitFor } from '../../support/waitFor.ts';
import {
  advanceGroups,
  assetDown,
  compileTree,
  GROUPED_BY_SITE as ROUTING,
  fakeGlpiExporter,
  parseWith,
  spawnExporterProcess,
  startIncidentExporter,
  testSettings,
} from '../incidentFixtures.ts';

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

const S = 1000;
const M = 60 * S;

describe('GLPI tickets per group (a route with group_by)', () => {
  it('opens one ticket for five incidents of one site, follows up as members join and resolve, and solves it when all have', async () => {
    const { glpi, config } = await fakeGlpiExporter(cleanup);
    const timers = new ManualTimers();
    const tree = compileTree(ROUTING, ['glpi']);
    const { exp } = await startIncidentExporter('glpi', config, new GlpiDriver(config), { timers, tree }, cleanup);
    const paris = ['p1', 'p2', 'p3', 'p4', 'p5'].map((n) => assetDown(n, 'paris'));
    await exp.consumeIncidents(paris.slice(0, 3).map((s) => s.next('opened')));
    await advanceGroups(exp, timers, 10 * S);
    await exp.consumeIncidents(paris.slice(3).map((s) => s.next('opened')));
    await advanceGroups(exp, timers, 19 * S);
    expect(glpi.tickets.size).toBe(0);
    await advanceGroups(exp, timers, 1 * S);

    expect(glpi.tickets.size).toBe(1);
    const [ticket] = [...glpi.tickets.values()];
    expect(ticket!.name).toBe('[ERROR] site=paris: 5 firing');
    const page = glpi.page(ticket!.id).replaceAll('&quot;', '"');
    for (const n of ['p1', 'p2', 'p3', 'p4', 'p5'])
      expect(page).toContain(`firing · ${n} down · asset_down{asset="${n}"}`);

    // The operators' API links each member to the group's ticket.
    const p5 = paris[4]!.next('updated');
    await exp.consumeIncidents([p5]);
    expect(await exp.ticketOf(p5.incident)).toMatchObject({
      exporter: 'glpi',
      ref: String(ticket!.id),
      resolved: false,
    });

    // Three resolve within one group_interval: one follow-up at the next tick, not three.
    await exp.consumeIncidents(paris.slice(0, 3).map((s) => s.next('resolved')));
    await advanceGroups(exp, timers, 5 * M - 1);
    expect(glpi.followups).toHaveLength(0);
    await advanceGroups(exp, timers, 1);
    expect(glpi.followups).toHaveLength(1);
    expect(glpi.followups[0]!.content).toContain('3 resolved; 2 firing, 3 resolved');
    expect(ticket!.status).not.toBe(5);

    await exp.consumeIncidents(paris.slice(3).map((s) => s.next('resolved')));
    await advanceGroups(exp, timers, 5 * M);
    expect(glpi.count('POST', 'Ticket')).toBe(1);
    expect(glpi.followups).toHaveLength(1);
    expect(glpi.solutions).toHaveLength(1);
    expect(glpi.solutions[0]!.content).toContain('2 resolved; 0 firing, 2 resolved');
    expect(ticket!.status).toBe(5);
    expect(exp.groups.size).toBe(0);
  });

  it("titles a group's ticket from the group's fields", async () => {
    const { glpi, config } = await fakeGlpiExporter(cleanup, {
      title: '{{group.firing}} of {{group.total}} hosts down in {{group.label.site}}',
      description: '{{#group.members}}{{asset}}: {{status}}\n{{/group.members}}',
    });
    const timers = new ManualTimers();
    const tree = compileTree(ROUTING, ['glpi']);
    const { exp } = await startIncidentExporter('glpi', config, new GlpiDriver(config), { timers, tree }, cleanup);
    const paris = ['p1', 'p2', 'p3'].map((n) => assetDown(n, 'paris'));
    await exp.consumeIncidents(paris.map((s) => s.next('opened')));
    await advanceGroups(exp, timers, 30 * S);
    const [ticket] = [...glpi.tickets.values()];
    expect(ticket!.name).toBe('3 of 3 hosts down in paris');
    for (const line of ['p1: firing', 'p2: firing', 'p3: firing']) expect(glpi.page(ticket!.id)).toContain(line);
    await exp.consumeIncidents([paris[0]!.next('resolved')]);
    await advanceGroups(exp, timers, 5 * M);
    expect(glpi.followups).toHaveLength(1);
    for (const line of ['p1: resolved', 'p2: firing', 'p3: firing']) expect(glpi.followups[0]!.content).toContain(line);
  });

  it('keeps a route without group_by at one ticket per incident, next to a grouping route', async () => {
    const { glpi, config } = await fakeGlpiExporter(cleanup);
    const timers = new ManualTimers();
    const tree = compileTree({ ...ROUTING, routes: [{ matchers: ['site = "lyon"'], group_by: [] }] }, ['glpi']);
    const { exp } = await startIncidentExporter('glpi', config, new GlpiDriver(config), { timers, tree }, cleanup);
    await exp.consumeIncidents([
      ...['l1', 'l2'].map((n) => assetDown(n, 'lyon').next('opened')),
      ...['p1', 'p2'].map((n) => assetDown(n, 'paris').next('opened')),
    ]);
    await exp.outbox.whenIdle();
    expect([...glpi.tickets.values()].map((t) => t.name).sort()).toEqual(['[ERROR] l1 down', '[ERROR] l2 down']);
    await advanceGroups(exp, timers, 30 * S);
    expect(glpi.tickets.size).toBe(3);
  });
});

describe('Jira issue per group', () => {
  it('opens one issue for the group, comments as members resolve, and moves it to Done once all have', async () => {
    const jira = await new FakeJira('cloud').listen();
    cleanup.push(() => jira.close());
    const config = parseWith(jiraExporterSchema, {
      url: jira.url,
      project: 'OPS',
      api_version: jira.version,
      email: 'ops@example.com',
      api_token: 'api-token-1',
    });
    const timers = new ManualTimers();
    const tree = compileTree({ ...ROUTING, receivers: [{ name: 'tickets', exporters: ['jira'] }] }, ['jira']);
    const { exp } = await startIncidentExporter('jira', config, new JiraDriver(config), { timers, tree }, cleanup);
    const stories = ['p1', 'p2', 'p3'].map((n) => assetDown(n, 'paris'));
    await exp.consumeIncidents(stories.map((s) => s.next('opened')));
    await advanceGroups(exp, timers, 30 * S);
    expect(jira.issues.size).toBe(1);
    const issue = jira.issues.get('OPS-1')!;
    expect(issue.fields.summary).toBe('[ERROR] site=paris: 3 firing');
    expect(issue.fields.labels).toContain(incidentMarker('{}:{site="paris"}'));

    await exp.consumeIncidents([stories[0]!.next('resolved')]);
    await advanceGroups(exp, timers, 5 * M);
    expect(issue.comments).toHaveLength(1);
    expect(JSON.stringify(issue.comments[0])).toContain('1 resolved; 2 firing, 1 resolved');
    expect(issue.fields.status.name).not.toBe('Done');

    await exp.consumeIncidents(stories.slice(1).map((s) => s.next('resolved')));
    await advanceGroups(exp, timers, 5 * M);
    expect(jira.count('POST', /\/issue$/)).toBe(1);
    expect(issue.fields.status.name).toBe('Done');
  });
});

describe('notification groups across a restart', () => {
  it('a group the process was killed holding still gets its one ticket, and later members follow up on it', async () => {
    const { glpi, config } = await fakeGlpiExporter(cleanup);
    const dataDir = mkdtempSync(join(tmpdir(), 'vigil-groups-restart-'));
    const rawConfig = { url: glpi.apiUrl, app_token: 'app-token-1', user_token: 'user-token-1' };
    // An hour's group_wait: the killed process never flushes; the restarted one does, on its clock.
    const routing = { ...ROUTING, group_wait: '1h' };
    const stories = ['p1', 'p2', 'p3'].map((n) => assetDown(n, 'paris'));
    const { child, exited, stdout } = spawnExporterProcess(
      'glpi',
      dataDir,
      rawConfig,
      stories.map((s) => s.next('opened')),
      routing,
    );
    await waitFor(() => stdout() === 'accepted\n', 'the exporter process to take the changes');
    child.kill('SIGKILL');
    expect(await exited).toBe('SIGKILL');
    expect(glpi.tickets.size).toBe(0);

    const timers = new ManualTimers(Date.now());
    // As the GLPI factory makes it, but on the test's clock.
    const exp = new IncidentExporter(testSettings('glpi', dataDir), config, new GlpiDriver(config), { timers });
    await exp.start({ routingTree: compileTree(routing, ['glpi']) } as Host);
    cleanup.push(() => exp.shutdown());
    expect(exp.groups.size).toBe(1);
    await advanceGroups(exp, timers, 60 * M);
    expect(glpi.tickets.size).toBe(1);
    const [ticket] = [...glpi.tickets.values()];
    for (const n of ['p1', 'p2', 'p3']) expect(glpi.page(ticket!.id)).toContain(`asset_down{asset=&quot;${n}&quot;}`);

    // Stopped and started again after the first notification: the next member follows up on the same ticket.
    await exp.shutdown();
    cleanup.pop();
    const again = new IncidentExporter(testSettings('glpi', dataDir), config, new GlpiDriver(config), { timers });
    await again.start({ routingTree: compileTree(routing, ['glpi']) } as Host);
    cleanup.push(() => again.shutdown());
    await again.consumeIncidents([assetDown('p4', 'paris').next('opened')]);
    await advanceGroups(again, timers, 5 * M);
    expect(glpi.count('POST', 'Ticket')).toBe(1);
    expect(glpi.followups).toHaveLength(1);
    expect(glpi.followups[0]!.items_id).toBe(ticket!.id);
    expect(glpi.followups[0]!.content).toContain('1 joined; 4 firing');
  });

  it('a group formed before group_by changed still resolves, and its ticket is solved, when its members do', async () => {
    const { glpi, config } = await fakeGlpiExporter(cleanup);
    const timers = new ManualTimers();
    const first = await startIncidentExporter(
      'glpi',
      config,
      new GlpiDriver(config),
      { timers, tree: compileTree(ROUTING, ['glpi']) },
      cleanup,
    );
    const stories = ['p1', 'p2'].map((n) => assetDown(n, 'paris'));
    await first.exp.consumeIncidents(stories.map((s) => s.next('opened')));
    await advanceGroups(first.exp, timers, 30 * S);
    expect(glpi.tickets.size).toBe(1);
    await first.stop();

    const regrouped = compileTree({ ...ROUTING, group_by: ['alertname'] }, ['glpi']);
    const { exp } = await startIncidentExporter(
      'glpi',
      config,
      new GlpiDriver(config),
      { timers, tree: regrouped, dataDir: first.dataDir },
      cleanup,
    );
    await exp.consumeIncidents(stories.map((s) => s.next('resolved')));
    await advanceGroups(exp, timers, 5 * M);
    expect(glpi.solutions).toHaveLength(1);
    expect([...glpi.tickets.values()][0]!.status).toBe(5);
    expect(exp.groups.size).toBe(0);
  });
});
