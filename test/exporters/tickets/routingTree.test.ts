import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { registry } from '../../../src/components.ts';
import { parseConfig } from '../../../src/service/config/load.ts';
import type { ConfigError } from '../../../src/errors.ts';
import { compileTimeInterval } from '../../../src/exporters/tickets/timeIntervals.ts';
import type { IncidentChange } from '../../../src/model/incident.ts';
import { postEvents, runCli, startDaemon, type RunningDaemon } from '../../support/daemon.ts';
import { listenWebhookReceivers, type FakeWebhookReceiver } from '../../support/fakes/webhookReceiver.ts';
import { waitFor } from '../../support/waitFor.ts';

/** A config with three webhook exporters on the incidents pipeline and the given routing section. */
function withRouting(
  routing: string,
  urls = { oncall: 'http://127.0.0.1:9/o', team: 'http://127.0.0.1:9/t', audit: 'http://127.0.0.1:9/a' },
): string {
  return `
receivers:
  json: { endpoint: 127.0.0.1:0 }
exporters:
  correlation: {}
  webhook/oncall: { url: ${urls.oncall} }
  webhook/team: { url: ${urls.team} }
  webhook/audit: { url: ${urls.audit}, routes: [{ matchers: ['rule = "asset_down"'] }] }
correlation:
  defaults: { group_wait: 0s, group_interval: 0s }
  rules:
    - { kind: pair, name: asset_down, group_by: [asset] }
routing:
${routing.replace(/^/gm, '  ')}
service:
  pipelines:
    logs: { receivers: [json], exporters: [correlation] }
    incidents: { exporters: [webhook/oncall, webhook/team, webhook/audit] }
  telemetry:
    metrics: { endpoint: 127.0.0.1:0 }
`;
}

const TREE = `receiver: team
routes:
  - matchers: ['tenant = "acme"']
    receiver: oncall
    continue: true
  - matchers: ['severity >= error']
    receiver: oncall
    mute_time_intervals: [nights]
    routes:
      - matchers: ['service = "batch"']
        receiver: team
      - matchers: ['service =~ "pay.*"']
receivers:
  - { name: team, exporters: [webhook/team] }
  - { name: oncall, exporters: [webhook/oncall] }
  - { name: nobody }
time_intervals:
  - name: nights
    time_intervals:
      - { times: [{ start_time: "22:00", end_time: "24:00" }], location: Europe/Paris }
`;

function change(fields: {
  severity?: number;
  service?: string;
  tenant?: string;
  kind?: IncidentChange['kind'];
  labels?: Record<string, string>;
}): IncidentChange {
  const sev = fields.severity ?? 17;
  return {
    kind: fields.kind ?? 'opened',
    reason: '',
    atMs: 0,
    notify: true,
    eventIds: [],
    incident: {
      key: 'k',
      id: 'i',
      rule: 'r',
      ruleKind: 'pair',
      labels: fields.labels ?? {},
      title: '',
      status: 'open',
      severityNumber: sev,
      severityText: '',
      suppressed: false,
      suppressedBy: '',
      openedAtMs: 0,
      updatedAtMs: 0,
      resolvedAtMs: 0,
      firstSeenMs: 0,
      lastSeenMs: 0,
      eventCount: 1,
      sampleEventIds: [],
      lastEventType: 'down',
      tenant: fields.tenant ?? '',
      asset: '',
      service: fields.service ?? '',
      version: 1,
      audit: [],
    },
  };
}

const NOON = Date.parse('2026-12-05T12:00:00+01:00');
const NIGHT = Date.parse('2026-12-05T22:30:00+01:00');

