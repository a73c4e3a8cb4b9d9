import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join, resolve } from 'node:path';
import { Session } from 'chdb';
import { afterEach, describe, expect, it } from 'vitest';
import { EPHEMERAL_PORTS, startDaemon, type RunningDaemon } from '../../support/daemon.ts';
import { waitFor } from './harness.ts';

let daemon: RunningDaemon | undefined;
afterEach(async () => {
  await daemon?.stop('SIGKILL');
  daemon = undefined;
});

describe('vigil run with config/vigil.yaml: JSON events into embedded ClickHouse', () => {
  it('stores posted events as otel_logs rows under the data dir', async () => {
    // The shipped default config, with ports moved to 0 so parallel runs never collide.
    const shipped = readFileSync(resolve(import.meta.dirname, '../../../config/vigil.yaml'), 'utf8');
    daemon = await startDaemon(shipped, { env: EPHEMERAL_PORTS });
    const events = [
      {
        asset: 'db-1',
        type: 'down',
        severity: 'critical',
        message: 'replication lag 300s',
        service: 'orders',
        tenant: 'acme',
      },
      {
        asset: 'db-1',
        type: 'up',
        severity: 'info',
        message: 'replication caught up',
        service: 'orders',
        tenant: 'acme',
      },
      { asset: 'web-7', severity: 'warning', message: 'slow response', attributes: { path: '/cart' } },
    ];
    const res = await fetch(daemon.url('/v1/events'), {
      method: 'POST',
      body: JSON.stringify(events),
      headers: { 'content-type': 'application/json' },
    });
    expect(await res.json()).toEqual({ accepted: 3, rejected: [] });
    expect(await daemon.stop()).toBe(0);

    const session = new Session(join(daemon.dataDir, 'clickhouse'));
    try {
      const rows = (
        await session.queryAsync(
          'SELECT Asset, EventType, SeverityText, SeverityNumber, Body, ServiceName, Tenant, Source, LogAttributes FROM otel.otel_logs ORDER BY Timestamp, Body',
          { format: 'JSONEachRow' },
        )
      )
        .text()
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as Record<string, unknown>);
      expect(rows).toHaveLength(3);
      expect(rows).toEqual(
        expect.arrayContaining([
          expect.objectContaining({
            Asset: 'db-1',
            EventType: 'down',
            SeverityNumber: 18,
            Body: 'replication lag 300s',
            ServiceName: 'orders',
            Tenant: 'acme',
            Source: 'json',
          }),
          expect.objectContaining({ Asset: 'db-1', EventType: 'up', SeverityNumber: 9, Body: 'replication caught up' }),
          expect.objectContaining({
            Asset: 'web-7',
            SeverityNumber: 13,
            Body: 'slow response',
            LogAttributes: { path: '/cart' },
          }),
        ]),
      );
    } finally {
      session.close();
    }
  });

  it('answers 429 once ClickHouse is unreachable and the spool is full, and reports not ready', async () => {
    const port = await new Promise<number>((res) => {
      const s = createServer().listen(0, '127.0.0.1', () => {
        const p = (s.address() as { port: number }).port;
        s.close(() => res(p));
      });
    });
    daemon = await startDaemon(`
receivers:
  json: { endpoint: 127.0.0.1:0 }
exporters:
  clickhouse:
    endpoint: http://127.0.0.1:${port}
    spool: { max_bytes: 4KiB }
    retry: { initial_interval: 50ms, max_interval: 200ms }
service:
  pipelines:
    logs: { receivers: [json], exporters: [clickhouse], queue_size: 20 }
  shutdown_timeout: 1s
  telemetry:
    metrics: { endpoint: 127.0.0.1:0 }
    logs: { level: info }
`);
    // Senders are told their data is safe only once it is spooled, so a full spool holds their
    // requests; concurrent senders then fill the pipeline queue and the next ones get 429.
    const statuses: number[] = [];
    const senders = Array.from({ length: 60 }, async (_, i) => {
      const body = JSON.stringify(
        Array.from({ length: 5 }, (_, k) => ({ asset: `web-${k}`, message: `event ${i}.${k} `.padEnd(200, 'x') })),
      );
      try {
        const res = await fetch(daemon!.url('/v1/events'), {
          method: 'POST',
          body,
          headers: { 'content-type': 'application/json' },
        });
        statuses.push(res.status);
        await res.arrayBuffer();
      } catch {
        /* still held when the daemon stops */
      }
    });
    await waitFor(
      async () => statuses.includes(200) && statuses.includes(429),
      'some requests stored, later ones refused',
    );
    expect(statuses.filter((s) => s !== 200 && s !== 429)).toEqual([]);
    const ready = await fetch(daemon.adminUrl('/readyz'));
    expect(ready.status).toBe(503);
    expect(await ready.json()).toMatchObject({
      status: 'not ready',
      components: { 'exporter:clickhouse': { status: 'failing', reason: expect.stringContaining('spool full') } },
    });
    const metrics = await (await fetch(daemon.adminUrl('/metrics'))).text();
    expect(metrics).toMatch(/vigil_exporter_spool_bytes\{exporter="clickhouse"\} [1-9]/);
    await daemon.stop();
    await Promise.all(senders);
  });
});
