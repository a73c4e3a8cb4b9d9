import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startChdbHttpServer, type ChdbHttpServer } from '../support/chdbHttpServer.ts';
import { startDaemon, type RunningDaemon } from '../support/daemon.ts';
import { FakeWebhookReceiver } from '../support/fakes/webhookReceiver.ts';
import { waitFor } from '../support/waitFor.ts';

interface Readiness {
  code: number;
  status: string;
  components: Record<
    string,
    { kind: string; id: string; status: string; reason?: string; since?: string; details?: Record<string, number> }
  >;
}

let daemon: RunningDaemon | undefined;
let clickhouse: ChdbHttpServer | undefined;
let webhook: FakeWebhookReceiver | undefined;
afterEach(async () => {
  await daemon?.stop('SIGKILL');
  await clickhouse?.close();
  await webhook?.close();
  daemon = clickhouse = webhook = undefined;
});

async function readyz(): Promise<Readiness> {
  const res = await fetch(daemon!.adminUrl('/readyz'));
  return { code: res.status, ...((await res.json()) as Omit<Readiness, 'code'>) };
}

/** Waits until /readyz shows `predicate`, and returns what it showed then. */
async function readyzUntil(predicate: (r: Readiness) => boolean, what: string): Promise<Readiness> {
  let last: Readiness | undefined;
  await waitFor(async () => predicate((last = await readyz())), `${what}; /readyz said ${JSON.stringify(last)}`);
  return last!;
}

async function healthyGauge(kind: string, id: string): Promise<string | undefined> {
  const text = await (await fetch(daemon!.adminUrl('/metrics'))).text();
  return new RegExp(`^vigil_component_healthy\\{kind="${kind}",id="${id}"\\} (\\d)$`, 'm').exec(text)?.[1];
}

async function send(events: object[]): Promise<void> {
  const res = await fetch(daemon!.url('/v1/events'), {
    method: 'POST',
    body: JSON.stringify(events),
    headers: { 'content-type': 'application/json' },
  });
  expect(res.status).toBe(200);
  await res.arrayBuffer();
}

// Thresholds small, so each fault shows within a second or two.
const telemetry = `
  telemetry:
    metrics: { endpoint: 127.0.0.1:0 }
    health: { failing_after: 1s, check_interval: 100ms }`;

/** A daemon storing JSON events in the chdb HTTP fixture, which it starts. */
async function startClickHouseDaemon(maxRetryInterval: string): Promise<RunningDaemon> {
  clickhouse = await startChdbHttpServer({ path: mkdtempSync(join(tmpdir(), 'vigil-chdb-ready-')) });
  return startDaemon(`
receivers:
  json: { endpoint: 127.0.0.1:0 }
exporters:
  clickhouse:
    endpoint: ${clickhouse.url}
    batch: { max_delay: 50ms }
    retry: { initial_interval: 50ms, max_interval: ${maxRetryInterval} }
service:
  pipelines:
    logs: { receivers: [json], exporters: [clickhouse] }
${telemetry}
`);
}

