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
  /** The percentage of that budget one peer may hold; absent means a quarter. */
  peer_receive_buffer_percentage?: number;
}

export type MemoryState = 'normal' | 'soft' | 'hard';

/**
 * V8's most thorough collection: every generation, then the young generation shrunk and the
 * pages left empty handed back to the system. Node hides `gc` unless started with --expose-gc;
 * setting the flag at run time and fetching `gc` from a fresh context is the documented way
 * around that. A limiter cannot do without it: what the heap counts as used includes garbage
 * until a major collection, and refusing data makes garbage (errors, retries) without ever
 * growing the heap enough for V8 to collect on its own, so use measured above a limit would
 * stay there. A plain full collection is not enough: it keeps the young generation at the size
 * a flood grew it to (64–128 MiB) and the freed old-generation pages resident in V8's pool
 * (measured: 400 MiB of garbage collected, resident memory down 57 MiB; with this flavour,
 * down 490 MiB), and that is most of what a daemon held "at rest" after a flood.
 */
export type GcKind = 'thorough' | 'quick';

export function garbageCollector(): ((kind?: GcKind) => void) | undefined {
  let gc = (globalThis as { gc?: unknown }).gc;
  if (typeof gc !== 'function') {
    try {
      setFlagsFromString('--expose-gc');
      gc = runInNewContext('gc') as unknown;
    } catch {
      return undefined;
    }
  }
  if (typeof gc !== 'function') return undefined;
  const collect = gc as (opts?: { type: string; execution: string; flavor: string }) => void;
  return (kind = 'thorough') =>
    kind === 'thorough'
      ? collect({ type: 'major', execution: 'sync', flavor: 'last-resort' })
      : // Marks concurrently and finishes on its own: frees garbage without stopping the daemon.
        collect({ type: 'major', execution: 'async', flavor: 'regular' });
}

/**
 * Keeps V8's young generation at the size it has when `vigil run` starts (a process-wide setting,
 * made once the daemon's modules are loaded: loading them grows the semi-spaces from 1 MiB to
 * 8 MiB each in a `json → debug` daemon) instead of letting it grow to 32 MiB each under load.
 * Made before the loading, so that they stay at 1 MiB, it saved 7–8 MiB idle but cost 3–13 %
 * of the records per CPU-second (docs/benchmarks.md, "Agent start and idle memory"). The young
 * generation is all garbage but what is in flight, yet it stays resident at the largest size a
 * burst grew it to: 64 of the 138 MiB of heap a 3× syslog flood left committed, which put the
 * daemon 30–40 MiB over a 256 MiB ceiling. `--max-semi-space-size` would cap it at any size
 * but only when Node starts; the growth factor is read at every resize, so it works from here
 * whatever command started Vigil. Measured alongside (`node bench/peers.ts --only
 * syslog-tcp-1,json --quick`, two runs each): records per CPU-second within the runs' spread
 * (syslog 87–106k against 89–93k, JSON 99–104k against 80–116k), peak RSS 200–270 MiB against
 * 270–386.
 */
export function keepYoungGenerationSmall(): void {
  try {
    setFlagsFromString('--semi-space-growth-factor=1');
  } catch {
    /* a Node without the flag grows it as before */
  }
}

/** What an engine that allocates outside V8 in this process (embedded ClickHouse) accounts for. */
export interface NativeMemory {
  /** Bytes the engine counts as in use now. */
  trackedBytes: number;
  /** Bytes its next unit of work (an insert) may add on top. */
  reserveBytes: number;
  /**
   * Hands back to the system what the engine's allocator holds freed but resident (which it
   * does not track); the limiter calls it near the ceiling, at most every RELEASE_EVERY_MS.
   */
  release?: () => void;
}

/** Where such an engine reports; undefined withdraws a report (the engine closed). */
export interface NativeMemorySink {
  reportNative(name: string, memory: NativeMemory | undefined): void;
}

