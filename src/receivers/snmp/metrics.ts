import { Counter, type Registry } from 'prom-client';

function sharedCounter<L extends string>(registry: Registry, name: string, help: string, labelNames: L[]): Counter<L> {
  return (
    (registry.getSingleMetric(name) as Counter<L> | undefined) ??
    new Counter({ name, help, labelNames, registers: [registry] })
  );
}

/** SNMP-specific self-metrics, next to the generic receiver counters; several receivers share them. */
export class SnmpMetrics {
  readonly rejected: Counter<'receiver' | 'reason'>;
  readonly dropped: Counter<'receiver' | 'reason'>;

  constructor(registry: Registry) {
    this.rejected = sharedCounter(
      registry,
      'vigil_snmp_rejected_messages_total',
      'SNMP datagrams dropped before they became events: a community, v3 user or v3 engine ID not configured, a wrong v3 key or security level, a PDU that is not a notification, or bytes that are not SNMP (reason malformed).',
      ['receiver', 'reason'],
    );
    this.dropped = sharedCounter(
      registry,
      'vigil_snmp_dropped_traps_total',
      'Valid traps lost because the pipeline refused them (reason refused): UDP cannot ask the sender to wait.',
      ['receiver', 'reason'],
    );
  }
}
