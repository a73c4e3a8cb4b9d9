import { createHash, timingSafeEqual } from 'node:crypto';
import { RefusedError, TooManyRecordsError } from '../../errors.ts';
import type { MetricPoint } from '../../model/metric.ts';
import type { Span } from '../../model/span.ts';
import type { VigilEvent } from '../../model/event.ts';
import type { CreateSettings, Receiver } from '../../pipeline/component.ts';
import { HEALTHY, type ComponentHealth } from '../../pipeline/health.ts';
import type { Host } from '../../pipeline/host.ts';
import { UNLIMITED_RECEIVE_BUFFERS, type ReceiveBuffers } from '../../pipeline/receiveBuffers.ts';
import { admitPeer } from '../peerShare.ts';
import { httpServerLimits } from '../http/serverConfig.ts';
import type { Consumers } from '../../pipeline/signals.ts';
import type { OtlpReceiverConfig } from './config.ts';
import type { ExportSink } from './exportSink.ts';
import { OtlpGrpcServer } from './http2Grpc.ts';
import { registerHttpRoutes } from './httpRoutes.ts';
import type { Decoded } from '../../otlp/rejections.ts';
import { tooManyRecords } from '../recordLimit.ts';
import { SIGNAL_SPECS, type DecodeGuard, type ExportOutcome, type OtlpItem, type SignalSpec } from './signals.ts';
import { AuthenticationError, type Authenticator } from '../../extensions/auth/principal.ts';
import { errorEvents } from '../../otlp/traces.ts';

/**
 * The OTLP receiver: OTLP/gRPC and OTLP/HTTP (protobuf and JSON) for logs, metrics and traces.
 * Both transports share the decode → tenant → consume path here; they differ only in framing
 * and in how they say the outcome.
 */
export class OtlpReceiver implements Receiver, ExportSink {
  readonly settings: CreateSettings;
  readonly config: OtlpReceiverConfig;
  private readonly consumers: Consumers;
  /** Static tokens by their SHA-256, so a lookup compares digests and never the secret itself. */
  private readonly tokens: { digest: Buffer; tenant: string }[] | undefined;
  private authenticator: Authenticator | undefined;
  private grpc: OtlpGrpcServer | undefined;
  /** The bound gRPC port (differs from the configured one for `:0`). */
  grpcPort: number | undefined;
  /** Signals with a pipeline; the others answer 404 / UNIMPLEMENTED, as the OTel Collector does. */
  readonly specs: SignalSpec[];
  /** The service's budget for bytes of requests still arriving; set by start(). */
  receiveBuffers: ReceiveBuffers = UNLIMITED_RECEIVE_BUFFERS;

  constructor(settings: CreateSettings, config: OtlpReceiverConfig, consumers: Consumers) {
    this.settings = settings;
    this.config = config;
    this.consumers = consumers;
    this.tokens = config.auth?.bearer_tokens
      ? Object.entries(config.auth.bearer_tokens).map(([token, tenant]) => ({ digest: sha256(token), tenant }))
      : undefined;
    this.specs = Object.values(SIGNAL_SPECS).filter((s) => consumers[s.signal] !== undefined);
  }

  async start(host: Host): Promise<void> {
    const { http, grpc } = this.config.protocols;
    this.receiveBuffers = host.receiveBuffers;
    if (this.config.auth?.authenticator) this.authenticator = host.authenticator(this.config.auth.authenticator);
    if (http) registerHttpRoutes(host.httpListener(http.endpoint, http.tls, httpServerLimits(http)), http, this);
    if (grpc) {
      this.grpc = new OtlpGrpcServer(grpc, this);
      const port = await this.grpc.start();
      this.grpcPort = port;
      this.settings.logger.info({ grpc: { host: grpc.endpoint.host, port } }, 'OTLP gRPC listening');
    }
  }

  async shutdown(): Promise<void> {
    await this.grpc?.shutdown();
  }

  health(): ComponentHealth {
    if (!this.grpc || this.grpc.serving) return HEALTHY;
    return { status: 'failing', reason: 'the OTLP gRPC server is not serving' };
  }

  /**
   * The tenant for an `authorization` header value: the authenticator's principal's (any role
   * may send), or a static token's; '' when auth is off or the principal names no tenant.
   */
  async authenticate(authorization: string | undefined): Promise<string> {
    if (this.authenticator) return (await this.authenticator.authenticate(authorization)).tenant ?? '';
    if (!this.tokens) return '';
    const m = authorization ? /^Bearer\s+(\S+)\s*$/i.exec(authorization) : null;
    if (!m) throw new AuthenticationError('missing bearer token: send "Authorization: Bearer <token>"', 'missing');
    // Every token is compared, in constant time: how long a refusal takes tells nothing of how close a guess came.
    const presented = sha256(m[1]!);
    let tenant: string | undefined;
    for (const t of this.tokens) if (timingSafeEqual(t.digest, presented) && tenant === undefined) tenant = t.tenant;
    if (tenant === undefined) throw new AuthenticationError('unknown bearer token', 'unknown_token');
    return tenant;
  }

