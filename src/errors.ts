/**
 * Errors carry a stable `code` so callers (and users reading logs) can act on them without
 * parsing messages; messages say what to do, naming the config path or input field at fault.
 */
export class VigilError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

export class ConfigError extends VigilError {
  readonly issues: readonly { path: string; message: string }[];
  constructor(issues: readonly { path: string; message: string }[]) {
    super(
      'VIGIL_CONFIG_INVALID',
      `invalid configuration:\n${issues.map((i) => `  ${i.path}: ${i.message}`).join('\n')}`,
    );
    this.issues = issues;
  }
}

/**
 * The pipeline refused data for a retryable reason (queue full, memory ceiling, shutting
 * down). Receivers turn it into HTTP 429/503 with Retry-After or gRPC RESOURCE_EXHAUSTED /
 * UNAVAILABLE so senders back off instead of Vigil growing memory.
 */
export class RefusedError extends VigilError {
  readonly retryAfterSeconds: number;
  /** `exhausted` maps to 429 / RESOURCE_EXHAUSTED, `unavailable` to 503 / UNAVAILABLE. */
  readonly reason: 'exhausted' | 'unavailable';
  constructor(code: string, message: string, reason: 'exhausted' | 'unavailable', retryAfterSeconds = 1) {
    super(code, message);
    this.reason = reason;
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

export class QueueFullError extends RefusedError {
  constructor(queue: string, capacity: number) {
    super('VIGIL_QUEUE_FULL', `queue "${queue}" is full (${capacity} items); retry later`, 'exhausted');
  }
}

export class MemoryLimitError extends RefusedError {
  constructor(usedMiB: number, limitMiB: number) {
    super(
      'VIGIL_MEMORY_LIMIT',
      `data refused due to high memory usage (${usedMiB} MiB used, soft limit ${limitMiB} MiB); retry later`,
      'exhausted',
    );
  }
}

export class ShuttingDownError extends RefusedError {
  constructor() {
    super('VIGIL_SHUTTING_DOWN', 'Vigil is shutting down; send to another instance or retry later', 'unavailable', 5);
  }
}

/** A component called after its shutdown(): said plainly, instead of a TypeError from a closed handle. */
export class ComponentShutDownError extends VigilError {
  constructor(kind: string, id: string) {
    super(
      'VIGIL_COMPONENT_SHUT_DOWN',
      `${kind} "${id}" is shut down and takes no more records; whatever still calls it outlived the service`,
    );
  }
}

/** An exporter could not take a batch that a sender waits on (`acknowledge: exported`): retry. */
export class ExportFailedError extends RefusedError {
  constructor(exporter: string, cause: unknown) {
    super(
      'VIGIL_EXPORT_FAILED',
      `exporter "${exporter}" could not store the data (${cause instanceof Error ? cause.message : String(cause)}); retry later`,
      'unavailable',
      5,
    );
    this.cause = cause;
  }
}

/** Input from a sender that can never be accepted as it is (HTTP 400, gRPC INVALID_ARGUMENT). */
export class InvalidInputError extends VigilError {
  constructor(message: string, options?: ErrorOptions) {
    super('VIGIL_INVALID_INPUT', message, options);
  }
}

/**
 * A request or batch with more records than Vigil takes at once. Permanent, not back-pressure:
 * the same request is refused again however long the sender waits, so it is answered 413 /
 * RESOURCE_EXHAUSTED without a retry delay (OTLP retries RESOURCE_EXHAUSTED only with RetryInfo).
 */
export class TooManyRecordsError extends VigilError {
  readonly records: number;
  readonly limit: number;
  constructor(message: string, records: number, limit: number) {
    super('VIGIL_TOO_MANY_RECORDS', message);
    this.records = records;
    this.limit = limit;
  }
}

/** gRPC status codes (grpc/grpc doc/statuscodes.md), the ones Vigil answers or meets. */
export const GrpcCode = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  OUT_OF_RANGE: 11,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  DATA_LOSS: 15,
  UNAUTHENTICATED: 16,
} as const;

/**
 * What one error code means to whoever meets it: the HTTP status and gRPC code a receiver
 * answers with, and whether the same data can succeed later unchanged (`retryable`). A
 * retryable failure may still need an operator first (wrong credentials, a missing table):
 * the data is kept and retried. A permanent one means the data itself is refused; an exporter
 * sets it aside instead of retrying it forever, and a sender must change its request.
 */
export interface ErrorCodeMeaning {
  http: number;
  grpc: number;
  retryable: boolean;
}

const G = GrpcCode;
const meaning = (http: number, grpc: number, retryable: boolean): ErrorCodeMeaning => ({ http, grpc, retryable });

/**
 * Every code Vigil raises (a test keeps this list complete). Receivers answer from it
 * (`answerFor`), exporters decide retries from it (`isRetryable`); HTTP statuses follow the
 * OTLP/HTTP specification and gRPC codes the gRPC HTTP mapping.
 */
export const ERROR_CODES = {
  // Back-pressure: the sender should wait (Retry-After / RetryInfo) and send the same again.
  VIGIL_QUEUE_FULL: meaning(429, G.RESOURCE_EXHAUSTED, true),
  VIGIL_MEMORY_LIMIT: meaning(429, G.RESOURCE_EXHAUSTED, true),
  VIGIL_RECEIVE_BUFFERS_FULL: meaning(429, G.RESOURCE_EXHAUSTED, true),
  VIGIL_SHUTTING_DOWN: meaning(503, G.UNAVAILABLE, true),
  VIGIL_EXPORT_FAILED: meaning(503, G.UNAVAILABLE, true),
  VIGIL_AUTH_UNAVAILABLE: meaning(503, G.UNAVAILABLE, true),
  // The request itself is refused.
  VIGIL_INVALID_INPUT: meaning(400, G.INVALID_ARGUMENT, false),
  VIGIL_INVALID_REQUEST: meaning(400, G.INVALID_ARGUMENT, false),
  VIGIL_INVALID_CURSOR: meaning(400, G.INVALID_ARGUMENT, false),
  VIGIL_GRPC_PROTOCOL: meaning(400, G.INTERNAL, false),
  VIGIL_UNAUTHENTICATED: meaning(401, G.UNAUTHENTICATED, false),
  // A console sign-in through the identity provider that did not complete (the person is sent back to sign in).
  VIGIL_SIGN_IN_FAILED: meaning(401, G.UNAUTHENTICATED, false),
  VIGIL_FORBIDDEN: meaning(403, G.PERMISSION_DENIED, false),
  VIGIL_CROSS_ORIGIN: meaning(403, G.PERMISSION_DENIED, false),
  VIGIL_ROUTE_NOT_FOUND: meaning(404, G.UNIMPLEMENTED, false),
  VIGIL_INCIDENT_NOT_FOUND: meaning(404, G.NOT_FOUND, false),
  VIGIL_SILENCE_NOT_FOUND: meaning(404, G.NOT_FOUND, false),
  VIGIL_MAINTENANCE_NOT_FOUND: meaning(404, G.NOT_FOUND, false),
  VIGIL_HOST_NOT_ALLOWED: meaning(421, G.PERMISSION_DENIED, false),
  VIGIL_METHOD_NOT_ALLOWED: meaning(405, G.UNIMPLEMENTED, false),
  VIGIL_REQUEST_TIMEOUT: meaning(408, G.DEADLINE_EXCEEDED, true),
  VIGIL_INCIDENT_RESOLVED: meaning(409, G.FAILED_PRECONDITION, false),
  VIGIL_INCIDENT_NOT_RESOLVED: meaning(409, G.FAILED_PRECONDITION, false),
  VIGIL_INCIDENT_ALREADY_ACKNOWLEDGED: meaning(409, G.FAILED_PRECONDITION, false),
  // Another agent holds the incident (state.sharing: partitions) and did not answer: a takeover may be under way.
  VIGIL_INCIDENT_UNAVAILABLE: meaning(503, G.UNAVAILABLE, true),
  // Permanent, not back-pressure: the same request is refused however long the sender waits.
  VIGIL_PAYLOAD_TOO_LARGE: meaning(413, G.RESOURCE_EXHAUSTED, false),
  VIGIL_TOO_MANY_RECORDS: meaning(413, G.RESOURCE_EXHAUSTED, false),
  VIGIL_UNSUPPORTED_ENCODING: meaning(415, G.UNIMPLEMENTED, false),
  VIGIL_UNSUPPORTED_MEDIA_TYPE: meaning(415, G.UNIMPLEMENTED, false),
  VIGIL_SILENCES_UNAVAILABLE: meaning(503, G.UNAVAILABLE, false),
  VIGIL_EVENTS_UNAVAILABLE: meaning(503, G.UNAVAILABLE, false),
  VIGIL_RULES_UNAVAILABLE: meaning(503, G.UNAVAILABLE, false),
  VIGIL_EVENT_STORE_FAILED: meaning(502, G.UNAVAILABLE, true),
  VIGIL_INTERNAL: meaning(500, G.INTERNAL, true),
  VIGIL_COMPONENT_SHUT_DOWN: meaning(500, G.INTERNAL, false),
  // Delivery by exporters.
  VIGIL_EXPORT_RETRYABLE: meaning(503, G.UNAVAILABLE, true),
  VIGIL_EXPORT_PERMANENT: meaning(500, G.INTERNAL, false),
  VIGIL_DELIVERY_RETRYABLE: meaning(503, G.UNAVAILABLE, true),
  VIGIL_DELIVERY_REJECTED: meaning(500, G.INTERNAL, false),
  VIGIL_DELIVERY_DEFERRED: meaning(503, G.UNAVAILABLE, true),
  VIGIL_TICKET_LEDGER_UNAVAILABLE: meaning(503, G.UNAVAILABLE, true),
  VIGIL_CLICKHOUSE_ERROR: meaning(500, G.INTERNAL, true),
  VIGIL_CLICKHOUSE_TRANSIENT: meaning(503, G.UNAVAILABLE, true),
  VIGIL_CLICKHOUSE_REFUSED: meaning(500, G.INTERNAL, true),
  VIGIL_CLICKHOUSE_BAD_DATA: meaning(500, G.INTERNAL, false),
  VIGIL_CLICKHOUSE_AUTH: meaning(500, G.INTERNAL, true),
  VIGIL_CLICKHOUSE_TOO_OLD: meaning(500, G.INTERNAL, true),
  VIGIL_CLICKHOUSE_SCHEMA: meaning(500, G.INTERNAL, true),
  VIGIL_CLICKHOUSE_TLS: meaning(500, G.INTERNAL, true),
  VIGIL_CHDB_CLOSED: meaning(500, G.INTERNAL, true),
  // Startup and configuration: fixed by changing the config, then restarting or reloading.
  VIGIL_CONFIG_INVALID: meaning(500, G.INTERNAL, false),
  VIGIL_OTTL_INVALID: meaning(500, G.INTERNAL, false),
  VIGIL_LOOKUP_TABLE: meaning(500, G.INTERNAL, false),
  VIGIL_KEYS_FILE_INVALID: meaning(500, G.INTERNAL, false),
  VIGIL_LISTENER_CONFLICT: meaning(500, G.INTERNAL, false),
  VIGIL_LISTEN_FAILED: meaning(500, G.INTERNAL, false),
  VIGIL_STATE_UNREADABLE: meaning(500, G.INTERNAL, false),
  VIGIL_CHDB_MISSING: meaning(500, G.INTERNAL, false),
  VIGIL_CHDB_PATH_CONFLICT: meaning(500, G.INTERNAL, false),
} as const satisfies Record<string, ErrorCodeMeaning>;

export type ErrorCode = keyof typeof ERROR_CODES;

/** A code's meaning; an unknown code (or none: not a VigilError) means an internal error. */
export function meaningOf(code: string | undefined): ErrorCodeMeaning {
  return (code !== undefined && (ERROR_CODES as Record<string, ErrorCodeMeaning>)[code]) || ERROR_CODES.VIGIL_INTERNAL;
}

/** The answer a receiver gives for an error, in both protocols, with the retry delay of back-pressure. */
export interface ErrorAnswer extends ErrorCodeMeaning {
  code: string;
  message: string;
  retryAfterSeconds?: number;
}

export function answerFor(err: unknown): ErrorAnswer {
  if (!(err instanceof VigilError))
    return { ...ERROR_CODES.VIGIL_INTERNAL, code: 'VIGIL_INTERNAL', message: 'internal error; see the Vigil logs' };
  const answer: ErrorAnswer = { ...meaningOf(err.code), code: err.code, message: err.message };
  if (err instanceof RefusedError) answer.retryAfterSeconds = err.retryAfterSeconds;
  return answer;
}
