import type { CreateSettings } from '../../pipeline/component.ts';
import type { ReceiveBuffers } from '../../pipeline/receiveBuffers.ts';
import type { Decoded } from '../../otlp/rejections.ts';
import type { DecodeGuard, ExportOutcome, OtlpItem, SignalSpec } from './signals.ts';

/**
 * What an OTLP transport (gRPC over HTTP/2, HTTP/1.1 routes) hands its requests to: the
 * receiver's shared path from admission through decoding checks to the pipelines. Transports
 * depend on this, not on the receiver that owns and starts them.
 */
export interface ExportSink {
  readonly settings: CreateSettings;
  /** Signals with a pipeline; the others answer 404 / UNIMPLEMENTED. */
  readonly specs: readonly SignalSpec[];
  /** The budget for bytes of requests still arriving. */
  readonly receiveBuffers: ReceiveBuffers;
  /** The tenant for an `authorization` header value; throws when it is refused. */
  authenticate(authorization: string | undefined): Promise<string>;
  /** Throws the refusal a consume would meet now, before the body is read. */
  admit(spec: SignalSpec, peer: string | undefined, ipv6Prefix: number): void;
  /** The checks while one request is decoded (record count, queue, memory). */
  decodeGuard(spec: SignalSpec, protocol: 'grpc' | 'http', maxRecords: number): DecodeGuard;
  /** Counts a request refused as invalid. */
  countInvalid(): void;
  /** Hands decoded records to the pipelines; resolves with what to tell the sender. */
  export(
    spec: SignalSpec,
    protocol: 'grpc' | 'http',
    decoded: Decoded<OtlpItem>,
    tenant: string,
    observed: bigint,
  ): Promise<ExportOutcome>;
}
