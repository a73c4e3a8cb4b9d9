/**
 * Reference rows for the ClickHouse tables: each record's JSONEachRow line as one JSON.stringify
 * of the whole record (the ns columns in front, unquoted, as DateTime64 reads them), simple
 * enough to read against the OTel exporter's schema. The writers Vigil uses
 * (src/exporters/clickhouse/rows.ts) write the same bytes a batch at a time without these
 * objects; tests hold them to these lines.
 */
import { SPAN_KIND, STATUS_CODE, secs } from '../../src/exporters/clickhouse/rows.ts';
import { attrToString, setAttr, type Attributes } from '../../src/model/attributes.ts';
import type { VigilEvent } from '../../src/model/event.ts';
import type { Exemplar, MetricPoint } from '../../src/model/metric.ts';
import type { Span } from '../../src/model/span.ts';

/**
 * Map(String, String) values with keys in sorted order: equal attribute sets then serialise
 * identically, which is what keeps ClickHouse's compression and dedup working (OTel exporter
 * issue #33634).
 */
function stringMap(attrs: Attributes | undefined): Record<string, string> {
  if (!attrs) return {};
  const keys = Object.keys(attrs);
  if (keys.length === 0) return {};
  if (keys.length > 1) keys.sort();
  const out: Attributes = {};
  for (const k of keys) {
    const v = attrs[k];
    // setAttr: an attribute named "__proto__" is a key of the map, not the object's prototype.
    setAttr(out, k, typeof v === 'string' ? v : attrToString(v));
  }
  return out as Record<string, string>;
}

/** The row as one JSON.stringify of the whole record, the ns columns in front unquoted. */
export function logRow(e: VigilEvent): string {
  const ts = e.timeUnixNano === 0n ? e.observedTimeUnixNano : e.timeUnixNano;
  const service = e.service || (typeof e.resource['service.name'] === 'string' ? e.resource['service.name'] : '');
  const rest = {
    TraceId: e.traceId,
    SpanId: e.spanId,
    TraceFlags: e.flags & 0xff,
    SeverityText: e.severityText,
    SeverityNumber: e.severityNumber,
    ServiceName: service,
    Body: typeof e.body === 'string' ? e.body : attrToString(e.body),
    ResourceAttributes: stringMap(e.resource),
    ScopeName: e.scope?.name ?? '',
    ScopeVersion: e.scope?.version ?? '',
    ScopeAttributes: stringMap(e.scope?.attributes),
    LogAttributes: stringMap(e.attributes),
    EventName: typeof e.attributes['event.name'] === 'string' ? e.attributes['event.name'] : '',
    EventId: e.id,
    Asset: e.asset,
    Title: e.title,
    EventType: e.type,
    Fingerprint: e.fingerprint,
    Tenant: e.tenant,
    Source: e.source,
  };
  return `{"Timestamp":${ts},"ObservedTimestamp":${e.observedTimeUnixNano},${JSON.stringify(rest).slice(1)}\n`;
}

export function spanRow(s: Span): string {
  const duration = s.endTimeUnixNano > s.startTimeUnixNano ? s.endTimeUnixNano - s.startTimeUnixNano : 0n;
  return (
    '{"Timestamp":' +
    s.startTimeUnixNano +
    ',"Duration":' +
    duration +
    ',"Events.Timestamp":[' +
    s.events.map((e) => e.timeUnixNano).join(',') +
    '],' +
    JSON.stringify({
      TraceId: s.traceId,
      SpanId: s.spanId,
      ParentSpanId: s.parentSpanId,
      TraceState: s.traceState,
      SpanName: s.name,
      SpanKind: SPAN_KIND[s.kind] ?? 'Unspecified',
      ServiceName: s.service || (typeof s.resource['service.name'] === 'string' ? s.resource['service.name'] : ''),
      ResourceAttributes: stringMap(s.resource),
      ScopeName: s.scope?.name ?? '',
      ScopeVersion: s.scope?.version ?? '',
      SpanAttributes: stringMap(s.attributes),
      StatusCode: STATUS_CODE[s.statusCode] ?? 'Unset',
      StatusMessage: s.statusMessage,
      'Events.Name': s.events.map((e) => e.name),
      'Events.Attributes': s.events.map((e) => stringMap(e.attributes)),
      'Links.TraceId': s.links.map((l) => l.traceId),
      'Links.SpanId': s.links.map((l) => l.spanId),
      'Links.TraceState': s.links.map((l) => l.traceState),
      'Links.Attributes': s.links.map((l) => stringMap(l.attributes)),
      Tenant: s.tenant,
    }).slice(1) +
    '\n'
  );
}

function exemplarColumns(ex: Exemplar[]): Record<string, unknown> {
  return {
    'Exemplars.FilteredAttributes': ex.map((e) => stringMap(e.filteredAttributes)),
    'Exemplars.TimeUnix': ex.map((e) => secs(e.timeUnixNano)),
    'Exemplars.Value': ex.map((e) => e.value),
    'Exemplars.SpanId': ex.map((e) => e.spanId),
    'Exemplars.TraceId': ex.map((e) => e.traceId),
  };
}

export function metricRow(p: MetricPoint): string {
  const head = {
    ResourceAttributes: stringMap(p.resource),
    ScopeName: p.scope?.name ?? '',
    ScopeVersion: p.scope?.version ?? '',
    ScopeAttributes: stringMap(p.scope?.attributes),
    ServiceName: p.service || (typeof p.resource['service.name'] === 'string' ? p.resource['service.name'] : ''),
    MetricName: p.name,
    MetricDescription: p.description,
    MetricUnit: p.unit,
    Attributes: stringMap(p.attributes),
    StartTimeUnix: secs(p.startTimeUnixNano),
    TimeUnix: secs(p.timeUnixNano),
    Flags: p.flags,
    Tenant: p.tenant,
  };
  let body: Record<string, unknown>;
  switch (p.kind) {
    case 'gauge':
      body = { Value: p.value, ...exemplarColumns(p.exemplars) };
      break;
    case 'sum':
      body = {
        Value: p.value,
        ...exemplarColumns(p.exemplars),
        AggregationTemporality: p.temporality,
        IsMonotonic: p.isMonotonic,
      };
      break;
    case 'histogram':
      body = {
        Count: p.count,
        Sum: p.sum,
        BucketCounts: p.bucketCounts,
        ExplicitBounds: p.explicitBounds,
        ...exemplarColumns(p.exemplars),
        Min: p.min ?? 0,
        Max: p.max ?? 0,
        AggregationTemporality: p.temporality,
      };
      break;
    case 'exponential_histogram':
      body = {
        Count: p.count,
        Sum: p.sum,
        Scale: p.scale,
        ZeroCount: p.zeroCount,
        PositiveOffset: p.positiveOffset,
        PositiveBucketCounts: p.positiveBucketCounts,
        NegativeOffset: p.negativeOffset,
        NegativeBucketCounts: p.negativeBucketCounts,
        ...exemplarColumns(p.exemplars),
        Min: p.min ?? 0,
        Max: p.max ?? 0,
        AggregationTemporality: p.temporality,
      };
      break;
    case 'summary':
      body = {
        Count: p.count,
        Sum: p.sum,
        'ValueAtQuantiles.Quantile': p.quantiles.map((x) => x.quantile),
        'ValueAtQuantiles.Value': p.quantiles.map((x) => x.value),
      };
      break;
  }
  return JSON.stringify({ ...head, ...body }) + '\n';
}
