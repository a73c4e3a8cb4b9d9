import { Counter } from 'prom-client';
import type { SelfMetrics } from '../telemetry/selfMetrics.ts';

/**
 * A processor counter in the service's registry, created by the first instance that asks:
 * several instances (`enrich/cmdb`, `enrich/dns`) share one metric, told apart by the
 * `processor` label.
 */
export function processorCounter<L extends string>(
  metrics: SelfMetrics,
  name: string,
  help: string,
  labelNames: readonly L[],
): Counter<L> {
  const existing = metrics.registry.getSingleMetric(name);
  if (existing) return existing as Counter<L>;
  return new Counter({ name, help, labelNames, registers: [metrics.registry] });
}
