import { getHeapStatistics } from 'node:v8';
import { MemoryLimitError } from '../errors.ts';
import type { Logger } from '../telemetry/logger.ts';
import type { SelfMetrics } from '../telemetry/selfMetrics.ts';
import { ReceiveBuffers } from './receiveBuffers.ts';

export interface MemoryGuardConfig {
  /** Hard ceiling in MiB; 0 derives it from V8's heap limit. */
  limit_mib: number;
  /** Headroom below the ceiling where refusals start, in MiB; 0 means 20 % of the limit. */
  spike_limit_mib: number;
  check_interval: number;
  /** Budget for bytes held by requests still arriving; absent means unlimited. */
  max_receive_buffer_size?: number;
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
  private readonly logger: Logger | undefined;
  private lastUsed = 0;
  private failing = false;
  /** Bytes of request bodies being received: outside the V8 heap, so counted here. */
  readonly receiveBuffers: ReceiveBuffers;

  // The V8 heap figure alone: process.memoryUsage() also reads /proc for the RSS, which fails
  // (EMFILE) exactly when a flood of connections has filled the descriptor table.
  constructor(
    cfg: MemoryGuardConfig,
    metrics?: SelfMetrics,
    logger?: Logger,
    readHeap: () => number = () => getHeapStatistics().used_heap_size,
  ) {
    this.logger = logger;
    this.receiveBuffers = new ReceiveBuffers(cfg.max_receive_buffer_size ?? Number.POSITIVE_INFINITY);
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
    let used: number;
    try {
      used = this.readHeap() + this.receiveBuffers.bytes;
      this.failing = false;
    } catch (err) {
      // A timer that throws ends the process; keep the last answer until a reading succeeds.
      if (!this.failing)
        this.logger?.warn({ err: (err as Error).message }, 'memory could not be sampled; keeping the last reading');
      this.failing = true;
      return this.limited;
    }
    this.lastUsed = used;
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
    throw new MemoryLimitError(Math.round(this.lastUsed / 1048576), Math.round(this.softLimitBytes / 1048576));
  }
}
