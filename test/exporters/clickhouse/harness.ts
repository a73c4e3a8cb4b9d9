import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { clickhouseExporterSchema, type ClickHouseExporterConfig } from '../../../src/exporters/clickhouse/config.ts';
import { ClickHouseExporter } from '../../../src/exporters/clickhouse/exporter.ts';
import type { ConfigIssue } from '../../../src/config/schema.ts';
import {
  newEvent,
  type IncidentChange,
  type MetricPoint,
  type Span,
  type VigilEvent,
} from '../../../src/model/index.ts';
import { createLogger } from '../../../src/telemetry/logger.ts';
import { SelfMetrics } from '../../../src/telemetry/selfMetrics.ts';

export function exporterConfig(raw: Record<string, unknown>): ClickHouseExporterConfig {
  const issues: ConfigIssue[] = [];
  const c = clickhouseExporterSchema.parse(raw, 'exporters.clickhouse', issues);
  if (!c) throw new Error(issues.map((i) => `${i.path}: ${i.message}`).join('\n'));
  return c;
}

export function newExporter(raw: Record<string, unknown>, dataDir = mkdtempSync(join(tmpdir(), 'vigil-ch-'))) {
  const metrics = new SelfMetrics();
  const exporter = new ClickHouseExporter(
    { id: 'clickhouse', logger: createLogger('silent'), metrics, dataDir },
    // The fixtures are dated at fixed times that age past the default retention (30 days), and
    // ClickHouse drops expired rows when it merges: keep everything unless a test asks otherwise
    // (retention itself is tested in retention.test.ts).
    exporterConfig({ ttl: 0, ...raw }),
  );
  return { exporter, metrics, dataDir };
}

/** Ids of the events stored in otel_logs whose title matches `titlePattern` (LIKE), sorted. */
export async function storedEventIds(exporter: ClickHouseExporter, titlePattern: string): Promise<string[]> {
  const rows = await exporter.backend.select<{ EventId: string }>(
    'SELECT EventId FROM otel.otel_logs WHERE Title LIKE {p:String} ORDER BY EventId',
    { p: titlePattern },
  );
  return rows.map((r) => r.EventId);
}

const T0 = 1_790_000_000_000_000_000n;

export function sampleEvents(n: number, offset = 0): VigilEvent[] {
  const out: VigilEvent[] = [];
  for (let i = 0; i < n; i++) {
    const k = offset + i;
    out.push(
      newEvent({
        source: 'json',
        timeUnixNano: T0 + BigInt(k) * 1_000_000n,
        observedTimeUnixNano: T0 + BigInt(k) * 1_000_000n + 5n,
        severityNumber: k % 2 ? 17 : 9,
        severityText: k % 2 ? 'ERROR' : 'INFO',
        body: `request ${k} failed with HTTP ${k % 2 ? 500 : 200}`,
        attributes: { 'http.status': k % 2 ? 500 : 200, path: '/api', nested: { a: [1, 2] } },
        resource: { 'service.name': 'checkout', 'host.name': `web-${k % 3}` },
        scope: { name: 'vigil.json', version: '1', attributes: {} },
        traceId: '5b8efff798038103d269b633813fc60c',
        spanId: 'eee19b7ec3c1b174',
        flags: 1,
        asset: `web-${k % 3}`,
        title: `request ${k}`,
        type: k % 2 ? 'down' : 'up',
        service: 'checkout',
        tenant: 'acme',
        fingerprint: `fp-${k % 3}`,
      }),
    );
  }
  return out;
}

export const T0_NS = T0;

const pointBase = {
  description: 'd',
  unit: '1',
  resource: { 'service.name': 'checkout' },
  attributes: { host: 'web-1' },
  startTimeUnixNano: T0,
  timeUnixNano: T0 + 60_000_000_000n,
  flags: 0,
  service: 'checkout',
  tenant: 'acme',
};

export function sampleMetrics(): MetricPoint[] {
  const exemplar = {
    timeUnixNano: T0,
    value: 0.25,
    spanId: 'eee19b7ec3c1b174',
    traceId: '5b8efff798038103d269b633813fc60c',
    filteredAttributes: { user: 'u1' },
  };
  return [
    { ...pointBase, kind: 'gauge', name: 'cpu.load', value: 0.75, exemplars: [exemplar] },
    { ...pointBase, kind: 'sum', name: 'http.requests', value: 42, temporality: 2, isMonotonic: true, exemplars: [] },
    {
      ...pointBase,
      kind: 'histogram',
      name: 'http.duration',
      count: 3,
      sum: 0.6,
      min: 0.1,
      max: 0.3,
      bucketCounts: [1, 2, 0],
      explicitBounds: [0.1, 0.5],
      temporality: 1,
      exemplars: [],
    },
    {
      ...pointBase,
      kind: 'exponential_histogram',
      name: 'rpc.duration',
      count: 4,
      sum: 1,
      scale: 2,
      zeroCount: 1,
      zeroThreshold: 0,
      positiveOffset: 1,
      positiveBucketCounts: [1, 2],
      negativeOffset: 0,
      negativeBucketCounts: [],
      temporality: 2,
      exemplars: [],
    },
    {
      ...pointBase,
      kind: 'summary',
      name: 'gc.pause',
      count: 10,
      sum: 5,
      quantiles: [
        { quantile: 0.5, value: 0.4 },
        { quantile: 0.99, value: 1.2 },
      ],
      exemplars: [],
    },
  ];
}

export function sampleSpan(): Span {
  return {
    traceId: '5b8efff798038103d269b633813fc60c',
    spanId: 'eee19b7ec3c1b174',
    parentSpanId: '',
    traceState: '',
    name: 'GET /api',
    kind: 2,
    startTimeUnixNano: T0,
    endTimeUnixNano: T0 + 1_500_000n,
    attributes: { 'http.method': 'GET' },
    resource: { 'service.name': 'checkout' },
    events: [{ timeUnixNano: T0 + 1000n, name: 'exception', attributes: { 'exception.type': 'Timeout' } }],
    links: [
      { traceId: '0af7651916cd43dd8448eb211c80319c', spanId: 'b7ad6b7169203331', traceState: '', attributes: {} },
    ],
    statusCode: 2,
    statusMessage: 'boom',
    service: 'checkout',
    tenant: 'acme',
  };
}

export function incidentChange(
  kind: IncidentChange['kind'],
  version: number,
  status: 'open' | 'acknowledged' | 'resolved',
  atMs: number,
  eventIds: string[],
): IncidentChange {
  return {
    kind,
    reason: `${kind} by test`,
    atMs,
    notify: true,
    eventIds,
    incident: {
      key: 'host_down{asset="web-1"}',
      id: 'inc-1',
      rule: 'host_down',
      ruleKind: 'threshold',
      labels: { asset: 'web-1' },
      title: 'web-1 is down',
      status,
      severityNumber: 17,
      severityText: 'ERROR',
      suppressed: false,
      suppressedBy: '',
      openedAtMs: 1_790_000_000_000,
      updatedAtMs: atMs,
      resolvedAtMs: status === 'resolved' ? atMs : 0,
      firstSeenMs: 1_790_000_000_000,
      lastSeenMs: atMs,
      eventCount: version * 2,
      sampleEventIds: eventIds,
      lastEventType: 'down',
      tenant: 'acme',
      asset: 'web-1',
      service: 'checkout',
      version,
      audit: [{ atMs, kind, reason: `${kind} by test` }],
    },
  };
}

export { waitFor } from '../../support/waitFor.ts';