describe('/readyz and vigil_component_healthy through a running daemon', () => {
  it('turns 503 with the reason when a remote ClickHouse stops answering, reports the spool backlog, and 200 once it is back', async () => {
    // A long retry backoff: only the probe can see the server come back in time.
    daemon = await startClickHouseDaemon('5s');
    const healthy = await readyz();
    expect(healthy).toMatchObject({
      code: 200,
      status: 'ready',
      components: {
        'exporter:clickhouse': { kind: 'exporter', id: 'clickhouse', status: 'ok', details: { pendingBatches: 0 } },
        'receiver:json': { status: 'ok' },
      },
    });
    expect(await healthyGauge('exporter', 'clickhouse')).toBe('1');

    await clickhouse!.down();
    // No rows travel: the probe alone must notice.
    const down = await readyzUntil((r) => r.code === 503, 'not ready with ClickHouse down');
    expect(down).toMatchObject({
      status: 'not ready',
      components: {
        'exporter:clickhouse': {
          status: 'failing',
          reason: expect.stringMatching(/ClickHouse at http:\/\/127\.0\.0\.1:\d+ does not answer: .*ECONNREFUSED/),
        },
      },
    });
    expect(down.components['exporter:clickhouse']!.since).toMatch(/^\d{4}-\d\d-\d\dT/);
    expect(await healthyGauge('exporter', 'clickhouse')).toBe('0');

    // Rows keep spooling meanwhile, and the spool's oldest batch ages where an operator sees it.
    await send([
      { asset: 'web-1', message: 'one' },
      { asset: 'web-2', message: 'two' },
    ]);
    const backlog = await readyzUntil(
      (r) => (r.components['exporter:clickhouse']!.details!.oldestBatchAgeSeconds ?? 0) >= 0.5,
      'the spooled batch to age',
    );
    expect(backlog.components['exporter:clickhouse']!.details!.pendingBatches).toBeGreaterThanOrEqual(1);
    expect(backlog.components['exporter:clickhouse']!.reason).toMatch(
      /rows spool on disk meanwhile, \d+ batch\(es\), \d+ bytes spooled, the oldest written \d+(ms|s) ago/,
    );

    // The writer sits in a 5 s backoff by now; the probe finding the server back cuts it short.
    await clickhouse!.up();
    // Degraded (a retry still in its backoff) may come first: wait for ready, not just for 200.
    const back = await readyzUntil(
      (r) => r.status === 'ready' && r.components['exporter:clickhouse']!.details!.pendingBatches === 0,
      'ready again with the spool drained',
    );
    expect(back).toMatchObject({ status: 'ready', components: { 'exporter:clickhouse': { status: 'ok' } } });
    expect(await healthyGauge('exporter', 'clickhouse')).toBe('1');
    expect(clickhouse!.inserts.reduce((n, i) => n + i.rows, 0)).toBe(2);
  }, 60_000);

  it('reports a stalled spool when no batch leaves it for failing_after', async () => {
    daemon = await startClickHouseDaemon('200ms');
    await readyzUntil((r) => r.code === 200, 'ready');
    // The server takes the connection and sits on the insert: nothing fails, nothing moves.
    clickhouse!.delayMs = 60_000;
    await send([{ asset: 'web-1', message: 'stuck' }]);
    const stalled = await readyzUntil((r) => r.code === 503, 'not ready with the spool stalled');
    expect(stalled.components['exporter:clickhouse']).toMatchObject({
      status: 'failing',
      reason: expect.stringMatching(/^spool stalled: no batch has left it for \d+s; 1 batch\(es\)/),
    });
    // Cutting the hung connection makes the insert fail and retry against a prompt server.
    clickhouse!.delayMs = 0;
    await clickhouse!.down();
    await clickhouse!.up();
    await readyzUntil(
      (r) => r.code === 200 && r.components['exporter:clickhouse']!.details!.pendingBatches === 0,
      'ready again with the batch inserted',
    );
  }, 60_000);

  it('reports a webhook exporter whose receiver keeps failing, with the changes it parked, until a delivery succeeds', async () => {
    webhook = await new FakeWebhookReceiver().listen();
    webhook.failNext({ status: 500, body: { error: 'database locked' } });
    webhook.failNext({ status: 500, body: { error: 'database locked' } });
    // Every `down` opens an incident at once, whose change goes to the webhook.
    daemon = await startDaemon(`
exporters:
  webhook/pager:
    url: ${webhook.url}/hooks/vigil
    delivery: { max_attempts: 2, initial_backoff: 50ms, max_backoff: 100ms }
correlation:
  defaults: { group_wait: 0s }
  rules: [{ kind: pair, name: asset_down, group_by: [asset] }]
receivers: { json: { endpoint: 127.0.0.1:0 } }
service:
  pipelines:
    logs: { receivers: [json], exporters: [correlation] }
    incidents: { exporters: [webhook/pager] }
${telemetry}
`);
    expect((await readyz()).components['exporter:webhook/pager']).toMatchObject({
      status: 'ok',
      details: { parked: 0 },
    });
    await send([{ asset: 'web-1', type: 'down', title: 'web-1 unreachable' }]);
    const parked = await readyzUntil((r) => r.code === 503, 'not ready with the webhook failing');
    expect(parked.components['exporter:webhook/pager']).toMatchObject({
      status: 'failing',
      reason: expect.stringMatching(
        /^deliveries fail: .*500.*; no change waiting; 1 change\(s\) parked, 0 waiting behind them \(last: gave up after 2 attempts: .*500/,
      ),
      details: { parked: 1, waiting: 0, waitingOnParked: 0 },
    });
    expect(webhook.requests).toHaveLength(2);
    expect(await healthyGauge('exporter', 'webhook/pager')).toBe('0');

    await send([{ asset: 'web-2', type: 'down', title: 'web-2 unreachable' }]);
    await readyzUntil(
      (r) => r.code === 200 && r.components['exporter:webhook/pager']!.status === 'ok',
      'ready once a delivery succeeds',
    );
    expect(webhook.accepted).toHaveLength(1);
    expect(await healthyGauge('exporter', 'webhook/pager')).toBe('1');
  }, 60_000);
});
