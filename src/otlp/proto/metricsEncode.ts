import type { Exemplar, MetricPoint } from '../../model/metric.ts';
import { writeAttributes, writeRequest } from './commonEncode.ts';
import { ProtoWriter, WireType } from './protoWriter.ts';

/** metrics.v1 field numbers (opentelemetry/proto/metrics/v1/metrics.proto). */
const MetricField = {
  name: 1,
  description: 2,
  unit: 3,
  gauge: 5,
  sum: 7,
  histogram: 9,
  exponential_histogram: 10,
  summary: 11,
} as const;
/** Gauge/Sum/Histogram/ExponentialHistogram/Summary: data_points = 1, aggregation_temporality = 2, is_monotonic = 3. */
const Data = { data_points: 1, aggregation_temporality: 2, is_monotonic: 3 } as const;
const NumberPoint = {
  start_time_unix_nano: 2,
  time_unix_nano: 3,
  as_double: 4,
  exemplars: 5,
  attributes: 7,
  flags: 8,
} as const;
const HistogramPoint = {
  start_time_unix_nano: 2,
  time_unix_nano: 3,
  count: 4,
  sum: 5,
  bucket_counts: 6,
  explicit_bounds: 7,
  exemplars: 8,
  attributes: 9,
  flags: 10,
  min: 11,
  max: 12,
} as const;
const ExpHistogramPoint = {
  attributes: 1,
  start_time_unix_nano: 2,
  time_unix_nano: 3,
  count: 4,
  sum: 5,
  scale: 6,
  zero_count: 7,
  positive: 8,
  negative: 9,
  flags: 10,
  exemplars: 11,
  min: 12,
  max: 13,
  zero_threshold: 14,
} as const;
const Buckets = { offset: 1, bucket_counts: 2 } as const;
const SummaryPoint = {
  start_time_unix_nano: 2,
  time_unix_nano: 3,
  count: 4,
  sum: 5,
  quantile_values: 6,
  attributes: 7,
  flags: 8,
} as const;
const Quantile = { quantile: 1, value: 2 } as const;
const ExemplarField = { time_unix_nano: 2, as_double: 3, span_id: 4, trace_id: 5, filtered_attributes: 7 } as const;
/** ScopeMetrics.metrics. */
const METRICS = 2;

const DATA_FIELD: Record<MetricPoint['kind'], number> = {
  gauge: MetricField.gauge,
  sum: MetricField.sum,
  histogram: MetricField.histogram,
  exponential_histogram: MetricField.exponential_histogram,
  summary: MetricField.summary,
};

function writeExemplars(w: ProtoWriter, field: number, exemplars: readonly Exemplar[]): void {
  for (const e of exemplars) {
    w.tag(field, WireType.LEN);
    const m = w.begin();
    writeAttributes(w, ExemplarField.filtered_attributes, e.filteredAttributes);
    if (e.timeUnixNano !== 0n) w.fixed64Field(ExemplarField.time_unix_nano, e.timeUnixNano);
    w.doubleField(ExemplarField.as_double, e.value);
    if (e.spanId !== '') w.hexField(ExemplarField.span_id, e.spanId);
    if (e.traceId !== '') w.hexField(ExemplarField.trace_id, e.traceId);
    w.end(m);
  }
}

function writeTimes(w: ProtoWriter, p: MetricPoint): void {
  if (p.startTimeUnixNano !== 0n) w.fixed64Field(2, p.startTimeUnixNano);
  if (p.timeUnixNano !== 0n) w.fixed64Field(3, p.timeUnixNano);
}

function writeBuckets(w: ProtoWriter, field: number, offset: number, counts: readonly number[]): void {
  w.tag(field, WireType.LEN);
  const m = w.begin();
  if (offset !== 0) w.sint32Field(Buckets.offset, offset);
  w.packedUint64(Buckets.bucket_counts, counts);
  w.end(m);
}

