import { describe, expect, it } from 'vitest';
import { schemaStatements } from '../../../src/exporters/clickhouse/schema.ts';
import { exporterConfig, newExporter, sampleEvents, waitFor } from './harness.ts';

const TELEMETRY_TABLES = [
  'otel_logs',
  'otel_traces',
  'otel_traces_trace_id_ts',
  'otel_metrics_gauge',
  'otel_metrics_sum',
  'otel_metrics_histogram',
  'otel_metrics_exponential_histogram',
  'otel_metrics_summary',
];

describe('clickhouse retention', () => {
  it('keeps events, spans and points 30 days by default, and incidents for good', () => {
    const cfg = exporterConfig({});
    expect(cfg.ttl).toBe(30 * 86_400_000);
    expect(cfg.incidents_ttl).toBe(0);
    const ddl = schemaStatements({
      database: 'otel',
      tables: cfg.tables,
      ttlMs: cfg.ttl,
      incidentsTtlMs: cfg.incidents_ttl,
      textIndexes: true,
    });
    const create = (t: string) => ddl.find((s) => s.startsWith(`CREATE TABLE IF NOT EXISTS \`otel\`.\`${t}\``))!;
    expect(create('otel_logs')).toContain('TTL toDateTime(Timestamp) + toIntervalDay(30)');
    expect(create('vigil_incidents')).not.toContain('TTL');
  });

  // One file, one chdb engine (one data directory per process): both exporters share it.
  it('applies the TTL to tables created without one, on embedded ClickHouse, changes it when the config does, and exports table sizes', async () => {
    const first = newExporter({ ttl: 0 });
    await first.exporter.start();
    const engines = async (e: typeof first.exporter) =>
      Object.fromEntries(
        (
          await e.backend.select<{ name: string; engine_full: string }>(
            "SELECT name, engine_full FROM system.tables WHERE database = 'otel'",
            {},
          )
        ).map((r) => [r.name, r.engine_full]),
      );
    expect(Object.values(await engines(first.exporter)).some((e) => e.includes(' TTL '))).toBe(false);
    await first.exporter.shutdown();

    const second = newExporter({ ttl: '30d', incidents_ttl: '365d' }, first.dataDir);
    await second.exporter.start();
    try {
      const after = await engines(second.exporter);
      for (const t of TELEMETRY_TABLES) expect(after[t], t).toMatch(/ TTL .*\+ toIntervalDay\(30\)/);
      expect(after['vigil_incidents']).toContain('TTL toDateTime(UpdatedAt) + toIntervalDay(365)');
      expect(after['vigil_incident_events']).toContain('TTL toDateTime(ChangedAt) + toIntervalDay(365)');
    } finally {
      await second.exporter.shutdown();
    }
    const third = newExporter({ ttl: '7d' }, first.dataDir);
    await third.exporter.start();
    try {
      expect((await engines(third.exporter))['otel_logs']).toContain('TTL toDateTime(Timestamp) + toIntervalDay(7)');
      // Disk use per table, from system.parts: rows written, then the figure at the next read.
      await third.exporter.consumeLogs(sampleEvents(500));
      await third.exporter.writer.flush();
      const bytes = async () => {
        const text = await third.metrics.metrics();
        return Number(
          /^vigil_clickhouse_table_bytes\{exporter="clickhouse",table="otel_logs"\} (\d+)$/m.exec(text)?.[1] ?? 0,
        );
      };
      await waitFor(async () => {
        await third.exporter.refreshTableBytes();
        return (await bytes()) > 0;
      }, 'otel_logs to show its bytes on disk');
    } finally {
      await third.exporter.shutdown();
    }
  });
});
