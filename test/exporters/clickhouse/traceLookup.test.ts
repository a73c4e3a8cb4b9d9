import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Session } from 'chdb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spanRowsBytes } from '../../../src/exporters/clickhouse/rows.ts';
import { schemaStatements, supportsTextIndexes } from '../../../src/exporters/clickhouse/schema.ts';
import type { Span } from '../../../src/model/span.ts';
import { exporterConfig } from './harness.ts';

/**
 * Grafana's ClickHouse plugin opens a trace by id with a query that first reads the trace's start
 * and end from `<traces>_trace_id_ts`, then only that time range of the traces table. The table
 * and the materialized view that fills it must exist, as the OTel exporter creates them, or the
 * plugin's trace view finds nothing.
 */
// chdb holds one data directory per process: both suites share it.
const session = new Session(join(mkdtempSync(join(tmpdir(), 'vigil-traceid-')), 'ch'));
afterAll(() => session.cleanup());

describe('trace lookup by id (otel_traces_trace_id_ts)', () => {
  const T0 = BigInt(Date.UTC(2026, 11, 1, 10, 0, 0)) * 1_000_000n;
  const span = (traceId: string, spanId: string, parent: string, offsetMs: number, durationMs: number): Span => ({
    traceId,
    spanId,
    parentSpanId: parent,
    traceState: '',
    name: `op-${spanId}`,
    kind: 2,
    startTimeUnixNano: T0 + BigInt(offsetMs) * 1_000_000n,
    endTimeUnixNano: T0 + BigInt(offsetMs + durationMs) * 1_000_000n,
    attributes: { 'http.route': '/pay' },
    resource: { 'service.name': 'checkout' },
    events: [],
    links: [],
    statusCode: 0,
    statusMessage: '',
    service: 'checkout',
    tenant: '',
  });
  const wanted = '5b8efff798038103d269b633813fc60c';

  /** The plugin's trace query (grafana-clickhouse-datasource, OTel column names). */
  const pluginTraceQuery = (traceId: string) => `
WITH '${traceId}' AS trace_id,
  (SELECT min(Start) FROM "otel"."otel_traces_trace_id_ts" WHERE TraceId = trace_id) AS trace_start,
  (SELECT max(End) + 1 FROM "otel"."otel_traces_trace_id_ts" WHERE TraceId = trace_id) AS trace_end
SELECT "TraceId" AS traceID, "SpanId" AS spanID, "ParentSpanId" AS parentSpanID, "ServiceName" AS serviceName,
  "SpanName" AS operationName, "Timestamp" AS startTime, multiply("Duration", 0.000001) AS duration,
  arrayMap(key -> map('key', key, 'value', "SpanAttributes"[key]), mapKeys("SpanAttributes")) AS tags,
  arrayMap(key -> map('key', key, 'value', "ResourceAttributes"[key]), mapKeys("ResourceAttributes")) AS serviceTags
FROM "otel"."otel_traces"
WHERE traceID = trace_id AND startTime >= trace_start AND startTime <= trace_end
LIMIT 1000`;

  beforeAll(async () => {
    const version = (JSON.parse(session.query('SELECT version() AS v', 'JSON')) as { data: { v: string }[] }).data[0]!
      .v;
    for (const sql of schemaStatements({
      database: 'otel',
      tables: exporterConfig({}).tables,
      ttlMs: 0,
      textIndexes: supportsTextIndexes(version),
    }))
      session.query(sql);
    // Two inserts (the view sees each block), the wanted trace spread over 3 s, another trace beside it.
    const first = [
      span(wanted, 'a1', '', 0, 3000),
      span(wanted, 'b2', 'a1', 100, 200),
      span('00000000000000000000000000000001', 'c3', '', 50, 10),
    ];
    const second = [span(wanted, 'd4', 'a1', 2500, 400)];
    for (const batch of [first, second])
      await session.insert({
        table: 'otel.otel_traces',
        values: spanRowsBytes(batch),
        format: 'JSONEachRow',
      });
  });

  it('the view records each trace start and end as spans arrive', () => {
    const rows = (
      JSON.parse(
        session.query(
          `SELECT TraceId, min(Start) AS s, max(End) AS e FROM otel.otel_traces_trace_id_ts GROUP BY TraceId ORDER BY TraceId`,
          'JSON',
        ),
      ) as { data: { TraceId: string; s: string; e: string }[] }
    ).data;
    expect(rows).toEqual([
      { TraceId: '00000000000000000000000000000001', s: '2026-12-01 10:00:00', e: '2026-12-01 10:00:00' },
      { TraceId: wanted, s: '2026-12-01 10:00:00', e: '2026-12-01 10:00:02' },
    ]);
  });

  it("the plugin's trace query finds every span of the trace, and only those", () => {
    const rows = (
      JSON.parse(session.query(pluginTraceQuery(wanted), 'JSON')) as {
        data: { spanID: string; parentSpanID: string; serviceName: string; tags: { key: string; value: string }[] }[];
      }
    ).data;
    expect(rows.map((r) => r.spanID).sort()).toEqual(['a1', 'b2', 'd4']);
    expect(rows.find((r) => r.spanID === 'b2')).toMatchObject({
      parentSpanID: 'a1',
      serviceName: 'checkout',
      tags: [{ key: 'http.route', value: '/pay' }],
    });
    expect(
      (JSON.parse(session.query(pluginTraceQuery('ffffffffffffffffffffffffffffffff'), 'JSON')) as { data: unknown[] })
        .data,
    ).toEqual([]);
  });
});

/**
 * No cluster can run here (ClickHouse servers with Keeper), so the clustered DDL is checked by
 * ClickHouse's own parser: `formatQuery` parses a statement without running it.
 */
describe('clustered DDL parses as ClickHouse SQL', () => {
  it.each([
    ['cluster', { cluster: 'main' }],
    ['cluster, distributed', { cluster: 'main', distributed: true }],
  ])('%s', (_name, extra) => {
    const statements = schemaStatements({
      database: 'otel',
      tables: exporterConfig({}).tables,
      ttlMs: 30 * 86_400_000,
      textIndexes: true,
      ...extra,
    });
    for (const sql of statements) {
      const quoted = `'${sql.replaceAll('\\', '\\\\').replaceAll("'", "\\'")}'`;
      const formatted = (
        JSON.parse(session.query(`SELECT formatQuery(${quoted}) AS f`, 'JSON')) as { data: { f: string }[] }
      ).data[0]!.f;
      expect(formatted.length, sql).toBeGreaterThan(0);
    }
    // The parser is strict enough to notice a broken statement.
    expect(() => session.query(`SELECT formatQuery('CREATE TABLE t ENGINE = Distributed(')`)).toThrow(/Syntax error/);
  });
});
