/**
 * collector.metrics.v1.ExportMetricsServiceRequest in protobuf → points, read field by field
 * (each `case` is a tag, field number << 3 | wire type, from opentelemetry/proto/metrics/v1/metrics.proto).
 */
import type {
  Exemplar,
  ExponentialHistogramPoint,
  HistogramPoint,
  MetricPoint,
  SummaryPoint,
  Temporality,
} from '../../model/metric.ts';
import { decodeKeyValue } from './attributes.ts';
import { walkProtoRequest, type Checkpoint } from '../requestWalk.ts';
import { Rejections, type Decoded } from '../rejections.ts';
import {
  checkEnd,
  fixed64,
  fixed64Number,
  hexBytes,
  packedDoubles,
  packedFixed64,
  packedUint64,
  readString,
  sfixed64,
  skip,
  subEnd,
  type Reader,
} from './wireReader.ts';
import { acceptPoints, basePoint, finishPoints, type Kind, type MetricInfo } from '../metrics.ts';

function decodeExemplar(r: Reader, end: number): Exemplar {
  const e: Exemplar = { timeUnixNano: 0n, value: 0, spanId: '', traceId: '', filteredAttributes: {} };
  while (r.pos < end) {
    const tag = r.uint32();
    switch (tag) {
      case 58: // filtered_attributes = 7, LEN
        decodeKeyValue(r, subEnd(r, end), e.filteredAttributes, 0);
        break;
      case 17: // time_unix_nano = 2, I64
        e.timeUnixNano = fixed64(r);
        break;
      case 25: // as_double = 3, I64
        e.value = r.double();
        break;
      case 49: // as_int = 6, I64
        e.value = Number(sfixed64(r));
        break;
      case 34: // span_id = 4, LEN
        e.spanId = hexBytes(r, end);
        break;
      case 42: // trace_id = 5, LEN
        e.traceId = hexBytes(r, end);
        break;
      default:
        skip(r, tag);
    }
  }
  checkEnd(r, end);
  return e;
}

/** Fields shared by every data point kind, by their (kind-specific) tags; false when not one of them. */
function commonField(
  r: Reader,
  tag: number,
  end: number,
  p: MetricPoint,
  attrsTag: number,
  exemplarsTag: number,
  flagsTag: number,
): boolean {
  // start_time_unix_nano = 2 (17, I64), time_unix_nano = 3 (25, I64); the others' numbers differ by kind
  if (tag === attrsTag) decodeKeyValue(r, subEnd(r, end), p.attributes, 0);
  else if (tag === 17) p.startTimeUnixNano = fixed64(r);
  else if (tag === 25) p.timeUnixNano = fixed64(r);
  else if (tag === exemplarsTag) p.exemplars.push(decodeExemplar(r, subEnd(r, end)));
  else if (tag === flagsTag) p.flags = r.uint32();
  else return false;
  return true;
}

function decodeNumberPoint(r: Reader, end: number, kind: 'gauge' | 'sum'): MetricPoint {
  const p = basePoint(kind) as MetricPoint & { value: number };
  while (r.pos < end) {
    const tag = r.uint32();
    if (commonField(r, tag, end, p, 58, 42, 64)) continue;
    // as_double = 4 (33, I64), as_int = 6 (49, I64)
    if (tag === 33) p.value = r.double();
    else if (tag === 49) p.value = Number(sfixed64(r));
    else skip(r, tag);
  }
  checkEnd(r, end);
  return p;
}

function decodeHistogramPoint(r: Reader, end: number): HistogramPoint {
  const p = basePoint('histogram') as HistogramPoint;
  while (r.pos < end) {
    const tag = r.uint32();
    if (commonField(r, tag, end, p, 74, 66, 80)) continue;
    switch (tag) {
      case 33: // count = 4, I64
        p.count = fixed64Number(r);
        break;
      case 41: // sum = 5, I64
        p.sum = r.double();
        break;
      case 49: // bucket_counts = 6, I64
      case 50: // bucket_counts = 6, LEN
        packedFixed64(r, tag, end, p.bucketCounts);
        break;
      case 57: // explicit_bounds = 7, I64
      case 58: // explicit_bounds = 7, LEN
        packedDoubles(r, tag, end, p.explicitBounds);
        break;
      case 89: // min = 11, I64
        p.min = r.double();
        break;
      case 97: // max = 12, I64
        p.max = r.double();
        break;
      default:
        skip(r, tag);
    }
  }
  checkEnd(r, end);
  return p;
}

function decodeBuckets(r: Reader, end: number, counts: number[]): number {
  let offset = 0;
  while (r.pos < end) {
    const tag = r.uint32();
    // offset = 1 (8, VARINT), bucket_counts = 2 (18 packed, 16 not)
    if (tag === 8) offset = r.sint32();
    else if (tag === 16 || tag === 18) packedUint64(r, tag, end, counts);
    else skip(r, tag);
  }
  checkEnd(r, end);
  return offset;
}