export interface MemoryGuardOptions {
  metrics?: SelfMetrics;
  logger?: Logger;
  source?: MemorySource;
  /** Milliseconds, monotonic; for tests of the GC spacing. */
  now?: () => number;
  /**
   * Forces a garbage collection, thorough (V8's last resort, synchronous) by default or quick (a
   * full collection that runs concurrently); default V8's, exposed at run time when Node was not
   * started with --expose-gc.
   */
  gc?: (kind?: GcKind) => void;
  /**
   * Whether data accepted is still on its way (in a pipeline queue, a receive buffer, an
   * exporter's spool or queue). Without it the limiter cannot tell data from a resident floor,
   * and never takes that floor into account.
   */
  inFlight?: () => boolean;
}

const MIB = 1024 * 1024;
/** Resident memory is sampled again on admission once the last sample is this old. */
const SAMPLE_EVERY_MS = 20;
/** Forced collections while above the soft limit are spaced this far apart (the Collector's default). */
const SOFT_GC_EVERY_MS = 10_000;
/** Above the hard limit, at every check but no more often than this: a thorough collection takes 30–150 ms. */
const HARD_GC_EVERY_MS = 1000;
/**
 * While refusing, or within half the spike headroom below the soft limit, a quick collection at
 * each periodic check once the V8 heap and the buffers it holds have grown by a quarter of the
 * spike headroom since the last one. Under a flood most of what passes the soft limit is
 * garbage: a heap snapshot taken at 248 MiB of resident memory (soft limit 205) found 37 MiB of
 * the heap and 4 MiB of buffers alive, where the heap then counted about 50 MiB in use and
 * buffers about 30, and while embedded ClickHouse drained the backlog resident memory sat at
 * 230–257 MiB until the next collection, 10 s later, took it to 188.
 */
const GROWTH_GC_SHARE_OF_SPIKE = 0.25;
/**
 * Resident memory that grew by as much, with the heap and its buffers flat, also starts one, at
 * most this often: memory that JS freed but the allocator holds, or that native code keeps for
 * JS objects V8 does not count, goes back at a collection. Under a 3× syslog flood into
 * embedded ClickHouse the process climbed from 226 to 252 MiB in 1.5 s with the heap and
 * buffers unchanged, and the next collection took it to 150 MiB.
 */
const RESIDENT_GC_EVERY_MS = 1000;
/**
 * Near the ceiling (within half the spike headroom below the soft limit, or above it), native
 * engines are asked to hand back what their allocator holds freed at any sample this much after
 * the last ask. chdb's allocator keeps freed pages for 250 ms (CHDB_JEMALLOC_CONF), as purging
 * them at once cost the engine a third of its time under load. Under a 3× syslog flood into
 * embedded ClickHouse at a 256 MiB ceiling the peak was 4–17 MiB lower with the ask than
 * without it in six alternated pairs (docs/benchmarks.md).
 */
const RELEASE_EVERY_MS = 100;
/** V8 aborts the process at its own heap limit, whatever the RSS: refuse before that too. */
const HEAP_SHARE = 0.9;
/**
 * Nothing may be in flight for this many periodic checks in a row, and this long, before the
 * lowest use they measured is taken as the daemon's resident floor: the first forces a
 * collection, and the wait lets embedded ClickHouse finish the merges and free the working
 * memory of its last inserts (a floor measured 1 s after a syslog flood was 300 MiB, and
 * new data admitted above it raised the next one).
 */
const FLOOR_AFTER_CHECKS = 3;
const FLOOR_SETTLE_MS = 3000;
/**
 * Under a flood use crosses the limits several times a second: the first refusal is logged at
 * once, later ones are counted and summarised at most this often.
 */
const REFUSAL_LOG_EVERY_MS = 30_000;

