import { VigilError } from '../../errors.ts';

/**
 * Why a delivery attempt failed and whether trying again can help. Drivers throw it; the
 * outbox decides between a retry (after `retryAfterMs` when the server said so) and parking.
 */
export class DeliveryError extends VigilError {
  readonly retryable: boolean;
  readonly retryAfterMs: number | undefined;
  readonly status: number | undefined;
  constructor(message: string, opts: { retryable: boolean; retryAfterMs?: number; status?: number; cause?: unknown }) {
    super(opts.retryable ? 'VIGIL_DELIVERY_RETRYABLE' : 'VIGIL_DELIVERY_REJECTED', message, { cause: opts.cause });
    this.retryable = opts.retryable;
    this.retryAfterMs = opts.retryAfterMs;
    this.status = opts.status;
  }
}

/**
 * Not the destination's failure: something the delivery needs first cannot answer now (the
 * shared ticket ledger is unreachable, another agent holds the incident's claim). The outbox
 * tries again after `retryAfterMs` without spending one of `max_attempts`, and never parks for
 * it: parking asks an operator to act, and here waiting is all there is to do. With `allKeys`
 * the cause is shared by every delivery, so the whole outbox waits rather than each incident
 * finding out on its own.
 */
export class DeliveryDeferredError extends VigilError {
  readonly retryAfterMs: number;
  readonly allKeys: boolean;
  constructor(message: string, opts: { retryAfterMs: number; allKeys: boolean; cause?: unknown }) {
    super('VIGIL_DELIVERY_DEFERRED', message, { cause: opts.cause });
    this.retryAfterMs = opts.retryAfterMs;
    this.allKeys = opts.allKeys;
  }
}

/** Anything that is not a DeliveryError (a bug, a disk error) is retried: losing a change is worse than waiting. */
export function asDeliveryError(err: unknown): DeliveryError {
  if (err instanceof DeliveryError) return err;
  return new DeliveryError(err instanceof Error ? err.message : String(err), { retryable: true, cause: err });
}

/** Time source and timers, injectable so retry schedules are tested without sleeping. */
export interface Timers {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const realTimers: Timers = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};

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

export interface BackoffPolicy {
  initialMs: number;
  maxMs: number;
}

/**
 * Exponential backoff with "equal jitter" (half fixed, half random) so instances retrying
 * the same outage spread out without ever retrying immediately.
 */
export function backoffDelay(attempt: number, policy: BackoffPolicy, random: () => number): number {
  const exp = Math.min(policy.maxMs, policy.initialMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(exp / 2 + random() * (exp / 2));
}
