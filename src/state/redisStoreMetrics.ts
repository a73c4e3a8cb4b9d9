import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

/** The shared store's health in /metrics. Registered once per registry, however many stores use it. */
export class RedisStoreMetrics {
  readonly degraded: Gauge;
  readonly pendingKeys: Gauge;
  readonly flushes: Counter<'outcome'>;
  readonly flushedOps: Counter;
  readonly remoteUpdates: Counter;
  readonly resyncs: Counter;
  readonly epochChanges: Counter;
  readonly flushLag: Histogram;
  readonly leaseChanges: Counter<'lease' | 'leader'>;
  readonly duplicateOpens: Counter;
  readonly duplicateNotifications: Counter<'kind'>;
  readonly notificationTakeovers: Counter<'kind'>;

  constructor(registry: Registry) {
    const registers = [registry];
    const gauge = (name: string, help: string) =>
      (registry.getSingleMetric(name) as Gauge | undefined) ?? new Gauge({ name, help, registers });
    const counter = <L extends string>(name: string, help: string, labelNames: L[] = []) =>
      (registry.getSingleMetric(name) as Counter<L> | undefined) ?? new Counter({ name, help, labelNames, registers });
    this.degraded = gauge(
      'vigil_state_store_degraded',
      '1 while Redis is unreachable: this agent correlates on its local state alone and merges it back on reconnect.',
    );
    this.pendingKeys = gauge('vigil_state_store_pending_keys', 'Keys written locally and not yet flushed to Redis.');
    this.flushes = counter(
      'vigil_state_store_flushes_total',
      'Flushes of local writes to Redis, by outcome (ok, failed).',
      ['outcome'],
    );
    this.flushedOps = counter('vigil_state_store_flushed_ops_total', 'Pre-aggregated key updates written to Redis.');
    this.remoteUpdates = counter('vigil_state_store_remote_updates_total', 'Key states received from other agents.');
    this.resyncs = counter(
      'vigil_state_store_resyncs_total',
      'Full reconciliations with Redis (at start, after every reconnect, and when Redis lost its data).',
    );
    this.epochChanges = counter(
      'vigil_state_store_epoch_changes_total',
      'Times this agent found that Redis had lost the shared state (its epoch key gone or replaced: a restart without persistence, a failover to a replica that missed writes, a FLUSHALL) and wrote its own state back.',
    );
    this.duplicateOpens = counter(
      'vigil_state_store_duplicate_opens_total',
      'Incident creations not notified because another agent created the same incident moments before and notified it.',
    );
    this.duplicateNotifications = counter(
      'vigil_state_store_duplicate_notifications_total',
      "Notifications not sent because another agent had sent the same one (a timer leader taking over before it saw the last one's state, or the next owner of a partition replaying its stream), by change kind.",
      ['kind'],
    );
    this.notificationTakeovers = counter(
      'vigil_state_store_notification_takeovers_total',
      'Notifications this agent sent whose claim the last holder of their partition had left pending (it died between claiming and sending them), by change kind.',
      ['kind'],
    );
    this.leaseChanges = counter(
      'vigil_state_store_lease_changes_total',
      'Times this agent took (leader="true") or lost (leader="false") a lease, by lease.',
      ['lease', 'leader'],
    );
    this.flushLag =
      (registry.getSingleMetric('vigil_state_store_flush_lag_seconds') as Histogram | undefined) ??
      new Histogram({
        name: 'vigil_state_store_flush_lag_seconds',
        help: 'From a local write to the flush that put it in Redis (the oldest write of each flush): how far behind other agents see this one.',
        buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
        registers,
      });
  }
}