describe('routing tree', () => {
  const tree = parseConfig(withRouting(TREE), registry).routing!;
  const receivers = (c: IncidentChange, at = NOON) => tree.match(c, at).map((m) => m.receiver);

  it('walks as Alertmanager does: first matching child wins, continue tries the next, a route without a taking child matches itself', () => {
    expect(receivers(change({ severity: 9 }))).toEqual(['team']); // root only
    expect(receivers(change({ severity: 17, service: 'batch' }))).toEqual(['team']); // severity route > batch child
    expect(receivers(change({ severity: 17, service: 'web' }))).toEqual(['oncall']); // no child takes it: the route itself
    expect(receivers(change({ severity: 17, service: 'payments' }))).toEqual(['oncall']); // child without receiver inherits its parent's
    expect(receivers(change({ severity: 17, tenant: 'acme' }))).toEqual(['oncall', 'oncall']); // continue: both siblings
    expect(receivers(change({ severity: 9, tenant: 'acme' }))).toEqual(['oncall']);
    expect(tree.match(change({ severity: 17, service: 'payments' }), NOON)[0]!.path).toEqual([
      '{}',
      'severity>="error"',
      'service=~"pay.*"',
    ]);
  });

  it('decides only for the exporters it names; a muted route still closes tickets', () => {
    expect([...tree.exporters].sort()).toEqual(['webhook/oncall', 'webhook/team']);
    const err = change({ severity: 17, service: 'web' });
    expect(tree.takes('webhook/oncall', err, NOON)).toBe(true);
    expect(tree.takes('webhook/team', err, NOON)).toBe(false);
    expect(tree.takes('webhook/oncall', err, NIGHT)).toBe(false);
    expect(tree.match(err, NIGHT)[0]!.muted).toBe(true);
    expect(tree.takes('webhook/oncall', { ...err, kind: 'resolved' }, NIGHT)).toBe(true);
  });

  it('refuses unknown receivers, intervals and exporters, with their YAML paths', () => {
    const bad = `receiver: nowhere
routes:
  - matchers: ['severity >= error']
  - receiver: ghost
    mute_time_intervals: [weekends]
    routes:
      - { matchers: ['service = "a"'], receiver: phantom }
receivers:
  - { name: team, exporters: [webhook/team, jira] }
time_intervals:
  - name: bad
    time_intervals: [{ weekdays: ['funday'] }]
`;
    let issues: { path: string; message: string }[] = [];
    try {
      parseConfig(withRouting(bad), registry);
    } catch (err) {
      issues = (err as ConfigError).issues as { path: string; message: string }[];
    }
    expect(issues.map((i) => i.path).sort()).toEqual(
      [
        'routing.receiver',
        'routing.receivers[0].exporters[1]',
        'routing.routes[1].mute_time_intervals[0]',
        'routing.routes[1].receiver',
        'routing.routes[1].routes[0].receiver',
        'routing.time_intervals[0]',
      ].sort(),
    );
    expect(issues.find((i) => i.path === 'routing.receivers[0].exporters[1]')!.message).toMatch(
      /"jira" is not an exporter of an incidents pipeline/,
    );
    expect(issues.find((i) => i.path === 'routing.time_intervals[0]')!.message).toMatch(/funday/);
    // The time zone is checked by the schema, where it is written.
    expect(() =>
      parseConfig(
        withRouting(
          `receiver: team\nreceivers: [{ name: team }]\ntime_intervals:\n  - name: z\n    time_intervals: [{ location: Mars/Olympus }]\n`,
        ),
        registry,
      ),
    ).toThrow(/routing\.time_intervals\[0\]\.time_intervals\[0\]\.location: unknown time zone "Mars\/Olympus"/);
    // A matcher that does not parse is reported at its own path, in a child route too.
    expect(() =>
      parseConfig(
        withRouting(
          `receiver: team\nroutes:\n  - routes: [{ matchers: ['severity >= loud'] }]\nreceivers: [{ name: team }]\n`,
        ),
        registry,
      ),
    ).toThrow(/routing\.routes\[0\]\.routes\[0\]\.matchers\[0\]: severity must be a level/);
  });
});

