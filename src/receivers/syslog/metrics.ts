import { Counter, Gauge, type Registry } from 'prom-client';

/** Returns the registry's metric of that name, creating it once: several syslog receivers share one. */
function shared<M>(registry: Registry, name: string, make: () => M): M {
  return (registry.getSingleMetric(name) as M | undefined) ?? make();
}

/**
 * Syslog-specific self-metrics, next to the generic receiver counters: what only a syslog
 * operator asks about (lines no rule could read, UDP drops, connections turned away).
 */
export class SyslogMetrics {
  readonly parseErrors: Counter<'receiver' | 'transport'>;
  readonly truncated: Counter<'receiver' | 'transport'>;
  readonly dropped: Counter<'receiver' | 'transport' | 'reason'>;
  readonly connections: Gauge<'receiver' | 'transport'>;
  readonly connectionsRejected: Counter<'receiver' | 'transport' | 'reason'>;
  readonly connectionsClosed: Counter<'receiver' | 'transport' | 'reason'>;
  readonly paused: Counter<'receiver' | 'transport'>;

  constructor(registry: Registry) {
    const registers = [registry];
    this.parseErrors = shared(
      registry,
      'vigil_syslog_parse_errors_total',
      () =>
        new Counter({
          name: 'vigil_syslog_parse_errors_total',
          help: 'Syslog messages no parser rule could read; each was kept as a raw-body event flagged syslog.parse_error.',
          labelNames: ['receiver', 'transport'],
          registers,
        }),
    );
    this.truncated = shared(
      registry,
      'vigil_syslog_truncated_messages_total',
      () =>
        new Counter({
          name: 'vigil_syslog_truncated_messages_total',
          help: 'Syslog messages longer than max_message_size, kept truncated and flagged syslog.truncated.',
          labelNames: ['receiver', 'transport'],
          registers,
        }),
    );
    this.dropped = shared(
      registry,
      'vigil_syslog_dropped_messages_total',
      () =>
        new Counter({
          name: 'vigil_syslog_dropped_messages_total',
          help: 'Syslog messages lost: UDP datagrams past what may wait for room in the pipeline (reason overflow; UDP cannot push back) or refused by it, or messages held when the receiver stopped.',
          labelNames: ['receiver', 'transport', 'reason'],
          registers,
        }),
    );
    this.connections = shared(
      registry,
      'vigil_syslog_connections',
      () =>
        new Gauge({
          name: 'vigil_syslog_connections',
          help: 'Open syslog TCP/TLS connections.',
          labelNames: ['receiver', 'transport'],
          registers,
        }),
    );
    this.connectionsRejected = shared(
      registry,
      'vigil_syslog_connections_rejected_total',
      () =>
        new Counter({
          name: 'vigil_syslog_connections_rejected_total',
          help: 'Syslog connections closed on accept: over max_connections (reason limit) or max_connections_per_peer (peer_limit), or a failed TLS handshake.',
          labelNames: ['receiver', 'transport', 'reason'],
          registers,
        }),
    );
    this.connectionsClosed = shared(
      registry,
      'vigil_syslog_connections_closed_total',
      () =>
        new Counter({
          name: 'vigil_syslog_connections_closed_total',
          help: 'Syslog connections closed by Vigil: idle past idle_timeout, or a socket error.',
          labelNames: ['receiver', 'transport', 'reason'],
          registers,
        }),
    );
    this.paused = shared(
      registry,
      'vigil_syslog_backpressure_pauses_total',
      () =>
        new Counter({
          name: 'vigil_syslog_backpressure_pauses_total',
          help: 'Times a syslog TCP/TLS connection stopped reading because the pipeline refused data (the sender waits), or UDP datagrams began to wait for room in it.',
          labelNames: ['receiver', 'transport'],
          registers,
        }),
    );
  }
}
