import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { compileRuleSet } from '../../src/correlation/compile.ts';
import { correlationSchema } from '../../src/correlation/config.ts';
import { parseArrivals } from '../../src/connectors/correlation/replay.ts';
import type { VigilEvent } from '../../src/model/event.ts';
import { engineFrom, ev, point, ruleConditions, Timeline } from '../support/correlation.ts';

const TENANTS = ['acme', 'globex'];

/** Each tenant sends the same events: every rule kind must open one incident per tenant. */
function perTenant(make: (tenant: string) => VigilEvent[]): VigilEvent[] {
  return TENANTS.flatMap(make);
}

const opened = (tl: Timeline) =>
  tl.changes
    .filter((c) => c.kind === 'opened')
    .map((c) => `${c.incident.tenant} ${c.incident.key}`)
    .sort();

describe('tenants in correlation', () => {
  it('identical events of two tenants open two incidents under every rule kind, each with its tenant', () => {
    const tl = new Timeline(
      engineFrom(`
defaults: { group_wait: 0s, allowed_lateness: 0s }
rules:
  - { kind: pair, name: host_down, match: 'attributes["check"] == "ping"', group_by: [asset] }
  - { kind: dedup, name: disk_full, match: 'attributes["check"] == "disk"', dedup_window: 5m }
  - { kind: threshold, name: errors, match: 'attributes["check"] == "http"', group_by: [service], window: 1m, threshold: 3 }
  - { kind: spike, name: logins, match: 'attributes["check"] == "login"', window: 1m, ratio: 3, min_count: 3 }
  - { kind: absence, name: heartbeat, match: 'attributes["check"] == "heartbeat"', group_by: [asset], interval: 1m }
`),
    );
    tl.send(
      perTenant((tenant) => [
        ev(0, { tenant, asset: 'web-1', type: 'down', attributes: { check: 'ping' } }),
        ev(0, { tenant, asset: 'web-1', fingerprint: 'disk:/var', attributes: { check: 'disk' } }),
        ev(0, { tenant, asset: 'web-1', attributes: { check: 'heartbeat' } }),
        ev(0, { tenant, attributes: { check: 'login' } }),
      ]),
    );
    for (let i = 0; i < 3; i++)
      tl.send(perTenant((tenant) => [ev(1000 + i, { tenant, service: 'shop', attributes: { check: 'http' } })]));
    // Logins: 1 in the first minute, 9 in the second, per tenant.
    for (let i = 0; i < 9; i++)
      tl.send(perTenant((tenant) => [ev(60_000 + i * 1000, { tenant, attributes: { check: 'login' } })]));
    tl.advance(200_000);
    expect(opened(tl)).toEqual(
      [
        'host_down{asset="web-1",tenant="T"}',
        'disk_full{fingerprint="disk:/var",tenant="T"}',
        'errors{service="shop",tenant="T"}',
        'logins{tenant="T"}',
        'heartbeat{asset="web-1",tenant="T"}',
      ]
        .flatMap((k) => TENANTS.map((t) => `${t} ${k.replace('"T"', `"${t}"`)}`))
        .sort(),
    );
    for (const c of tl.changes) expect(c.incident.labels.tenant).toBe(c.incident.tenant);
  });

  it('a tenant is part of metric_threshold groups too', () => {
    const tl = new Timeline(
      engineFrom(`
defaults: { group_wait: 0s, allowed_lateness: 0s }
rules:
  - { kind: metric_threshold, name: cpu, metric: cpu, group_by: ['host=attributes["host"]'], aggregation: max, window: 1m, op: '>', value: 0.9 }
`),
    );
    tl.sendPoints(TENANTS.map((tenant) => ({ ...point(0, 'cpu', 0.95, { host: 'h1' }), tenant })));
    expect(opened(tl)).toEqual(['acme cpu{host="h1",tenant="acme"}', 'globex cpu{host="h1",tenant="globex"}']);
  });

  it('events that name no tenant keep the keys they always had, and an explicit group_by tenant is not doubled', () => {
    const tl = new Timeline(
      engineFrom(`
defaults: { group_wait: 0s, allowed_lateness: 0s }
rules:
  - { kind: pair, name: host_down, group_by: [asset] }
  - { kind: pair, name: by_tenant, group_by: [tenant, asset] }
`),
    );
    tl.send([ev(0, { asset: 'web-1', type: 'down' }), ev(0, { asset: 'web-1', type: 'down', tenant: 'acme' })]);
    expect(opened(tl)).toEqual([
      ' by_tenant{asset="web-1",tenant=""}',
      ' host_down{asset="web-1"}',
      'acme by_tenant{asset="web-1",tenant="acme"}',
      'acme host_down{asset="web-1",tenant="acme"}',
    ]);
  });

  it("one tenant's incident neither inhibits nor, as a down parent, suppresses another tenant's", () => {
    const tl = new Timeline(
      engineFrom(`
defaults: { group_wait: 0s, allowed_lateness: 0s }
rules:
  - { kind: pair, name: host_down, match: 'attributes["check"] == "ping"', group_by: [asset] }
  - { kind: pair, name: svc_down, match: 'attributes["check"] == "svc"', group_by: [service, 'asset=attributes["host"]'] }
  - { kind: pair, name: child_down, match: 'attributes["check"] == "child"', group_by: [asset] }
inhibit:
  - { source: ['rule="host_down"'], target: ['rule="svc_down"'], equal: [asset] }
topology: { parent: 'attributes["parent"]' }
`),
    );
    tl.send([ev(0, { tenant: 'acme', asset: 'h1', type: 'down', attributes: { check: 'ping' } })]);
    tl.send(
      perTenant((tenant) => [
        ev(1000, { tenant, service: 'api', type: 'down', attributes: { check: 'svc', host: 'h1' } }),
        ev(1000, { tenant, asset: 'db-1', type: 'down', attributes: { check: 'child', parent: 'h1' } }),
      ]),
    );
    const suppression = tl.changes
      .filter((c) => c.kind === 'opened' && c.incident.rule !== 'host_down')
      .map((c) => `${c.incident.tenant} ${c.incident.rule} ${c.incident.suppressedBy.split(':')[0] || 'notified'}`)
      .sort();
    expect(suppression).toEqual([
      'acme child_down topology',
      'acme svc_down inhibit',
      'globex child_down notified',
      'globex svc_down notified',
    ]);
  });

  it('refuses a group_by label named tenant that is not the tenant', () => {
    const cfg = correlationSchema.parse(
      parse(`rules:\n  - { kind: pair, name: p, group_by: ['tenant=attributes["org"]'] }\n`),
      'correlation',
      [],
    )!;
    expect(compileRuleSet(cfg, ruleConditions).issues).toEqual([
      {
        path: 'correlation.rules[0].group_by[0]',
        message: expect.stringContaining('the label tenant is the tenant every incident key carries'),
      },
    ]);
  });

  it('a rules-test file names the tenant of events and metric points alike', () => {
    const { arrivals } = parseArrivals(
      [
        '{"time":"2026-12-01T10:00:00Z","asset":"web-1","type":"down","tenant":"acme"}',
        '{"time":"2026-12-01T10:00:00Z","metric":"cpu","value":0.95,"tenant":"acme"}',
      ].join('\n'),
    );
    expect(arrivals.map((a) => (a.event ?? a.point)!.tenant)).toEqual(['acme', 'acme']);
  });

  it("counts max_open_incidents per tenant: one tenant's flood holds back its own groups only, on its own overflow incident", () => {
    const tl = new Timeline(
      engineFrom(`
defaults: { group_wait: 0s, allowed_lateness: 0s, reopen_window: 0s }
rules:
  - { kind: pair, name: host_down, group_by: [asset], max_open_incidents: 1 }
`),
    );
    const down = (t: number, asset: string, tenant: string) => ev(t, { tenant, asset, type: 'down' });
    tl.send([down(0, 'web-1', 'acme'), down(0, 'web-2', 'acme'), down(0, 'web-1', 'globex')]);
    expect(opened(tl)).toEqual([
      'acme host_down{asset="web-1",tenant="acme"}',
      'acme host_down{overflow="true",tenant="acme"}',
      'globex host_down{asset="web-1",tenant="globex"}',
    ]);
    expect(tl.engine.book.get('host_down{overflow="true",tenant="acme"}')!.incident.title).toBe(
      '1 incidents of rule host_down held back: max_open_incidents 1 reached',
    );
    // globex's second group is held back on its own overflow incident, acme's counts nothing of it.
    tl.send([down(1000, 'web-2', 'globex')]);
    expect(opened(tl)).toContain('globex host_down{overflow="true",tenant="globex"}');
    // acme back under its limit: its overflow incident resolves, globex's stays.
    tl.send([ev(2000, { tenant: 'acme', asset: 'web-1', type: 'up' })]);
    tl.advance(3000);
    const overflow = (tenant: string) =>
      tl.engine.book.get(`host_down{overflow="true",tenant="${tenant}"}`)!.incident.status;
    expect([overflow('acme'), overflow('globex')]).toEqual(['resolved', 'open']);
  });
});
