import { describe, expect, it } from 'vitest';
import { newExporter, sampleEvents, sampleMetrics, sampleSpan, waitFor } from './harness.ts';

/**
 * otel_logs as the OpenTelemetry Collector's ClickHouse exporter creates it: the OTel columns,
 * none of Vigil's (EventId, Asset, Tenant...).
 */
const COLLECTOR_LOGS = `CREATE TABLE collector_made.otel_logs (
  Timestamp DateTime64(9) CODEC(Delta(8), ZSTD(1)),
  TraceId String CODEC(ZSTD(1)),
  SpanId String CODEC(ZSTD(1)),
  TraceFlags UInt8,
  SeverityText LowCardinality(String) CODEC(ZSTD(1)),
  SeverityNumber UInt8,
  ServiceName LowCardinality(String) CODEC(ZSTD(1)),
  Body String CODEC(ZSTD(1)),
  ResourceSchemaUrl LowCardinality(String) CODEC(ZSTD(1)),
  ResourceAttributes Map(LowCardinality(String), String) CODEC(ZSTD(1)),
  ScopeSchemaUrl LowCardinality(String) CODEC(ZSTD(1)),
  ScopeName String CODEC(ZSTD(1)),
  ScopeVersion LowCardinality(String) CODEC(ZSTD(1)),
  ScopeAttributes Map(LowCardinality(String), String) CODEC(ZSTD(1)),
  LogAttributes Map(LowCardinality(String), String) CODEC(ZSTD(1)),
  EventName String CODEC(ZSTD(1))
) ENGINE = MergeTree PARTITION BY toDate(Timestamp) ORDER BY (ServiceName, Timestamp)`;

describe('clickhouse exporter on tables it did not create (chdb)', () => {
  it("adds Vigil's columns, the tenant among them, and their indexes to OTel tables created without them, and stores each record's tenant", async () => {
    const first = newExporter({ database: 'collector_made' });
    await first.exporter.start();
    const b = first.exporter.backend;
    await b.command('DROP TABLE collector_made.otel_logs');
    await b.command(COLLECTOR_LOGS);
    await b.command('ALTER TABLE collector_made.otel_traces DROP COLUMN Tenant');
    await b.command('ALTER TABLE collector_made.otel_metrics_gauge DROP COLUMN Tenant');
    await first.exporter.shutdown();

    const { exporter } = newExporter({ database: 'collector_made', batch: { max_delay: '50ms' } }, first.dataDir);
    await exporter.start();
    try {
      await exporter.consumeLogs(sampleEvents(3));
      await exporter.consumeTraces([sampleSpan()]);
      await exporter.consumeMetrics(sampleMetrics().filter((p) => p.kind === 'gauge'));
      await waitFor(() => exporter.writer.pendingBatches === 0, 'every batch inserted', 60_000);
      const tenants = async (table: string) =>
        (
          await exporter.backend.select<{ Tenant: string; n: string }>(
            `SELECT Tenant, count() AS n FROM collector_made.${table} GROUP BY Tenant`,
            {},
          )
        ).map((r) => `${r.Tenant}:${r.n}`);
      expect(await tenants('otel_logs')).toEqual(['acme:3']);
      expect(await tenants('otel_traces')).toEqual(['acme:1']);
      expect(await tenants('otel_metrics_gauge')).toEqual([expect.stringMatching(/^acme:[1-9]/)]);
      const logs = await exporter.backend.select<{ EventId: string; Asset: string }>(
        'SELECT EventId, Asset FROM collector_made.otel_logs ORDER BY Timestamp LIMIT 1',
        {},
      );
      expect(logs).toEqual([{ EventId: expect.stringMatching(/.+/), Asset: 'web-0' }]);

      // Vigil's indexes too, as Vigil's own table has them, and used by a lookup by asset.
      const indexes = await exporter.backend.select<{ name: string; expr: string; type_full: string }>(
        "SELECT name, expr, type_full FROM system.data_skipping_indices WHERE database = 'collector_made' AND table = 'otel_logs' ORDER BY name",
        {},
      );
      expect(indexes).toEqual([
        { name: 'idx_asset', expr: 'Asset', type_full: 'bloom_filter(0.01)' },
        { name: 'idx_event_id', expr: 'EventId', type_full: 'bloom_filter(0.001)' },
      ]);
      const plan = await exporter.backend.select<{ explain: string }>(
        "EXPLAIN indexes = 1 SELECT count() FROM collector_made.otel_logs WHERE Asset = 'web-0'",
        {},
      );
      expect(plan.map((r) => r.explain).join('\n')).toMatch(/Skip[\s\S]*Name: idx_asset/);
    } finally {
      await exporter.shutdown();
    }
  });
});
