import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { MemoryLimitError } from '../errors.ts';
import type { Logger } from '../telemetry/logger.ts';
import type { SelfMetrics } from '../telemetry/selfMetrics.ts';
import type { ComponentHealth } from './health.ts';
import { processMemorySource, type CgroupMemory, type MemorySource } from './memorySource.ts';
import { ReceiveBuffers } from './receiveBuffers.ts';

export interface MemoryGuardConfig {
  /** Hard ceiling in MiB; 0 takes `limit_percentage` of the cgroup's limit or of physical memory. */
  limit_mib: number;
  limit_percentage: number;
  /** Headroom below the ceiling where refusals start, in MiB; 0 means 20 % of the limit. */
  spike_limit_mib: number;
  check_interval: number;
  /** Budget for bytes held by requests still arriving; absent means unlimited. */
  max_receive_buffer_size?: number;
}

export type MemoryState = 'normal' | 'soft' | 'hard';

/**
 * V8's full collection. Node hides it unless started with --expose-gc; setting the flag at run
 * time and fetching `gc` from a fresh context is the documented way around that. A limiter
 * cannot do without it: what the heap counts as used includes garbage until a major
 * collection, and refusing data makes garbage (errors, retries) without ever growing the heap
 * enough for V8 to collect on its own, so use measured above a limit would stay there.
 */
function garbageCollector(): (() => void) | undefined {
  const exposed = (globalThis as { gc?: unknown }).gc;
  if (typeof exposed === 'function') return exposed as () => void;
  try {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as unknown;
    return typeof gc === 'function' ? (gc as () => void) : undefined;
  } catch {
    return undefined;
  }
}

export interface MemoryGuardOptions {
  metrics?: SelfMetrics;
  logger?: Logger;
  source?: MemorySource;
  /** Milliseconds, monotonic; for tests of the GC spacing. */
  now?: () => number;
  /** Forces a garbage collection; default V8's, exposed at run time when Node was not started with --expose-gc. */
  gc?: () => void;
}

const MIB = 1024 * 1024;
/** Resident memory is sampled again on admission once the last sample is this old. */
const SAMPLE_EVERY_MS = 20;
/** Forced collections while above the soft limit are spaced this far apart (the Collector's default). */
const SOFT_GC_EVERY_MS = 10_000;
/** V8 aborts the process at its own heap limit, whatever the RSS: refuse before that too. */
const HEAP_SHARE = 0.9;

/**
 * The OTel Collector's memory_limiter for a Node process. Used memory is what the kernel
 * counts: this process's resident anonymous memory, and its cgroup's working set when it runs
 * in one, whichever is larger. Above the soft limit (limit − spike) every pipeline refuses new
 * data with a retryable error, which receivers answer before reading a body (429 / gRPC
 * RESOURCE_EXHAUSTED with Retry-After; syslog TCP stops reading); above the hard limit a
 * garbage collection is also forced at every check, and above the soft limit every 10 s (as
 * the Collector does): V8 keeps free pages and garbage long after a burst (measured after a
 * syslog flood: 40 MiB live in a 190 MiB heap, for good without a collection; 50 MiB after
 * one), and a daemon that refuses data makes little garbage and never collects on its own, so
 * without it refusals would never end. Refusals end only at a periodic check that finds use
 * under the soft limit, never on a sample taken as a request arrives: refusals last at least a
 * check interval, so the state does not flap request by request. (A level below the soft limit
 * to resume at would trap the daemon: what a paused syslog stream holds, and what the
 * allocator keeps after a flood, can sit between the two for good; measured with a syslog
 * flood, 203 MiB between 192 and 205.)
 */
export class MemoryGuard {
  readonly limitBytes: number;
  readonly softLimitBytes: number;
  /** Bytes of request bodies being received, bounded by the spike headroom as well. */
  readonly receiveBuffers: ReceiveBuffers;
  private state: MemoryState = 'normal';
  private timer: NodeJS.Timeout | undefined;
  private readonly intervalMs: number;
  private readonly source: MemorySource;
  private readonly metrics: SelfMetrics | undefined;
  private readonly logger: Logger | undefined;
  private readonly now: () => number;
  private readonly gc: (() => void) | undefined;
  private cgroup: CgroupMemory | undefined;
  private resident = 0;
  private heapOver = false;
  private sampledAt = Number.NEGATIVE_INFINITY;
  private gcAt = Number.NEGATIVE_INFINITY;
  private failing = false;

  constructor(cfg: MemoryGuardConfig, opts: MemoryGuardOptions = {}) {
    this.metrics = opts.metrics;
    this.logger = opts.logger;
    this.source = opts.source ?? processMemorySource();
    this.now = opts.now ?? (() => performance.now());
    this.gc = opts.gc ?? garbageCollector();
    this.cgroup = this.readCgroup();
    const base = this.cgroup?.limit ?? this.source.totalMemory();
    this.limitBytes = cfg.limit_mib > 0 ? cfg.limit_mib * MIB : Math.floor((base * cfg.limit_percentage) / 100);
    const spike = Math.min(
      cfg.spike_limit_mib > 0 ? cfg.spike_limit_mib * MIB : this.limitBytes * 0.2,
      this.limitBytes,
    );
    this.softLimitBytes = this.limitBytes - spike;
    // Bodies still arriving were admitted before the soft limit was crossed and keep growing
    // after it: the spike headroom is what they may take.
    this.receiveBuffers = new ReceiveBuffers(Math.min(cfg.max_receive_buffer_size ?? Number.POSITIVE_INFINITY, spike));
    this.intervalMs = cfg.check_interval;
    this.metrics?.memoryLimit.set({ limit: 'hard' }, this.limitBytes);
    this.metrics?.memoryLimit.set({ limit: 'soft' }, this.softLimitBytes);
  }

