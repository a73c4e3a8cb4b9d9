import { readFileSync } from 'node:fs';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { MemoryLimitError } from '../errors.ts';

export const vigilVersion = (
  JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }
).version;

/**
 * Vigil's own Prometheus metrics. One registry per running service (not prom-client's global
 * one) so several services can live in one process, as tests and benchmarks need.
 * Names follow the OTel Collector's `otelcol_*` set with a `vigil_` prefix so dashboards map
 * one to one.
 */
export class SelfMetrics {
  readonly registry = new Registry();
  /** `transport`: how the records came (grpc or http for OTLP, udp, tcp or tls for syslog, http for JSON, udp for SNMP traps). */
  readonly receiverAccepted: Counter<'receiver' | 'signal' | 'transport'>;
  readonly receiverRefused: Counter<'receiver' | 'signal' | 'transport'>;
  readonly receiverRejected: Counter<'receiver' | 'signal'>;
  readonly receiverRequests: Counter<'receiver' | 'outcome'>;
  readonly queueSize: Gauge<'pipeline'>;
  readonly queueCapacity: Gauge<'pipeline'>;
  readonly processorDropped: Counter<'processor' | 'pipeline'>;
  readonly exporterSent: Counter<'exporter' | 'signal'>;
  readonly exporterFailed: Counter<'exporter' | 'signal'>;
  readonly exporterRetries: Counter<'exporter'>;
  readonly exporterLatency: Histogram<'exporter' | 'signal'>;
  readonly memoryLimited: Gauge;
  readonly memoryLimiterRefused: Counter<'receiver'>;
  readonly memoryUsed: Gauge<'source'>;
  readonly memoryLimit: Gauge<'limit'>;
  readonly memoryFloor: Gauge;

  constructor() {
    const r = [this.registry];
    // Unprefixed `process_*` and `nodejs_*`, the names stock Node.js dashboards and alerts expect.
    collectDefaultMetrics({ register: this.registry, eventLoopMonitoringPrecision: 20 });
    // prom-client names these gauges `*_total`, which Prometheus reserves for counters (promtool
    // flags them); `nodejs_active_handles`, `nodejs_active_requests` and `nodejs_active_resources`
    // carry the same figures by type.
    for (const name of ['active_handles', 'active_requests', 'active_resources'])
      this.registry.removeSingleMetric(`nodejs_${name}_total`);
    new Gauge({
      name: 'vigil_build_info',
      help: 'Always 1: the running Vigil version and Node.js version, as labels.',
      labelNames: ['version', 'node'],
      registers: r,
    }).set({ version: vigilVersion, node: process.versions.node }, 1);
    this.receiverAccepted = new Counter({
      name: 'vigil_receiver_accepted_records_total',
      help: 'Records successfully pushed into the pipeline.',
      labelNames: ['receiver', 'signal', 'transport'],
      registers: r,
    });
    this.receiverRefused = new Counter({
      name: 'vigil_receiver_refused_records_total',
      help: 'Records refused by the pipeline (back-pressure); the sender was told to retry.',
      labelNames: ['receiver', 'signal', 'transport'],
      registers: r,
    });
    this.receiverRejected = new Counter({
      name: 'vigil_receiver_rejected_records_total',
      help: 'Records rejected as invalid input; the sender was told why.',
      labelNames: ['receiver', 'signal'],
      registers: r,
    });
    this.receiverRequests = new Counter({
      name: 'vigil_receiver_requests_total',
      help: 'Requests (or datagrams/connections) handled by receivers, by outcome.',
      labelNames: ['receiver', 'outcome'],
      registers: r,
    });
    this.queueSize = new Gauge({
      name: 'vigil_pipeline_queue_size',
      help: 'Records waiting in the pipeline queue.',
      labelNames: ['pipeline'],
      registers: r,
    });
    this.queueCapacity = new Gauge({
      name: 'vigil_pipeline_queue_capacity',
      help: 'Capacity of the pipeline queue, in records.',
      labelNames: ['pipeline'],
      registers: r,
    });
    this.processorDropped = new Counter({
      name: 'vigil_processor_dropped_records_total',
      help: 'Records dropped on purpose by processors (filters).',
      labelNames: ['processor', 'pipeline'],
      registers: r,
    });
    this.exporterSent = new Counter({
      name: 'vigil_exporter_sent_records_total',
      help: 'Records successfully handed to the destination.',
      labelNames: ['exporter', 'signal'],
      registers: r,
    });
    this.exporterFailed = new Counter({
      name: 'vigil_exporter_send_failed_records_total',
      help: 'Records the exporter failed to hand over.',
      labelNames: ['exporter', 'signal'],
      registers: r,
    });
    this.exporterRetries = new Counter({
      name: 'vigil_exporter_retries_total',
      help: 'Send attempts retried by exporters.',
      labelNames: ['exporter'],
      registers: r,
    });
    this.exporterLatency = new Histogram({
      name: 'vigil_exporter_send_duration_seconds',
      help: 'Time to hand one batch to the destination.',
      labelNames: ['exporter', 'signal'],
      buckets: [0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30],
      registers: r,
    });
    this.memoryLimited = new Gauge({
      name: 'vigil_memory_limiter_active',
      help: '1 while memory use is above the soft limit and receivers refuse data.',
      registers: r,
    });
    this.memoryLimiterRefused = new Counter({
      name: 'vigil_memory_limiter_refused_total',
      help: 'Requests and batches receivers refused because memory use was above the soft limit.',
      labelNames: ['receiver'],
      registers: r,
    });
    this.memoryUsed = new Gauge({
      name: 'vigil_memory_used_bytes',
      help: "Memory the limiter counts: this process's resident anonymous memory (source=process), its cgroup's working set (source=cgroup), and what embedded ClickHouse tracks as its own (source=embedded_clickhouse, part of the process's).",
      labelNames: ['source'],
      registers: r,
    });
    this.memoryLimit = new Gauge({
      name: 'vigil_memory_limit_bytes',
      help: "The memory limiter's soft limit (refusals start) and hard limit.",
      labelNames: ['limit'],
      registers: r,
    });
    this.memoryFloor = new Gauge({
      name: 'vigil_memory_floor_bytes',
      help: 'Memory held with nothing in flight, when it is above the soft limit (the ceiling is below what the daemon holds at rest; receivers then take data up to the spike headroom above it); 0 otherwise.',
      registers: r,
    });
  }

  /** Counts a refusal the memory limiter caused against the receiver that met it. */
  countMemoryRefusal(receiver: string, err: unknown): void {
    if (err instanceof MemoryLimitError) this.memoryLimiterRefused.inc({ receiver });
  }

  metrics(): Promise<string> {
    return this.registry.metrics();
  }
}
