import { isAbsolute, join } from 'node:path';
import type { MetricPoint } from '../../model/metric.ts';
import type { Span } from '../../model/span.ts';
import type { VigilEvent } from '../../model/event.ts';
import { encodeLogsRequest } from '../../otlp/proto/logsEncode.ts';
import { encodeMetricsRequest } from '../../otlp/proto/metricsEncode.ts';
import { ProtoWriter } from '../../otlp/proto/protoWriter.ts';
import { encodeTracesRequest } from '../../otlp/proto/tracesEncode.ts';
import type { CreateSettings } from '../../pipeline/component.ts';
import { DEFAULT_HEALTH_SETTINGS, outage, type ComponentHealth, type HealthSettings } from '../../pipeline/health.ts';
import type { OtlpSignal } from '../../receivers/otlp/signals.ts';
import { redactUrl } from '../../telemetry/redact.ts';
import { registerSpoolGauges } from '../clickhouse/spoolMetrics.ts';
import { describeBacklog, type QueueBacklog } from '../helper/queue.ts';
import { FailureLog, RetryPolicy } from '../helper/retry.ts';
import { ExporterTelemetry, type QueuedExporter } from '../helper/telemetry.ts';
import { realTimers, RetryWait, type Timers } from '../helper/timers.ts';
import type { OtlpClient } from './client.ts';
import type { OtlpExporterConfig } from './config.ts';
import { DiskQueue, type QueuedBatch } from './diskQueue.ts';

export interface OtlpExporterOptions {
  /** Clock and timers for the retry schedule; real ones by default. */
  timers?: Timers;
  /** Jitter factor source in [0, 1); Math.random by default. */
  random?: () => number;
}

/**
 * Sends logs, metrics and traces to an OTLP server (a Vigil or Collector gateway) over gRPC or
 * HTTP/protobuf. consume*() resolves once the encoded batch is in the exporter's queue on disk;
 * one loop sends from there oldest first, merging queued batches of a signal into requests,
 * and retries with backoff what the server may take later, as the Collector's exporterhelper
 * does. A gateway that is away loses nothing: batches wait on disk, across restarts too.
 */
export class OtlpExporter implements QueuedExporter {
  /** Counts records sent when the server took their request, failed when they were dropped. */
  readonly telemetry: ExporterTelemetry;
  private readonly settings: CreateSettings;
  private readonly config: OtlpExporterConfig;
  private readonly configPath: string;
  private readonly newClient: () => OtlpClient;
  private readonly timers: Timers;
  private readonly retry: RetryPolicy;
  private readonly backoff: RetryWait;
  private readonly writer = new ProtoWriter();
  private readonly healthSettings: HealthSettings;
  private client: OtlpClient | undefined;
  private queue_: DiskQueue | undefined;
  private loop: Promise<void> | undefined;
  private closing = false;
  private failingSince: number | undefined;
  private lastError = '';
  private lastSentAt: number | undefined;
  private unregisterGauges: (() => void) | undefined;

  constructor(
    settings: CreateSettings,
    config: OtlpExporterConfig,
    newClient: () => OtlpClient,
    opts: OtlpExporterOptions = {},
  ) {
    this.settings = settings;
    this.config = config;
    this.configPath = `exporters.${settings.id}`;
    this.newClient = newClient;
    this.timers = opts.timers ?? realTimers;
    const r = config.retry_on_failure;
    this.retry = new RetryPolicy(
      { initialIntervalMs: r.initial_interval, maxIntervalMs: r.max_interval, maxElapsedMs: r.max_elapsed_time },
      opts.random,
    );
    this.backoff = new RetryWait(this.timers);
    this.telemetry = new ExporterTelemetry(settings.metrics, settings.id);
    this.healthSettings = settings.health ?? DEFAULT_HEALTH_SETTINGS;
  }

  get queue(): DiskQueue {
    return this.queue_!;
  }

  async start(): Promise<void> {
    const { config, settings } = this;
    const q = config.sending_queue;
    const dir = q.dir
      ? isAbsolute(q.dir)
        ? q.dir
        : join(settings.dataDir, q.dir)
      : join(settings.dataDir, 'otlp-queue', settings.id.replace(/[^A-Za-z0-9_.-]/g, '_'));
    this.queue_ = new DiskQueue(dir, q.max_bytes, q.fsync);
    const left = await this.queue_.open();
    if (left.length)
      settings.logger.info(
        { exporter: settings.id, batches: left.length, bytes: this.queue_.bytes },
        'resending OTLP batches queued by a previous run',
      );
    this.unregisterGauges = registerSpoolGauges(settings.metrics, settings.id, this.queue_);
    this.client = this.newClient();
    this.loop = this.run();
    settings.logger.info(
      { exporter: settings.id, endpoint: redactUrl(config.endpoint), queue: dir },
      'OTLP exporter started',
    );
  }

  consumeLogs = (batch: VigilEvent[]): Promise<void> =>
    this.enqueue('logs', batch, (items) => encodeLogsRequest(items, this.writer));
  consumeMetrics = (batch: MetricPoint[]): Promise<void> =>
    this.enqueue('metrics', batch, (items) => encodeMetricsRequest(items, this.writer));
  consumeTraces = (batch: Span[]): Promise<void> =>
    this.enqueue('traces', batch, (items) => encodeTracesRequest(items, this.writer));

  /** Encodes once, splitting a batch whose request would pass max_request_bytes, and queues it. */
  private async enqueue<T>(signal: OtlpSignal, batch: T[], encode: (items: T[]) => Buffer): Promise<void> {
    if (batch.length === 0) return;
    const body = encode(batch);
    if (body.length > this.config.sending_queue.max_request_bytes && batch.length > 1) {
      const half = batch.length >>> 1;
      await this.enqueue(signal, batch.slice(0, half), encode);
      await this.enqueue(signal, batch.slice(half), encode);
      return;
    }
    await this.queue.put({ signal, data: body, records: batch.length });
  }

