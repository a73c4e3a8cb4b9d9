import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Session } from 'chdb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { schemaStatements, supportsTextIndexes } from '../../src/exporters/clickhouse/schema.ts';
import { incidentRow, logRowsBytes } from '../../src/exporters/clickhouse/rows.ts';
import type { IncidentChange } from '../../src/model/incident.ts';
import { engineFrom, ev } from '../support/correlation.ts';
import { startDaemon, type RunningDaemon } from '../support/daemon.ts';
import { answersOk, spawnReady } from '../support/readyOnFreePort.ts';
import { waitFor } from '../support/waitFor.ts';
import { exporterConfig } from '../exporters/clickhouse/harness.ts';

/**
 * The Grafana dashboards Vigil ships (helm/vigil/dashboards): every ClickHouse panel's query,
 * with the ClickHouse plugin's macros expanded as the plugin expands them, runs against embedded
 * ClickHouse on the schema Vigil creates and answers what the rows say; every Prometheus panel's
 * expression is accepted by a real Prometheus scraping a real daemon.
 */
const DASHBOARDS = resolve(import.meta.dirname, '../../helm/vigil/dashboards');

interface Target {
  refId: string;
  expr?: string;
  rawSql?: string;
}
interface Panel {
  id: number;
  title: string;
  type: string;
  datasource: { type: string; uid: string };
  gridPos: { x: number; y: number; w: number; h: number };
  targets: Target[];
}
interface Dashboard {
  uid: string;
  title: string;
  panels: Panel[];
  templating: { list: { name: string; type: string; query: unknown }[] };
}

const load = (name: string) => JSON.parse(readFileSync(join(DASHBOARDS, name), 'utf8')) as Dashboard;

function checkLayout(d: Dashboard): void {
  expect(new Set(d.panels.map((p) => p.id)).size).toBe(d.panels.length);
  const cells = new Set<string>();
  for (const p of d.panels) {
    expect(p.gridPos.x + p.gridPos.w, p.title).toBeLessThanOrEqual(24);
    for (let x = p.gridPos.x; x < p.gridPos.x + p.gridPos.w; x++) {
      for (let y = p.gridPos.y; y < p.gridPos.y + p.gridPos.h; y++) {
        expect(cells.has(`${x},${y}`), `${p.title} overlaps another panel`).toBe(false);
        cells.add(`${x},${y}`);
      }
    }
    expect(p.datasource.uid).toBe('${datasource}');
    expect(p.targets.length, p.title).toBeGreaterThan(0);
  }
  expect(d.templating.list.map((v) => v.name)).toContain('datasource');
}

