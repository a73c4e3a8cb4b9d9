import { attrToString, type Attributes } from '../../model/attributes.ts';
import type { VigilEvent } from '../../model/event.ts';
import type { IncidentChange } from '../../model/incident.ts';
import type {
  Exemplar,
  ExponentialHistogramPoint,
  HistogramPoint,
  MetricKind,
  MetricPoint,
  SummaryPoint,
} from '../../model/metric.ts';
import type { Span } from '../../model/span.ts';
import { JsonBytes, jsonPiece } from './jsonBytes.ts';

/**
 * Model records as JSONEachRow lines for the OTel exporter's tables, the same bytes whether
 * they go to ClickHouse, the embedded engine or the spool. Logs, spans and metric points are
 * written as bytes a batch at a time, as JSON.stringify would write each whole record (with the
 * ns columns unquoted in front); the reference those writers are held to, one JSON.stringify
 * per record, is test/support/clickhouseRows.ts. Map(String, String) values have their keys
 * sorted: equal attribute sets then serialise identically, which is what keeps ClickHouse's
 * compression and dedup working (OTel exporter issue #33634).
 */

/** Whole seconds, for the metric tables' DateTime columns. */
export const secs = (ns: bigint) => Number(ns / 1_000_000_000n);

/** A Map(String, String) value as JSON.stringify writes an object of its keys sorted, values as text. */
function writeStringMap(w: JsonBytes, attrs: Attributes | undefined): void {
  let keys = attrs ? Object.keys(attrs) : [];
  if (keys.length === 0) return w.piece(EMPTY_MAP);
  if (keys.length > 1) keys = sortedKeys(keys);
  w.byte(0x7b);
  for (let i = 0; i < keys.length; i++) {
    if (i > 0) w.byte(0x2c);
    const k = keys[i]!;
    w.string(k);
    w.byte(0x3a);
    const v = attrs![k];
    w.string(typeof v === 'string' ? v : attrToString(v));
  }
  w.byte(0x7d);
}

/** The keys of the last map sorted, as they came and sorted: records of one source repeat them. */
let lastKeys: string[] = [];
let lastSorted: string[] = [];

/**
 * Keys in the order such a sorted object has them. Attribute maps of a batch mostly have the same
 * keys in the same order (one logger, one schema), and the decoders hand out the same key
 * strings, so the last order is reused when the keys are those of the last map.
 */
function sortedKeys(keys: string[]): string[] {
  const n = keys.length;
  if (n === lastKeys.length) {
    let i = 0;
    while (i < n && keys[i] === lastKeys[i]) i++;
    if (i === n) return lastSorted;
  }
  lastKeys = keys.slice();
  keys.sort();
  indexKeysFirst(keys);
  lastSorted = keys;
  return keys;
}

/** Whether JSON.stringify writes `k` before an object's other keys: an array index ("0", "17"). */
const isIndex = (k: string): boolean => /^(?:0|[1-9]\d{0,9})$/.test(k) && Number(k) < 2 ** 32 - 1;

/**
 * Sorted keys in the order JSON.stringify writes the sorted object: array indexes first, by
 * their number, then the others as sorted. Rare (a key of digits only), so looked for first.
 */
function indexKeysFirst(keys: string[]): void {
  let any = false;
  for (const k of keys) {
    const c = k.charCodeAt(0);
    if (c >= 0x30 && c <= 0x39 && isIndex(k)) any = true;
  }
  if (!any) return;
  const indexes = keys.filter(isIndex).sort((a, b) => Number(a) - Number(b));
  const rest = keys.filter((k) => !isIndex(k));
  keys.splice(0, keys.length, ...indexes, ...rest);
}

/**
 * Resource attributes of a batch's rows: records of one resource share its attribute object (the
 * decoders give every record of a resource block the same one), so a run of them copies the
 * map's bytes written for the first instead of sorting and writing them again.
 */
class ResourceRun {
  private resource: Attributes | undefined;
  private start = 0;
  private end = 0;

