import type { Attributes } from '../../model/attributes.ts';
import type { InstrumentationScope } from '../../model/event.ts';
import type {
  Exemplar,
  ExponentialHistogramPoint,
  HistogramPoint,
  MetricPoint,
  SummaryPoint,
  Temporality,
} from '../../model/metric.ts';
import { decodeKeyValue } from './attributesProto.ts';
import { walkJsonRequest, walkProtoRequest, type Checkpoint, type ScopeSink } from './requestWalk.ts';
import {
  jsonAttributes,
  jsonBool,
  jsonCount,
  jsonDouble,
  jsonEnum,
  jsonId,
  jsonInt32,
  jsonInt64,
  jsonList,
  jsonMessage,
  jsonString,
  jsonTime,
  RecordError,
} from './jsonValues.ts';
import { serviceOf } from './modelFields.ts';
import { idProblem, Rejections, type Decoded } from './rejections.ts';
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

type Kind = MetricPoint['kind'];

/** Every point starts with the same fields in the same order, so V8 gives them one shape per kind. */
function basePoint(kind: Kind): MetricPoint {
  const p = {
    kind,
    name: '',
    description: '',
    unit: '',
    resource: {} as Attributes,
    scope: undefined as InstrumentationScope | undefined,
    attributes: {} as Attributes,
    startTimeUnixNano: 0n,
    timeUnixNano: 0n,
    flags: 0,
    exemplars: [] as Exemplar[],
    service: '',
    tenant: '',
  };
  switch (kind) {
    case 'gauge':
      return { ...p, kind, value: 0 };
    case 'sum':
      return { ...p, kind, value: 0, temporality: 0, isMonotonic: false };
    case 'histogram':
      return { ...p, kind, count: 0, sum: 0, bucketCounts: [], explicitBounds: [], temporality: 0 };
    case 'exponential_histogram':
      return {
        ...p,
        kind,
        count: 0,
        sum: 0,
        scale: 0,
        zeroCount: 0,
        zeroThreshold: 0,
        positiveOffset: 0,
        positiveBucketCounts: [],
        negativeOffset: 0,
        negativeBucketCounts: [],
        temporality: 0,
      };
    case 'summary':
      return { ...p, kind, count: 0, sum: 0, quantiles: [] };
  }
}

interface MetricInfo {
  name: string;
  description: string;
  unit: string;
  temporality: Temporality;
  isMonotonic: boolean;
}

/** Why a point cannot be stored, or undefined. */
function pointProblem(p: MetricPoint): string | undefined {
  if (p.name === '') return 'metric name is required';
  if (p.kind === 'histogram' && p.bucketCounts.length !== 0 && p.bucketCounts.length !== p.explicitBounds.length + 1) {
    return `metric "${p.name}": histogram has ${p.bucketCounts.length} bucket counts for ${p.explicitBounds.length} bounds (needs bounds + 1)`;
  }
  for (const e of p.exemplars) {
    const bad = idProblem('exemplar traceId', e.traceId, 16, true) ?? idProblem('exemplar spanId', e.spanId, 8, true);
    if (bad) return `metric "${p.name}": ${bad}`;
  }
  return undefined;
}

function finishPoints(points: MetricPoint[], from: number, info: MetricInfo): void {
  for (let i = from; i < points.length; i++) {
    const p = points[i]!;
    p.name = info.name;
    p.description = info.description;
    p.unit = info.unit;
    if (p.kind === 'sum') {
      p.temporality = info.temporality;
      p.isMonotonic = info.isMonotonic;
    } else if (p.kind === 'histogram' || p.kind === 'exponential_histogram') p.temporality = info.temporality;
  }
}

function acceptPoints(items: MetricPoint[], rejected: Rejections): ScopeSink<MetricPoint> {
  return (points, resource, scope) => {
    const service = serviceOf(resource);
    for (const p of points) {
      const bad = pointProblem(p);
      if (bad) {
        rejected.add(`data point: ${bad}`);
        continue;
      }
      p.resource = resource;
      p.scope = scope;
      p.service = service;
      items.push(p);
    }
  };
}

// ---- protobuf ----