describe('ClickHouse dashboard (events and incidents)', () => {
  const dashboard = load('vigil-data.json');
  const dir = mkdtempSync(join(tmpdir(), 'vigil-dash-'));
  const session = new Session(join(dir, 'ch'));
  const T0 = Date.UTC(2026, 11, 1, 10, 0, 0);
  const from = Math.floor(T0 / 1000) - 3600;
  const to = Math.floor(T0 / 1000) + 6 * 3600;

  /** The plugin's expansion of its macros (grafana-clickhouse-datasource v4 docs), at a 60 s interval. */
  function expand(sql: string, tenants: string[] | 'all'): string {
    return sql
      .replaceAll('${database}', 'otel')
      .replace(/\$__conditionalAll\(((?:[^()]|\([^()]*\))*), \$tenant\)/g, (_m, cond: string) =>
        tenants === 'all' ? '1=1' : cond.replaceAll('${tenant:singlequote}', tenants.map((t) => `'${t}'`).join(',')),
      )
      .replace(/\$__timeFilter\((\w+)\)/g, `$1 >= toDateTime(${from}) AND $1 <= toDateTime(${to})`)
      .replace(/\$__timeInterval\((\w+)\)/g, 'toStartOfInterval(toDateTime($1), INTERVAL 60 second)');
  }
  const run = (sql: string) => JSON.parse(session.query(sql, 'JSON')) as { data: Record<string, unknown>[] };
  const panelSql = (title: string, tenants: string[] | 'all' = 'all') =>
    expand(dashboard.panels.find((p) => p.title === title)!.targets[0]!.rawSql!, tenants);

  beforeAll(async () => {
    const version = run('SELECT version() AS v').data[0]!.v as string;
    for (const sql of schemaStatements({
      database: 'otel',
      tables: exporterConfig({}).tables,
      ttlMs: 0,
      textIndexes: supportsTextIndexes(version),
    }))
      session.query(sql);
    // Events: 3 checkout errors and 1 info on billing in tenant a; 2 errors in tenant b.
    const events = [
      ...[0, 1, 2].map((i) =>
        ev(T0 + i * 1000, {
          service: 'checkout',
          asset: 'web-1',
          severityNumber: 17,
          severityText: 'ERROR',
          tenant: 'a',
          body: `fail ${i}`,
        }),
      ),
      ev(T0 + 5000, { service: 'billing', asset: 'db-1', severityNumber: 9, severityText: 'INFO', tenant: 'a' }),
      ...[0, 1].map((i) =>
        ev(T0 + 120_000 + i, {
          service: 'checkout',
          asset: 'web-9',
          severityNumber: 17,
          severityText: 'ERROR',
          tenant: 'b',
        }),
      ),
    ];
    await session.insert({
      table: 'otel.otel_logs',
      values: logRowsBytes(events),
      format: 'JSONEachRow',
    });
    // Incidents from the real engine: asset_down opens on down, resolves on up 10 minutes later.
    const engine = engineFrom('rules:\n  - { kind: pair, name: asset_down, group_by: [asset] }\n');
    const changes: IncidentChange[] = [
      ...engine.process(
        [
          ev(T0, {
            asset: 'web-1',
            service: 'checkout',
            type: 'down',
            severityNumber: 17,
            severityText: 'ERROR',
            tenant: 'a',
          }),
        ],
        T0,
      ),
      ...engine.process(
        [ev(T0 + 600_000, { asset: 'web-1', service: 'checkout', type: 'up', tenant: 'a' })],
        T0 + 600_000,
      ),
      ...engine.process(
        [
          ev(T0, {
            asset: 'db-1',
            service: 'billing',
            type: 'down',
            severityNumber: 13,
            severityText: 'WARN',
            tenant: 'a',
          }),
        ],
        T0,
      ),
    ];
    // An operator acknowledged db-1's incident 2 minutes after it opened.
    const open = changes.filter((c) => c.incident.asset === 'db-1').at(-1)!;
    const ackAt = open.incident.openedAtMs + 120_000;
    changes.push({
      ...open,
      kind: 'acknowledged',
      atMs: ackAt,
      incident: {
        ...open.incident,
        status: 'acknowledged',
        version: open.incident.version + 1,
        updatedAtMs: ackAt,
        audit: [...open.incident.audit, { atMs: ackAt, kind: 'acknowledged', reason: 'by alice' }],
      },
    });
    await session.insert({
      table: 'otel.vigil_incidents',
      values: Buffer.from(changes.map(incidentRow).join('')),
      format: 'JSONEachRow',
    });
  });

  afterAll(() => session.cleanup());

  it('is laid out without overlaps and every panel reads its data source variable', () => checkLayout(dashboard));

  it('every panel query runs on the schema Vigil creates, for all tenants and for one', () => {
    for (const p of dashboard.panels) {
      for (const t of p.targets) {
        expect(() => run(expand(t.rawSql!, 'all')), p.title).not.toThrow();
        expect(() => run(expand(t.rawSql!, ['a'])), p.title).not.toThrow();
      }
    }
    const tenantVar = dashboard.templating.list.find((v) => v.name === 'tenant')!;
    expect(
      run(expand(tenantVar.query as string, 'all'))
        .data.map((r) => r.Tenant)
        .sort(),
    ).toEqual(['a']);
  });

  it('counts events by service and severity as they were stored, per tenant', () => {
    const byService = run(panelSql('Events per minute by service', ['a'])).data.map((r) => [
      r.ServiceName,
      Number(r.events),
    ]);
    expect(byService.sort()).toEqual([
      ['billing', 1],
      ['checkout', 3],
    ]);
    const all = run(panelSql('Events per minute by severity')).data.reduce<Record<string, number>>(
      (acc, r) => ({ ...acc, [r.severity as string]: (acc[r.severity as string] ?? 0) + Number(r.events) }),
      {},
    );
    expect(all).toEqual({ ERROR: 5, INFO: 1 });
  });

  it('shows open incidents from the latest version and time to acknowledge and resolve per rule', () => {
    expect(run(panelSql('Open incidents by severity and service')).data).toEqual([
      { Service: 'billing', severity: 'WARN', open: 1 },
    ]);
    const [row] = run(panelSql('Mean time to acknowledge and to resolve, per rule')).data;
    expect(row).toMatchObject({ Rule: 'asset_down', incidents: 2, mtta_seconds: 120, mttr_seconds: 600 });
  });
});