  write(w: JsonBytes, resource: Attributes): void {
    if (resource === this.resource) return w.repeat(this.start, this.end);
    this.resource = resource;
    this.start = w.pos;
    writeStringMap(w, resource);
    this.end = w.pos;
  }
}

/**
 * Sizes the buffer a batch's rows are written into from the bytes a row of that table took in
 * the last batch, with a quarter to spare: one allocation for most batches, and a small batch
 * takes a small buffer. A longer batch grows its buffer (JsonBytes copies it once per doubling).
 */
class RowSizer {
  private bytesPerRow = 512;

  writer(rows: number): JsonBytes {
    return new JsonBytes(Math.ceil(rows * this.bytesPerRow * 1.25) + 1024);
  }

  /** Notes what `rows` rows took (`bytes`), for the next batch. */
  took(bytes: number, rows: number): void {
    if (rows > 0) this.bytesPerRow = Math.max(64, Math.ceil(bytes / rows));
  }
}

/** Members of a JSON array, comma-separated (the brackets are the caller's). */
function writeMembers<T>(w: JsonBytes, items: readonly T[], write: (w: JsonBytes, item: T) => void): void {
  for (let i = 0; i < items.length; i++) {
    if (i > 0) w.byte(0x2c);
    write(w, items[i]!);
  }
}

const EMPTY_MAP = jsonPiece('{}');
const K = {
  timestamp: jsonPiece('{"Timestamp":'),
  observed: jsonPiece(',"ObservedTimestamp":'),
  traceId: jsonPiece(',"TraceId":'),
  spanId: jsonPiece(',"SpanId":'),
  flags: jsonPiece(',"TraceFlags":'),
  severityText: jsonPiece(',"SeverityText":'),
  severityNumber: jsonPiece(',"SeverityNumber":'),
  service: jsonPiece(',"ServiceName":'),
  body: jsonPiece(',"Body":'),
  resource: jsonPiece(',"ResourceAttributes":'),
  scopeName: jsonPiece(',"ScopeName":'),
  scopeVersion: jsonPiece(',"ScopeVersion":'),
  scopeAttributes: jsonPiece(',"ScopeAttributes":'),
  logAttributes: jsonPiece(',"LogAttributes":'),
  eventName: jsonPiece(',"EventName":'),
  eventId: jsonPiece(',"EventId":'),
  asset: jsonPiece(',"Asset":'),
  title: jsonPiece(',"Title":'),
  eventType: jsonPiece(',"EventType":'),
  fingerprint: jsonPiece(',"Fingerprint":'),
  tenant: jsonPiece(',"Tenant":'),
  source: jsonPiece(',"Source":'),
  end: jsonPiece('}\n'),
};

const logSizer = new RowSizer();

/**
 * The rows of a batch as UTF-8 bytes, as one JSON.stringify per record would write them, but
 * written without a string: 1.7 → 1.0 µs a row for telemetrygen's records
 * (docs/benchmarks.md, "Log rows written as bytes"). A run of records sharing a resource copies
 * its map's bytes instead of writing them again.
 */
