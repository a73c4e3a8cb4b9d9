import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CorrelationEngine } from '../../src/correlation/engine.ts';
import type { ClickHouseExporter } from '../../src/exporters/clickhouse/exporter.ts';
import type { VigilEvent } from '../../src/model/event.ts';
import type { IncidentChange } from '../../src/model/incident.ts';
import { newExporter } from '../exporters/clickhouse/harness.ts';
import { engineFrom, ev } from '../support/correlation.ts';
import { waitFor } from '../support/waitFor.ts';
import { engineDesk, FakeAuthenticator, SpecChecker, startApi, type RunningApi } from './harness.ts';

const RULES = `
defaults: { group_wait: 0s, allowed_lateness: 1h }
rules:
  - { kind: pair, name: host_down, match: 'attributes["alertname"] == "host"', group_by: [tenant, asset] }
  - { kind: pair, name: svc_down, match: 'attributes["alertname"] == "svc"', group_by: [tenant, asset] }
`;
const T0 = Date.parse('2026-11-02T10:00:00Z');
const s = (n: number) => T0 + n * 1000;

let exporter: ClickHouseExporter;
let engine: CorrelationEngine;
let api: RunningApi;
let spec: SpecChecker;
let now = T0;
const auth = new FakeAuthenticator()
  .add('global', { subject: 'g', role: 'viewer' })
  .add('acme', { subject: 'a', role: 'operator', tenant: 'acme' })
  .add('globex', { subject: 'b', role: 'operator', tenant: 'globex' })
  .add('nobody', { subject: 'n', role: 'viewer', tenant: 'initech' });

/**
 * Events through real rules into a real clickhouse exporter, and people's actions through the
 * core, so the change log holds what a running Vigil would have written:
 * - acme host_down web-1: opened at 0s, acknowledged at 60s, resolved by its up at 300s;
 * - acme host_down web-2: opened at 120s, never acknowledged, resolved at 720s;
 * - acme svc_down web-1: opened at 180s, acknowledged at 240s, still open;
 * - globex host_down sw-1: opened at 30s, acknowledged at 90s, resolved by hand at 630s.
 */
async function playScenario(): Promise<{ events: VigilEvent[] }> {
  const desk = engineDesk(engine, () => now);
  const events: VigilEvent[] = [];
  const changes: IncidentChange[] = [];
  const arrive = (at: number, tenant: string, asset: string, alert: string, type: 'down' | 'up', source: string) => {
    now = at;
    const e = ev(at, {
      tenant,
      asset,
      type,
      source,
      service: alert === 'host' ? 'infra' : 'shop',
      severityNumber: type === 'down' ? 17 : 9,
      title: `${asset} ${type}`,
      attributes: { alertname: alert },
    });
    events.push(e);
    changes.push(...engine.process([e], at));
  };
  const act = async (at: number, tenant: string, asset: string, rule: string, kind: 'acknowledge' | 'resolve') => {
    now = at;
    const inc = [...desk.incidents()].find((i) => i.tenant === tenant && i.asset === asset && i.rule === rule)!;
    const out = await desk.act(inc.id, 'alice', { kind, reason: '' });
    if (!out.ok) throw new Error(out.message);
    changes.push(...out.changes);
  };
  arrive(s(0), 'acme', 'web-1', 'host', 'down', 'json');
  arrive(s(30), 'globex', 'sw-1', 'host', 'down', 'syslog');
  await act(s(60), 'acme', 'web-1', 'host_down', 'acknowledge');
  await act(s(90), 'globex', 'sw-1', 'host_down', 'acknowledge');
  arrive(s(120), 'acme', 'web-2', 'host', 'down', 'json');
  arrive(s(180), 'acme', 'web-1', 'svc', 'down', 'otlp');
  await act(s(240), 'acme', 'web-1', 'svc_down', 'acknowledge');
  arrive(s(300), 'acme', 'web-1', 'host', 'up', 'json');
  await act(s(630), 'globex', 'sw-1', 'host_down', 'resolve');
  arrive(s(720), 'acme', 'web-2', 'host', 'up', 'syslog');
  await exporter.consumeLogs(events);
  await exporter.consumeIncidents(changes);
  await waitFor(() => exporter.writer.pendingBatches === 0, 'every batch inserted', 60_000);
  return { events };
}

beforeAll(async () => {
  ({ exporter } = newExporter({ database: 'api_stats', batch: { max_delay: '20ms' } }));
  await exporter.start();
  engine = engineFrom(RULES);
  await playScenario();
  api = await startApi({
    desk: () => engineDesk(engine, () => now),
    authenticator: auth,
    eventStore: () => exporter.queries(),
  });
  spec = await SpecChecker.load(api.base);
}, 120_000);

afterAll(async () => {
  await api?.close();
  await exporter?.shutdown();
});