describe('time intervals', () => {
  const at = (iso: string) => Date.parse(iso);

  it('reads local time in its time zone across a daylight-saving change', () => {
    const office = compileTimeInterval('office', [
      { times: [{ start_time: '08:00', end_time: '18:00' }], weekdays: ['monday:friday'], location: 'Europe/Paris' },
    ]);
    expect(office.active(at('2026-03-27T07:30:00Z'))).toBe(true); // Friday 08:30 CET (UTC+1)
    expect(office.active(at('2026-03-27T06:30:00Z'))).toBe(false); // Friday 07:30 CET
    expect(office.active(at('2026-03-28T10:00:00Z'))).toBe(false); // Saturday
    expect(office.active(at('2026-03-30T06:30:00Z'))).toBe(true); // Monday 08:30 CEST (UTC+2) after the change
    expect(office.active(at('2026-03-30T05:30:00Z'))).toBe(false); // Monday 07:30 CEST
    expect(office.active(at('2026-03-30T15:59:00Z'))).toBe(true); // 17:59
    expect(office.active(at('2026-03-30T16:00:00Z'))).toBe(false); // 18:00: end is exclusive
  });

  it('counts negative days from the end of the month, and matches months and years', () => {
    const monthEnd = compileTimeInterval('close', [
      { days_of_month: ['-2:-1'], months: ['january:march', '12'], years: ['2026:2027'], location: 'UTC' },
    ]);
    expect(monthEnd.active(at('2026-02-27T12:00:00Z'))).toBe(true); // February 2026 has 28 days
    expect(monthEnd.active(at('2026-02-26T12:00:00Z'))).toBe(false);
    expect(monthEnd.active(at('2026-03-31T00:00:00Z'))).toBe(true);
    expect(monthEnd.active(at('2026-04-30T12:00:00Z'))).toBe(false); // April is not listed
    expect(monthEnd.active(at('2028-12-31T12:00:00Z'))).toBe(false); // 2028 is not listed
  });
});

/** A tree that groups by service and waits an hour before notifying. */
const GROUPING_HOUR = `receiver: team
group_by: [service]
group_wait: 1h
routes:
  - matchers: ['severity >= error']
    receiver: oncall
  - matchers: ['service = "batch"']
    group_by: []
receivers:
  - { name: team, exporters: [webhook/team] }
  - { name: oncall, exporters: [webhook/oncall] }
`;