export function logRowsBytes(batch: readonly VigilEvent[]): Buffer {
  const w = logSizer.writer(batch.length);
  const resources = new ResourceRun();
  for (const e of batch) {
    const ts = e.timeUnixNano === 0n ? e.observedTimeUnixNano : e.timeUnixNano;
    w.piece(K.timestamp);
    w.ascii(ts.toString());
    w.piece(K.observed);
    w.ascii(e.observedTimeUnixNano.toString());
    w.piece(K.traceId);
    w.string(e.traceId);
    w.piece(K.spanId);
    w.string(e.spanId);
    w.piece(K.flags);
    w.number(e.flags & 0xff);
    w.piece(K.severityText);
    w.string(e.severityText);
    w.piece(K.severityNumber);
    w.number(e.severityNumber);
    w.piece(K.service);
    w.string(e.service || (typeof e.resource['service.name'] === 'string' ? e.resource['service.name'] : ''));
    w.piece(K.body);
    w.string(typeof e.body === 'string' ? e.body : attrToString(e.body));
    w.piece(K.resource);
    resources.write(w, e.resource);
    w.piece(K.scopeName);
    w.string(e.scope?.name ?? '');
    w.piece(K.scopeVersion);
    w.string(e.scope?.version ?? '');
    w.piece(K.scopeAttributes);
    writeStringMap(w, e.scope?.attributes);
    w.piece(K.logAttributes);
    writeStringMap(w, e.attributes);
    w.piece(K.eventName);
    w.string(typeof e.attributes['event.name'] === 'string' ? e.attributes['event.name'] : '');
    w.piece(K.eventId);
    w.string(e.id);
    w.piece(K.asset);
    w.string(e.asset);
    w.piece(K.title);
    w.string(e.title);
    w.piece(K.eventType);
    w.string(e.type);
    w.piece(K.fingerprint);
    w.string(e.fingerprint);
    w.piece(K.tenant);
    w.string(e.tenant);
    w.piece(K.source);
    w.string(e.source);
    w.piece(K.end);
  }
  logSizer.took(w.pos, batch.length);
  return w.bytes();
}

/** OTel's traceutil names, which the exporter writes and Grafana's trace views read. */
export const SPAN_KIND = ['Unspecified', 'Internal', 'Server', 'Client', 'Producer', 'Consumer'];
export const STATUS_CODE = ['Unset', 'Ok', 'Error'];

const S = {
  timestamp: jsonPiece('{"Timestamp":'),
  duration: jsonPiece(',"Duration":'),
  eventTimes: jsonPiece(',"Events.Timestamp":['),
  traceId: jsonPiece('],"TraceId":'),
  spanId: jsonPiece(',"SpanId":'),
  parentSpanId: jsonPiece(',"ParentSpanId":'),
  traceState: jsonPiece(',"TraceState":'),
  name: jsonPiece(',"SpanName":'),
  kind: jsonPiece(',"SpanKind":'),
  service: jsonPiece(',"ServiceName":'),
  resource: jsonPiece(',"ResourceAttributes":'),
  scopeName: jsonPiece(',"ScopeName":'),
  scopeVersion: jsonPiece(',"ScopeVersion":'),
  attributes: jsonPiece(',"SpanAttributes":'),
  statusCode: jsonPiece(',"StatusCode":'),
  statusMessage: jsonPiece(',"StatusMessage":'),
  eventNames: jsonPiece(',"Events.Name":['),
  eventAttributes: jsonPiece('],"Events.Attributes":['),
  linkTraceIds: jsonPiece('],"Links.TraceId":['),
  linkSpanIds: jsonPiece('],"Links.SpanId":['),
  linkTraceStates: jsonPiece('],"Links.TraceState":['),
  linkAttributes: jsonPiece('],"Links.Attributes":['),
  tenant: jsonPiece('],"Tenant":'),
  end: jsonPiece('}\n'),
};

const spanSizer = new RowSizer();

