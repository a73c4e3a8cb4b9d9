import { getHeapStatistics } from 'node:v8';
import { MemoryLimitError } from '../errors.ts';
import type { SelfMetrics } from '../telemetry/selfMetrics.ts';

export interface MemoryGuardConfig {
  /** Hard ceiling in MiB; 0 derives it from V8's heap limit. */
  limit_mib: number;
  /** Headroom below the ceiling where refusals start, in MiB; 0 means 20 % of the limit. */
  spike_limit_mib: number;
  check_interval: number;
}

/**
 * The OTel memory_limiter's idea for Node: a periodic check of heap use (cheap, and what
 * V8's own out-of-memory is measured against) against a soft limit. While above it every
 * pipeline refuses new data with a retryable error; receivers turn that into 429 with
 * Retry-After, so memory stops growing before the process dies.
 */
export class MemoryGuard {
  readonly limitBytes: number;
  readonly softLimitBytes: number;
  private limited = false;
  private timer: NodeJS.Timeout | undefined;
  private readonly metrics: SelfMetrics | undefined;
  private readonly intervalMs: number;
  private readonly readHeap: () => number;

  constructor(cfg: MemoryGuardConfig, metrics?: SelfMetrics, readHeap: () => number = () => process.memoryUsage().heapUsed) {
    const heapLimit = getHeapStatistics().heap_size_limit;
    this.limitBytes = cfg.limit_mib > 0 ? cfg.limit_mib * 1024 * 1024 : Math.floor(heapLimit * 0.85);
    const spike = cfg.spike_limit_mib > 0 ? cfg.spike_limit_mib * 1024 * 1024 : this.limitBytes * 0.2;
    this.softLimitBytes = Math.max(0, this.limitBytes - spike);
    this.metrics = metrics;
    this.intervalMs = cfg.check_interval;
    this.readHeap = readHeap;
  }

  start(): void {
    if (this.intervalMs <= 0) return;
    this.timer = setInterval(() => this.check(), this.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }

  /** Samples memory now; returns whether data is being refused. */
  check(): boolean {
    const used = this.readHeap();
    this.limited = used > this.softLimitBytes;
    this.metrics?.memoryLimited.set(this.limited ? 1 : 0);
    return this.limited;
  }

  get isLimited(): boolean {
    return this.limited;
  }

  /**
   * Samples memory, then admits. For decode loops: the periodic check cannot run while one
   * request is decoded synchronously, so a large request would otherwise read a stale answer.
   */
  admitNow(): void {
    this.check();
    this.admit();
  }

  /** Throws MemoryLimitError while above the soft limit. */
  admit(): void {
    if (!this.limited) return;
    this.metrics?.memoryRefusals.inc();
    throw new MemoryLimitError(Math.round(this.readHeap() / 1048576), Math.round(this.softLimitBytes / 1048576));
  }
}
