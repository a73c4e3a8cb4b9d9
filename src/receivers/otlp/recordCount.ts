import { createReader, eachField } from './wireReader.ts';

/**
 * Record counts taken before any record is allocated. An empty log record is 2 bytes on the
 * wire and about 3 KB once decoded, so the size limits alone let one request fill the heap;
 * these walks only read tags and lengths (no strings, no objects) so the receiver can refuse
 * the request first.
 */

/** ExportMetricsServiceRequest nests points one level deeper: Metric → Gauge/Sum/… → data_points = 1. */
const METRIC_DATA_TAGS = new Set([42, 58, 74, 82, 90]);
const isTag = (t: number) => (tag: number) => tag === t;
/** Field 1 (length-delimited): a resource block in the request, a data point in a Gauge/Sum/…. */
const FIELD_1 = isTag(10);
/** Field 2 (length-delimited): a scope block in a resource block, an item in a scope block. */
const FIELD_2 = isTag(18);

/** Thrown inside a walk to leave it once the count is past the cap: the rest is never read. */
class PastCap {}
const PAST_CAP = new PastCap();

/**
 * Log records, spans or metric data points in an Export*ServiceRequest (protobuf), by the
 * layout walkProtoRequest decodes: Resource* = 1 → Scope* = 2 → item = 2. Counting stops once
 * it passes `stopAbove` (the request's cap) and returns what it has, so a body of millions of
 * 2-byte records costs as much as one just over the cap (9 M records took 140 ms of the event
 * loop to count whole). Throws MalformedProtobufError (or protobufjs's RangeError) on a
 * truncated or lying message within what it read.
 */
export function countProtoRecords(body: Buffer, metrics: boolean, stopAbove = Infinity): number {
  const r = createReader(body);
  let n = 0;
  const counted = () => {
    if (++n > stopAbove) throw PAST_CAP;
  };
  const countItem = metrics
    ? (itemEnd: number) =>
        eachField(
          r,
          itemEnd,
          (t) => METRIC_DATA_TAGS.has(t),
          (dataEnd) => eachField(r, dataEnd, FIELD_1, (pointEnd) => ((r.pos = pointEnd), counted())),
        )
    : (itemEnd: number) => ((r.pos = itemEnd), counted());
  try {
    eachField(r, r.len, FIELD_1, (resourceEnd) =>
      eachField(r, resourceEnd, FIELD_2, (scopeEnd) => eachField(r, scopeEnd, FIELD_2, countItem)),
    );
  } catch (err) {
    if (err !== PAST_CAP) throw err;
  }
  return n;
}

const list = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
const field = (v: unknown, key: string): unknown =>
  v !== null && typeof v === 'object' ? (v as Record<string, unknown>)[key] : undefined;

/** OTLP/JSON metric kinds as the JSON mapping spells them. */
const JSON_METRIC_KINDS = ['gauge', 'sum', 'histogram', 'exponentialHistogram', 'summary'];

/**
 * The same count for a parsed OTLP/JSON request: list lengths only. Values of the wrong type
 * count as nothing here; the decoder reports them.
 */
export function countJsonRecords(
  doc: Record<string, unknown>,
  keys: readonly [string, string, string],
  metrics: boolean,
): number {
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