/** The rows of a batch of spans as UTF-8 bytes, as one JSON.stringify per span would write them. */
export function spanRowsBytes(batch: readonly Span[]): Buffer {
  const w = spanSizer.writer(batch.length);
  const resources = new ResourceRun();
  for (const s of batch) {
    w.piece(S.timestamp);
    w.ascii(s.startTimeUnixNano.toString());
    w.piece(S.duration);
    w.ascii((s.endTimeUnixNano > s.startTimeUnixNano ? s.endTimeUnixNano - s.startTimeUnixNano : 0n).toString());
    w.piece(S.eventTimes);
    writeMembers(w, s.events, (w, e) => w.ascii(e.timeUnixNano.toString()));
    w.piece(S.traceId);
    w.string(s.traceId);
    w.piece(S.spanId);
    w.string(s.spanId);
    w.piece(S.parentSpanId);
    w.string(s.parentSpanId);
    w.piece(S.traceState);
    w.string(s.traceState);
    w.piece(S.name);
    w.string(s.name);
    w.piece(S.kind);
    w.string(SPAN_KIND[s.kind] ?? 'Unspecified');
    w.piece(S.service);
    w.string(s.service || (typeof s.resource['service.name'] === 'string' ? s.resource['service.name'] : ''));
    w.piece(S.resource);
    resources.write(w, s.resource);
    w.piece(S.scopeName);
    w.string(s.scope?.name ?? '');
    w.piece(S.scopeVersion);
    w.string(s.scope?.version ?? '');
    w.piece(S.attributes);
    writeStringMap(w, s.attributes);
    w.piece(S.statusCode);
    w.string(STATUS_CODE[s.statusCode] ?? 'Unset');
    w.piece(S.statusMessage);
    w.string(s.statusMessage);
    w.piece(S.eventNames);
    writeMembers(w, s.events, (w, e) => w.string(e.name));
    w.piece(S.eventAttributes);
    writeMembers(w, s.events, (w, e) => writeStringMap(w, e.attributes));
    w.piece(S.linkTraceIds);
    writeMembers(w, s.links, (w, l) => w.string(l.traceId));
    w.piece(S.linkSpanIds);
    writeMembers(w, s.links, (w, l) => w.string(l.spanId));
    w.piece(S.linkTraceStates);
    writeMembers(w, s.links, (w, l) => w.string(l.traceState));
    w.piece(S.linkAttributes);
    writeMembers(w, s.links, (w, l) => writeStringMap(w, l.attributes));
    w.piece(S.tenant);
    w.string(s.tenant);
    w.piece(S.end);
  }
  spanSizer.took(w.pos, batch.length);
  return w.bytes();
}

/** One metric point; which table it belongs to is `p.kind`. */
const M = {
  resource: jsonPiece('{"ResourceAttributes":'),
  scopeName: jsonPiece(',"ScopeName":'),
  scopeVersion: jsonPiece(',"ScopeVersion":'),
  scopeAttributes: jsonPiece(',"ScopeAttributes":'),
  service: jsonPiece(',"ServiceName":'),
  name: jsonPiece(',"MetricName":'),
  description: jsonPiece(',"MetricDescription":'),
  unit: jsonPiece(',"MetricUnit":'),
  attributes: jsonPiece(',"Attributes":'),
  start: jsonPiece(',"StartTimeUnix":'),
  time: jsonPiece(',"TimeUnix":'),
  flags: jsonPiece(',"Flags":'),
  tenant: jsonPiece(',"Tenant":'),
  value: jsonPiece(',"Value":'),
  count: jsonPiece(',"Count":'),
  sum: jsonPiece(',"Sum":'),
  bucketCounts: jsonPiece(',"BucketCounts":['),
  explicitBounds: jsonPiece('],"ExplicitBounds":['),
  afterBounds: jsonPiece(']'),
  scale: jsonPiece(',"Scale":'),
  zeroCount: jsonPiece(',"ZeroCount":'),
  positiveOffset: jsonPiece(',"PositiveOffset":'),
  positiveBucketCounts: jsonPiece(',"PositiveBucketCounts":['),
  negativeOffset: jsonPiece('],"NegativeOffset":'),
  negativeBucketCounts: jsonPiece(',"NegativeBucketCounts":['),
  min: jsonPiece(',"Min":'),
  max: jsonPiece(',"Max":'),
  temporality: jsonPiece(',"AggregationTemporality":'),
  monotonic: jsonPiece(',"IsMonotonic":'),
  quantiles: jsonPiece(',"ValueAtQuantiles.Quantile":['),
  quantileValues: jsonPiece('],"ValueAtQuantiles.Value":['),
  exemplarAttributes: jsonPiece(',"Exemplars.FilteredAttributes":['),
  exemplarTimes: jsonPiece('],"Exemplars.TimeUnix":['),
  exemplarValues: jsonPiece('],"Exemplars.Value":['),
  exemplarSpanIds: jsonPiece('],"Exemplars.SpanId":['),
  exemplarTraceIds: jsonPiece('],"Exemplars.TraceId":['),
  end: jsonPiece('}\n'),
  endArray: jsonPiece(']}\n'),
  true: jsonPiece('true'),
  false: jsonPiece('false'),
};

