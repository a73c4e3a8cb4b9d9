import { checkEnd, createReader, skip, subEnd, type Reader } from './wireReader.ts';

/**
 * Record counts taken before any record is allocated. An empty log record is 2 bytes on the
 * wire and about 3 KB once decoded, so the size limits alone let one request fill the heap;
 * these walks only read tags and lengths (no strings, no objects) so the receiver can refuse
 * the request first.
 */

/** ExportMetricsServiceRequest nests points one level deeper: Metric → Gauge/Sum/… → data_points = 1. */
const METRIC_DATA_TAGS = new Set([42, 58, 74, 82, 90]);

function countDataPoints(r: Reader, end: number): number {
  let n = 0;
  while (r.pos < end) {
    const tag = r.uint32();
    if (tag === 10) {
      r.pos = subEnd(r, end);
      n++;
    } else skip(r, tag);
  }
  checkEnd(r, end);
  return n;
}

function countMetricPoints(r: Reader, end: number): number {
  let n = 0;
  while (r.pos < end) {
    const tag = r.uint32();
    if (METRIC_DATA_TAGS.has(tag)) n += countDataPoints(r, subEnd(r, end));
    else skip(r, tag);
  }
  checkEnd(r, end);
  return n;
}

/**
 * Log records, spans or metric data points in an Export*ServiceRequest (protobuf), by the
 * layout walkProtoRequest decodes: Resource* = 1 → Scope* = 2 → item = 2. Throws
 * MalformedProtobufError (or protobufjs's RangeError) on a truncated or lying message.
 */
export function countProtoRecords(body: Buffer, metrics: boolean): number {
  const r = createReader(body);
  const end = r.len;
  let n = 0;
  while (r.pos < end) {
    const tag = r.uint32();
    if (tag !== 10) {
      skip(r, tag);
      continue;
    }
    const resourceEnd = subEnd(r, end);
    while (r.pos < resourceEnd) {
      const t = r.uint32();
      if (t !== 18) {
        skip(r, t);
        continue;
      }
      const scopeEnd = subEnd(r, resourceEnd);
      while (r.pos < scopeEnd) {
        const st = r.uint32();
        if (st !== 18) {
          skip(r, st);
          continue;
        }
        const itemEnd = subEnd(r, scopeEnd);
        if (metrics) n += countMetricPoints(r, itemEnd);
        else {
          r.pos = itemEnd;
          n++;
        }
      }
      checkEnd(r, scopeEnd);
    }
    checkEnd(r, resourceEnd);
  }
  return n;
}

const list = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
const field = (v: unknown, key: string): unknown => (v !== null && typeof v === 'object' ? (v as Record<string, unknown>)[key] : undefined);

/** OTLP/JSON metric kinds as the JSON mapping spells them. */
const JSON_METRIC_KINDS = ['gauge', 'sum', 'histogram', 'exponentialHistogram', 'summary'];

/**
 * The same count for a parsed OTLP/JSON request: list lengths only. Values of the wrong type
 * count as nothing here; the decoder reports them.
 */
export function countJsonRecords(doc: Record<string, unknown>, keys: readonly [string, string, string], metrics: boolean): number {
  const [resourceKey, scopeKey, itemKey] = keys;
  let n = 0;
  for (const resource of list(doc[resourceKey])) {
    for (const scope of list(field(resource, scopeKey))) {
      const items = list(field(scope, itemKey));
      if (!metrics) {
        n += items.length;
        continue;
      }
      for (const metric of items) {
        for (const kind of JSON_METRIC_KINDS) n += list(field(field(metric, kind), 'dataPoints')).length;
      }
    }
  }
  return n;
}