  start(): void {
    if (this.intervalMs <= 0) return;
    this.timer = setInterval(() => this.check(), this.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }

  /** The periodic check: the cgroup and this process. Returns whether data is being refused. */
  check(): boolean {
    this.cgroup = this.readCgroup() ?? this.cgroup;
    return this.sample(true);
  }

  get isLimited(): boolean {
    return this.state !== 'normal';
  }

  get currentState(): MemoryState {
    return this.state;
  }

  /**
   * The memory counted against the limits at the last sample. A cgroup without a limit is not
   * counted: nothing kills it for its size, and its usage may be a whole machine's.
   */
  get usedBytes(): number {
    return this.cgroup?.limit === undefined ? this.resident : Math.max(this.resident, this.cgroup.workingSet);
  }

  /**
   * Samples memory now, then admits. For decode loops: the periodic check cannot run while one
   * request is decoded synchronously, so a large request would otherwise read a stale answer.
   */
  admitNow(): void {
    this.sample(false);
    this.admit();
  }

  /** Throws MemoryLimitError above the soft limit; samples resident memory if the last sample is stale. */
  admit(): void {
    if (this.now() - this.sampledAt >= SAMPLE_EVERY_MS) this.sample(false);
    if (this.state === 'normal') return;
    throw new MemoryLimitError(Math.round(this.usedBytes / MIB), Math.round(this.softLimitBytes / MIB));
  }

  /** For /readyz: degraded while refusing, failing above the hard limit. */
  health(): ComponentHealth {
    const mib = (n: number) => `${Math.round(n / MIB)} MiB`;
    const used = mib(this.usedBytes);
    if (this.state === 'hard')
      return {
        status: 'failing',
        reason: `memory use ${used} above the hard limit ${mib(this.limitBytes)}: receivers refuse data until a check finds it under the soft limit ${mib(this.softLimitBytes)}`,
      };
    if (this.state === 'soft')
      return {
        status: 'degraded',
        reason: this.heapOver
          ? `the V8 heap is above ${HEAP_SHARE * 100} % of its limit: receivers refuse data until it falls`
          : `memory use ${used} above the soft limit ${mib(this.softLimitBytes)}: receivers refuse data until a check finds it under the soft limit ${mib(this.softLimitBytes)}`,
      };
    return { status: 'ok' };
  }

  private readCgroup(): CgroupMemory | undefined {
    try {
      return this.source.cgroup();
    } catch (err) {
      this.warnUnreadable(err);
      return undefined;
    }
  }

  /** `periodic`: the timer's check, the only sample that may end refusals. */
  private sample(periodic: boolean): boolean {
    const now = this.now();
    this.sampledAt = now;
    try {
      const heap = this.source.heap();
      this.resident = this.source.resident();
      this.heapOver = heap.used > heap.limit * HEAP_SHARE;
      this.failing = false;
    } catch (err) {
      // A timer that throws ends the process; keep the last answer until a reading succeeds.
      this.warnUnreadable(err);
      return this.isLimited;
    }
    const used = this.usedBytes;
    const before = this.state;
    if (used > this.limitBytes) this.state = 'hard';
    else if (used > this.softLimitBytes || this.heapOver) this.state = 'soft';
    else if (before !== 'normal' && !periodic) this.state = 'soft';
    else this.state = 'normal';
    if (this.state === 'hard' || (this.state === 'soft' && now - this.gcAt >= SOFT_GC_EVERY_MS)) this.collect(now);
    if (this.state !== before) this.report(before, used);
    this.metrics?.memoryUsed.set({ source: 'process' }, this.resident);
    if (this.cgroup) this.metrics?.memoryUsed.set({ source: 'cgroup' }, this.cgroup.workingSet);
    return this.isLimited;
  }

  private collect(now: number): void {
    if (!this.gc) return;
    this.gcAt = now;
    this.gc();
  }

  private report(before: MemoryState, used: number): void {
    this.metrics?.memoryLimited.set(this.isLimited ? 1 : 0);
    const fields = { usedMiB: Math.round(used / MIB), softLimitMiB: Math.round(this.softLimitBytes / MIB) };
    if (this.state === 'normal')
      this.logger?.info(fields, 'memory use fell below the soft limit: receivers take data again');
    else if (before === 'normal' || this.state === 'hard')
      this.logger?.warn(
        { ...fields, limitMiB: Math.round(this.limitBytes / MIB), state: this.state },
        'memory use above the limiter: receivers refuse data (service.memory_limiter)',
      );
  }

  private warnUnreadable(err: unknown): void {
    if (!this.failing)
      this.logger?.warn({ err: (err as Error).message }, 'memory could not be sampled; keeping the last reading');
    this.failing = true;
  }
}