  /**
   * Throws the RefusedError a consume would meet now, so that a saturated pipeline refuses a
   * request before its body is read and decoded (that wasted work is what sinks a daemon under
   * overload).
   */
  admit(spec: SignalSpec, peer: string | undefined, ipv6Prefix: number): void {
    try {
      this.consumers[spec.signal]?.admit?.(1);
      admitPeer(this.receiveBuffers, peer, ipv6Prefix);
    } catch (err) {
      this.settings.metrics.receiverRequests.inc({ receiver: this.settings.id, outcome: 'refused' });
      this.settings.metrics.countMemoryRefusal(this.settings.id, err);
      throw err;
    }
  }

  /**
   * The checks while one request is decoded: its record count against `maxRecords` (the
   * `protocol` block's max_records_per_request) and the pipeline queue before any record is
   * allocated, then memory every few thousand records.
   */
  decodeGuard(spec: SignalSpec, protocol: 'grpc' | 'http', maxRecords: number): DecodeGuard {
    const { metrics, id } = this.settings;
    const consumer = this.consumers[spec.signal];
    return {
      maxRecords,
      admit: (records) => {
        try {
          if (records > maxRecords)
            throw tooManyRecords(records, maxRecords, `receivers.${id}.protocols.${protocol}.max_records_per_request`);
          consumer?.admit?.(records);
        } catch (err) {
          if (err instanceof TooManyRecordsError)
            metrics.receiverRejected.inc({ receiver: id, signal: spec.signal }, records);
          else if (err instanceof RefusedError) {
            metrics.receiverRefused.inc({ receiver: id, signal: spec.signal, transport: protocol }, records);
            metrics.receiverRequests.inc({ receiver: id, outcome: 'refused' });
            metrics.countMemoryRefusal(id, err);
          }
          throw err;
        }
      },
      checkpoint: () => {
        try {
          consumer?.checkMemory?.();
        } catch (err) {
          metrics.receiverRequests.inc({ receiver: id, outcome: 'refused' });
          metrics.countMemoryRefusal(id, err);
          throw err;
        }
      },
    };
  }

  countInvalid(): void {
    this.settings.metrics.receiverRequests.inc({ receiver: this.settings.id, outcome: 'invalid' });
  }

  /**
   * Hands decoded records to the signal's pipelines (and error spans, as events, to the logs
   * pipelines). Resolves with what to tell the sender; rejects with RefusedError under
   * back-pressure, in which case nothing was acknowledged and the sender retries.
   */
  async export(
    spec: SignalSpec,
    protocol: 'grpc' | 'http',
    decoded: Decoded<OtlpItem>,
    tenant: string,
    observed: bigint,
  ): Promise<ExportOutcome> {
    const { metrics, id } = this.settings;
    const { items, rejected } = decoded;
    if (tenant !== '') for (const item of items) item.tenant = tenant;
    if (rejected.count) metrics.receiverRejected.inc({ receiver: id, signal: spec.signal }, rejected.count);
    if (items.length) {
      const work: Promise<void>[] = [];
      if (spec.signal === 'logs') work.push(this.consumers.logs!.consume(items as VigilEvent[]));
      else if (spec.signal === 'metrics') work.push(this.consumers.metrics!.consume(items as MetricPoint[]));
      else {
        work.push(this.consumers.traces!.consume(items as Span[]));
        const events = this.consumers.logs ? errorEvents(items as Span[], observed) : [];
        if (events.length) work.push(this.consumers.logs!.consume(events));
      }
      try {
        await Promise.all(work);
      } catch (err) {
        metrics.receiverRefused.inc({ receiver: id, signal: spec.signal, transport: protocol }, items.length);
        metrics.receiverRequests.inc({ receiver: id, outcome: 'refused' });
        metrics.countMemoryRefusal(id, err);
        throw err;
      }
      metrics.receiverAccepted.inc({ receiver: id, signal: spec.signal, transport: protocol }, items.length);
    }
    metrics.receiverRequests.inc({ receiver: id, outcome: 'success' });
    return { rejected: rejected.count, errorMessage: rejected.message() };
  }
}

function sha256(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}
