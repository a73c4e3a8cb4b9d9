import { describe, expect, it } from 'vitest';
import { maintenanceActive } from '../../src/correlation/suppression.ts';
import { MemoryStateStore } from '../../src/state/memoryStore.ts';
import { engineFrom, ev, Timeline } from '../support/correlation.ts';

const base = `
defaults: { group_wait: 0s, allowed_lateness: 0s }
rules:
  - { kind: pair, name: host_down, group_by: [asset] }
  - { kind: threshold, name: svc_errors, match: 'severity_text == "ERROR"', group_by: [service, 'asset=attributes["host"]'], window: 1m, threshold: 3 }
`;
const hostDown = (t: number, asset: string) => ev(t, { asset, type: 'down' });
const hostUp = (t: number, asset: string) => ev(t, { asset, type: 'up' });
const svcErr = (t: number, service: string, host: string, parent = '') =>
  ev(t, { service, severityText: 'ERROR', severityNumber: 17, attributes: { host, ...(parent ? { parent } : {}) } });
const timeline = (tl: Timeline) =>
  tl.changes.map(
    (c) =>
      `${c.kind}${c.notify ? '!' : ''} ${c.incident.key}${c.incident.suppressedBy ? ` by ${c.incident.suppressedBy}` : ''}`,
  );

