import { jsonReplacer } from './attributes.ts';
import type { MetricPoint } from './metric.ts';

/**
 * Metric points as they travel in a Redis stream entry of the owners design
 * (src/connectors/correlation/partitionOwner.ts): one JSON array, ns times as decimal strings.
 * Lossy as the events' rows are: an int64 attribute beyond 2^53 and bytes come back as strings.
 */
export function pointsToJson(points: readonly MetricPoint[]): string {
  return JSON.stringify(points, jsonReplacer);
}

/** The points of a `pointsToJson` text, their times bigints again. */
export function pointsFromJson(text: string): MetricPoint[] {
  const points = JSON.parse(text) as MetricPoint[];
  for (const p of points) {
    p.startTimeUnixNano = BigInt(p.startTimeUnixNano as unknown as string);
    p.timeUnixNano = BigInt(p.timeUnixNano as unknown as string);
    for (const x of p.exemplars) x.timeUnixNano = BigInt(x.timeUnixNano as unknown as string);
  }
  return points;
}