function decodeExemplar(r: Reader, end: number): Exemplar {
  const e: Exemplar = { timeUnixNano: 0n, value: 0, spanId: '', traceId: '', filteredAttributes: {} };
  while (r.pos < end) {
    const tag = r.uint32();
    switch (tag) {
      case 58:
        decodeKeyValue(r, subEnd(r, end), e.filteredAttributes, 0);
        break;
      case 17:
        e.timeUnixNano = fixed64(r);
        break;
      case 25:
        e.value = r.double();
        break;
      case 49:
        e.value = Number(sfixed64(r));
        break;
      case 34:
        e.spanId = hexBytes(r, end);
        break;
      case 42:
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
      case 33:
        p.count = fixed64Number(r);
        break;
      case 41:
        p.sum = r.double();
        break;
      case 49:
      case 50:
        packedFixed64(r, tag, end, p.bucketCounts);
        break;
      case 57:
      case 58:
        packedDoubles(r, tag, end, p.explicitBounds);
        break;
      case 89:
        p.min = r.double();
        break;
      case 97:
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
      case 33:
        p.count = fixed64Number(r);
        break;
      case 41:
        p.sum = r.double();
        break;
      case 48:
        p.scale = r.sint32();
        break;
      case 57:
        p.zeroCount = fixed64Number(r);
        break;
      case 66:
        p.positiveOffset = decodeBuckets(r, subEnd(r, end), p.positiveBucketCounts);
        break;
      case 74:
        p.negativeOffset = decodeBuckets(r, subEnd(r, end), p.negativeBucketCounts);
        break;
      case 97:
        p.min = r.double();
        break;
      case 105:
        p.max = r.double();
        break;
      case 113:
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
    if (tag === 33) p.count = fixed64Number(r);
    else if (tag === 41) p.sum = r.double();
    else if (tag === 50) {
      const e = subEnd(r, end);
      const q = { quantile: 0, value: 0 };
      while (r.pos < e) {
        const t = r.uint32();
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

const DATA_TAGS: Record<number, Kind> = {
  42: 'gauge',
  58: 'sum',
  74: 'histogram',
  82: 'exponential_histogram',
  90: 'summary',
};

function decodeMetric(r: Reader, end: number, out: MetricPoint[], rejected: Rejections): void {
  const from = out.length;
  const info: MetricInfo = { name: '', description: '', unit: '', temporality: 0, isMonotonic: false };
  let hasData = false;
  while (r.pos < end) {
    const tag = r.uint32();
    const kind = DATA_TAGS[tag];
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
    acceptPoints(items, rejected),
    checkpoint,
  );
  return { items, rejected };
}

// ---- OTLP/JSON ----

function jsonExemplar(v: unknown, field: string): Exemplar {
  const o = jsonMessage(v, field);
  return {
    timeUnixNano: jsonTime(o.timeUnixNano, `${field}.timeUnixNano`),
    value:
      o.asInt !== undefined
        ? Number(jsonInt64(o.asInt, `${field}.asInt`))
        : jsonDouble(o.asDouble, `${field}.asDouble`),
    spanId: jsonId(o.spanId, `${field}.spanId`),
    traceId: jsonId(o.traceId, `${field}.traceId`),
    filteredAttributes: jsonAttributes(o.filteredAttributes, `${field}.filteredAttributes`, {}),
  };
}

function jsonPoint(kind: Kind, v: unknown, field: string): MetricPoint {
  const o = jsonMessage(v, field);
  const p = basePoint(kind);
  jsonAttributes(o.attributes, `${field}.attributes`, p.attributes);
  p.startTimeUnixNano = jsonTime(o.startTimeUnixNano, `${field}.startTimeUnixNano`);
  p.timeUnixNano = jsonTime(o.timeUnixNano, `${field}.timeUnixNano`);
  p.flags = jsonInt32(o.flags, `${field}.flags`);
  p.exemplars = jsonList(o.exemplars, `${field}.exemplars`).map((e, i) => jsonExemplar(e, `${field}.exemplars[${i}]`));
  const optDouble = (x: unknown, f: string) => (x === undefined || x === null ? undefined : jsonDouble(x, f));
  switch (p.kind) {
    case 'gauge':
    case 'sum':
      p.value =
        o.asInt !== undefined
          ? Number(jsonInt64(o.asInt, `${field}.asInt`))
          : jsonDouble(o.asDouble, `${field}.asDouble`);
      break;
    case 'histogram':
      p.count = jsonCount(o.count, `${field}.count`);
      p.sum = jsonDouble(o.sum, `${field}.sum`);
      p.bucketCounts = jsonList(o.bucketCounts, `${field}.bucketCounts`).map((c, i) =>
        jsonCount(c, `${field}.bucketCounts[${i}]`),
      );
      p.explicitBounds = jsonList(o.explicitBounds, `${field}.explicitBounds`).map((b, i) =>
        jsonDouble(b, `${field}.explicitBounds[${i}]`),
      );
      p.min = optDouble(o.min, `${field}.min`);
      p.max = optDouble(o.max, `${field}.max`);
      break;
    case 'exponential_histogram': {
      p.count = jsonCount(o.count, `${field}.count`);
      p.sum = jsonDouble(o.sum, `${field}.sum`);
      p.scale = jsonInt32(o.scale, `${field}.scale`);
      p.zeroCount = jsonCount(o.zeroCount, `${field}.zeroCount`);
      p.zeroThreshold = jsonDouble(o.zeroThreshold, `${field}.zeroThreshold`);
      for (const side of ['positive', 'negative'] as const) {
        if (o[side] === undefined || o[side] === null) continue;
        const b = jsonMessage(o[side], `${field}.${side}`);
        p[`${side}Offset`] = jsonInt32(b.offset, `${field}.${side}.offset`);
        p[`${side}BucketCounts`] = jsonList(b.bucketCounts, `${field}.${side}.bucketCounts`).map((c, i) =>
          jsonCount(c, `${field}.${side}.bucketCounts[${i}]`),
        );
      }
      p.min = optDouble(o.min, `${field}.min`);
      p.max = optDouble(o.max, `${field}.max`);
      break;
    }
    case 'summary':
      p.count = jsonCount(o.count, `${field}.count`);
      p.sum = jsonDouble(o.sum, `${field}.sum`);
      p.quantiles = jsonList(o.quantileValues, `${field}.quantileValues`).map((q, i) => {
        const qo = jsonMessage(q, `${field}.quantileValues[${i}]`);
        return {
          quantile: jsonDouble(qo.quantile, `${field}.quantileValues[${i}].quantile`),
          value: jsonDouble(qo.value, `${field}.quantileValues[${i}].value`),
        };
      });
      break;
  }
  return p;
}

const JSON_KINDS: [string, Kind][] = [
  ['gauge', 'gauge'],
  ['sum', 'sum'],
  ['histogram', 'histogram'],
  ['exponentialHistogram', 'exponential_histogram'],
  ['summary', 'summary'],
];

/** One metric's points; a bad point is rejected alone, a bad metric envelope rejects the metric. */
function jsonMetric(v: unknown, field: string, out: MetricPoint[], rejected: Rejections): void {
  const from = out.length;
  const o = jsonMessage(v, field);
  const info: MetricInfo = {
    name: jsonString(o.name, `${field}.name`),
    description: jsonString(o.description, `${field}.description`),
    unit: jsonString(o.unit, `${field}.unit`),
    temporality: 0,
    isMonotonic: false,
  };
  const found = JSON_KINDS.find(([key]) => o[key] !== undefined && o[key] !== null);
  if (!found)
    throw new RecordError(
      `${field}: metric "${info.name}" has no data (gauge, sum, histogram, exponentialHistogram or summary)`,
    );
  const [key, kind] = found;
  const data = jsonMessage(o[key], `${field}.${key}`);
  if (kind !== 'gauge' && kind !== 'summary')
    info.temporality = jsonEnum(
      data.aggregationTemporality,
      `${field}.${key}.aggregationTemporality`,
      2,
    ) as Temporality;
  if (kind === 'sum') info.isMonotonic = jsonBool(data.isMonotonic, `${field}.sum.isMonotonic`);
  const points = jsonList(data.dataPoints, `${field}.${key}.dataPoints`);
  for (let i = 0; i < points.length; i++) {
    try {
      out.push(jsonPoint(kind, points[i], `${field}.${key}.dataPoints[${i}]`));
    } catch (err) {
      if (!(err instanceof RecordError)) throw err;
      rejected.add(err.message);
    }
  }
  finishPoints(out, from, info);
}

/** ExportMetricsServiceRequest in OTLP/JSON → metric points. */
export function decodeMetricsJson(doc: Record<string, unknown>, checkpoint?: Checkpoint): Decoded<MetricPoint> {
  const items: MetricPoint[] = [];
  const rejected = new Rejections();
  walkJsonRequest<MetricPoint>(
    doc,
    ['resourceMetrics', 'scopeMetrics', 'metrics'],
    (v, field, out) => jsonMetric(v, field, out, rejected),
    acceptPoints(items, rejected),
    rejected,
    checkpoint,
  );
  return { items, rejected };
}
