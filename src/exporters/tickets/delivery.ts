import { VigilError } from '../../errors.ts';
import { ExportError } from '../helper/exportError.ts';

export { parseRetryAfter } from '../helper/exportError.ts';
export { realTimers, type Timers } from '../helper/timers.ts';

/**
 * Why a delivery attempt failed and whether trying again can help: the exporters' ExportError
 * with the HTTP status the tracker answered. Drivers throw it; the outbox decides between a
 * retry (after `retryAfterMs` when the server said so) and parking.
 */
export class DeliveryError extends ExportError {
  readonly retryable: boolean;
  readonly status: number | undefined;
  constructor(message: string, opts: { retryable: boolean; retryAfterMs?: number; status?: number; cause?: unknown }) {
    super(message, {
      code: opts.retryable ? 'VIGIL_DELIVERY_RETRYABLE' : 'VIGIL_DELIVERY_REJECTED',
      retryAfterMs: opts.retryAfterMs,
      cause: opts.cause,
    });
    this.retryable = opts.retryable;
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
