import { isPermanent, retryAfterMsOf } from './exportError.ts';

export interface RetrySettings {
  /** Wait after the first failure; doubles per failure. */
  initialIntervalMs: number;
  /** Longest wait between two attempts (a server's Retry-After may ask for longer). */
  maxIntervalMs: number;
  /** Give an item up once this long has passed since its first attempt; 0 or absent: never. */
  maxElapsedMs?: number;
  /** Give an item up after this many attempts; 0 or absent: never. */
  maxAttempts?: number;
}

/**
 * Jitter around the exponential interval, as a fraction each way: instances retrying one
 * outage spread out, and no wait is ever shorter than 80 % of the interval.
 */
export const JITTER = 0.2;

/** After a failed attempt: wait and try again, or stop, and why. */
export type RetryDecision =
  { retry: true; delayMs: number } | { retry: false; reason: 'permanent' | 'max_attempts' | 'max_elapsed' };

/**
 * The one retry policy of Vigil's exporters (the Collector's `configretry.BackOffConfig`):
 * exponential backoff with jitter up to a maximum interval, a server's Retry-After honoured
 * (it wins over the backoff, either way), permanent errors never retried, and an optional
 * limit on attempts or on the time since the first attempt, past which a retryable failure
 * counts as permanent. Pure: the caller keeps the count and the clock, so it is tested without
 * timers, and each exporter decides what giving up means (set aside, park, drop).
 */
export class RetryPolicy {
  readonly settings: RetrySettings;
  private readonly random: () => number;

  constructor(settings: RetrySettings, random: () => number = Math.random) {
    this.settings = settings;
    this.random = random;
  }

  /** The wait after `failures` consecutive failures (1 for the first), without a server's say. */
  backoff(failures: number): number {
    const { initialIntervalMs, maxIntervalMs } = this.settings;
    const exp = Math.min(maxIntervalMs, initialIntervalMs * 2 ** Math.max(0, failures - 1));
    return Math.min(maxIntervalMs, Math.round(exp * (1 - JITTER + 2 * JITTER * this.random())));
  }

  /** What to do after an attempt failed with `err`: the `failures`-th in a row, `elapsedMs` after the first attempt. */
  decide(err: unknown, failures: number, elapsedMs: number): RetryDecision {
    if (isPermanent(err)) return { retry: false, reason: 'permanent' };
    const { maxAttempts, maxElapsedMs } = this.settings;
    if (maxAttempts && failures >= maxAttempts) return { retry: false, reason: 'max_attempts' };
    if (maxElapsedMs && elapsedMs >= maxElapsedMs) return { retry: false, reason: 'max_elapsed' };
    return { retry: true, delayMs: retryAfterMsOf(err) ?? this.backoff(failures) };
  }
}

/**
 * Says a long run of failures in a few log lines: the first failure, a new error, then the 2nd,
 * 4th, 8th… attempt. `record()` returns whether this failure is worth a line.
 */
export class FailureLog {
  private failures_ = 0;
  private last = '';

  get failures(): number {
    return this.failures_;
  }

  record(message: string): boolean {
    this.failures_++;
    const worth = message !== this.last || (this.failures_ & (this.failures_ - 1)) === 0;
    this.last = message;
    return worth;
  }

  /** A success: returns how many attempts had failed before it. */
  reset(): number {
    const n = this.failures_;
    this.failures_ = 0;
    this.last = '';
    return n;
  }
}
