/** collector.metrics.v1.ExportMetricsServiceRequest in OTLP/JSON → points. */
import type { Exemplar, MetricPoint, Temporality } from '../../model/metric.ts';
import { walkJsonRequest, type Checkpoint } from '../requestWalk.ts';
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
} from './values.ts';
import { Rejections, type Decoded } from '../rejections.ts';
import { acceptPoints, basePoint, finishPoints, type Kind, type MetricInfo } from '../metrics.ts';

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
    acceptPoints(items, rejected, 'text'),
    rejected,
    checkpoint,
  );
  return { items, rejected };
}
