import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

/** The owners design's view in /metrics (`state.sharing: partitions`). Registered once per registry. */
export interface PartitionMetrics {
  held: Gauge;
  changes: Counter<'change'>;
  restoredEntries: Counter;
  checkpoints: Counter<'outcome'>;
  lag: Histogram;
  resent: Counter<'outcome'>;
  unacknowledged: Gauge;
}

export function partitionMetrics(registry: Registry): PartitionMetrics {
  const registers = [registry];
  const counter = <L extends string>(name: string, help: string, labelNames: L[] = []) =>
    (registry.getSingleMetric(name) as Counter<L> | undefined) ?? new Counter({ name, help, labelNames, registers });
  return {
    held:
      (registry.getSingleMetric('vigil_correlation_partitions_held') as Gauge | undefined) ??
      new Gauge({
        name: 'vigil_correlation_partitions_held',
        help: 'Correlation partitions this agent holds now (state.sharing: partitions).',
        registers,
      }),
    changes: counter(
      'vigil_correlation_partition_changes_total',
      'Partitions this agent gained (its share, or a dead agent’s), lost (its term ran out) or released (beyond its share, to a joining agent).',
      ['change'],
    ),
    restoredEntries: counter(
      'vigil_correlation_partition_restored_entries_total',
      'State entries loaded from the checkpoints of partitions gained.',
    ),
    checkpoints: counter(
      'vigil_correlation_partition_checkpoints_total',
      'Checkpoints of a partition held: written, refused (the term was no longer this agent’s) or failed (Redis).',
      ['outcome'],
    ),
    resent: counter(
      'vigil_correlation_partition_resent_sends_total',
      'Sends put on the partitions’ streams again, no replica having acknowledged them when Redis turned out to be another dataset (a failover, a restart): resent, or dropped unacknowledged for want of room.',
      ['outcome'],
    ),
    unacknowledged:
      (registry.getSingleMetric('vigil_correlation_partition_unacknowledged_sends') as Gauge | undefined) ??
      new Gauge({
        name: 'vigil_correlation_partition_unacknowledged_sends',
        help: 'Sends to the partitions’ streams that no Redis replica has acknowledged yet, kept to be sent again after a failover.',
        registers,
      }),
    lag:
      (registry.getSingleMetric('vigil_correlation_partition_lag_seconds') as Histogram | undefined) ??
      new Histogram({
        name: 'vigil_correlation_partition_lag_seconds',
        help: 'From an agent putting events on a partition’s stream to their owner taking them (it waits for every live agent’s mark).',
        buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
        registers,
      }),
  };
}
