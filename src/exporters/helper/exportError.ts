import { meaningOf, VigilError } from '../../errors.ts';

/**
 * An exporter's failure with its verdict, the Collector's `consumererror.NewPermanent` and
 * throttle error in one class: `permanent` when the destination refused the data itself (it is
 * set aside, parked or dropped, and counted as failed), otherwise retryable, after
 * `retryAfterMs` when the destination said how long to wait. Subclasses keep their own codes
 * (DeliveryError for ticket drivers, ClickHouseError); the code decides, through the table in
 * src/errors.ts, so that an error says its retryability one way only.
 */
export class ExportError extends VigilError {
  readonly retryAfterMs: number | undefined;
  constructor(
    message: string,
    opts: { permanent?: boolean; retryAfterMs?: number; cause?: unknown; code?: string } = {},
  ) {
    super(opts.code ?? (opts.permanent ? 'VIGIL_EXPORT_PERMANENT' : 'VIGIL_EXPORT_RETRYABLE'), message, {
      cause: opts.cause,
    });
    this.retryAfterMs = opts.retryAfterMs;
  }

  get permanent(): boolean {
    return isPermanent(this);
  }
}

/**
 * True when retrying the same data cannot succeed: a VigilError whose code the table in
 * src/errors.ts marks not retryable. Anything else (a network error, a disk error, a bug) is
 * retried: losing acknowledged data is worse than waiting.
 */
export function isPermanent(err: unknown): boolean {
  return err instanceof VigilError && !meaningOf(err.code).retryable;
}

/** How long the destination asked to wait (Retry-After, RetryInfo), when the error says. */
export function retryAfterMsOf(err: unknown): number | undefined {
  const ms = (err as { retryAfterMs?: unknown } | null)?.retryAfterMs;
  return typeof ms === 'number' && ms >= 0 ? ms : undefined;
}

/**
 * `Retry-After` as milliseconds: delta-seconds or an HTTP date (RFC 9110 §10.2.3). Undefined
 * when absent or unreadable, so the caller falls back to its own backoff.
 */
export function parseRetryAfter(value: string | null, nowMs: number): number | undefined {
  if (!value) return undefined;
  const v = value.trim();
  if (/^\d+$/.test(v)) return Number(v) * 1000;
  const at = Date.parse(v);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - nowMs);
}