const metricSizer = new RowSizer();
const writeNumber = (w: JsonBytes, n: number): void => w.number(n);

/** The exemplar columns, from `,"Exemplars.FilteredAttributes":[` to the TraceId array's last member. */
function writeExemplars(w: JsonBytes, ex: readonly Exemplar[]): void {
  w.piece(M.exemplarAttributes);
  writeMembers(w, ex, (w, e) => writeStringMap(w, e.filteredAttributes));
  w.piece(M.exemplarTimes);
  writeMembers(w, ex, (w, e) => w.number(secs(e.timeUnixNano)));
  w.piece(M.exemplarValues);
  writeMembers(w, ex, (w, e) => w.number(e.value));
  w.piece(M.exemplarSpanIds);
  writeMembers(w, ex, (w, e) => w.string(e.spanId));
  w.piece(M.exemplarTraceIds);
  writeMembers(w, ex, (w, e) => w.string(e.traceId));
  w.byte(0x5d);
}

function writeCountSum(w: JsonBytes, p: HistogramPoint | ExponentialHistogramPoint | SummaryPoint): void {
  w.piece(M.count);
  w.number(p.count);
  w.piece(M.sum);
  w.number(p.sum);
}

/** A histogram's columns after its buckets: exemplars, Min, Max and AggregationTemporality. */
function writeHistogramTail(w: JsonBytes, p: HistogramPoint | ExponentialHistogramPoint): void {
  writeExemplars(w, p.exemplars);
  w.piece(M.min);
  w.number(p.min ?? 0);
  w.piece(M.max);
  w.number(p.max ?? 0);
  w.piece(M.temporality);
  w.number(p.temporality);
}

/** Writes the row of one metric point, as one JSON.stringify of the point would write it. */
function writeMetricRow(w: JsonBytes, p: MetricPoint, resources: ResourceRun): void {
  w.piece(M.resource);
  resources.write(w, p.resource);
  w.piece(M.scopeName);
  w.string(p.scope?.name ?? '');
  w.piece(M.scopeVersion);
  w.string(p.scope?.version ?? '');
  w.piece(M.scopeAttributes);
  writeStringMap(w, p.scope?.attributes);
  w.piece(M.service);
  w.string(p.service || (typeof p.resource['service.name'] === 'string' ? p.resource['service.name'] : ''));
  w.piece(M.name);
  w.string(p.name);
  w.piece(M.description);
  w.string(p.description);
  w.piece(M.unit);
  w.string(p.unit);
  w.piece(M.attributes);
  writeStringMap(w, p.attributes);
  w.piece(M.start);
  w.number(secs(p.startTimeUnixNano));
  w.piece(M.time);
  w.number(secs(p.timeUnixNano));
  w.piece(M.flags);
  w.number(p.flags);
  w.piece(M.tenant);
  w.string(p.tenant);
  switch (p.kind) {
    case 'gauge':
      w.piece(M.value);
      w.number(p.value);
      writeExemplars(w, p.exemplars);
      break;
    case 'sum':
      w.piece(M.value);
      w.number(p.value);
      writeExemplars(w, p.exemplars);
      w.piece(M.temporality);
      w.number(p.temporality);
      w.piece(M.monotonic);
      w.piece(p.isMonotonic ? M.true : M.false);
      break;
    case 'histogram':
      writeCountSum(w, p);
      w.piece(M.bucketCounts);
      writeMembers(w, p.bucketCounts, writeNumber);
      w.piece(M.explicitBounds);
      writeMembers(w, p.explicitBounds, writeNumber);
      w.piece(M.afterBounds);
      writeHistogramTail(w, p);
      break;
    case 'exponential_histogram':
      writeCountSum(w, p);
      w.piece(M.scale);
      w.number(p.scale);
      w.piece(M.zeroCount);
      w.number(p.zeroCount);
      w.piece(M.positiveOffset);
      w.number(p.positiveOffset);
      w.piece(M.positiveBucketCounts);
      writeMembers(w, p.positiveBucketCounts, writeNumber);
      w.piece(M.negativeOffset);
      w.number(p.negativeOffset);
      w.piece(M.negativeBucketCounts);
      writeMembers(w, p.negativeBucketCounts, writeNumber);
      w.piece(M.afterBounds);
      writeHistogramTail(w, p);
      break;
    case 'summary':
      writeCountSum(w, p);
      w.piece(M.quantiles);
      writeMembers(w, p.quantiles, (w, q) => w.number(q.quantile));
      w.piece(M.quantileValues);
      writeMembers(w, p.quantiles, (w, q) => w.number(q.value));
      return w.piece(M.endArray);
  }
  w.piece(M.end);
}