describe('suppression', () => {
  it('inhibition: an open source incident suppresses targets with equal labels, until it resolves', () => {
    const tl = new Timeline(
      engineFrom(`${base}
inhibit:
  - { source: ['rule="host_down"'], target: ['rule="svc_errors"'], equal: [asset] }
`),
    );
    tl.send([hostDown(0, 'h1')]);
    for (let i = 0; i < 3; i++) tl.send([svcErr(1000 + i, 'api', 'h1'), svcErr(1000 + i, 'api', 'h2')]);
    tl.send([hostUp(10_000, 'h1')]);
    tl.advance(11_000);
    expect(timeline(tl)).toEqual([
      'opened! host_down{asset="h1"}',
      'opened svc_errors{asset="h1",service="api"} by inhibit:host_down{asset="h1"}',
      'opened! svc_errors{asset="h2",service="api"}',
      // Its all-clear is held for group_interval in case it reopens, but the inhibition lifts at
      // once, as in Alertmanager: the target is paged now, not group_interval later.
      'resolved host_down{asset="h1"}',
      // Never notified while suppressed: its first notification follows.
      'unsuppressed svc_errors{asset="h1",service="api"}',
      'opened! svc_errors{asset="h1",service="api"}',
    ]);
  });

  it('topology: a child whose parent asset is down is suppressed', () => {
    const tl = new Timeline(
      engineFrom(`${base}
topology: { parent: 'attributes["parent"]' }
`),
    );
    tl.send([hostDown(0, 'rack-7')]);
    for (let i = 0; i < 3; i++) tl.send([svcErr(1000 + i, 'db', 'db-3', 'rack-7')]);
    expect(timeline(tl)).toEqual([
      'opened! host_down{asset="rack-7"}',
      'opened svc_errors{asset="db-3",service="db"} by topology:host_down{asset="rack-7"}',
    ]);
    // Suppressed incidents stay visible and keep counting.
    tl.send([svcErr(2000, 'db', 'db-3', 'rack-7')]);
    expect(tl.engine.book.get('svc_errors{asset="db-3",service="db"}')!.incident).toMatchObject({
      status: 'open',
      suppressed: true,
      eventCount: 4,
    });
  });

  it('inhibition and topology also see the open incidents other engines hold (a partition’s engine), from its next tick', () => {
    const yaml = `${base}
inhibit:
  - { source: ['rule="host_down"'], target: ['rule="svc_errors"'], equal: [asset] }
topology: { parent: 'attributes["parent"]' }
`;
    // The hosts' incidents in one engine, the services' in another that is told of them.
    const hosts = engineFrom(yaml);
    const services = engineFrom(yaml, new MemoryStateStore(), {
      elsewhere: () => [...hosts.eachIncident(false)].map((rec) => rec.incident),
    });
    hosts.process([hostDown(0, 'h1'), hostDown(0, 'rack-7')], 0);
    const tl = new Timeline(services);
    for (let i = 0; i < 3; i++)
      tl.send([svcErr(1000 + i, 'api', 'h1'), svcErr(1000 + i, 'db', 'db-3', 'rack-7'), svcErr(1000 + i, 'api', 'h2')]);
    hosts.process([hostUp(10_000, 'h1')], 10_000);
    tl.advance(11_000);
    expect(timeline(tl)).toEqual([
      'opened svc_errors{asset="h1",service="api"} by inhibit:host_down{asset="h1"}',
      'opened svc_errors{asset="db-3",service="db"} by topology:host_down{asset="rack-7"}',
      'opened! svc_errors{asset="h2",service="api"}',
      // The source resolved in the other engine: the next tick lifts the inhibition.
      'unsuppressed svc_errors{asset="h1",service="api"}',
      'opened! svc_errors{asset="h1",service="api"}',
    ]);
  });

  it('judges each tick by the other engine’s incidents as they were at its moment, by their times: a partition replaying its past', () => {
    const yaml = `${base}
inhibit:
  - { source: ['rule="host_down"'], target: ['rule="svc_errors"'], equal: [asset] }
`;
    // The hosts' engine has gone ahead: h1 went down and came back up at 10 s, h3 went down at 5 s.
    const hosts = engineFrom(yaml);
    hosts.process([hostDown(0, 'h1')], 0);
    hosts.process([hostDown(5_000, 'h3')], 5_000);
    hosts.process([hostUp(10_000, 'h1')], 10_000);
    const services = engineFrom(yaml, new MemoryStateStore(), {
      elsewhere: () => [...hosts.eachIncident(false)].map((rec) => rec.incident),
    });
    const tl = new Timeline(services);
    for (let i = 0; i < 3; i++) tl.send([svcErr(1000 + i, 'api', 'h1'), svcErr(1000 + i, 'api', 'h3')]);
    tl.advance(12_000);
    expect(tl.changes.map((c) => `${c.atMs} ${timeline({ changes: [c] } as Timeline)[0]!}`)).toEqual([
      // At 1 s h1 was down (its resolution came at 10 s), h3 not yet.
      '1002 opened svc_errors{asset="h1",service="api"} by inhibit:host_down{asset="h1"}',
      '1002 opened! svc_errors{asset="h3",service="api"}',
      // The first tick after h3 went down, and the first after h1 came up.
      '6000 suppressed svc_errors{asset="h3",service="api"} by inhibit:host_down{asset="h3"}',
      '11000 unsuppressed svc_errors{asset="h1",service="api"}',
      '11000 opened! svc_errors{asset="h1",service="api"}',
    ]);
  });

  it('silences: matching incidents are suppressed between starts_at and ends_at', () => {
    const tl = new Timeline(
      engineFrom(`${base}
silences:
  - { name: upgrade, matchers: ['asset=~"h[0-9]+"', 'rule="host_down"'], starts_at: '1970-01-01T00:00:00Z', ends_at: '1970-01-01T00:01:00Z', comment: switch upgrade }
`),
    );
    tl.send([hostDown(0, 'h1'), hostDown(0, 'web')]);
    tl.advance(61_000);
    expect(timeline(tl)).toEqual([
      'opened host_down{asset="h1"} by silence:upgrade',
      'opened! host_down{asset="web"}',
      'unsuppressed host_down{asset="h1"}',
      'opened! host_down{asset="h1"}',
    ]);
  });

  it('maintenance windows recur on their days, in their time zone', () => {
    const w = {
      name: 'sunday-night',
      matchers: [],
      days: new Set([0]),
      startMinute: 23 * 60,
      durationMs: 2 * 3_600_000,
      timezone: 'Europe/Paris',
    };
    // Sunday 2026-11-22 23:30 in Paris is 22:30 UTC; the window runs into Monday 01:00 Paris.
    expect(maintenanceActive(w, Date.parse('2026-11-22T22:30:00Z'))).toBe(true);
    expect(maintenanceActive(w, Date.parse('2026-11-22T23:59:00Z'))).toBe(true);
    expect(maintenanceActive(w, Date.parse('2026-11-23T00:00:00Z'))).toBe(false);
    expect(maintenanceActive(w, Date.parse('2026-11-22T21:59:00Z'))).toBe(false);
    // Not on Saturday.
    expect(maintenanceActive(w, Date.parse('2026-11-21T22:30:00Z'))).toBe(false);
  });

  it('maintenance from config suppresses while on', () => {
    const start = Date.parse('2026-11-22T23:00:00Z');
    const tl = new Timeline(
      engineFrom(`${base}
maintenance:
  - { name: nightly, matchers: ['rule="host_down"'], start: '23:00', duration: 30m }
`),
      start - 60_000,
    );
    tl.send([hostDown(start + 1000, 'h1')]);
    tl.advance(start + 31 * 60_000);
    expect(timeline(tl)).toEqual([
      'opened host_down{asset="h1"} by maintenance:nightly',
      'unsuppressed host_down{asset="h1"}',
      'opened! host_down{asset="h1"}',
    ]);
  });
});
