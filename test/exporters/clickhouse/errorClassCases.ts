import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ClickHouseExporter } from '../../../src/exporters/clickhouse/exporter.ts';
import { newEvent, type VigilEvent } from '../../../src/model/index.ts';
import { createLogger } from '../../../src/telemetry/logger.ts';
import { SelfMetrics } from '../../../src/telemetry/selfMetrics.ts';
import { waitFor } from '../../support/waitFor.ts';
import { exporterConfig } from './harness.ts';

/*
 * One case per class of ClickHouse error, provoked on a real engine: embedded chdb and a server
 * over HTTP (one engine per test process, hence two files). Each reports the rows acknowledged,
 * stored and set aside: set aside only for rows the server called bad.
 */

const T0 = 1_790_000_000_000_000_000n;
/** Log records with a 2 KB body: a few thousand of them in one insert pass 64 MB of memory, a few hundred do not. */
function bigEvents(n: number, tag: string): VigilEvent[] {
  return Array.from({ length: n }, (_, i) =>
    newEvent({
      source: 'json',
      timeUnixNano: T0 + BigInt(i) * 1_000_000n,
      body: `${tag}-${i} ${'x'.repeat(2000)}`,
      service: 'checkout',
    }),
  );
}

interface Run {
  exporter: ClickHouseExporter;
  metrics: SelfMetrics;
  logs: string[];
  spoolDir: string;
}

export function run(raw: Record<string, unknown>, id = 'clickhouse'): Run {
  const metrics = new SelfMetrics();
  const logs: string[] = [];
  const dataDir = mkdtempSync(join(tmpdir(), 'vigil-ch-classes-'));
  const logger = createLogger('info', { write: (s: string) => logs.push(s) } as unknown as NodeJS.WritableStream);
  const exporter = new ClickHouseExporter(
    { id, logger, metrics, dataDir },
    exporterConfig({ ttl: 0, retry: { initial_interval: '20ms', max_interval: '100ms' }, ...raw }),
  );
  return { exporter, metrics, logs, spoolDir: join(dataDir, 'clickhouse-spool', id) };
}

async function counter(metrics: SelfMetrics, name: string): Promise<number> {
  const m = await metrics.registry.getSingleMetric(name)?.get();
  return (m?.values ?? []).reduce((n, v) => n + v.value, 0);
}

/** Rows acknowledged (consume resolved), stored (counted in the table) and set aside (lines under rejected/). */
async function report(r: Run, acknowledged: number, table: string) {
  const [row] = await r.exporter.backend.select<{ n: string }>(`SELECT count() AS n FROM ${table}`, {});
  return {
    acknowledged,
    stored: Number(row!.n),
    setAside: readdirSync(join(r.spoolDir, 'rejected')).length,
    sent: await counter(r.metrics, 'vigil_exporter_sent_records_total'),
    failed: await counter(r.metrics, 'vigil_exporter_send_failed_records_total'),
  };
}

/** The three classes against one engine: `session` runs statements on the server side. */
export function classCases(
  name: string,
  setup: () => {
    raw: Record<string, unknown>;
    serverSide: (sql: string) => Promise<void>;
    /**
     * A `max_memory_usage` that refuses the whole 2,000-row batch and takes its halves: it
     * depends on the logs table's indexes (text indexes need about twice what bloom filters do).
     */
    insertMemoryLimit: number;
  },
) {
  describe(name, () => {
    it('retries MEMORY_LIMIT_EXCEEDED (241) in halves until every acknowledged row is stored', async () => {
      const { raw, serverSide, insertMemoryLimit } = setup();
      const r = run({ ...raw, database: 'mem', batch: { max_rows: 2000, max_bytes: '32MiB', max_delay: '20ms' } });
      await r.exporter.start();
      try {
        await serverSide(`SET max_memory_usage = ${insertMemoryLimit}`);
        await r.exporter.consumeLogs(bigEvents(2000, 'mem'));
        await waitFor(() => r.exporter.writer.pendingBatches === 0, 'the batch stored', 60_000);
        await serverSide('SET max_memory_usage = 0');
        expect(await report(r, 2000, 'mem.otel_logs')).toEqual({
          acknowledged: 2000,
          stored: 2000,
          setAside: 0,
          sent: 2000,
          failed: 0,
        });
        expect(r.logs.join('')).toContain('inserting it in two halves');
        expect(r.logs.join('')).toContain('"clickhouseCode":241');
      } finally {
        await serverSide('SET max_memory_usage = 0');
        await r.exporter.shutdown();
      }
    }, 90_000);

    it('sets aside a batch the server cannot parse (CANNOT_PARSE_*), and only that one', async () => {
      const { raw, serverSide } = setup();
      await serverSide('CREATE DATABASE IF NOT EXISTS bad');
      // Body a number: every row Vigil sends is unparseable here.
      await serverSide(
        'CREATE TABLE IF NOT EXISTS bad.otel_logs (Timestamp DateTime64(9), Body UInt32) ENGINE = MergeTree ORDER BY Timestamp',
      );
      await serverSide(
        'CREATE TABLE IF NOT EXISTS bad.otel_traces (Timestamp DateTime64(9), SpanName String) ENGINE = MergeTree ORDER BY Timestamp',
      );
      const r = run({ ...raw, database: 'bad', create_schema: false, batch: { max_delay: '20ms' } });
      await r.exporter.start();
      try {
        await r.exporter.consumeLogs(bigEvents(3, 'bad'));
        await waitFor(() => r.exporter.writer.pendingBatches === 0, 'the batch handled', 30_000);
        expect(await report(r, 3, 'bad.otel_logs')).toEqual({
          acknowledged: 3,
          stored: 0,
          setAside: 1,
          sent: 0,
          failed: 3,
        });
        expect(r.logs.join('')).toMatch(/"clickhouseCode":(6|27|72),/);
      } finally {
        await r.exporter.shutdown();
      }
    }, 60_000);

    it('retries UNKNOWN_TABLE (60) loudly, sets nothing aside, and stores it all once the table exists', async () => {
      const { raw, serverSide } = setup();
      await serverSide('CREATE DATABASE IF NOT EXISTS late');
      const r = run({ ...raw, database: 'late', create_schema: false, batch: { max_delay: '20ms' } });
      await r.exporter.start();
      try {
        await r.exporter.consumeLogs(bigEvents(4, 'late'));
        await waitFor(
          () => r.logs.some((l) => l.includes('"clickhouseCode":60')),
          'the insert refused for its table',
          30_000,
        );
        const refused = r.logs
          .map((l) => JSON.parse(l) as { level: number; msg: string })
          .find((l) => l.msg.startsWith('ClickHouse insert failed'));
        expect(refused?.level).toBe(50);
        expect(readdirSync(join(r.spoolDir, 'rejected'))).toEqual([]);
        // The operator's fix: the schema, made here by an exporter that may create it.
        const maker = run({ ...raw, database: 'late' }, 'maker').exporter;
        await maker.start();
        await maker.shutdown();
        await waitFor(() => r.exporter.writer.pendingBatches === 0, 'the batch stored', 30_000);
        expect(await report(r, 4, 'late.otel_logs')).toMatchObject({
          acknowledged: 4,
          stored: 4,
          setAside: 0,
          failed: 0,
        });
      } finally {
        await r.exporter.shutdown();
      }
    });
  });
}
