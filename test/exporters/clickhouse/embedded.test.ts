import { describe, expect, it } from 'vitest';
import {
  incidentChange,
  newExporter,
  sampleEvents,
  sampleMetrics,
  sampleSpan,
  storedEventIds,
  T0_NS,
  waitFor,
} from './harness.ts';

/*
 * One file, one chdb engine: chdb holds a single data directory per process, so every case
 * here shares one exporter data dir (vitest runs each test file in its own process).
 */
describe('clickhouse exporter on embedded ClickHouse (chdb)', () => {
  it('creates the OTel exporter schema, stores every signal and answers bound-parameter queries', async () => {
    const { exporter, dataDir } = newExporter({ batch: { max_delay: '50ms' }, ttl: '8760h' });
    await exporter.start();
    try {
      const b = exporter.backend;
      const cols = await b.select<{ name: string; type: string }>(
        "SELECT name, type FROM system.columns WHERE database = 'otel' AND table = 'otel_logs' ORDER BY position",
        {},
      );
      const types = Object.fromEntries(cols.map((c) => [c.name, c.type]));
      expect(types).toMatchObject({
        Timestamp: 'DateTime64(9)',
        TraceId: 'String',
        SeverityNumber: 'UInt8',
        SeverityText: 'LowCardinality(String)',
        ServiceName: 'LowCardinality(String)',
        ResourceAttributes: 'Map(LowCardinality(String), String)',
        LogAttributes: 'Map(LowCardinality(String), String)',
        EventName: 'String',
        '__otel_materialized_k8s.pod.name': 'LowCardinality(String)',
        Asset: 'LowCardinality(String)',
        Fingerprint: 'String',
        Tenant: 'LowCardinality(String)',
      });
      const tables = (
        await b.select<{ name: string }>("SELECT name FROM system.tables WHERE database = 'otel' ORDER BY name", {})
      ).map((t) => t.name);
      expect(tables).toEqual([
        'otel_logs',
        'otel_metrics_exponential_histogram',
        'otel_metrics_gauge',
        'otel_metrics_histogram',
        'otel_metrics_sum',
        'otel_metrics_summary',
        'otel_traces',
        'otel_traces_trace_id_ts',
        'otel_traces_trace_id_ts_mv',
        'vigil_incident_events',
        'vigil_incidents',
      ]);
      const [ddl] = await b.select<{ engine_full: string }>(
        "SELECT engine_full FROM system.tables WHERE database = 'otel' AND name = 'vigil_incidents'",
        {},
      );
      expect(ddl!.engine_full).toMatch(/^ReplacingMergeTree\(Version\)/);
      const [logsDdl] = await b.select<{ engine_full: string }>(
        "SELECT engine_full FROM system.tables WHERE database = 'otel' AND name = 'otel_logs'",
        {},
      );
      expect(logsDdl!.engine_full).toContain('TTL toDateTime(Timestamp) + toIntervalDay(365)');

      const events = sampleEvents(30);
      await exporter.consumeLogs(events);
      await exporter.consumeMetrics(sampleMetrics());
      await exporter.consumeTraces([sampleSpan()]);
      await exporter.consumeIncidents([
        incidentChange('opened', 1, 'open', 1_790_000_000_000, [events[1]!.id, events[3]!.id]),
        incidentChange('acknowledged', 2, 'acknowledged', 1_790_000_060_000, []),
        incidentChange('resolved', 3, 'resolved', 1_790_000_120_000, [events[5]!.id]),
      ]);
      await waitFor(() => exporter.writer.pendingBatches === 0, 'every batch inserted');

      const [log] = await b.select<Record<string, unknown>>(
        `SELECT * FROM otel.otel_logs WHERE EventId = {id:String}`,
        { id: events[1]!.id },
      );
      expect(log).toMatchObject({
        Timestamp: '2026-09-21 14:13:20.001000000',
        ObservedTimestamp: '2026-09-21 14:13:20.001000005',
        SeverityNumber: 17,
        SeverityText: 'ERROR',
        ServiceName: 'checkout',
        Body: 'request 1 failed with HTTP 500',
        TraceId: '5b8efff798038103d269b633813fc60c',
        TraceFlags: 1,
        LogAttributes: { 'http.status': '500', nested: '{"a":[1,2]}', path: '/api' },
        ResourceAttributes: { 'host.name': 'web-1', 'service.name': 'checkout' },
        ScopeName: 'vigil.json',
        Asset: 'web-1',
        Title: 'request 1',
        EventType: 'down',
        Fingerprint: 'fp-1',
        Tenant: 'acme',
        Source: 'json',
      });

      const counts = await b.select<{ t: string; c: string }>(
        `SELECT t, c FROM (SELECT 'gauge' AS t, count() AS c FROM otel.otel_metrics_gauge UNION ALL SELECT 'sum', count() FROM otel.otel_metrics_sum
         UNION ALL SELECT 'histogram', count() FROM otel.otel_metrics_histogram UNION ALL SELECT 'exp', count() FROM otel.otel_metrics_exponential_histogram
         UNION ALL SELECT 'summary', count() FROM otel.otel_metrics_summary) ORDER BY t`,
        {},
      );
      expect(counts.map((c) => [c.t, Number(c.c)])).toEqual([
        ['exp', 1],
        ['gauge', 1],
        ['histogram', 1],
        ['sum', 1],
        ['summary', 1],
      ]);
      const [gauge] = await b.select<Record<string, unknown>>(
        'SELECT MetricName, Value, TimeUnix, `Exemplars.Value` AS ev, `Exemplars.TraceId` AS et FROM otel.otel_metrics_gauge',
        {},
      );
      expect(gauge).toEqual({
        MetricName: 'cpu.load',
        Value: 0.75,
        TimeUnix: '2026-09-21 14:14:20',
        ev: [0.25],
        et: ['5b8efff798038103d269b633813fc60c'],
      });
      const [hist] = await b.select<Record<string, unknown>>(
        'SELECT BucketCounts, ExplicitBounds, Min, Max, AggregationTemporality FROM otel.otel_metrics_histogram',
        {},
      );
      expect(hist).toEqual({
        BucketCounts: [1, 2, 0],
        ExplicitBounds: [0.1, 0.5],
        Min: 0.1,
        Max: 0.3,
        AggregationTemporality: 1,
      });
      const [summary] = await b.select<Record<string, unknown>>(
        'SELECT `ValueAtQuantiles.Quantile` AS q, `ValueAtQuantiles.Value` AS v FROM otel.otel_metrics_summary',
        {},
      );
      expect(summary).toEqual({ q: [0.5, 0.99], v: [0.4, 1.2] });

      const [span] = await b.select<Record<string, unknown>>(
        'SELECT SpanKind, StatusCode, Duration, `Events.Name` AS en, `Events.Timestamp` AS et, `Links.SpanId` AS ls FROM otel.otel_traces',
        {},
      );
      expect(span).toEqual({
        SpanKind: 'Server',
        StatusCode: 'Error',
        Duration: 1500000,
        en: ['exception'],
        et: ['2026-09-21 14:13:20.000001000'],
        ls: ['b7ad6b7169203331'],
      });

      const q = exporter.queries();
      const errors = await q.searchEvents({
        fromNs: T0_NS,
        toNs: T0_NS + 1_000_000_000n,
        asset: 'web-1',
        minSeverity: 17,
      });
      expect(errors.map((e) => e.Title)).toEqual(['request 25', 'request 19', 'request 13', 'request 7', 'request 1']);
      const text = await q.searchEvents({ fromNs: T0_NS, toNs: T0_NS + 1_000_000_000n, text: "HTTP 500' OR 1=1 --" });
      expect(text).toEqual([]);
      const byText = await q.searchEvents({
        fromNs: T0_NS,
        toNs: T0_NS + 1_000_000_000n,
        text: 'REQUEST 2 ',
        service: 'checkout',
        limit: 5,
      });
      expect(byText.map((e) => e.Title)).toEqual(['request 2']);
      const window = await q.searchEvents({ fromNs: T0_NS + 10_000_000n, toNs: T0_NS + 12_000_000n });
      expect(window.map((e) => e.Title)).toEqual(['request 11', 'request 10']);

      const history = await q.incidentHistory('host_down{asset="web-1"}');
      expect(history.incidents).toHaveLength(1);
      expect(history.incidents[0]).toMatchObject({
        Id: 'inc-1',
        Version: 3,
        Status: 'resolved',
        Labels: { asset: 'web-1' },
      });
      expect(history.changes.map((c) => [c.ChangeKind, c.Status, c.EventIds])).toEqual([
        ['opened', 'open', [events[1]!.id, events[3]!.id]],
        ['acknowledged', 'acknowledged', []],
        ['resolved', 'resolved', [events[5]!.id]],
      ]);
      expect((await q.incidentHistory('no such key')).incidents).toEqual([]);
      expect(dataDir).toBeTruthy();
    } finally {
      await exporter.shutdown();
    }
  });

  it('adds the merge columns to an incidents table an older Vigil created, and stores which id merged into which', async () => {
    const old = newExporter({ database: 'before_merges', batch: { max_delay: '50ms' } });
    await old.exporter.start();
    const b = old.exporter.backend;
    // The table as shipped before incidents could merge: every column but the two merge ones.
    await b.command('DROP TABLE before_merges.vigil_incidents');
    await b.command(
      'CREATE TABLE before_merges.vigil_incidents (Key String, Id String, Version UInt64, Rule LowCardinality(String), RuleKind LowCardinality(String), Labels Map(LowCardinality(String), String), Title String, Status LowCardinality(String), SeverityNumber UInt8, SeverityText LowCardinality(String), Suppressed Bool, SuppressedBy String, OpenedAt DateTime64(3), UpdatedAt DateTime64(3), ResolvedAt DateTime64(3), FirstSeen DateTime64(3), LastSeen DateTime64(3), EventCount UInt64, SampleEventIds Array(String), LastEventType LowCardinality(String), Tenant LowCardinality(String), Asset LowCardinality(String), Service LowCardinality(String), ChangeKind LowCardinality(String), ChangeReason String, Audit Nested(At DateTime64(3), Kind LowCardinality(String), Reason String)) ENGINE = ReplacingMergeTree(Version) ORDER BY (Tenant, Key, Id)',
    );
    await old.exporter.shutdown();

    const upgraded = newExporter({ database: 'before_merges', batch: { max_delay: '50ms' } }, old.dataDir);
    await upgraded.exporter.start();
    try {
      const survivor = incidentChange('updated', 5, 'open', 1_790_000_060_000, []);
      survivor.incident = { ...survivor.incident, mergedIds: ['inc-0'] };
      const merged = incidentChange('resolved', 4, 'resolved', 1_790_000_060_000, []);
      merged.incident = { ...merged.incident, id: 'inc-0', mergedInto: 'inc-1' };
      await upgraded.exporter.consumeIncidents([survivor, merged]);
      await waitFor(() => upgraded.exporter.writer.pendingBatches === 0, 'the incident rows inserted');
      const rows = await upgraded.exporter.backend.select<{
        Id: string;
        Status: string;
        MergedIds: string[];
        MergedInto: string;
      }>('SELECT Id, Status, MergedIds, MergedInto FROM before_merges.vigil_incidents FINAL ORDER BY Id', {});
      expect(rows).toEqual([
        { Id: 'inc-0', Status: 'resolved', MergedIds: [], MergedInto: 'inc-1' },
        { Id: 'inc-1', Status: 'open', MergedIds: ['inc-0'], MergedInto: '' },
      ]);
    } finally {
      await upgraded.exporter.shutdown();
    }
  });

  it('inserts after a restart what a crashed run had acknowledged but not yet inserted', async () => {
    const first = newExporter({ batch: { max_delay: '1h' } });
    await first.exporter.start();
    const events = sampleEvents(7, 1000);
    await first.exporter.consumeLogs(events);
    // The crash: the first run never seals, inserts or shuts down.
    expect(
      Number(
        (
          await first.exporter.backend.select<{ c: string }>(
            'SELECT count() AS c FROM otel.otel_logs WHERE Title LIKE {p:String}',
            { p: 'request 100_' },
          )
        )[0]!.c,
      ),
    ).toBe(0);

    const second = newExporter({}, first.dataDir);
    await second.exporter.start();
    try {
      await waitFor(() => second.exporter.writer.pendingBatches === 0, 'replay of the crashed run');
      expect(await storedEventIds(second.exporter, 'request 100_')).toEqual(events.map((e) => e.id).sort());
    } finally {
      await second.exporter.shutdown();
    }
  });
});