/**
 * A batch's metric points as rows in one buffer per kind (each kind has its table), with the
 * rows each holds, as one JSON.stringify per point would write them.
 */
export function metricRowsBytes(batch: readonly MetricPoint[]): Map<MetricKind, { data: Buffer; rows: number }> {
  const writers = new Map<MetricKind, { w: JsonBytes; resources: ResourceRun; rows: number }>();
  for (const p of batch) {
    let k = writers.get(p.kind);
    if (!k) {
      k = { w: metricSizer.writer(batch.length), resources: new ResourceRun(), rows: 0 };
      writers.set(p.kind, k);
    }
    writeMetricRow(k.w, p, k.resources);
    k.rows++;
  }
  const out = new Map<MetricKind, { data: Buffer; rows: number }>();
  let bytes = 0;
  for (const [kind, k] of writers) {
    out.set(kind, { data: k.w.bytes(), rows: k.rows });
    bytes += k.w.pos;
  }
  metricSizer.took(bytes, batch.length);
  return out;
}

export function incidentRow(c: IncidentChange): string {
  const i = c.incident;
  return (
    JSON.stringify({
      Key: i.key,
      Id: i.id,
      Version: i.version,
      Rule: i.rule,
      RuleKind: i.ruleKind,
      Labels: i.labels,
      Title: i.title,
      Status: i.status,
      SeverityNumber: i.severityNumber,
      SeverityText: i.severityText,
      Suppressed: i.suppressed,
      SuppressedBy: i.suppressedBy,
      OpenedAt: i.openedAtMs,
      UpdatedAt: i.updatedAtMs,
      ResolvedAt: i.resolvedAtMs,
      FirstSeen: i.firstSeenMs,
      LastSeen: i.lastSeenMs,
      EventCount: i.eventCount,
      SampleEventIds: i.sampleEventIds,
      LastEventType: i.lastEventType,
      Tenant: i.tenant,
      Asset: i.asset,
      Service: i.service,
      ChangeKind: c.kind,
      ChangeReason: c.reason,
      'Audit.At': i.audit.map((a) => a.atMs),
      'Audit.Kind': i.audit.map((a) => a.kind),
      'Audit.Reason': i.audit.map((a) => a.reason),
      MergedIds: i.mergedIds ?? [],
      MergedInto: i.mergedInto ?? '',
    }) + '\n'
  );
}

/** The change itself, once per causing event, so "which incidents did event X feed" is one lookup. */
export function incidentEventRows(c: IncidentChange): string {
  const i = c.incident;
  const base = {
    IncidentKey: i.key,
    IncidentId: i.id,
    Version: i.version,
    ChangedAt: c.atMs,
    ChangeKind: c.kind,
    Reason: c.reason,
    Status: i.status,
    Tenant: i.tenant,
  };
  if (c.eventIds.length === 0) return JSON.stringify({ ...base, EventId: '' }) + '\n';
  let out = '';
  for (const id of c.eventIds) out += JSON.stringify({ ...base, EventId: id }) + '\n';
  return out;
}