describe('Prometheus dashboard (self-metrics)', () => {
  const dashboard = load('vigil-self.json');
  let daemon: RunningDaemon | undefined;
  let prometheus: ChildProcess | undefined;
  let promUrl = '';

  beforeAll(async () => {
    daemon = await startDaemon(`
receivers:
  json: { endpoint: 127.0.0.1:0 }
exporters:
  file/events: { path: events.ndjson }
service:
  pipelines:
    logs: { receivers: [json], exporters: [file/events] }
  telemetry:
    metrics: { endpoint: 127.0.0.1:0 }
`);
    await fetch(daemon.url('/v1/events'), {
      method: 'POST',
      body: '{"asset":"a"}',
      headers: { 'content-type': 'application/json' },
    });
    const dir = mkdtempSync(join(tmpdir(), 'vigil-prom-'));
    writeFileSync(
      join(dir, 'prometheus.yml'),
      `global: { scrape_interval: 1s }\nscrape_configs:\n  - job_name: vigil\n    static_configs: [{ targets: ['127.0.0.1:${daemon.admin.port}'] }]\n`,
    );
    const started = await spawnReady(
      (p) =>
        spawn(
          'prometheus',
          [
            `--config.file=${join(dir, 'prometheus.yml')}`,
            `--storage.tsdb.path=${join(dir, 'data')}`,
            `--web.listen-address=127.0.0.1:${p}`,
          ],
          { stdio: 'ignore' },
        ),
      (p) => answersOk(`http://127.0.0.1:${p}/-/ready`),
      'Prometheus to be ready',
      60_000,
    );
    prometheus = started.proc;
    promUrl = `http://127.0.0.1:${started.port}`;
    await waitFor(
      async () => {
        const res = await fetch(`${promUrl}/api/v1/query?query=${encodeURIComponent('vigil_build_info')}`).catch(
          () => undefined,
        );
        return res?.ok === true && ((await res.json()) as { data: { result: unknown[] } }).data.result.length > 0;
      },
      'Prometheus scraped Vigil',
      60_000,
    );
  }, 90_000);

  afterAll(async () => {
    prometheus?.kill('SIGTERM');
    await daemon?.stop();
  });

  it('is laid out without overlaps and every panel reads its data source variable', () => checkLayout(dashboard));

  it('every expression is valid PromQL to a real Prometheus, and the core panels have data', async () => {
    const query = async (expr: string) => {
      const q = expr.replaceAll('$__rate_interval', '1m').replaceAll('$job', '.*');
      const res = await fetch(`${promUrl}/api/v1/query?query=${encodeURIComponent(q)}`);
      const body = (await res.json()) as { status: string; error?: string; data?: { result: unknown[] } };
      expect(body.status, `${expr}: ${body.error ?? ''}`).toBe('success');
      return body.data!.result;
    };
    for (const p of dashboard.panels) for (const t of p.targets) await query(t.expr!);
    // Series the panels read exist under these names once Vigil is scraped.
    for (const expr of [
      'vigil_receiver_accepted_records_total{job=~"$job"}',
      'process_resident_memory_bytes{job=~"$job"}',
      'nodejs_eventloop_lag_p99_seconds{job=~"$job"}',
      'vigil_pipeline_queue_capacity{job=~"$job"}',
    ]) {
      expect((await query(expr)).length, expr).toBeGreaterThan(0);
    }
    const job = dashboard.templating.list.find((v) => v.name === 'job')!;
    expect((job.query as { query: string }).query).toBe('label_values(vigil_build_info, job)');
  });
});
