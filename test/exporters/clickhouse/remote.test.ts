import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ClickHouseAuthError } from '../../../src/exporters/clickhouse/backend.ts';
import { startChdbHttpServer, type ChdbHttpServer } from '../../support/chdbHttpServer.ts';
import { newExporter, sampleEvents, sampleSpan, T0_NS, waitFor } from './harness.ts';

/*
 * The @clickhouse/client path over real HTTP, against ClickHouse's HTTP interface served by
 * chdb (test/support/chdbHttpServer.ts). Each case writes its own database so counts are
 * its own.
 */
let server: ChdbHttpServer;
beforeAll(async () => {
  server = await startChdbHttpServer({
    path: mkdtempSync(join(tmpdir(), 'vigil-chdb-http-')),
    users: { default: '', vigil: 's3cret pass' },
  });
});
afterAll(async () => {
  await server.close();
});

const remote = (database: string, extra: Record<string, unknown> = {}, dataDir?: string) =>
  newExporter(
    {
      endpoint: server.url,
      database,
      username: 'vigil',
      password: 's3cret pass',
      retry: { initial_interval: '20ms', max_interval: '100ms' },
      ...extra,
    },
    dataDir,
  );

async function storedIds(ex: ReturnType<typeof remote>['exporter'], database: string): Promise<string[]> {
  const rows = await ex.backend.select<{ EventId: string }>(
    `SELECT EventId FROM \`${database}\`.otel_logs ORDER BY EventId`,
    {},
  );
  return rows.map((r) => r.EventId);
}