/**
 * The OTel Collector's memory_limiter for a Node process. Used memory is what the kernel
 * counts: this process's resident anonymous memory, and its cgroup's working set when it runs
 * in one, whichever is larger. Above the soft limit (limit − spike) every pipeline refuses new
 * data with a retryable error, which receivers answer before reading a body (429 / gRPC
 * RESOURCE_EXHAUSTED with Retry-After; syslog TCP stops reading); above the hard limit a
 * garbage collection is also forced at every check (at most every second), above the soft
 * limit every 10 s (as the Collector does), and a quick concurrent one at each check while the
 * heap grows near the soft limit: V8 keeps free pages and garbage long after a burst (measured after a
 * syslog flood: 40 MiB live in a 190 MiB heap, for good without a collection; 50 MiB after
 * one), and a daemon that refuses data makes little garbage and never collects on its own, so
 * without it refusals would never end. Refusals end only at a periodic check that finds use
 * under the soft limit, never on a sample taken as a request arrives: refusals last at least a
 * check interval, so the state does not flap request by request. (A level below the soft limit
 * to resume at would trap the daemon: what a paused syslog stream holds, and what the
 * allocator keeps after a flood, can sit between the two for good; measured with a syslog
 * flood, 203 MiB between 192 and 205.)
 *
 * Some memory does not shrink when data drains: embedded ClickHouse keeps its threads, caches
 * and allocator arenas (measured after a syslog flood into it at a 256 MiB limit: 245–309 MiB
 * resident with nothing left to store, 44–48 MiB of it V8's heap). A soft limit under that
 * floor would refuse for good with nothing in flight. So when periodic checks find nothing in
 * flight and use still above the soft limit, a collection is forced, and if use stays there
 * for FLOOR_SETTLE_MS the lowest use measured meanwhile is taken as the daemon's resident
 * floor: receivers take data again, new data may raise use to the ceiling, or by half the
 * spike headroom when the floor is that close to it or above it (so the daemon always makes
 * progress, at the least cost above its ceiling), and the floor is logged as an error, reported
 * on /readyz (degraded) and exported as `vigil_memory_floor_bytes`. Each later rest measures
 * the floor again; a check at rest under the soft limit forgets it.
 */
export class MemoryGuard implements NativeMemorySink {
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
  private readonly gc: ((kind?: GcKind) => void) | undefined;
  private cgroup: CgroupMemory | undefined;
  private resident = 0;
  private heapOver = false;
  private heapUsed = 0;
  private readonly native = new Map<string, NativeMemory>();
  /** Whether the V8 heap, native engines' tracked memory and their reserves pass the ceiling. */
  private accountedOver = false;
  private sampledAt = Number.NEGATIVE_INFINITY;
  private gcAt = Number.NEGATIVE_INFINITY;
  private external = 0;
  /** The lowest V8 heap in use plus its external memory sampled since the last forced collection began. */
  private heldLow = Number.POSITIVE_INFINITY;
  /** The lowest resident memory sampled since the last forced collection began. */
  private residentLow = Number.POSITIVE_INFINITY;
  private quickGcAt = Number.NEGATIVE_INFINITY;
  private releasedAt = Number.NEGATIVE_INFINITY;
  private failing = false;
  private readonly spikeBytes: number;
  private readonly inFlight: () => boolean;
  /** Periodic checks in a row that found nothing in flight. */
  private restingChecks = 0;
  private restingSince = 0;
  /** The lowest use measured since nothing has been in flight. */
  private restingLow = 0;
  /** Use measured at rest above the soft limit; 0 while rest is under it. */
  private floor = 0;
  private loggedFloor = 0;
  private refusalLoggedAt = Number.NEGATIVE_INFINITY;
  /** Entries into refusal (and into the hard state) not logged yet, and the highest use they saw. */
  private unlogged = { refusals: 0, hard: 0, peakUsed: 0 };
  /** Whether the refusal under way was logged: only then is its end. */
  private refusalLogged = false;

