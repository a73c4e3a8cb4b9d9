/**
 * What a component says about itself for `/readyz` and `vigil_component_healthy`:
 * - `ok`: doing its job;
 * - `degraded`: working, but not as configured (shared state unreachable, a destination that has
 *   been failing for less than `failing_after`): the agent stays ready, taking it out of service
 *   would only lose data;
 * - `failing`: cannot do its job (a full spool, a destination down past `failing_after`): the
 *   agent answers 503 so that load balancers and orchestrators send elsewhere.
 */
export type HealthStatus = 'ok' | 'degraded' | 'failing';

export interface ComponentHealth {
  status: HealthStatus;
  /** What is wrong and what it does to the data, in words an operator acts on. */
  reason?: string;
  /** When the condition began (epoch ms). */
  since?: number;
  /** The figures behind the reason (spool bytes, oldest batch age...), shown as they are. */
  details?: Record<string, number | string>;
}

/** `service.telemetry.health`, as components read it. */
export interface HealthSettings {
  /** How long a destination may fail before its component counts as failing rather than degraded. */
  failingAfterMs: number;
  /** How often a component probes a remote destination it has no traffic for. */
  checkIntervalMs: number;
}

export const DEFAULT_HEALTH_SETTINGS: HealthSettings = { failingAfterMs: 30_000, checkIntervalMs: 5_000 };

export const HEALTHY: ComponentHealth = { status: 'ok' };

/**
 * A fault that began at `since` and lasts: degraded while retries may still absorb it (a restart
 * of the destination, a blip), failing once it has lasted `failing_after`.
 */
export function outage(
  since: number,
  now: number,
  settings: HealthSettings,
  reason: string,
  details?: ComponentHealth['details'],
): ComponentHealth {
  const status = now - since >= settings.failingAfterMs ? 'failing' : 'degraded';
  return { status, reason: `${reason} (for ${formatAge(now - since)})`, since, ...(details ? { details } : {}) };
}

/** `850ms`, `12s`, `3m20s`: ages in reasons, short enough for a probe's log line. */
export function formatAge(ms: number): string {
  if (ms < 1000) return `${Math.max(0, Math.round(ms))}ms`;
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${s % 60 ? `${s % 60}s` : ''}`;
  return `${Math.floor(m / 60)}h${m % 60 ? `${m % 60}m` : ''}`;
}

/** The worse of two states (`failing` over `degraded` over `ok`). */
export function worse(a: ComponentHealth, b: ComponentHealth): ComponentHealth {
  const rank = { ok: 0, degraded: 1, failing: 2 } as const;
  return rank[b.status] > rank[a.status] ? b : a;
}