  private async run(): Promise<void> {
    const q = this.queue;
    while (true) {
      await q.nextWork();
      if (this.closing && q.length === 0) return;
      const batches = q.take(this.config.sending_queue.max_request_bytes);
      if (batches.length === 0) {
        if (this.closing) return;
        continue;
      }
      let delivered: boolean;
      try {
        delivered = await this.deliver(batches);
      } catch (err) {
        // Not the server's answer but a local fault (a queue file gone or unreadable): retrying
        // would meet it again, so the batches leave the queue, counted and logged.
        const records = batches.reduce((n, b) => n + b.records, 0);
        this.telemetry.failed(batches[0]!.signal, records);
        this.settings.logger.error(
          { err, exporter: this.settings.id, records },
          'could not send queued OTLP batches; dropped',
        );
        await this.queue.remove(batches).catch(() => undefined);
        continue;
      }
      if (!delivered) {
        // Shutting down with the server away: what was not sent stays on disk for the next start.
        q.release(batches);
        return;
      }
    }
  }

  /** Sends merged batches until the server takes or refuses them; false when shutdown stopped the retries. */
  private async deliver(batches: QueuedBatch[]): Promise<boolean> {
    const { id, logger } = this.settings;
    const { telemetry } = this;
    const signal = batches[0]!.signal;
    const records = batches.reduce((n, b) => n + b.records, 0);
    const body = await this.queue.read(batches);
    const firstTry = this.timers.now();
    const failures = new FailureLog();
    while (true) {
      const started = performance.now();
      const result = await this.client!.export(signal, body);
      if (result.kind === 'ok') {
        const rejected = Math.min(result.rejected, records);
        telemetry.sent(signal, records - rejected, started);
        if (rejected > 0 || result.message) {
          telemetry.failed(signal, rejected);
          logger.warn(
            { exporter: id, signal, rejected, records, reason: result.message },
            'the OTLP server rejected part of a request (partial success); those records are dropped',
          );
        }
        const failed = failures.reset();
        if (failed > 0) logger.info({ exporter: id, failedAttempts: failed }, 'the OTLP server takes data again');
        await this.queue.remove(batches);
        this.failingSince = undefined;
        this.lastSentAt = this.timers.now();
        return true;
      }
      const reason = result.error.message;
      const next = this.retry.decide(result.error, failures.failures + 1, this.timers.now() - firstTry);
      if (!next.retry && next.reason === 'permanent') {
        telemetry.failed(signal, records);
        logger.error(
          { exporter: id, signal, records, reason },
          'the OTLP server refused a request for good; its records are dropped',
        );
        await this.queue.remove(batches);
        this.failingSince = undefined;
        return true;
      }
      const worthALine = failures.record(reason);
      this.failingSince ??= this.timers.now();
      this.lastError = reason;
      if (this.closing) return false;
      if (!next.retry) {
        telemetry.failed(signal, records);
        logger.error(
          { exporter: id, signal, records, failedAttempts: failures.failures, reason },
          `OTLP request still failing after ${this.configPath}.retry_on_failure.max_elapsed_time; its records are dropped`,
        );
        await this.queue.remove(batches);
        return true;
      }
      if (worthALine)
        logger.warn(
          {
            exporter: id,
            signal,
            failedAttempts: failures.failures,
            retryInMs: next.delayMs,
            queuedBytes: this.queue.bytes,
            reason,
          },
          'OTLP export failed; retrying, batches stay queued on disk',
        );
      telemetry.retried();
      await this.backoff.wait(next.delayMs);
      if (this.closing) return false;
    }
  }

  backlog(): QueueBacklog {
    return this.queue_?.backlog() ?? { items: 0, bytes: 0, oldestAcceptedAtMs: undefined };
  }

  /**
   * Failing while the queue is full (receivers refuse data), or after `failing_after` of failed
   * sends (degraded before); the backlog in every state.
   */
  health(): ComponentHealth {
    const q = this.queue_;
    if (!q) return { status: 'failing', reason: 'not started' };
    const now = this.timers.now();
    // Batches are stamped with the wall clock when accepted.
    const { oldestAgeMs, text: backlog } = describeBacklog(q.backlog(), Date.now(), {
      kept: 'queued',
      accepted: 'accepted',
    });
    const details = {
      queuedBytes: q.bytes,
      queueMaxBytes: this.config.sending_queue.max_bytes,
      queuedBatches: q.length,
      oldestBatchAgeSeconds: Math.round(oldestAgeMs / 100) / 10,
    };
    if (!q.hasRoom)
      return {
        status: 'failing',
        reason: `queue full (${q.bytes} of ${this.configPath}.sending_queue.max_bytes ${this.config.sending_queue.max_bytes} bytes): receivers refuse data until the OTLP server takes some; ${backlog}`,
        details,
      };
    if (this.failingSince !== undefined)
      return outage(
        this.failingSince,
        now,
        this.healthSettings,
        `sending to ${redactUrl(this.config.endpoint)} fails: ${this.lastError}; batches wait on disk meanwhile, ${backlog}`,
        details,
      );
    return {
      status: 'ok',
      details: { ...details, lastSentAt: this.lastSentAt === undefined ? '' : new Date(this.lastSentAt).toISOString() },
    };
  }

  /**
   * Stops taking data and sends what is queued while the server takes it; at the first failure
   * the rest stays on disk for the next start.
   */
  async shutdown(): Promise<void> {
    this.closing = true;
    this.unregisterGauges?.();
    this.queue_?.close();
    this.backoff.end();
    await this.loop;
    await this.client?.close();
  }
}
