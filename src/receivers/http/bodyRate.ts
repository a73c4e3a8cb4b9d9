/** The span over which `min_body_rate` is measured (Kestrel's grace period for its data rate). */
export const RATE_WINDOW_MS = 5000;

/**
 * Calls `onSlow` once a window of RATE_WINDOW_MS brings fewer than `minBytesPerSecond` per
 * second of a body still arriving (a stalled upload holds its part of the receive budget until
 * read_timeout otherwise). A window in which the reader paused the body itself is not judged.
 */
export class BodyRateWatch {
  private bytes = 0;
  private paused = false;
  private readonly timer: NodeJS.Timeout | undefined;

  constructor(minBytesPerSecond: number, onSlow: () => void, isPaused: () => boolean = () => false) {
    if (minBytesPerSecond <= 0) return;
    this.timer = setInterval(() => {
      if (!this.paused && this.bytes < (minBytesPerSecond * RATE_WINDOW_MS) / 1000) return onSlow();
      this.bytes = 0;
      this.paused = isPaused();
    }, RATE_WINDOW_MS);
  }

  count(n: number): void {
    this.bytes += n;
  }

  /** The reader paused the body (back-pressure from its decoder): this window is not judged. */
  pausedByReader(): void {
    this.paused = true;
  }

  stop(): void {
    clearInterval(this.timer);
  }
}
