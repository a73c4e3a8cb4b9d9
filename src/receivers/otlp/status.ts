import { answerFor, VigilError } from '../../errors.ts';
import { encodeRpcStatus, RETRY_INFO } from '../../otlp/proto/responses.ts';

export { GrpcCode } from '../../errors.ts';

export class UnsupportedMediaTypeError extends VigilError {
  constructor(contentType: string) {
    super(
      'VIGIL_UNSUPPORTED_MEDIA_TYPE',
      `Content-Type ${JSON.stringify(contentType)} is not supported; send application/x-protobuf or application/json`,
    );
  }
}

export interface OtlpFailure {
  http: number;
  grpc: number;
  message: string;
  retryAfterSeconds?: number;
}

/**
 * One failure, both ways of saying it, from the table in src/errors.ts (the OTLP
 * specification's HTTP statuses, the gRPC codes of the HTTP mapping). Back-pressure carries a
 * retry delay (Retry-After / RetryInfo) so that RESOURCE_EXHAUSTED counts as retryable for OTLP clients.
 */
export function failureFor(err: unknown): OtlpFailure {
  const a = answerFor(err);
  const f: OtlpFailure = { http: a.http, grpc: a.grpc, message: a.message };
  if (a.retryAfterSeconds !== undefined) f.retryAfterSeconds = a.retryAfterSeconds;
  return f;
}

/** google.rpc.Status in protobuf, with a RetryInfo detail when the client should wait. */
export function encodeStatusProto(f: OtlpFailure): Buffer {
  return encodeRpcStatus(f.grpc, f.message, f.retryAfterSeconds);
}

/** google.rpc.Status in proto3 JSON form. */
export function statusJson(f: OtlpFailure): Record<string, unknown> {
  const details =
    f.retryAfterSeconds === undefined ? [] : [{ '@type': RETRY_INFO, retryDelay: `${f.retryAfterSeconds}s` }];
  return { code: f.grpc, message: f.message, details };
}
