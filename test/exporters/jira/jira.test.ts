import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { jiraExporterSchema } from '../../../src/exporters/jira/config.ts';
import { JiraDriver } from '../../../src/exporters/jira/driver.ts';
import { incidentMarker } from '../../../src/exporters/tickets/incidentExporter.ts';
import { FakeJira, type JiraFlavour } from '../../support/fakes/jira.ts';
import { ManualTimers } from '../../support/fakes/timers.ts';
import { IncidentStory, parseWith, startIncidentExporter } from '../incidentFixtures.ts';

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

async function jiraFake(flavour: JiraFlavour) {
  const jira = await new FakeJira(flavour).listen();
  cleanup.push(() => jira.close());
  return jira;
}

const CLOUD_AUTH = { email: 'ops@example.com', api_token: 'api-token-1' };

async function exporter(
  jira: FakeJira,
  extra: Record<string, unknown>,
  opts: { timers?: ManualTimers; dataDir?: string } = {},
) {
  const config = parseWith(jiraExporterSchema, { url: jira.url, project: 'OPS', api_version: jira.version, ...extra });
  return startIncidentExporter('jira/ops', config, new JiraDriver(config), opts, cleanup);
}

describe('Jira exporter', () => {
  it('Cloud v3: one issue with ADF, labels, components and mapped priority; a comment per update; Done on resolve', async () => {
    const jira = await jiraFake('cloud');
    const { exp } = await exporter(jira, {
      ...CLOUD_AUTH,
      components: ['database'],
      priorities: { ERROR: 'High' },
      labels: ['vigil', 'prod'],
    });
    const story = new IncidentStory();
    await exp.consumeIncidents([
      story.next('opened'),
      story.next('updated'),
      story.next('updated'),
      story.next('resolved'),
    ]);
    await exp.outbox.whenIdle();
    expect(exp.outbox.parked).toBe(0);
    expect(jira.issues.size).toBe(1);
    const issue = jira.issues.get('OPS-1')!;
    expect(issue.fields).toMatchObject({
      summary: '[ERROR] Disk full on db-1',
      priority: { name: 'High' },
      components: [{ name: 'database' }],
      status: { name: 'Done' },
    });
    expect(issue.fields.labels).toEqual(['vigil', 'prod', incidentMarker('disk-full{host="db-1"}')]);
    expect(JSON.stringify(issue.fields.description)).toContain('"text":"Incident: disk-full{host=\\"db-1\\"}"');
    // two updates, plus the resolve note
    expect(issue.comments).toHaveLength(3);
    expect(jira.count('POST', /\/issue$/)).toBe(1);
    expect(jira.count('POST', /\/transitions$/)).toBe(1);
  });

  it("comments a person's acknowledgement on the open issue, and links the issue it made for the incident", async () => {
    const jira = await jiraFake('cloud');
    const { exp } = await exporter(jira, CLOUD_AUTH);
    const story = new IncidentStory();
    const opened = story.next('opened');
    await exp.consumeIncidents([opened, story.next('acknowledged', { reason: 'acknowledged by alice: on it' })]);
    await exp.outbox.whenIdle();
    expect(jira.issues.size).toBe(1);
    expect(JSON.stringify(jira.issues.get('OPS-1')!.comments)).toContain('acknowledged by alice: on it');
    expect(await exp.ticketOf(opened.incident)).toEqual({
      exporter: 'jira/ops',
      ref: 'OPS-1',
      url: `${jira.url}/browse/OPS-1`,
      resolved: false,
    });
    // Another incident on the key (an older one's id) has no ticket of this one's.
    expect(await exp.ticketOf({ key: opened.incident.key, id: 'another' })).toBeUndefined();
  });

  it('Data Center v2: Bearer PAT, text bodies, reopen through a transition found by its target status', async () => {
    const jira = await jiraFake('dc');
    const { exp } = await exporter(jira, { token: 'pat-1', reopen_transition: 'To Do' });
    const story = new IncidentStory();
    await exp.consumeIncidents([
      story.next('opened'),
      story.next('resolved'),
      story.next('reopened'),
      story.next('resolved'),
    ]);
    await exp.outbox.whenIdle();
    expect(exp.outbox.parked).toBe(0);
    const issue = jira.issues.get('OPS-1')!;
    expect(jira.issues.size).toBe(1);
    // wiki markup: the incident key's braces must not read as a macro
    expect(issue.fields.description).toContain('Incident: disk\\-full\\{host="db\\-1"\\}');
    expect(issue.fields.status.name).toBe('Done');
    expect(jira.count('POST', /\/transitions$/)).toBe(3);
    expect(jira.requests.every((r) => r.headers.authorization === 'Bearer pat-1')).toBe(true);
  });

  it('Data Center v2: an inserted value cannot start a heading, a quote or a link on a line of its own', async () => {
    const jira = await jiraFake('dc');
    const { exp } = await exporter(jira, {
      token: 'pat-1',
      description: '{{incident.title}}\nRule: {{incident.rule}}',
    });
    const story = new IncidentStory('disk-full{host="db-1"}', {
      title: 'h1. Pay here\n[click|https://evil.example]\nbq. quoted',
    });
    await exp.consumeIncidents([story.next('opened')]);
    await exp.outbox.whenIdle();
    const description = jira.issues.get('OPS-1')!.fields.description as string;
    const lines = description.split('\n');
    expect(lines[0]).toBe('h1\\. Pay here \\[click\\|https://evil.example\\] bq. quoted');
    expect(lines[1]).toBe('Rule: disk\\-full');
    expect(lines).toHaveLength(2);
  });

  it('honours 429 Retry-After on a comment and adds it exactly once', async () => {
    const jira = await jiraFake('cloud');
    const timers = new ManualTimers();
    const { exp } = await exporter(jira, CLOUD_AUTH, { timers });
    jira.failNext(
      { status: 429, headers: { 'retry-after': '42' }, body: { errorMessages: ['Rate limit exceeded.'], errors: {} } },
      (r) => r.path.endsWith('/comment'),
    );
    const story = new IncidentStory();
    await exp.consumeIncidents([story.next('opened'), story.next('updated')]);
    await vi.waitFor(() => expect(timers.delays).toEqual([42_000]), { timeout: 5000 });
    timers.advance(42_000);
    await exp.outbox.whenIdle();
    expect(jira.issues.get('OPS-1')!.comments).toHaveLength(1);
  });

  it('finds its issue by the marker label after a lost answer and a restart: no twin', async () => {
    const jira = await jiraFake('cloud');
    const timers = new ManualTimers();
    const first = await exporter(jira, { ...CLOUD_AUTH, delivery: { timeout: '1s' } }, { timers });
    jira.failNext({ hang: true, processed: true }, (r) => r.method === 'POST' && r.path.endsWith('/issue'));
    const story = new IncidentStory();
    await first.exp.consumeIncidents([story.next('opened')]);
    await vi.waitFor(() => expect(timers.delays).toHaveLength(1), { timeout: 5000 });
    await first.stop();

    const second = await exporter(jira, CLOUD_AUTH, { dataDir: first.dataDir });
    await second.exp.consumeIncidents([story.next('updated')]);
    await second.exp.outbox.whenIdle();
    expect(jira.issues.size).toBe(1);
    // searched before each create attempt: nothing the first time, OPS-1 after the restart
    expect(jira.count('POST', /\/search\/jql$/)).toBe(2);
    expect(jira.count('POST', /\/issue$/)).toBe(1);
    expect(jira.issues.get('OPS-1')!.comments).toHaveLength(1);
  });

  it('counts an issue a person already closed as resolved, and parks a resolve whose transition does not exist', async () => {
    const jira = await jiraFake('cloud');
    const { exp } = await exporter(jira, { ...CLOUD_AUTH, resolve_transition: 'Close' });
    const a = new IncidentStory('a');
    const b = new IncidentStory('b');
    await exp.consumeIncidents([a.next('opened'), b.next('opened')]);
    await exp.outbox.whenIdle();
    jira.issues.get('OPS-1')!.fields.status = { name: 'Done', statusCategory: { key: 'done', name: 'Done' } };
    await exp.consumeIncidents([a.next('resolved'), b.next('resolved')]);
    await exp.outbox.whenIdle();
    expect(exp.outbox.parked).toBe(1);
    expect(readFileSync(exp.outbox.parkedPath, 'utf8')).toContain(
      'has no transition \\"Close\\"; available: Start progress, Done',
    );
  });

  it('refuses a config without credentials or with a label holding spaces', () => {
    expect(() => parseWith(jiraExporterSchema, { url: 'https://acme.atlassian.net', project: 'OPS' })).toThrow(
      'token: set email and api_token',
    );
    expect(() =>
      parseWith(jiraExporterSchema, {
        url: 'https://acme.atlassian.net',
        project: 'OPS',
        token: 't',
        labels: ['two words'],
      }),
    ).toThrow('labels[0]: must be a label without spaces');
  });
});
