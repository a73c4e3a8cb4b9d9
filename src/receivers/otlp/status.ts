import { InvalidInputError, RefusedError, TooManyRecordsError, VigilError } from '../../errors.ts';
import { PayloadTooLargeError, RequestTimeoutError, UnsupportedEncodingError } from '../http/requestBody.ts';
import { protoType } from './protos.ts';
import { AuthenticationError } from '../../extensions/auth/principal.ts';

/** gRPC status codes OTLP uses (grpc/grpc doc/statuscodes.md). */
export const GrpcCode = {
  OK: 0,
  CANCELLED: 1,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  RESOURCE_EXHAUSTED: 8,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  UNAUTHENTICATED: 16,
} as const;

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
 * One failure, both ways of saying it: the HTTP status and the gRPC code from the OTLP
 * specification's tables. Back-pressure carries a retry delay (Retry-After / RetryInfo) so
 * that RESOURCE_EXHAUSTED counts as retryable for OTLP clients.
 */
export function failureFor(err: unknown): OtlpFailure {
  if (err instanceof RefusedError) {
    const exhausted = err.reason === 'exhausted';
    return {
      http: exhausted ? 429 : 503,
      grpc: exhausted ? GrpcCode.RESOURCE_EXHAUSTED : GrpcCode.UNAVAILABLE,
      message: err.message,
      retryAfterSeconds: err.retryAfterSeconds,
    };
  }
  if (err instanceof AuthenticationError) return { http: 401, grpc: GrpcCode.UNAUTHENTICATED, message: err.message };
  if (err instanceof PayloadTooLargeError || err instanceof TooManyRecordsError)
    return { http: 413, grpc: GrpcCode.RESOURCE_EXHAUSTED, message: err.message };
  if (err instanceof RequestTimeoutError) return { http: 408, grpc: GrpcCode.DEADLINE_EXCEEDED, message: err.message };
  if (err instanceof UnsupportedEncodingError || err instanceof UnsupportedMediaTypeError)
    return { http: 415, grpc: GrpcCode.UNIMPLEMENTED, message: err.message };
  if (err instanceof InvalidInputError) return { http: 400, grpc: GrpcCode.INVALID_ARGUMENT, message: err.message };
  return {
    http: 500,
    grpc: GrpcCode.INTERNAL,
    message: err instanceof VigilError ? err.message : 'internal error; see the Vigil logs',
  };
}

const RETRY_INFO_URL = 'type.googleapis.com/google.rpc.RetryInfo';

/** google.rpc.Status in protobuf, with a RetryInfo detail when the client should wait. */
export function encodeStatusProto(f: OtlpFailure): Buffer {
  const details = [];
  if (f.retryAfterSeconds !== undefined) {
    const RetryInfo = protoType('google.rpc.RetryInfo');
    details.push({
      type_url: RETRY_INFO_URL,
      value: RetryInfo.encode(RetryInfo.fromObject({ retryDelay: { seconds: f.retryAfterSeconds } })).finish(),
    });
  }
  const Status = protoType('google.rpc.Status');
  return Buffer.from(Status.encode(Status.fromObject({ code: f.grpc, message: f.message, details })).finish());
}

/** google.rpc.Status in proto3 JSON form. */
export function statusJson(f: OtlpFailure): Record<string, unknown> {
  const details =
    f.retryAfterSeconds === undefined ? [] : [{ '@type': RETRY_INFO_URL, retryDelay: `${f.retryAfterSeconds}s` }];
  return { code: f.grpc, message: f.message, details };
}
