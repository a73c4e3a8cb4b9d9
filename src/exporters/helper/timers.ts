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
 * One retry wait at a time that something else may end early: shutdown, so the last attempt
 * happens at once, or a probe that found the destination answering again. New work never
 * does, so a flood of it cannot shorten a backoff.
 */
export class RetryWait {
  private readonly timers: Timers;
  private cut: (() => void) | undefined;

  constructor(timers: Timers = realTimers) {
    this.timers = timers;
  }

  /** True while a wait is in progress. */
  get waiting(): boolean {
    return this.cut !== undefined;
  }

  wait(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const handle = this.timers.setTimeout(() => {
        this.cut = undefined;
        resolve();
      }, ms);
      this.cut = () => {
        this.timers.clearTimeout(handle);
        this.cut = undefined;
        resolve();
      };
    });
  }

  /** Ends the wait in progress now, if there is one. */
  end(): void {
    this.cut?.();
  }
}
