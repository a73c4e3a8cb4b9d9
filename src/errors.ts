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
