import type { Logger } from './logger.ts';

/**
 * Warns at most `burst` times per `intervalMs`, then once with how many were held back: a
 * device spraying malformed lines must not turn Vigil's own log into the bottleneck.
 */
export class RateLimitedWarn {
  private readonly logger: Logger;
  private readonly burst: number;
  private readonly intervalMs: number;
  private readonly now: () => number;
  private windowStart = -Infinity;
  private inWindow = 0;
  private suppressed = 0;

  constructor(logger: Logger, opts: { burst?: number; intervalMs?: number; now?: () => number } = {}) {
    this.logger = logger;
    this.burst = opts.burst ?? 5;
    this.intervalMs = opts.intervalMs ?? 10_000;
    this.now = opts.now ?? Date.now;
  }

  warn(fields: Record<string, unknown>, msg: string): void {
    const now = this.now();
    if (now - this.windowStart >= this.intervalMs) {
      if (this.suppressed > 0)
        this.logger.warn(
          { suppressed: this.suppressed },
          `${msg} (and ${this.suppressed} more like it in the last ${Math.round(this.intervalMs / 1000)} s, not logged)`,
        );
      this.windowStart = now;
      this.inWindow = 0;
      this.suppressed = 0;
    }
    if (this.inWindow < this.burst) {
      this.inWindow++;
      this.logger.warn(fields, msg);
    } else this.suppressed++;
  }
}
