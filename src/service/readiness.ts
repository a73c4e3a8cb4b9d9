import { Gauge, type Registry } from 'prom-client';
import type { ComponentHealth, HealthStatus } from '../pipeline/health.ts';

/** One component's health as the service reads it: `kind` is receiver, exporter, connector or service. */
export interface ComponentHealthEntry {
  kind: string;
  id: string;
  health: ComponentHealth;
}

export interface ReadinessReport {
  /** `not ready` (503) when any component is failing; `degraded` (200) when any is degraded. */
  status: 'ready' | 'degraded' | 'not ready';
  ready: boolean;
  /** By `<kind>:<id>`, e.g. `exporter:clickhouse`. */
  components: Record<
    string,
    {
      kind: string;
      id: string;
      status: HealthStatus;
      reason?: string;
      since?: string;
      details?: Record<string, number | string>;
    }
  >;
}

/** The /readyz body: every component with its state and reason, worst first deciding the status. */
export function readinessReport(entries: readonly ComponentHealthEntry[]): ReadinessReport {
  const components: ReadinessReport['components'] = {};
  let failing = false;
  let degraded = false;
  for (const { kind, id, health } of entries) {
    failing ||= health.status === 'failing';
    degraded ||= health.status === 'degraded';
    components[`${kind}:${id}`] = {
      kind,
      id,
      status: health.status,
      ...(health.reason !== undefined ? { reason: health.reason } : {}),
      ...(health.since !== undefined ? { since: new Date(health.since).toISOString() } : {}),
      ...(health.details ? { details: health.details } : {}),
    };
  }
  return { status: failing ? 'not ready' : degraded ? 'degraded' : 'ready', ready: !failing, components };
}

/** `vigil_component_healthy{kind,id}`: 1 while a component is ok, 0 while degraded or failing. */
export function registerHealthGauge(registry: Registry, read: () => readonly ComponentHealthEntry[]): void {
  new Gauge({
    name: 'vigil_component_healthy',
    help: '1 while the component does its job as configured, 0 while it is degraded or failing (see /readyz for the reason).',
    labelNames: ['kind', 'id'],
    registers: [registry],
    collect() {
      this.reset();
      for (const { kind, id, health } of read()) this.set({ kind, id }, health.status === 'ok' ? 1 : 0);
    },
  });
}
