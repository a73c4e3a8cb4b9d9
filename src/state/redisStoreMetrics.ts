import { Counter, Gauge, type Registry } from 'prom-client';

/** The shared store's health in /metrics. Registered once per registry, however many stores use it. */
export class RedisStoreMetrics {
  readonly degraded: Gauge;
  readonly pendingKeys: Gauge;
  readonly flushes: Counter<'outcome'>;
  readonly flushedOps: Counter;
  readonly remoteUpdates: Counter;
  readonly resyncs: Counter;

  constructor(registry: Registry) {
    const registers = [registry];
    const gauge = (name: string, help: string) => (registry.getSingleMetric(name) as Gauge | undefined) ?? new Gauge({ name, help, registers });
    const counter = <L extends string>(name: string, help: string, labelNames: L[] = []) =>
      (registry.getSingleMetric(name) as Counter<L> | undefined) ?? new Counter({ name, help, labelNames, registers });
    this.degraded = gauge('vigil_state_store_degraded', '1 while Redis is unreachable: this agent correlates on its local state alone and merges it back on reconnect.');
    this.pendingKeys = gauge('vigil_state_store_pending_keys', 'Keys written locally and not yet flushed to Redis.');
    this.flushes = counter('vigil_state_store_flushes_total', 'Flushes of local writes to Redis, by outcome (ok, failed).', ['outcome']);
    this.flushedOps = counter('vigil_state_store_flushed_ops_total', 'Pre-aggregated key updates written to Redis.');
    this.remoteUpdates = counter('vigil_state_store_remote_updates_total', 'Key states received from other agents.');
    this.resyncs = counter('vigil_state_store_resyncs_total', 'Full reconciliations with Redis (at start and after every reconnect).');
  }
}