/** The samples of `name` in Prometheus text, each as its labels and value. */
function samples(text: string, name: string): { labels: Record<string, string>; value: number }[] {
  const out: { labels: Record<string, string>; value: number }[] = [];
  for (const line of text.split('\n')) {
    const m = /^(\w+)\{(.*)\} (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const labels: Record<string, string> = {};
    for (const [, k, v] of m[2]!.matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[k!] = v!.replace(/\\(.)/g, '$1');
    out.push({ labels, value: Number(m[3]) });
  }
  return out;
}

const ERRORS = '{}/{severity>="error"}';

describe('routing tree in the daemon', () => {
  let daemon: RunningDaemon | undefined;
  const fakes: FakeWebhookReceiver[] = [];
  afterEach(async () => {
    await daemon?.stop();
    daemon = undefined;
    await Promise.all(fakes.splice(0).map((f) => f.close()));
  });

  it('notifies the receivers the tree picks, and an exporter outside the tree by its own routes', async () => {
    const [oncall, team, audit] = await listenWebhookReceivers(3, fakes);
    // The daemon reads the wall clock: the nights interval is moved to a year gone by, so the severity
    // route is never muted while this runs, whatever the hour in Paris.
    const tree = TREE.replace('location: Europe/Paris }', 'years: ["2001"], location: Europe/Paris }');
    expect(tree).not.toBe(TREE);
    daemon = await startDaemon(withRouting(tree, { oncall: oncall!.url, team: team!.url, audit: audit!.url }));
    const post = (body: object) => postEvents(daemon!, [body]);
    // Critical on a web service: the severity route (oncall). Info on another asset: the root (team).
    await post({ asset: 'web-1', service: 'web', type: 'down', severity_text: 'CRITICAL' });
    await post({ asset: 'cron-1', service: 'cron', type: 'down', severity_text: 'INFO' });
    const keys = (f: FakeWebhookReceiver) =>
      new Set(f.accepted.map((p) => (p as { data: { incident: { key: string } } }).data.incident.key));
    await waitFor(
      () => oncall!.accepted.length >= 1 && team!.accepted.length >= 1 && audit!.accepted.length >= 2,
      'webhooks received',
    );
    expect(keys(oncall!)).toEqual(new Set(['asset_down{asset="web-1"}']));
    expect(keys(team!)).toEqual(new Set(['asset_down{asset="cron-1"}']));
    // webhook/audit is in no receiver: its own routes (rule = asset_down) take both.
    expect(keys(audit!)).toEqual(new Set(['asset_down{asset="web-1"}', 'asset_down{asset="cron-1"}']));
  });

  it('counts groups and their firing and resolved members per exporter and route in /metrics', async () => {
    const [team, oncall, audit] = await listenWebhookReceivers(3, fakes);
    daemon = await startDaemon(withRouting(GROUPING_HOUR, { team: team!.url, oncall: oncall!.url, audit: audit!.url }));
    const scrape = async () => {
      const text = await (await fetch(daemon!.adminUrl('/metrics'))).text();
      const byKey = (name: string) =>
        Object.fromEntries(
          samples(text, name).map((s) => [
            [s.labels.exporter, s.labels.route, s.labels.state].filter(Boolean).join(' '),
            s.value,
          ]),
        );
      return { groups: byKey('vigil_route_groups'), members: byKey('vigil_route_group_members') };
    };
    // Before any incident, each grouping route that names an exporter shows up at 0; the batch
    // route does not group and has no series.
    expect(await scrape()).toEqual({
      groups: { 'webhook/team {}': 0, [`webhook/oncall ${ERRORS}`]: 0 },
      members: {
        'webhook/team {} firing': 0,
        'webhook/team {} resolved': 0,
        [`webhook/oncall ${ERRORS} firing`]: 0,
        [`webhook/oncall ${ERRORS} resolved`]: 0,
      },
    });

    const post = (body: object) => postEvents(daemon!, [body]);
    for (const asset of ['web-1', 'web-2']) await post({ asset, service: 'web', type: 'down', severity_text: 'ERROR' });
    await post({ asset: 'api-1', service: 'api', type: 'down', severity_text: 'FATAL' });
    await post({ asset: 'db-1', service: 'db', type: 'down', severity_text: 'INFO' });
    await post({ asset: 'cron-1', service: 'batch', type: 'down', severity_text: 'INFO' });
    await waitFor(async () => (await scrape()).members[`webhook/oncall ${ERRORS} firing`] === 3, 'members counted');
    // cron-1 took the batch route, which does not group: sent at once, counted in no group.
    await waitFor(() => team!.accepted.length === 1, 'the batch incident notified on its own');
    expect(await scrape()).toEqual({
      groups: { 'webhook/team {}': 1, [`webhook/oncall ${ERRORS}`]: 2 },
      members: {
        'webhook/team {} firing': 1,
        'webhook/team {} resolved': 0,
        [`webhook/oncall ${ERRORS} firing`]: 3,
        [`webhook/oncall ${ERRORS} resolved`]: 0,
      },
    });

    // A member that resolves waits in its group, resolved, until the group's notification.
    await post({ asset: 'web-1', service: 'web', type: 'up', severity_text: 'ERROR' });
    await waitFor(
      async () => (await scrape()).members[`webhook/oncall ${ERRORS} resolved`] === 1,
      'resolution counted',
    );
    expect((await scrape()).members[`webhook/oncall ${ERRORS} firing`]).toBe(2);
    expect(oncall!.accepted).toHaveLength(0);
  });
});

describe('vigil routes test', () => {
  it('the shipped example routes as its comment says', async () => {
    const res = await runCli([
      'routes',
      'test',
      '--config',
      'config/examples/routing.yaml',
      '--at',
      '2026-12-02T12:00:00Z',
      'severity=critical',
      'service=billing',
    ]);
    expect(res.stdout.trim().split('\n').at(-1)).toBe('pager');
    const batch = await runCli([
      'routes',
      'test',
      '--config',
      'config/examples/routing.yaml',
      '--at',
      '2026-12-31T12:00:00Z',
      'severity=error',
      'service=reports',
      'tenant=acme',
    ]);
    expect(batch.stdout.trim().split('\n').at(-1)).toBe('chat,chat');
  });

  const file = join(mkdtempSync(join(tmpdir(), 'vigil-routes-')), 'vigil.yaml');
  writeFileSync(file, withRouting(TREE));

  it('prints the matched routes and receivers, as amtool config routes test does', async () => {
    const res = await runCli([
      'routes',
      'test',
      '--config',
      file,
      '--at',
      '2026-12-05T12:00:00+01:00',
      'severity=critical',
      'service=payments',
      'tenant=acme',
    ]);
    expect(res.code).toBe(0);
    expect(res.stdout).toBe(
      [
        '{} > tenant="acme"',
        '  receiver oncall: webhook/oncall',
        '{} > severity>="error" > service=~"pay.*"',
        '  receiver oncall: webhook/oncall',
        'oncall,oncall',
        '',
      ].join('\n'),
    );
  });

  it('says when a route is muted, and checks the expected receivers', async () => {
    const muted = await runCli([
      'routes',
      'test',
      '--config',
      file,
      '--at',
      '2026-12-05T22:30:00+01:00',
      '--verify-receivers',
      'oncall',
      'severity=error',
    ]);
    expect(muted.stdout).toMatch(/receiver oncall: webhook\/oncall \(muted now; resolutions still go out\)/);
    expect(muted.code).toBe(0);
    const wrong = await runCli(['routes', 'test', '--config', file, '--verify-receivers', 'team', 'severity=error']);
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toBe('vigil routes: receivers "oncall" are not the expected "team"\n');
    const usage = await runCli(['routes', 'test', '--config', file, 'severity']);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toMatch(/"severity" is not a label; write name=value/);
    const help = await runCli(['routes', '--help']);
    expect(help.stdout).toMatch(/^Usage: vigil routes test --config FILE/);
  });
});

/** A grouping tree with label matchers only, so Alertmanager can read the same tree. */
const GROUPED_TREE = `receiver: team
group_by: [site, alertname]
routes:
  - matchers: ['tenant = "acme"']
    receiver: oncall
    continue: true
    group_by: ['...']
  - matchers: ['service =~ "pay.*"']
    receiver: oncall
    group_wait: 10s
    routes:
      - matchers: ['site = "paris"']
        receiver: team
        group_by: [site]
        repeat_interval: 1h
      - matchers: ['site != "paris"', 'env = "prod"']
        receiver: nobody
        group_by: []
receivers:
  - { name: team, exporters: [webhook/team] }
  - { name: oncall, exporters: [webhook/oncall] }
  - { name: nobody }
`;

/** The same tree as Alertmanager's alertmanager.yml spells it. */
const GROUPED_TREE_AM = `route:
  receiver: team
  group_by: [site, alertname]
  routes:
    - matchers: ['tenant="acme"']
      receiver: oncall
      continue: true
      group_by: ['...']
    - matchers: ['service=~"pay.*"']
      receiver: oncall
      group_wait: 10s
      routes:
        - matchers: ['site="paris"']
          receiver: team
          group_by: [site]
          repeat_interval: 1h
        - matchers: ['site!="paris"', 'env="prod"']
          receiver: nobody
          group_by: []
receivers:
  - name: team
  - name: oncall
  - name: nobody
`;

describe('vigil routes test with grouping routes', () => {
  const dir = mkdtempSync(join(tmpdir(), 'vigil-routes-groups-'));
  const file = join(dir, 'vigil.yaml');
  writeFileSync(file, withRouting(GROUPED_TREE));
  const amFile = join(dir, 'alertmanager.yml');
  writeFileSync(amFile, GROUPED_TREE_AM);

  it("prints each matched route's group_by, group key and timers", async () => {
    const res = await runCli([
      'routes',
      'test',
      '--config',
      file,
      'alertname=asset_down',
      'tenant=acme',
      'service=payments',
      'site=paris',
    ]);
    expect(res.stderr).toBe('');
    expect(res.stdout).toBe(
      [
        '{} > tenant="acme"',
        '  receiver oncall: webhook/oncall',
        '  group_by [...] (every label)',
        '  group {}/{tenant="acme"}:{alertname="asset_down", service="payments", severity="error", site="paris", tenant="acme"}',
        '  group_wait 30s, group_interval 5m, repeat_interval 4h',
        '{} > service=~"pay.*" > site="paris"',
        '  receiver team: webhook/team',
        '  group_by [site]',
        '  group {}/{service=~"pay.*"}/{site="paris"}:{site="paris"}',
        '  group_wait 10s, group_interval 5m, repeat_interval 1h',
        'oncall,team',
        '',
      ].join('\n'),
    );
  });

  it('leaves out the group of a route that does not group, and the names an incident has no value for', async () => {
    const res = await runCli(['routes', 'test', '--config', file, 'service=payroll', 'site=lyon', 'env=prod']);
    expect(res.stdout).toBe(
      ['{} > service=~"pay.*" > site!="paris", env="prod"', '  receiver nobody: (no exporters)', 'nobody', ''].join(
        '\n',
      ),
    );
    // Every label, as Alertmanager's label sets: no empty value (no rule given, no alertname).
    const all = await runCli(['routes', 'test', '--config', file, 'tenant=acme']);
    expect(all.stdout).toContain('\n  group {}/{tenant="acme"}:{severity="error", tenant="acme"}\n');
    const root = await runCli(['routes', 'test', '--config', file, 'rule=disk_full']);
    expect(root.stdout).toBe(
      [
        '{}',
        '  receiver team: webhook/team',
        '  group_by [alertname, site]',
        '  group {}:{alertname="disk_full"}',
        '  group_wait 30s, group_interval 5m, repeat_interval 4h',
        'team',
        '',
      ].join('\n'),
    );
  });

  it('picks the receivers amtool config routes test picks on the same tree', { timeout: 120_000 }, async () => {
    const labelSets = [
      ['tenant=acme', 'service=payments', 'site=paris'],
      ['tenant=acme', 'service=web'],
      ['service=payments', 'site=lyon'],
      ['service=payments', 'site=lyon', 'env=prod'],
      ['service=paycheck', 'site=paris', 'env=prod'],
      ['tenant=other', 'service=billing'],
      ['service=pay'],
      [],
    ];
    // Sixteen process starts: side by side, and with the time a loaded 2-core machine needs.
    const answers = await Promise.all(
      labelSets.map(async (labels) => {
        const [am, vigil] = await Promise.all([
          promisify(execFile)('/usr/bin/amtool', ['config', 'routes', 'test', `--config.file=${amFile}`, ...labels]),
          runCli(['routes', 'test', '--config', file, ...labels]),
        ]);
        return { labels, vigil: vigil.stdout.trim().split('\n').at(-1), amtool: am.stdout.trim() };
      }),
    );
    for (const a of answers)
      expect({ labels: a.labels, receivers: a.vigil }).toEqual({ labels: a.labels, receivers: a.amtool });
  });
});
