import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { registry } from '../../../src/components.ts';
import { parseConfig } from '../../../src/service/config/load.ts';
import type { ConfigError } from '../../../src/errors.ts';
import { compileTimeInterval } from '../../../src/exporters/tickets/timeIntervals.ts';
import type { IncidentChange } from '../../../src/model/incident.ts';
import { runCli, startDaemon, type RunningDaemon } from '../../support/daemon.ts';
import { FakeWebhookReceiver } from '../../support/fakes/webhookReceiver.ts';
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
  defaults: { group_wait: 0s }
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

describe('routing tree in the daemon', () => {
  let daemon: RunningDaemon | undefined;
  const fakes: FakeWebhookReceiver[] = [];
  afterEach(async () => {
    await daemon?.stop();
    daemon = undefined;
    await Promise.all(fakes.splice(0).map((f) => f.close()));
  });

  it('notifies the receivers the tree picks, and an exporter outside the tree by its own routes', async () => {
    const [oncall, team, audit] = await Promise.all(
      [0, 1, 2].map(async () => {
        const f = await new FakeWebhookReceiver().listen();
        fakes.push(f);
        return f;
      }),
    );
    // The daemon reads the wall clock: the nights interval is moved to a year gone by, so the severity
    // route is never muted while this runs, whatever the hour in Paris.
    const tree = TREE.replace('location: Europe/Paris }', 'years: ["2001"], location: Europe/Paris }');
    expect(tree).not.toBe(TREE);
    daemon = await startDaemon(withRouting(tree, { oncall: oncall!.url, team: team!.url, audit: audit!.url }));
    const post = (body: object) =>
      fetch(daemon!.url('/v1/events'), {
        method: 'POST',
        body: JSON.stringify(body),
        headers: { 'content-type': 'application/json' },
      });
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
