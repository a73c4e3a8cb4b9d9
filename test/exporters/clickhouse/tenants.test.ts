import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Session } from 'chdb';
import { afterEach, describe, expect, it } from 'vitest';
import { createApiKey, startDaemon, type RunningDaemon } from '../../support/daemon.ts';

/** Authenticated OTLP/HTTP and JSON on one listener, every signal into embedded ClickHouse, events through correlation. */
const config = `
extensions:
  authenticator: { api_keys: {} }
receivers:
  otlp:
    protocols: { http: { endpoint: 127.0.0.1:0 } }
    auth: { authenticator: authenticator }
  json:
    endpoint: 127.0.0.1:0
    auth: { authenticator: authenticator }
exporters:
  clickhouse: { database: otel, ttl: 0s }
  correlation: {}
correlation:
  defaults: { group_wait: 0s, allowed_lateness: 1h }
  rules:
    - { kind: pair, name: asset_down, group_by: [asset] }
service:
  extensions: [authenticator]
  pipelines:
    logs: { receivers: [json, otlp], exporters: [clickhouse, correlation] }
    metrics: { receivers: [otlp], exporters: [clickhouse] }
    traces: { receivers: [otlp], exporters: [clickhouse] }
    incidents: { exporters: [clickhouse] }
  telemetry: { metrics: { endpoint: 127.0.0.1:0 }, logs: { level: info } }
`;

let daemon: RunningDaemon | undefined;
afterEach(async () => {
  await daemon?.stop('SIGKILL');
  daemon = undefined;
});

async function send(d: RunningDaemon, path: string, key: string, body: unknown): Promise<void> {
  const res = await fetch(d.url(path), {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
    body: JSON.stringify(body),
  });
  expect(res.status, `${path}: ${await res.text()}`).toBe(200);
}

/** The same records, whoever sends them: only the credential tells the tenants apart. */
async function sendEverySignal(d: RunningDaemon, key: string): Promise<void> {
  const nowNs = `${BigInt(Date.now()) * 1_000_000n}`;
  await send(d, '/v1/events', key, [{ asset: 'web-1', type: 'down', title: 'web-1 unreachable', tenant: 'spoofed' }]);
  await send(d, '/v1/traces', key, {
    resourceSpans: [
      {
        scopeSpans: [
          {
            spans: [
              {
                traceId: '5b8efff798038103d269b633813fc60c',
                spanId: 'eee19b7ec3c1b174',
                name: 'GET /cart',
                startTimeUnixNano: nowNs,
                endTimeUnixNano: nowNs,
              },
            ],
          },
        ],
      },
    ],
  });
  await send(d, '/v1/metrics', key, {
    resourceMetrics: [
      {
        scopeMetrics: [
          {
            metrics: [{ name: 'queue.depth', gauge: { dataPoints: [{ asDouble: 7, timeUnixNano: nowNs }] } }],
          },
        ],
      },
    ],
  });
}

function rows(session: Session, sql: string): string[] {
  const text = session.query(sql, 'TSV').trim();
  return text === '' ? [] : text.split('\n').sort();
}

describe('tenants in ClickHouse', () => {
  it(
    'every row carries the tenant its sender authenticated as, and identical events of two tenants are two incidents',
    { timeout: 120_000 },
    async () => {
      const dataDir = mkdtempSync(join(tmpdir(), 'vigil-ch-tenants-'));
      const configFile = join(dataDir, 'vigil.yaml');
      writeFileSync(configFile, config);
      const acme = await createApiKey(configFile, dataDir, { name: 'acme-edge', role: 'viewer', tenant: 'acme' });
      const globex = await createApiKey(configFile, dataDir, { name: 'globex-edge', role: 'viewer', tenant: 'globex' });
      daemon = await startDaemon(config, { dataDir });
      await sendEverySignal(daemon, acme);
      await sendEverySignal(daemon, globex);
      // A clean stop drains the pipelines and the correlation connector into ClickHouse.
      expect(await daemon.stop()).toBe(0);

      const session = new Session(join(dataDir, 'clickhouse'));
      try {
        const both = ['acme\t1', 'globex\t1'];
        expect(rows(session, 'SELECT Tenant, count() FROM otel.otel_logs GROUP BY Tenant')).toEqual(both);
        expect(rows(session, 'SELECT Tenant, count() FROM otel.otel_traces GROUP BY Tenant')).toEqual(both);
        expect(rows(session, 'SELECT Tenant, count() FROM otel.otel_metrics_gauge GROUP BY Tenant')).toEqual(both);
        expect(rows(session, 'SELECT Tenant, Key, Status FROM otel.vigil_incidents FINAL')).toEqual([
          'acme\tasset_down{asset="web-1",tenant="acme"}\topen',
          'globex\tasset_down{asset="web-1",tenant="globex"}\topen',
        ]);
        expect(
          rows(session, 'SELECT DISTINCT Tenant, IncidentKey, ChangeKind FROM otel.vigil_incident_events'),
        ).toEqual([
          'acme\tasset_down{asset="web-1",tenant="acme"}\topened',
          'globex\tasset_down{asset="web-1",tenant="globex"}\topened',
        ]);
      } finally {
        session.close();
      }
    },
  );
});
