/**
 * OTLP metrics in either format: the point shapes, what each point takes from its metric, and
 * the checks that reject one; the decoders are in proto/metrics.ts and json/metrics.ts.
 */
import type { Attributes } from '../model/attributes.ts';
import type { MetricPoint, Temporality } from '../model/metric.ts';
import type { ScopeSink } from './requestWalk.ts';
import { serviceOf } from './modelFields.ts';
import { idProblem, type IdEncoding, type Rejections } from './rejections.ts';

export type Kind = MetricPoint['kind'];

/** A point's resource until the decoder sets the one it came under (which may follow it on the wire). */
const NO_RESOURCE: Attributes = Object.freeze({});

/**
 * A point of `kind` with every field at its default. Every point starts with the same fields in
 * the same order, so V8 gives them one shape per kind; each kind's literal is written out, where
 * a shared base spread into each (`{ ...base, value: 0 }`) made two objects per point and a
 * placeholder resource a third.
 */
export function basePoint(kind: Kind): MetricPoint {
  const resource = NO_RESOURCE;
  switch (kind) {
    // prettier-ignore
    case 'gauge':
      return {
        kind, name: '', description: '', unit: '', resource, scope: undefined, attributes: {},
        startTimeUnixNano: 0n, timeUnixNano: 0n, flags: 0, exemplars: [], service: '', tenant: '',
        value: 0,
      };
    // prettier-ignore
    case 'sum':
      return {
        kind, name: '', description: '', unit: '', resource, scope: undefined, attributes: {},
        startTimeUnixNano: 0n, timeUnixNano: 0n, flags: 0, exemplars: [], service: '', tenant: '',
        value: 0, temporality: 0, isMonotonic: false,
      };
    // prettier-ignore
    case 'histogram':
      return {
        kind, name: '', description: '', unit: '', resource, scope: undefined, attributes: {},
        startTimeUnixNano: 0n, timeUnixNano: 0n, flags: 0, exemplars: [], service: '', tenant: '',
        count: 0, sum: 0, bucketCounts: [], explicitBounds: [], temporality: 0,
      };
    // prettier-ignore
    case 'exponential_histogram':
      return {
        kind, name: '', description: '', unit: '', resource, scope: undefined, attributes: {},
        startTimeUnixNano: 0n, timeUnixNano: 0n, flags: 0, exemplars: [], service: '', tenant: '',
        count: 0, sum: 0, scale: 0, zeroCount: 0, zeroThreshold: 0, positiveOffset: 0,
        positiveBucketCounts: [], negativeOffset: 0, negativeBucketCounts: [], temporality: 0,
      };
    // prettier-ignore
    case 'summary':
      return {
        kind, name: '', description: '', unit: '', resource, scope: undefined, attributes: {},
        startTimeUnixNano: 0n, timeUnixNano: 0n, flags: 0, exemplars: [], service: '', tenant: '',
        count: 0, sum: 0, quantiles: [],
      };
  }
}

export interface MetricInfo {
  name: string;
  description: string;
  unit: string;
  temporality: Temporality;
  isMonotonic: boolean;
}

/** Why a point cannot be stored, or undefined. */
function pointProblem(p: MetricPoint, ids: IdEncoding): string | undefined {
  if (p.name === '') return 'metric name is required';
  if (p.kind === 'histogram' && p.bucketCounts.length !== 0 && p.bucketCounts.length !== p.explicitBounds.length + 1) {
    return `metric "${p.name}": histogram has ${p.bucketCounts.length} bucket counts for ${p.explicitBounds.length} bounds (needs bounds + 1)`;
  }
  for (const e of p.exemplars) {
    const bad =
      idProblem('exemplar traceId', e.traceId, 16, true, ids) ?? idProblem('exemplar spanId', e.spanId, 8, true, ids);
    if (bad) return `metric "${p.name}": ${bad}`;
  }
  return undefined;
}

export function finishPoints(points: MetricPoint[], from: number, info: MetricInfo): void {
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

export function acceptPoints(items: MetricPoint[], rejected: Rejections, ids: IdEncoding): ScopeSink<MetricPoint> {
  return (points, resource, scope) => {
    const service = serviceOf(resource);
    for (const p of points) {
      const bad = pointProblem(p, ids);
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
