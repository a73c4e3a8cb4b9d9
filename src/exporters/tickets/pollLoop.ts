import { RetryPolicy } from '../helper/retry.ts';
import { asDeliveryError, type Timers } from './delivery.ts';

/** Thrown into a pass that was waiting for its request budget when the loop stopped. */
export class PollStopped extends Error {
  constructor() {
    super('poll loop stopped');
  }
}

const MINUTE_MS = 60_000;

/**
 * At most `perMinute` requests in any minute (a sliding window): take() resolves when one may
 * start. A tracker's API limits are per minute or per hour, and a burst of reads after an outage
 * must not trip them.
 */
export class RequestBudget {
  private readonly perMinute: number;
  private readonly timers: Timers;
  private readonly started: number[] = [];
  private readonly waiting = new Map<unknown, (err: Error) => void>();

  constructor(perMinute: number, timers: Timers) {
    this.perMinute = perMinute;
    this.timers = timers;
  }

  async take(): Promise<void> {
    for (;;) {
      const now = this.timers.now();
      while (this.started.length && this.started[0]! <= now - MINUTE_MS) this.started.shift();
      if (this.perMinute === 0 || this.started.length < this.perMinute) {
        this.started.push(now);
        return;
      }
      const waitMs = this.started[0]! + MINUTE_MS - now;
      await new Promise<void>((resolve, reject) => {
        const handle = this.timers.setTimeout(() => {
          this.waiting.delete(handle);
          resolve();
        }, waitMs);
        this.waiting.set(handle, reject);
      });
    }
  }

  /** Fails every take() still waiting. */
  cancel(): void {
    for (const [handle, reject] of this.waiting) {
      this.timers.clearTimeout(handle);
      reject(new PollStopped());
    }
    this.waiting.clear();
  }
}

export interface PollLoopOptions {
  intervalMs: number;
  /** Longest wait after failed passes; the wait doubles per failure from twice the interval (the exporters' RetryPolicy). */
  maxBackoffMs: number;
  timers: Timers;
  random: () => number;
  /** One pass over what to poll; a throw is a failed pass (a tracker's Retry-After is honoured). */
  pass: () => Promise<void>;
  onFailure?: (err: Error, failures: number, retryInMs: number) => void;
  onRecovered?: () => void;
  /** Called on stop, to end a pass waiting on something (a RequestBudget's cancel). */
  cancel?: () => void;
}

/**
 * Runs `pass` every `intervalMs`, never two at once. After a failed pass the next waits longer
 * (exponential with jitter, or the tracker's Retry-After), so an outage or a rate limit is not
 * hammered; the first pass that succeeds brings the interval back.
 */
export class PollLoop {
  private readonly opts: PollLoopOptions;
  private readonly retry: RetryPolicy;
  private timer: unknown;
  private running: Promise<void> | undefined;
  private stopped = false;
  private failures = 0;

  constructor(opts: PollLoopOptions) {
    this.opts = opts;
    this.retry = new RetryPolicy(
      { initialIntervalMs: opts.intervalMs * 2, maxIntervalMs: Math.max(opts.maxBackoffMs, opts.intervalMs) },
      opts.random,
    );
  }

  /** Whether the last pass failed, and how many in a row have. */
  get failing(): number {
    return this.failures;
  }

  start(): void {
    this.schedule(this.opts.intervalMs);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer !== undefined) this.opts.timers.clearTimeout(this.timer);
    this.timer = undefined;
    this.opts.cancel?.();
    await this.running;
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    this.timer = this.opts.timers.setTimeout(() => {
      this.timer = undefined;
      this.running = this.run().finally(() => (this.running = undefined));
    }, ms);
  }

  private async run(): Promise<void> {
    try {
      await this.opts.pass();
    } catch (err) {
      if (this.stopped && err instanceof PollStopped) return;
      this.failures++;
      const e = asDeliveryError(err);
      // Even a tracker's refusal is polled again: the next pass may read other tickets, or the operator fixed it.
      const decision = this.retry.decide(e, this.failures, 0);
      const delay = decision.retry ? decision.delayMs : this.retry.backoff(this.failures);
      this.opts.onFailure?.(e, this.failures, delay);
      return this.schedule(delay);
    }
    if (this.failures) this.opts.onRecovered?.();
    this.failures = 0;
    this.schedule(this.opts.intervalMs);
  }
}
