import { CONSUME_METHOD, type CreateSettings, type Exporter, type ExporterFactory } from '../../pipeline/component.ts';
import type { Signal } from '../../pipeline/signals.ts';
import type { SelfMetrics } from '../../telemetry/selfMetrics.ts';

/**
 * One exporter's send metrics, the same names for every exporter (the Collector's obsreport):
 * `vigil_exporter_sent_records_total{exporter,signal}`, `vigil_exporter_send_failed_records_total`,
 * `vigil_exporter_send_duration_seconds` and `vigil_exporter_retries_total`. "Sent" means the
 * destination took the records; "failed" that they were given up on (set aside, parked,
 * dropped), not that one attempt failed: those are retries.
 */
export class ExporterTelemetry {
  readonly id: string;
  private readonly metrics: SelfMetrics;

  constructor(metrics: SelfMetrics, id: string) {
    this.metrics = metrics;
    this.id = id;
  }

  /** Makes the exporter's series visible at 0 before its first send, so a dashboard tells "none yet" from "not wired". */
  declare(signals: readonly Signal[]): void {
    for (const signal of signals) {
      this.metrics.exporterSent.inc({ exporter: this.id, signal }, 0);
      this.metrics.exporterFailed.inc({ exporter: this.id, signal }, 0);
    }
    this.metrics.exporterRetries.inc({ exporter: this.id }, 0);
  }

  /**
   * `records` handed over; `startedAt` is the attempt's `performance.now()`. Without it only the
   * count: a queue that counts a send once it recorded it done times the send with answered().
   */
  sent(signal: Signal, records: number, startedAt?: number): void {
    this.metrics.exporterSent.inc({ exporter: this.id, signal }, records);
    if (startedAt !== undefined) this.answered(signal, startedAt);
  }

  /** The destination answered a send started at `startedAt` (`performance.now()`). */
  answered(signal: Signal, startedAt: number): void {
    this.metrics.exporterLatency.observe({ exporter: this.id, signal }, (performance.now() - startedAt) / 1000);
  }

  failed(signal: Signal, records: number): void {
    this.metrics.exporterFailed.inc({ exporter: this.id, signal }, records);
  }

  retried(): void {
    this.metrics.exporterRetries.inc({ exporter: this.id });
  }

  /** Runs one send of `records`, counting it sent on success and failed when it throws. */
  async send<T>(signal: Signal, records: number, attempt: () => Promise<T>): Promise<T> {
    const started = performance.now();
    let result: T;
    try {
      result = await attempt();
    } catch (err) {
      this.failed(signal, records);
      throw err;
    }
    this.sent(signal, records, started);
    return result;
  }
}

/**
 * An exporter that acknowledges a batch once it is in its durable queue and sends it later
 * (ClickHouse's spool, the OTLP queue, the ticket outbox): it counts its own sends with the
 * ExporterTelemetry it is given, where the send happens.
 */
export interface QueuedExporter extends Exporter {
  readonly telemetry: ExporterTelemetry;
}

function isQueued(e: Exporter): e is QueuedExporter {
  return (e as Partial<QueuedExporter>).telemetry instanceof ExporterTelemetry;
}

/**
 * Wraps every exporter the service builds, whatever its factory: a synchronous one (file,
 * debug) has each consume call measured as a send; a queued one already counts at the send
 * and is left as it is. Either way its series exist from the start. The instance is changed in
 * place, so what holds it (the API's ticket links, queries on ClickHouse) keeps working.
 */
export function instrumentExporter<E extends Exporter>(
  exporter: E,
  metrics: SelfMetrics,
  id: string,
  signals: readonly Signal[],
): E {
  const telemetry = isQueued(exporter) ? exporter.telemetry : new ExporterTelemetry(metrics, id);
  telemetry.declare(signals);
  if (isQueued(exporter)) return exporter;
  for (const signal of signals) {
    const name = CONSUME_METHOD[signal];
    const consume = exporter[name] as ((batch: unknown[]) => Promise<void>) | undefined;
    if (!consume) continue;
    const bound = consume.bind(exporter);
    (exporter as Record<string, unknown>)[name] = (batch: unknown[]) =>
      telemetry.send(signal, batch.length, () => bound(batch));
  }
  return exporter;
}

/** How the service builds every exporter: the factory's, instrumented. */
export function createExporter<C>(factory: ExporterFactory<C>, settings: CreateSettings, config: C): Exporter {
  return instrumentExporter(factory.create(settings, config), settings.metrics, settings.id, factory.signals);
}