  constructor(cfg: MemoryGuardConfig, opts: MemoryGuardOptions = {}) {
    this.metrics = opts.metrics;
    this.logger = opts.logger;
    this.source = opts.source ?? processMemorySource();
    this.now = opts.now ?? (() => performance.now());
    this.gc = opts.gc ?? garbageCollector();
    this.inFlight = opts.inFlight ?? (() => true);
    this.cgroup = this.readCgroup();
    const base = this.cgroup?.limit ?? this.source.totalMemory();
    this.limitBytes = cfg.limit_mib > 0 ? cfg.limit_mib * MIB : Math.floor((base * cfg.limit_percentage) / 100);
    const spike = Math.min(
      cfg.spike_limit_mib > 0 ? cfg.spike_limit_mib * MIB : this.limitBytes * 0.2,
      this.limitBytes,
    );
    this.softLimitBytes = this.limitBytes - spike;
    this.spikeBytes = spike;
    // Bodies still arriving were admitted before the soft limit was crossed and keep growing
    // after it: the spike headroom is what they may take.
    this.receiveBuffers = new ReceiveBuffers(
      Math.min(cfg.max_receive_buffer_size ?? Number.POSITIVE_INFINITY, spike),
      cfg.peer_receive_buffer_percentage,
    );
    this.intervalMs = cfg.check_interval;
    this.metrics?.memoryLimit.set({ limit: 'hard' }, this.limitBytes);
    this.metrics?.memoryLimit.set({ limit: 'soft' }, this.softLimitBytes);
    this.metrics?.memoryFloor.set(0);
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

  /** The daemon's resident floor above the soft limit, measured with nothing in flight; 0 when it is under it. */
  get floorBytes(): number {
    return this.floor;
  }

  /**
   * Reports what an engine outside V8 tracks and the room its next insert needs; refusals start
   * while the V8 heap in use, every engine's tracked memory and every reserve pass the ceiling.
   */
  reportNative(name: string, memory: NativeMemory | undefined): void {
    if (memory) this.native.set(name, memory);
    else this.native.delete(name);
    this.metrics?.memoryLimit.set({ limit: 'soft' }, this.softBytes);
    this.metrics?.memoryUsed.set({ source: name }, memory?.trackedBytes ?? 0);
  }

  /** The V8 heap in use, what native engines track, and the room they reserve. */
  private get accountedBytes(): number {
    let sum = this.heapUsed;
    for (const m of this.native.values()) sum += m.trackedBytes + m.reserveBytes;
    return sum;
  }

  /**
   * The soft limit less the room native engines reserve for their next insert: that memory
   * arrives whatever admission decides (the data is already accepted and spooled), so it cannot
   * come out of the spike headroom, which bodies admitted before a refusal take. Under a 3×
   * flood into embedded ClickHouse at 256 MiB, resident memory peaked 246–269 MiB refusing at
   * the soft limit and 219–252 MiB refusing 18 MiB (the most a 1 MiB insert grew) below it.
   */
  private get softBytes(): number {
    let reserve = 0;
    for (const m of this.native.values()) reserve += m.reserveBytes;
    return Math.max(this.softLimitBytes / 2, this.softLimitBytes - reserve);
  }

  /** Refusals start above it: the soft limit, or half the spike headroom above a resident floor over it. */
  private get refuseAboveBytes(): number {
    if (this.floor === 0) return this.softBytes;
    // Half the spike headroom above the floor, the other half left for what arrives meanwhile.
    // Up to the ceiling instead, a floor measured while a flood was refused (199 MiB at 256 with
    // embedded ClickHouse, soft limit 196 with a 9 MiB reserve) let that flood raise use to 281 MiB.
    return this.floor + this.spikeBytes / 2;
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
    throw new MemoryLimitError(Math.round(this.usedBytes / MIB), Math.round(this.refuseAboveBytes / MIB));
  }

  /** For /readyz: degraded while refusing, failing above the hard limit. */
  health(): ComponentHealth {
    const mib = (n: number) => `${Math.round(n / MIB)} MiB`;
    const used = mib(this.usedBytes);
    if (this.state === 'hard')
      return {
        status: 'failing',
        reason: `memory use ${used} above the hard limit ${mib(this.limitBytes)}: receivers refuse data until a check finds it under the soft limit ${mib(this.refuseAboveBytes)}`,
      };
    if (this.state === 'soft')
      return {
        status: 'degraded',
        reason: this.heapOver
          ? `the V8 heap is above ${HEAP_SHARE * 100} % of its limit: receivers refuse data until it falls`
          : this.accountedOver && this.usedBytes <= this.refuseAboveBytes
            ? `the V8 heap, ${[...this.native.keys()].join(', ')} and the room reserved for its next insert (${mib(this.accountedBytes)}) would pass the limit ${mib(this.limitBytes)}: receivers refuse data until a check finds them within it`
            : `memory use ${used} above the soft limit ${mib(this.refuseAboveBytes)}: receivers refuse data until a check finds it under the soft limit ${mib(this.refuseAboveBytes)}`,
      };
    if (this.floor > 0)
      return {
        status: 'degraded',
        reason: `memory use ${mib(this.floor)} with nothing in flight is above the soft limit ${mib(this.softBytes)}: the ceiling is below what the daemon holds at rest, so receivers take data up to ${mib(this.refuseAboveBytes)}; raise service.memory_limiter.limit_mib to at least ${mib(this.suggestedLimitBytes())}`,
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
      this.heapUsed = heap.used;
      this.external = heap.external ?? 0;
      this.failing = false;
    } catch (err) {
      // A timer that throws ends the process; keep the last answer until a reading succeeds.
      this.warnUnreadable(err);
      return this.isLimited;
    }
    const used = this.usedBytes;
    this.accountedOver = this.native.size > 0 && this.accountedBytes > this.limitBytes;
    const before = this.state;
    if (periodic) this.measureFloor(used, now);
    const soft = this.refuseAboveBytes;
    // Above a floor both limits move up together.
    const hard = this.floor > 0 ? Math.max(this.limitBytes, soft + this.spikeBytes / 2) : this.limitBytes;
    if (used > hard) this.state = 'hard';
    else if (used > soft || this.heapOver || this.accountedOver) this.state = 'soft';
    else if (before !== 'normal' && !periodic) this.state = 'soft';
    else this.state = 'normal';
    const sinceGc = now - this.gcAt;
    const held = this.heapUsed + this.external;
    this.heldLow = Math.min(this.heldLow, held);
    this.residentLow = Math.min(this.residentLow, this.resident);
    const growth = this.spikeBytes * GROWTH_GC_SHARE_OF_SPIKE;
    const grown =
      held - this.heldLow >= growth ||
      (this.resident - this.residentLow >= growth && now - this.quickGcAt >= RESIDENT_GC_EVERY_MS);
    if (
      (this.state === 'hard' && sinceGc >= HARD_GC_EVERY_MS) ||
      (this.state === 'soft' && sinceGc >= SOFT_GC_EVERY_MS)
    )
      this.collect(now, 'thorough');
    else if (periodic && grown && (this.state !== 'normal' || used > soft - this.spikeBytes / 2))
      this.collect(now, 'quick');
    if (this.native.size > 0 && used > soft - this.spikeBytes / 2 && now - this.releasedAt >= RELEASE_EVERY_MS) {
      this.releasedAt = now;
      for (const m of this.native.values()) m.release?.();
    }
    if (this.state !== before) this.report(before, used);
    this.logRefusals(now);
    this.metrics?.memoryUsed.set({ source: 'process' }, this.resident);
    if (this.cgroup) this.metrics?.memoryUsed.set({ source: 'cgroup' }, this.cgroup.workingSet);
    return this.isLimited;
  }

  /** At a periodic check: what is held with nothing in flight is the floor, once it has settled. */
  private measureFloor(used: number, now: number): void {
    if (this.inFlight()) {
      this.restingChecks = 0;
      return;
    }
    if (this.restingChecks++ === 0) {
      this.restingSince = now;
      this.restingLow = used;
    }
    this.restingLow = Math.min(this.restingLow, used);
    if (used <= this.softBytes) {
      if (this.floor > 0) {
        this.logger?.info(
          { usedMiB: Math.round(used / MIB), softLimitMiB: Math.round(this.softBytes / MIB) },
          'memory use at rest fell below the soft limit: the configured limits apply again',
        );
        this.setFloor(0);
      }
      return;
    }
    // What V8 holds as garbage is no floor: collect before measuring one.
    if (this.restingChecks === 1 && this.floor === 0) this.collect(now);
    if (this.restingChecks < FLOOR_AFTER_CHECKS || now - this.restingSince < FLOOR_SETTLE_MS) return;
    const floor = this.restingLow;
    this.setFloor(floor);
    if (floor > this.loggedFloor + this.spikeBytes) {
      this.loggedFloor = floor;
      this.logger?.error(
        {
          floorMiB: Math.round(floor / MIB),
          softLimitMiB: Math.round(this.softBytes / MIB),
          limitMiB: Math.round(this.limitBytes / MIB),
          suggestedLimitMiB: Math.round(this.suggestedLimitBytes() / MIB),
        },
        'memory ceiling is below what the daemon holds at rest: with nothing in flight, memory use stays above the soft limit; receivers take data again, a little above it, instead of refusing for good; raise service.memory_limiter.limit_mib',
      );
    }
  }

  private setFloor(bytes: number): void {
    this.floor = bytes;
    if (bytes === 0) this.loggedFloor = 0;
    this.metrics?.memoryFloor.set(bytes);
  }

  /** A limit whose soft limit leaves the spike headroom above the floor. */
  private suggestedLimitBytes(): number {
    return Math.ceil((this.floor + 2 * this.spikeBytes + (this.softLimitBytes - this.softBytes)) / MIB) * MIB;
  }

  private collect(now: number, kind: GcKind = 'thorough'): void {
    if (!this.gc) return;
    this.gc(kind);
    this.residentLow = this.resident;
    if (kind === 'quick') {
      // It ends later: the lowest use the next samples see is what it left.
      this.heldLow = this.heapUsed + this.external;
      this.quickGcAt = now;
      return;
    }
    this.gcAt = now;
    try {
      const heap = this.source.heap();
      this.heldLow = heap.used + (heap.external ?? 0);
    } catch {
      // The next sample measures it.
      this.heldLow = this.heapUsed + this.external;
    }
  }

  private report(before: MemoryState, used: number): void {
    this.metrics?.memoryLimited.set(this.isLimited ? 1 : 0);
    if (this.state === 'normal') {
      if (this.refusalLogged)
        this.logger?.info(
          { usedMiB: Math.round(used / MIB), softLimitMiB: Math.round(this.refuseAboveBytes / MIB) },
          this.floor > 0
            ? 'memory use is within the room left above the resident floor: receivers take data again'
            : 'memory use fell below the soft limit: receivers take data again',
        );
      this.refusalLogged = false;
      return;
    }
    if (before === 'normal') this.unlogged.refusals++;
    if (this.state === 'hard') this.unlogged.hard++;
    this.unlogged.peakUsed = Math.max(this.unlogged.peakUsed, used);
  }

  /** The first refusal after a quiet interval at once; later ones as a count, at most every REFUSAL_LOG_EVERY_MS. */
  private logRefusals(now: number): void {
    const { refusals, hard, peakUsed } = this.unlogged;
    if (refusals + hard === 0 || now - this.refusalLoggedAt < REFUSAL_LOG_EVERY_MS) return;
    // One refusal, still under way: said as it is, with nothing to count.
    const first = refusals <= 1 && this.isLimited;
    this.logger?.warn(
      {
        usedMiB: Math.round(this.usedBytes / MIB),
        softLimitMiB: Math.round(this.refuseAboveBytes / MIB),
        limitMiB: Math.round(this.limitBytes / MIB),
        state: this.state,
        ...(first
          ? {}
          : {
              refusalsSinceLastLog: refusals,
              hardRefusalsSinceLastLog: hard,
              peakUsedMiB: Math.round(peakUsed / MIB),
            }),
      },
      first
        ? 'memory use above the limiter: receivers refuse data (service.memory_limiter)'
        : `memory use went above the limiter ${refusals} times in the last ${Math.round((now - this.refusalLoggedAt) / 1000)} s: receivers refused data meanwhile (service.memory_limiter)`,
    );
    this.refusalLoggedAt = now;
    this.refusalLogged = this.isLimited;
    this.unlogged = { refusals: 0, hard: 0, peakUsed: 0 };
  }

  private warnUnreadable(err: unknown): void {
    if (!this.failing)
      this.logger?.warn({ err: (err as Error).message }, 'memory could not be sampled; keeping the last reading');
    this.failing = true;
  }
}