function decodeExpHistogramPoint(r: Reader, end: number): ExponentialHistogramPoint {
  const p = basePoint('exponential_histogram') as ExponentialHistogramPoint;
  while (r.pos < end) {
    const tag = r.uint32();
    if (commonField(r, tag, end, p, 10, 90, 80)) continue;
    switch (tag) {
      case 33: // count = 4, I64
        p.count = fixed64Number(r);
        break;
      case 41: // sum = 5, I64
        p.sum = r.double();
        break;
      case 48: // scale = 6, VARINT
        p.scale = r.sint32();
        break;
      case 57: // zero_count = 7, I64
        p.zeroCount = fixed64Number(r);
        break;
      case 66: // positive = 8, LEN
        p.positiveOffset = decodeBuckets(r, subEnd(r, end), p.positiveBucketCounts);
        break;
      case 74: // negative = 9, LEN
        p.negativeOffset = decodeBuckets(r, subEnd(r, end), p.negativeBucketCounts);
        break;
      case 97: // min = 12, I64
        p.min = r.double();
        break;
      case 105: // max = 13, I64
        p.max = r.double();
        break;
      case 113: // zero_threshold = 14, I64
        p.zeroThreshold = r.double();
        break;
      default:
        skip(r, tag);
    }
  }
  checkEnd(r, end);
  return p;
}

function decodeSummaryPoint(r: Reader, end: number): SummaryPoint {
  const p = basePoint('summary') as SummaryPoint;
  while (r.pos < end) {
    const tag = r.uint32();
    if (commonField(r, tag, end, p, 58, -1, 64)) continue;
    // count = 4 (33, I64), sum = 5 (41, I64), quantile_values = 6 (50, LEN)
    if (tag === 33) p.count = fixed64Number(r);
    else if (tag === 41) p.sum = r.double();
    else if (tag === 50) {
      const e = subEnd(r, end);
      const q = { quantile: 0, value: 0 };
      while (r.pos < e) {
        const t = r.uint32();
        // quantile = 1 (9, I64), value = 2 (17, I64)
        if (t === 9) q.quantile = r.double();
        else if (t === 17) q.value = r.double();
        else skip(r, t);
      }
      checkEnd(r, e);
      p.quantiles.push(q);
    } else skip(r, tag);
  }
  checkEnd(r, end);
  return p;
}

/** Gauge, Sum, Histogram, ExponentialHistogram or Summary message body. */
function decodeData(r: Reader, end: number, kind: Kind, info: MetricInfo, out: MetricPoint[]): void {
  while (r.pos < end) {
    const tag = r.uint32();
    // data_points = 1 (10, LEN), aggregation_temporality = 2 (16, VARINT), is_monotonic = 3 (24, VARINT)
    if (tag === 10) {
      const e = subEnd(r, end);
      if (kind === 'gauge' || kind === 'sum') out.push(decodeNumberPoint(r, e, kind));
      else if (kind === 'histogram') out.push(decodeHistogramPoint(r, e));
      else if (kind === 'exponential_histogram') out.push(decodeExpHistogramPoint(r, e));
      else out.push(decodeSummaryPoint(r, e));
    } else if (tag === 16 && kind !== 'gauge' && kind !== 'summary') info.temporality = r.int32() as Temporality;
    else if (tag === 24 && kind === 'sum') info.isMonotonic = r.bool();
    else skip(r, tag);
  }
  checkEnd(r, end);
}

/**
 * Metric's data oneof by tag: gauge = 5, sum = 7, histogram = 9, exponential_histogram = 10,
 * summary = 11, each LEN. A switch, not an object keyed by tag: V8 keeps such sparse integer
 * keys in a dictionary, whose lookup hashed every tag of every metric (decoding telemetrygen's
 * Sum metrics took about 7 % longer).
 */
function dataKind(tag: number): Kind | undefined {
  switch (tag) {
    case 42:
      return 'gauge';
    case 58:
      return 'sum';
    case 74:
      return 'histogram';
    case 82:
      return 'exponential_histogram';
    case 90:
      return 'summary';
    default:
      return undefined;
  }
}

function decodeMetric(r: Reader, end: number, out: MetricPoint[], rejected: Rejections): void {
  const from = out.length;
  const info: MetricInfo = { name: '', description: '', unit: '', temporality: 0, isMonotonic: false };
  let hasData = false;
  while (r.pos < end) {
    const tag = r.uint32();
    // name = 1 (10), description = 2 (18), unit = 3 (26), each LEN; the data oneof in dataKind
    const kind = dataKind(tag);
    if (kind) {
      hasData = true;
      decodeData(r, subEnd(r, end), kind, info, out);
    } else if (tag === 10) info.name = readString(r);
    else if (tag === 18) info.description = readString(r);
    else if (tag === 26) info.unit = readString(r);
    else skip(r, tag);
  }
  checkEnd(r, end);
  if (!hasData)
    rejected.add(`metric "${info.name}" has no data (gauge, sum, histogram, exponential histogram or summary)`);
  finishPoints(out, from, info);
}

/** collector.metrics.v1.ExportMetricsServiceRequest (protobuf) → metric points. */
export function decodeMetricsProto(r: Reader, checkpoint?: Checkpoint): Decoded<MetricPoint> {
  const items: MetricPoint[] = [];
  const rejected = new Rejections();
  walkProtoRequest<MetricPoint>(
    r,
    (rd, end, out) => decodeMetric(rd, end, out, rejected),
    acceptPoints(items, rejected, 'bytes'),
    checkpoint,
  );
  return { items, rejected };
}