describe('clickhouse exporter over HTTP (@clickhouse/client)', () => {
  it('creates the schema, inserts in batches of max_rows with one token per batch, and queries with bound parameters', async () => {
    const { exporter } = remote('batching', { batch: { max_rows: 100, max_delay: '1h' } });
    await exporter.start();
    try {
      const events = sampleEvents(250);
      for (let i = 0; i < 250; i += 50) await exporter.consumeLogs(events.slice(i, i + 50));
      await exporter.writer.flush();
      await waitFor(() => exporter.writer.pendingBatches === 0, 'all batches inserted');
      const inserts = server.inserts.filter((x) => x.table === 'batching.otel_logs');
      expect(inserts.map((x) => x.rows)).toEqual([100, 100, 50]);
      expect(new Set(inserts.map((x) => x.token)).size).toBe(3);
      expect(await storedIds(exporter, 'batching')).toEqual(events.map((e) => e.id).sort());

      const found = await exporter.queries().searchEvents({
        fromNs: T0_NS,
        toNs: T0_NS + 10_000_000_000n,
        asset: 'web-2',
        text: 'request 20',
        minSeverity: 1,
      });
      expect(found.map((e) => e.Title)).toEqual([
        'request 209',
        'request 206',
        'request 203',
        'request 200',
        'request 20',
      ]);
    } finally {
      await exporter.shutdown();
    }
  });

  it("gives a server's logs table text indexes by default and leaves an existing table's indexes as they are", async () => {
    /** The kinds of two of the logs table's indexes once an exporter with `extra` has started on `database`. */
    const kindsAfterStart = async (database: string, extra: Record<string, unknown> = {}) => {
      const { exporter } = remote(database, extra);
      await exporter.start();
      try {
        const rows = await exporter.backend.select<{ name: string; type: string }>(
          "SELECT name, type FROM system.data_skipping_indices WHERE database = {db:String} AND table = 'otel_logs' AND name IN ('idx_trace_id', 'idx_lower_body')",
          { db: database },
        );
        return rows.map((r) => `${r.name}:${r.type}`).sort();
      } finally {
        await exporter.shutdown();
      }
    };
    expect(await kindsAfterStart('server_kinds')).toEqual(['idx_lower_body:text', 'idx_trace_id:text']);
    expect(await kindsAfterStart('server_kinds', { log_indexes: 'bloom' })).toEqual([
      'idx_lower_body:text',
      'idx_trace_id:text',
    ]);
    expect(await kindsAfterStart('server_bloom', { log_indexes: 'bloom' })).toEqual([
      'idx_lower_body:tokenbf_v1',
      'idx_trace_id:bloom_filter',
    ]);
  });

  it('seals a batch once it holds max_bytes', async () => {
    const { exporter } = remote('bybytes', { batch: { max_rows: 100_000, max_bytes: '4KiB', max_delay: '1h' } });
    await exporter.start();
    try {
      const events = sampleEvents(21);
      for (const e of events) await exporter.consumeLogs([e]);
      await exporter.writer.flush();
      await waitFor(() => exporter.writer.pendingBatches === 0, 'all batches inserted');
      const inserts = server.inserts.filter((x) => x.table === 'bybytes.otel_logs');
      // Each row is ~0.6 KiB: a batch seals on the append that reaches 4 KiB; flush() seals the rest.
      expect(inserts.length).toBeGreaterThanOrEqual(3);
      expect(inserts.slice(0, -1).every((x) => x.rows === inserts[0]!.rows)).toBe(true);
      expect(inserts.at(-1)!.rows).toBeLessThanOrEqual(inserts[0]!.rows);
      expect(inserts.reduce((n, x) => n + x.rows, 0)).toBe(21);
    } finally {
      await exporter.shutdown();
    }
  });

  it('retries a batch whose answer was lost with the same dedup token, and ClickHouse stores it once', async () => {
    const { exporter, metrics } = remote('dedup', { batch: { max_delay: '20ms' } });
    await exporter.start();
    try {
      server.dropResponses = 1;
      const events = sampleEvents(40);
      await exporter.consumeLogs(events);
      await waitFor(() => exporter.writer.pendingBatches === 0, 'the batch inserted');
      const inserts = server.inserts.filter((x) => x.table === 'dedup.otel_logs');
      expect(inserts.length).toBeGreaterThanOrEqual(2);
      expect(new Set(inserts.map((x) => x.token)).size).toBe(1);
      expect(await storedIds(exporter, 'dedup')).toEqual(events.map((e) => e.id).sort());
      expect(await metrics.metrics()).toMatch(/vigil_exporter_retries_total\{exporter="clickhouse"\} [1-9]/);
    } finally {
      server.dropResponses = 0;
      await exporter.shutdown();
    }
  });

  it('spools while the server is down mid-stream and replays on recovery: count in = count stored, no duplicates', async () => {
    const { exporter, metrics } = remote('outage', { batch: { max_rows: 30, max_delay: '20ms' } });
    await exporter.start();
    const sent: string[] = [];
    try {
      for (let i = 0; i < 3; i++) {
        const b = sampleEvents(30, i * 30);
        await exporter.consumeLogs(b);
        sent.push(...b.map((e) => e.id));
      }
      await server.down();
      for (let i = 3; i < 10; i++) {
        const b = sampleEvents(30, i * 30);
        await exporter.consumeLogs(b);
        sent.push(...b.map((e) => e.id));
      }
      await waitFor(() => exporter.writer.failing, 'an insert to fail');
      expect(exporter.writer.spooledBytes).toBeGreaterThan(0);
      expect(await metrics.metrics()).toMatch(/vigil_exporter_spool_bytes\{exporter="clickhouse"\} [1-9]\d*/);
      await server.up();
      await waitFor(() => exporter.writer.pendingBatches === 0, 'the spool replayed');
      const stored = await storedIds(exporter, 'outage');
      expect(stored).toHaveLength(sent.length);
      expect(stored).toEqual([...sent].sort());
      expect(await metrics.metrics()).toContain('vigil_exporter_spool_bytes{exporter="clickhouse"} 0');
    } finally {
      await exporter.shutdown();
    }
  });

  it('stops taking rows when the spool is full and the server is slow, instead of growing memory', async () => {
    const { exporter } = remote('slow', { batch: { max_rows: 10, max_delay: '20ms' }, spool: { max_bytes: '24KiB' } });
    await exporter.start();
    const ceiling = 24 * 1024;
    let maxSpooled = 0;
    let sawFull = false;
    let maxInFlight = 0;
    try {
      server.delayMs = 100;
      const all: string[] = [];
      for (let i = 0; i < 24; i++) {
        const b = sampleEvents(10, i * 10);
        all.push(...b.map((e) => e.id));
        const p = exporter.consumeLogs(b);
        // The write is parked synchronously when the spool has no room; that is the back-pressure.
        sawFull ||= exporter.writer.waitingWrites > 0 && exporter.health().status === 'failing';
        maxSpooled = Math.max(maxSpooled, exporter.writer.spooledBytes);
        maxInFlight = Math.max(maxInFlight, server.insertsInFlight);
        await p;
      }
      await waitFor(() => exporter.writer.pendingBatches === 0, 'the spool drained');
      expect(sawFull).toBe(true);
      // One batch may land on top of a spool just under the ceiling, never more.
      expect(maxSpooled).toBeLessThanOrEqual(ceiling + 10 * 1024);
      expect(maxInFlight).toBeLessThanOrEqual(1);
      expect(await storedIds(exporter, 'slow')).toEqual(all.sort());
    } finally {
      server.delayMs = 0;
      await exporter.shutdown();
    }
  });

  it('refuses to start with a wrong password, saying which user and which config keys', async () => {
    const { exporter } = newExporter({ endpoint: server.url, username: 'vigil', password: 'wrong' });
    const err = await exporter.start().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ClickHouseAuthError);
    expect((err as Error).message).toMatch(
      /refused user "vigil": .*Authentication failed: password is incorrect.*Check exporters\.clickhouse\.username and exporters\.clickhouse\.password/s,
    );
  });

  it('sets aside a batch the server can never parse, so the batches after it still flow', async () => {
    await server.session.queryAsync('CREATE DATABASE IF NOT EXISTS baddata');
    // A hand-made table whose Body is a number: every row Vigil sends is unparseable here.
    await server.session.queryAsync(
      'CREATE TABLE IF NOT EXISTS baddata.otel_logs (Timestamp DateTime64(9), Body UInt32) ENGINE = MergeTree ORDER BY Timestamp',
    );
    await server.session.queryAsync(
      'CREATE TABLE IF NOT EXISTS baddata.otel_traces (Timestamp DateTime64(9), SpanName String) ENGINE = MergeTree ORDER BY Timestamp',
    );
    const { exporter, metrics, dataDir } = remote('baddata', { create_schema: false, batch: { max_delay: '20ms' } });
    await exporter.start();
    try {
      await exporter.consumeLogs(sampleEvents(5));
      await exporter.consumeTraces([sampleSpan()]);
      await waitFor(() => exporter.writer.pendingBatches === 0, 'both batches handled');
      expect(readdirSync(join(dataDir, 'clickhouse-spool', 'clickhouse', 'rejected'))).toEqual([
        expect.stringMatching(/^\d{12}\.otel_logs\.[0-9a-f]+\.jsonl$/),
      ]);
      expect(await metrics.metrics()).toContain(
        'vigil_exporter_send_failed_records_total{exporter="clickhouse",signal="logs"} 5',
      );
      const spans = await exporter.backend.select<{ SpanName: string }>('SELECT SpanName FROM baddata.otel_traces', {});
      expect(spans).toEqual([{ SpanName: 'GET /api' }]);
    } finally {
      await exporter.shutdown();
    }
  });

  it('seals open batches when the spool is full, rather than waiting out max_delay', async () => {
    const { exporter } = remote('fullopen', {
      batch: { max_delay: '1h', max_rows: 100_000 },
      spool: { max_bytes: '8KiB' },
    });
    await exporter.start();
    try {
      const all: string[] = [];
      for (let i = 0; i < 6; i++) {
        const b = sampleEvents(10, i * 10);
        all.push(...b.map((e) => e.id));
        await exporter.consumeLogs(b);
      }
      await exporter.writer.flush();
      await waitFor(() => exporter.writer.pendingBatches === 0, 'the spool drained');
      expect(await storedIds(exporter, 'fullopen')).toEqual(all.sort());
    } finally {
      await exporter.shutdown();
    }
  });

  it('keeps what it could not insert at shutdown during an outage and inserts it after the next start', async () => {
    const first = remote('restart', { batch: { max_delay: '20ms' } });
    await first.exporter.start();
    await server.down();
    const events = sampleEvents(25, 5000);
    try {
      await first.exporter.consumeLogs(events);
      await waitFor(() => first.exporter.writer.failing, 'an insert to fail');
    } finally {
      await first.exporter.shutdown();
      await server.up();
    }
    const second = remote('restart', {}, first.dataDir);
    await second.exporter.start();
    try {
      await waitFor(() => second.exporter.writer.pendingBatches === 0, 'the spool replayed');
      expect(await storedIds(second.exporter, 'restart')).toEqual(events.map((e) => e.id).sort());
    } finally {
      await second.exporter.shutdown();
    }
  });
});
