import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startChdbHttpServer, type ChdbHttpServer } from '../../support/chdbHttpServer.ts';
import { startFaultProxy, type FaultProxy } from '../../support/faultProxy.ts';
import { newExporter, sampleEvents, waitFor } from './harness.ts';

/*
 * A remote ClickHouse (its HTTP interface served by chdb) behind a TCP proxy that resets,
 * stalls and drips connections. Whatever the network does, every row the exporter
 * acknowledged is stored once: a retried batch carries the same dedup token.
 */
let server: ChdbHttpServer;
let proxy: FaultProxy;
beforeAll(async () => {
  server = await startChdbHttpServer({ path: mkdtempSync(join(tmpdir(), 'vigil-chdb-faults-')) });
  proxy = await startFaultProxy(server);
});
afterAll(async () => {
  await proxy.close();
  await server.close();
});

function remote(database: string) {
  return newExporter({
    endpoint: proxy.url,
    database,
    // Uncompressed, so request and response bytes are what the proxy counts.
    compression: false,
    timeout: '2s',
    max_open_connections: 1,
    batch: { max_rows: 50, max_delay: '20ms' },
    retry: { initial_interval: '20ms', max_interval: '200ms' },
  });
}

/** Stored rows per event id: every acknowledged id must be there exactly once. */
async function storedCounts(database: string): Promise<Map<string, number>> {
  const rows = await server.session.queryAsync(
    `SELECT EventId, count() AS n FROM \`${database}\`.otel_logs GROUP BY EventId`,
    {
      format: 'JSONEachRow',
    },
  );
  const out = new Map<string, number>();
  for (const line of rows.text().split('\n')) {
    if (!line) continue;
    const r = JSON.parse(line) as { EventId: string; n: string | number };
    out.set(r.EventId, Number(r.n));
  }
  return out;
}

async function runWithFault(database: string, fault: () => void, heal: () => void) {
  const { exporter, metrics } = remote(database);
  await exporter.start();
  const acknowledged: string[] = [];
  try {
    const first = sampleEvents(50);
    await exporter.consumeLogs(first);
    acknowledged.push(...first.map((e) => e.id));
    await waitFor(() => exporter.writer.pendingBatches === 0, 'the first batch stored');
    fault();
    for (let i = 1; i < 6; i++) {
      const b = sampleEvents(50, i * 50);
      await exporter.consumeLogs(b);
      acknowledged.push(...b.map((e) => e.id));
    }
    await waitFor(() => exporter.writer.failing || exporter.writer.pendingBatches === 0, 'the fault met');
    heal();
    await waitFor(() => exporter.writer.pendingBatches === 0, 'every batch stored after the fault', 60_000);
    const stored = await storedCounts(database);
    expect([...stored.keys()].sort()).toEqual([...acknowledged].sort());
    expect([...stored.values()].filter((n) => n !== 1)).toEqual([]);
    const text = await metrics.metrics();
    const retries = Number(/vigil_exporter_retries_total\{exporter="clickhouse"\} (\d+)/.exec(text)?.[1] ?? 0);
    // The fault was met, not dodged: at least one attempt failed and was retried.
    expect(retries).toBeGreaterThan(0);
    return { metrics: text };
  } finally {
    await exporter.shutdown();
  }
}

describe('clickhouse exporter through a faulty network', () => {
  it('a connection reset in the middle of an insert body: the batch is sent again and stored once', async () => {
    const resetsBefore = proxy.resets;
    await runWithFault(
      'reset_request',
      () => proxy.resetAfterRequestBytes(2_000),
      () => {},
    );
    expect(proxy.resets).toBeGreaterThan(resetsBefore);
  });

  it('a reset after the server stored the batch, before its answer arrived: the retry is deduplicated', async () => {
    const insertsBefore = server.inserts.length;
    const { metrics } = await runWithFault(
      'reset_response',
      () => proxy.resetAfterResponseBytes(10),
      () => {},
    );
    // The batch reached the engine twice with one token, and is stored once (checked above).
    const tokens = server.inserts.slice(insertsBefore).filter((x) => x.table === 'reset_response.otel_logs');
    expect(tokens.length).toBeGreaterThan(new Set(tokens.map((x) => x.token)).size);
    expect(metrics).toMatch(/vigil_exporter_retries_total\{exporter="clickhouse"\} [1-9]/);
  });

  it('a stalled connection times out, the batch waits in the spool, and goes once the network moves again', async () => {
    await runWithFault(
      'stall',
      () => proxy.stall(true),
      () => proxy.stall(false),
    );
  });

  it('answers that drip in a byte at a time past the timeout are retried and stored once', async () => {
    await runWithFault(
      'drip',
      () => proxy.drip(50),
      () => proxy.drip(0),
    );
  });
});
