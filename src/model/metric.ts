import type { Attributes } from './attributes.ts';
import type { InstrumentationScope } from './event.ts';

export type MetricKind = 'gauge' | 'sum' | 'histogram' | 'exponential_histogram' | 'summary';

/** OTel AggregationTemporality: 0 unspecified, 1 delta, 2 cumulative. */
export type Temporality = 0 | 1 | 2;

export interface Exemplar {
  timeUnixNano: bigint;
  value: number;
  spanId: string;
  traceId: string;
  filteredAttributes: Attributes;
}

interface PointBase {
  /** Metric identity. */
  name: string;
  description: string;
  unit: string;
  resource: Attributes;
  scope?: InstrumentationScope;
  attributes: Attributes;
  startTimeUnixNano: bigint;
  timeUnixNano: bigint;
  flags: number;
  exemplars: Exemplar[];
  service: string;
  tenant: string;
}

export interface GaugePoint extends PointBase {
  kind: 'gauge';
  value: number;
}

export interface SumPoint extends PointBase {
  kind: 'sum';
  value: number;
  temporality: Temporality;
  isMonotonic: boolean;
}

export interface HistogramPoint extends PointBase {
  kind: 'histogram';
  count: number;
  sum: number;
  min?: number;
  max?: number;
  bucketCounts: number[];
  explicitBounds: number[];
  temporality: Temporality;
}

export interface ExponentialHistogramPoint extends PointBase {
  kind: 'exponential_histogram';
  count: number;
  sum: number;
  min?: number;
  max?: number;
  scale: number;
  zeroCount: number;
  zeroThreshold: number;
  positiveOffset: number;
  positiveBucketCounts: number[];
  negativeOffset: number;
  negativeBucketCounts: number[];
  temporality: Temporality;
}

export interface SummaryPoint extends PointBase {
  kind: 'summary';
  count: number;
  sum: number;
  quantiles: { quantile: number; value: number }[];
}

/** One data point of one metric series; the unit the metrics pipeline carries. */
export type MetricPoint = GaugePoint | SumPoint | HistogramPoint | ExponentialHistogramPoint | SummaryPoint;