function writePoint(w: ProtoWriter, p: MetricPoint): void {
  w.tag(Data.data_points, WireType.LEN);
  const m = w.begin();
  writeTimes(w, p);
  switch (p.kind) {
    case 'gauge':
    case 'sum':
      w.doubleField(NumberPoint.as_double, p.value);
      writeExemplars(w, NumberPoint.exemplars, p.exemplars);
      writeAttributes(w, NumberPoint.attributes, p.attributes);
      if (p.flags !== 0) w.varintField(NumberPoint.flags, p.flags);
      break;
    case 'histogram':
      w.fixed64NumberField(HistogramPoint.count, p.count);
      w.doubleField(HistogramPoint.sum, p.sum);
      w.packedFixed64(HistogramPoint.bucket_counts, p.bucketCounts);
      w.packedDoubles(HistogramPoint.explicit_bounds, p.explicitBounds);
      writeExemplars(w, HistogramPoint.exemplars, p.exemplars);
      writeAttributes(w, HistogramPoint.attributes, p.attributes);
      if (p.flags !== 0) w.varintField(HistogramPoint.flags, p.flags);
      if (p.min !== undefined) w.doubleField(HistogramPoint.min, p.min);
      if (p.max !== undefined) w.doubleField(HistogramPoint.max, p.max);
      break;
    case 'exponential_histogram':
      writeAttributes(w, ExpHistogramPoint.attributes, p.attributes);
      w.fixed64NumberField(ExpHistogramPoint.count, p.count);
      w.doubleField(ExpHistogramPoint.sum, p.sum);
      if (p.scale !== 0) w.sint32Field(ExpHistogramPoint.scale, p.scale);
      if (p.zeroCount !== 0) w.fixed64NumberField(ExpHistogramPoint.zero_count, p.zeroCount);
      writeBuckets(w, ExpHistogramPoint.positive, p.positiveOffset, p.positiveBucketCounts);
      writeBuckets(w, ExpHistogramPoint.negative, p.negativeOffset, p.negativeBucketCounts);
      if (p.flags !== 0) w.varintField(ExpHistogramPoint.flags, p.flags);
      writeExemplars(w, ExpHistogramPoint.exemplars, p.exemplars);
      if (p.min !== undefined) w.doubleField(ExpHistogramPoint.min, p.min);
      if (p.max !== undefined) w.doubleField(ExpHistogramPoint.max, p.max);
      if (p.zeroThreshold !== 0) w.doubleField(ExpHistogramPoint.zero_threshold, p.zeroThreshold);
      break;
    case 'summary':
      w.fixed64NumberField(SummaryPoint.count, p.count);
      w.doubleField(SummaryPoint.sum, p.sum);
      for (const q of p.quantiles) {
        w.tag(SummaryPoint.quantile_values, WireType.LEN);
        const qm = w.begin();
        w.doubleField(Quantile.quantile, q.quantile);
        w.doubleField(Quantile.value, q.value);
        w.end(qm);
      }
      writeAttributes(w, SummaryPoint.attributes, p.attributes);
      if (p.flags !== 0) w.varintField(SummaryPoint.flags, p.flags);
      break;
  }
  w.end(m);
}

/** What makes points one Metric message: identity, kind and the kind's aggregation fields. */
function metricKey(p: MetricPoint): string {
  const temporality =
    p.kind === 'sum' || p.kind === 'histogram' || p.kind === 'exponential_histogram' ? p.temporality : 0;
  const monotonic = p.kind === 'sum' && p.isMonotonic ? 1 : 0;
  return `${p.kind}\u0000${p.name}\u0000${p.unit}\u0000${temporality}${monotonic}\u0000${p.description}`;
}

function writeMetrics(w: ProtoWriter, points: MetricPoint[]): void {
  const byMetric = new Map<string, MetricPoint[]>();
  for (const p of points) {
    const key = metricKey(p);
    const list = byMetric.get(key);
    if (list) list.push(p);
    else byMetric.set(key, [p]);
  }
  for (const list of byMetric.values()) {
    const first = list[0]!;
    w.tag(METRICS, WireType.LEN);
    const m = w.begin();
    w.stringField(MetricField.name, first.name);
    if (first.description !== '') w.stringField(MetricField.description, first.description);
    if (first.unit !== '') w.stringField(MetricField.unit, first.unit);
    w.tag(DATA_FIELD[first.kind], WireType.LEN);
    const d = w.begin();
    for (const p of list) writePoint(w, p);
    if (
      (first.kind === 'sum' || first.kind === 'histogram' || first.kind === 'exponential_histogram') &&
      first.temporality !== 0
    )
      w.varintField(Data.aggregation_temporality, first.temporality);
    if (first.kind === 'sum' && first.isMonotonic) w.boolField(Data.is_monotonic, true);
    w.end(d);
    w.end(m);
  }
}

/** Metric points → collector.metrics.v1.ExportMetricsServiceRequest, points of one series kind grouped into one Metric. */
export function encodeMetricsRequest(points: readonly MetricPoint[], w = new ProtoWriter()): Buffer {
  w.reset();
  writeRequest(w, points, writeMetrics);
  return w.finish();
}