const HOUR = `from=${new Date(T0).toISOString()}&to=${new Date(T0 + 3_600_000).toISOString()}`;

async function overview(query: string, as: string) {
  const answer = await api.call('GET', `/api/v1/stats/overview?${query}`, { as });
  expect(answer.status, JSON.stringify(answer.body)).toBe(200);
  spec.check('GET', '/api/v1/stats/overview', answer);
  return answer.body as Record<string, unknown>;
}

describe('stats for dashboards', () => {
  it("gives a tenant its open incidents, events per minute by source, and each rule's mean time to acknowledge and resolve", async () => {
    const acme = await overview(HOUR, 'acme');
    expect(acme).toMatchObject({
      event_store: true,
      open_incidents: {
        total: 1,
        acknowledged: 1,
        suppressed: 0,
        by_severity: { error: 1, fatal: 0, warn: 0 },
        by_service: [{ service: 'shop', count: 1 }],
      },
    });
    expect(acme.events_per_minute).toEqual([
      { source: 'json', events: 3, per_minute: 3 / 60 },
      { source: 'otlp', events: 1, per_minute: 1 / 60 },
      { source: 'syslog', events: 1, per_minute: 1 / 60 },
    ]);
    expect(acme.response_times).toEqual([
      {
        rule: 'host_down',
        opened: 2,
        acknowledged: 1,
        resolved: 2,
        mean_time_to_acknowledge_seconds: 60,
        mean_time_to_resolve_seconds: (300 + 600) / 2,
      },
      {
        rule: 'svc_down',
        opened: 1,
        acknowledged: 1,
        resolved: 0,
        mean_time_to_acknowledge_seconds: 60,
        mean_time_to_resolve_seconds: null,
      },
    ]);
    expect(acme.noisy_rules).toEqual([
      { rule: 'host_down', incidents: 2 },
      { rule: 'svc_down', incidents: 1 },
    ]);
    expect(acme.noisy_assets).toEqual([
      { asset: 'web-1', events: 3 },
      { asset: 'web-2', events: 2 },
    ]);
  });

  it('counts every tenant for a caller without one, and nothing of theirs for a tenant that has none', async () => {
    const all = await overview(HOUR, 'global');
    expect(all.response_times).toContainEqual({
      rule: 'host_down',
      opened: 3,
      acknowledged: 2,
      resolved: 3,
      mean_time_to_acknowledge_seconds: 60,
      mean_time_to_resolve_seconds: (300 + 600 + 600) / 3,
    });
    expect((all.open_incidents as { total: number }).total).toBe(1);
    const globex = await overview(HOUR, 'globex');
    expect(globex.events_per_minute).toEqual([{ source: 'syslog', events: 1, per_minute: 1 / 60 }]);
    expect(globex.open_incidents).toMatchObject({ total: 0 });
    const none = await overview(HOUR, 'nobody');
    expect(none).toMatchObject({
      open_incidents: { total: 0, by_service: [] },
      events_per_minute: [],
      response_times: [],
      noisy_rules: [],
      noisy_assets: [],
    });
    // Asking for another tenant's figures finds nothing, as asking for its incidents does.
    const asked = await overview(`${HOUR}&tenant=globex`, 'acme');
    expect(asked).toMatchObject({ open_incidents: { total: 0 }, events_per_minute: [], response_times: [] });
  });

  it('times only the incidents opened in the range', async () => {
    const later = await overview(
      `from=${new Date(s(100)).toISOString()}&to=${new Date(T0 + 3_600_000).toISOString()}`,
      'acme',
    );
    expect(later.response_times).toEqual([
      expect.objectContaining({ rule: 'host_down', opened: 1, acknowledged: 0, resolved: 1 }),
      expect.objectContaining({ rule: 'svc_down', opened: 1 }),
    ]);
  });

  it('answers 400 for a bad range and 401 without credentials; without an event store, the core figures alone', async () => {
    for (const query of ['', `from=${new Date(T0).toISOString()}`, `${HOUR}&from=2026-01-01T00:00:00Z`]) {
      const answer = await api.call('GET', `/api/v1/stats/overview?${query}`, { as: 'global' });
      expect(answer.status, query).toBe(400);
      expect(answer.body).toMatchObject({ code: 'VIGIL_INVALID_REQUEST' });
    }
    expect((await api.call('GET', `/api/v1/stats/overview?${HOUR}`)).status).toBe(401);
    const bare = await startApi({ desk: () => engineDesk(engine, () => now) });
    try {
      const answer = await bare.call('GET', `/api/v1/stats/overview?${HOUR}`);
      expect(answer.status).toBe(200);
      expect(answer.body).toMatchObject({
        event_store: false,
        open_incidents: { total: 1 },
        events_per_minute: [],
        response_times: [],
      });
    } finally {
      await bare.close();
    }
  });
});
