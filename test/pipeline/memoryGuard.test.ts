import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { MemoryLimitError } from '../../src/errors.ts';
import { garbageCollector, MemoryGuard, type MemoryGuardConfig } from '../../src/pipeline/memoryGuard.ts';
import {
  processMemorySource,
  readCgroupMemory,
  type CgroupMemory,
  type HeapMemory,
  type MemorySource,
} from '../../src/pipeline/memorySource.ts';
import { createLogger, type Logger } from '../../src/telemetry/logger.ts';
import { SelfMetrics } from '../../src/telemetry/selfMetrics.ts';

const MIB = 1024 * 1024;

/** A process whose memory the test sets; the cgroup and the clock too. */
function fakeMemory(init: { residentMiB?: number; cgroup?: CgroupMemory; totalMiB?: number } = {}) {
  const state = {
    resident: (init.residentMiB ?? 50) * MIB,
    heap: { used: 10 * MIB, limit: 4096 * MIB } as HeapMemory,
    cgroup: init.cgroup,
    failWith: undefined as Error | undefined,
    reads: 0,
    /** Whether accepted data is still on its way (queued, spooled, being inserted). */
    inFlight: true,
  };
  const source: MemorySource = {
    resident() {
      state.reads++;
      if (state.failWith) throw state.failWith;
      return state.resident;
    },
    heap: () => state.heap,
    cgroup: () => state.cgroup,
    totalMemory: () => (init.totalMiB ?? 8192) * MIB,
  };
  let clock = 0;
  const gcs: number[] = [];
  const quickGcs: number[] = [];
  const make = (cfg: Partial<MemoryGuardConfig>, metrics?: SelfMetrics, logger?: Logger) =>
    new MemoryGuard(
      { limit_mib: 256, limit_percentage: 80, spike_limit_mib: 0, check_interval: 0, ...cfg },
      {
        source,
        now: () => clock,
        gc: (kind) => (kind === 'quick' ? quickGcs : gcs).push(clock),
        inFlight: () => state.inFlight,
        ...(metrics ? { metrics } : {}),
        ...(logger ? { logger } : {}),
      },
    );
  return {
    state,
    make,
    gcs,
    quickGcs,
    setMiB: (n: number) => (state.resident = n * MIB),
    advance: (ms: number) => (clock += ms),
  };
}

function refuses(guard: MemoryGuard): boolean {
  try {
    guard.admit();
    return false;
  } catch (err) {
    expect(err).toBeInstanceOf(MemoryLimitError);
    return true;
  }
}

describe('memory limiter limits', () => {
  it('takes limit_mib, with the soft limit a spike below it (20 % by default)', () => {
    const m = fakeMemory();
    const guard = m.make({ limit_mib: 256 });
    expect(guard.limitBytes).toBe(256 * MIB);
    expect(guard.softLimitBytes).toBeCloseTo(256 * 0.8 * MIB, -1);
    const spiked = m.make({ limit_mib: 256, spike_limit_mib: 56 });
    expect(spiked.softLimitBytes).toBe(200 * MIB);
  });

  it("takes limit_percentage of the cgroup's limit, else of the machine's memory", () => {
    const inCgroup = fakeMemory({ cgroup: { limit: 1000 * MIB, workingSet: 0 } });
    expect(inCgroup.make({ limit_mib: 0, limit_percentage: 50 }).limitBytes).toBe(500 * MIB);
    const unlimitedCgroup = fakeMemory({ cgroup: { workingSet: 0 }, totalMiB: 2000 });
    expect(unlimitedCgroup.make({ limit_mib: 0, limit_percentage: 80 }).limitBytes).toBe(1600 * MIB);
    const bare = fakeMemory({ totalMiB: 4000 });
    expect(bare.make({ limit_mib: 0, limit_percentage: 25 }).limitBytes).toBe(1000 * MIB);
  });

  it('bounds the receive budget by the spike headroom', () => {
    const m = fakeMemory();
    expect(
      m.make({ limit_mib: 256, spike_limit_mib: 32, max_receive_buffer_size: 256 * MIB }).receiveBuffers.limit,
    ).toBe(32 * MIB);
    expect(
      m.make({ limit_mib: 4096, spike_limit_mib: 1024, max_receive_buffer_size: 64 * MIB }).receiveBuffers.limit,
    ).toBe(64 * MIB);
  });
});

describe('memory limiter states', () => {
  it('refuses above the soft limit, and takes data again only when a periodic check finds use under it', () => {
    const m = fakeMemory({ residentMiB: 100 });
    const guard = m.make({ limit_mib: 256, spike_limit_mib: 56 }); // soft 200
    expect(guard.check()).toBe(false);
    expect(refuses(guard)).toBe(false);
    m.setMiB(201);
    guard.check();
    expect(guard.currentState).toBe('soft');
    expect(refuses(guard)).toBe(true);
    expect(guard.health()).toMatchObject({ status: 'degraded' });
    expect(guard.health().reason).toMatch(/201 MiB above the soft limit 200 MiB/);
    m.setMiB(199); // under soft, sampled as a request arrives: still refused
    m.advance(20);
    expect(refuses(guard)).toBe(true);
    m.setMiB(199);
    guard.check();
    expect(guard.currentState).toBe('normal');
    expect(refuses(guard)).toBe(false);
    expect(guard.health()).toEqual({ status: 'ok' });
  });

  it('above the hard limit fails readiness and forces a collection at every check', () => {
    const m = fakeMemory({ residentMiB: 300 });
    const guard = m.make({ limit_mib: 256 });
    guard.check();
    expect(guard.currentState).toBe('hard');
    expect(guard.health()).toMatchObject({ status: 'failing' });
    m.advance(1000);
    guard.check();
    expect(m.gcs).toEqual([0, 1000]);
    m.setMiB(220); // between soft (204.8) and hard: still refused, hard no more
    m.advance(1000);
    guard.check();
    expect(guard.currentState).toBe('soft');
    expect(refuses(guard)).toBe(true);
  });

  it('above the soft limit forces a collection at most every 10 s', () => {
    const m = fakeMemory({ residentMiB: 210 });
    const guard = m.make({ limit_mib: 256 });
    guard.check();
    for (let i = 0; i < 19; i++) {
      m.advance(1000);
      guard.check();
    }
    m.advance(1000);
    guard.check();
    expect(m.gcs).toEqual([0, 10_000, 20_000]);
  });

  it('collects quickly at each check while the heap and its buffers grow near the soft limit, thoroughly every 10 s', () => {
    const m = fakeMemory({ residentMiB: 100 });
    const guard = m.make({ limit_mib: 256 }); // soft 204.8 MiB, spike 51.2: a quarter is 12.8 MiB
    const grow = (usedMiB: number, externalMiB: number) =>
      (m.state.heap = { used: usedMiB * MIB, limit: 4096 * MIB, external: externalMiB * MIB });
    // Far below the soft limit, growth alone does not collect.
    grow(10, 0);
    guard.check();
    grow(60, 20);
    m.advance(250);
    guard.check();
    expect(m.quickGcs).toEqual([]);
    // Within half the spike below the soft limit (179.2 MiB): one per check while it grows.
    m.setMiB(190);
    for (let i = 0; i < 4; i++) {
      grow(60 + 10 * i, 20 + 10 * i);
      m.advance(250);
      guard.check();
    }
    expect(m.quickGcs).toEqual([500, 750, 1000, 1250]);
    // A collection took the heap back (seen at the next sample): no growth since, none.
    grow(20, 2);
    m.advance(250);
    guard.check();
    grow(25, 2);
    m.advance(250);
    guard.check();
    expect(m.quickGcs).toEqual([500, 750, 1000, 1250]);
    expect(m.gcs).toEqual([]);
    // Above the soft limit: the thorough one every 10 s, quick ones between while it grows.
    m.setMiB(210);
    m.advance(250);
    guard.check();
    expect(m.gcs).toEqual([2000]);
    grow(50, 10);
    m.advance(250);
    guard.check();
    expect(m.quickGcs).toEqual([500, 750, 1000, 1250, 2250]);
  });

  it('collects quickly, at most once a second, while resident memory grows near the soft limit and the heap does not', () => {
    // Buffers freed by JS but held by the allocator, native memory owned by JS objects that V8
    // does not count: resident memory grows while the heap and its buffers stay flat, and a
    // collection is what gives it back.
    const m = fakeMemory({ residentMiB: 100 });
    const guard = m.make({ limit_mib: 256 }); // soft 204.8 MiB, spike 51.2: a quarter is 12.8 MiB
    m.state.heap = { used: 40 * MIB, limit: 4096 * MIB, external: 20 * MIB };
    const at = (mib: number) => {
      m.setMiB(mib);
      guard.check();
      m.advance(250);
    };
    // Far below the soft limit (under 179.2 MiB), growth alone does not collect.
    at(100);
    at(170);
    expect(m.quickGcs).toEqual([]);
    // Within half the spike below it, grown by more than a quarter of the spike: collect.
    at(180);
    expect(m.quickGcs).toEqual([500]);
    // Growing on from 180: by 6, then by 15 and 20 MiB, but within the second.
    at(186);
    at(195);
    at(200);
    expect(m.quickGcs).toEqual([500]);
    // Above the soft limit (212): the thorough one. 230 grew 18 MiB since, a second after the last quick one.
    at(212);
    at(214);
    at(230);
    expect(m.gcs).toEqual([1500]);
    expect(m.quickGcs).toEqual([500, 2000]);
  });

  it("counts the cgroup's working set when it is above the process's own memory", () => {
    const m = fakeMemory({ residentMiB: 50, cgroup: { limit: 512 * MIB, workingSet: 230 * MIB } });
    const guard = m.make({ limit_mib: 256 });
    expect(guard.check()).toBe(true);
    expect(guard.usedBytes).toBe(230 * MIB);
    m.state.cgroup = { limit: 512 * MIB, workingSet: 60 * MIB };
    expect(guard.check()).toBe(false);
  });

  it("does not count a cgroup with no limit, whose usage may be a whole machine's", () => {
    const m = fakeMemory({ residentMiB: 50, cgroup: { workingSet: 4000 * MIB } });
    const guard = m.make({ limit_mib: 256 });
    expect(guard.check()).toBe(false);
    expect(guard.usedBytes).toBe(50 * MIB);
  });

  it("refuses when the V8 heap nears its own limit, whatever the process's memory", () => {
    const m = fakeMemory({ residentMiB: 50 });
    const guard = m.make({ limit_mib: 4096 });
    m.state.heap = { used: 950 * MIB, limit: 1024 * MIB };
    expect(guard.check()).toBe(true);
    expect(guard.health().reason).toMatch(/V8 heap/);
    m.state.heap = { used: 100 * MIB, limit: 1024 * MIB };
    expect(guard.check()).toBe(false);
  });

  it('samples again on admission once the last sample is 20 ms old, not on every request', () => {
    const m = fakeMemory({ residentMiB: 50 });
    const guard = m.make({ limit_mib: 256 });
    guard.check();
    const reads = m.state.reads;
    m.setMiB(240);
    expect(refuses(guard)).toBe(false); // same instant: the last sample stands
    expect(m.state.reads).toBe(reads);
    m.advance(20);
    expect(refuses(guard)).toBe(true);
    expect(m.state.reads).toBe(reads + 1);
  });

  it('keeps its last answer while memory cannot be read', () => {
    const m = fakeMemory({ residentMiB: 240 });
    const guard = m.make({ limit_mib: 256 });
    expect(guard.check()).toBe(true);
    m.state.failWith = Object.assign(new Error('EMFILE: too many open files'), { code: 'EMFILE' });
    m.setMiB(10);
    expect(guard.check()).toBe(true);
    m.state.failWith = undefined;
    expect(guard.check()).toBe(false);
  });

  it('exports used memory and both limits as gauges, and whether it refuses', async () => {
    const metrics = new SelfMetrics();
    const m = fakeMemory({ residentMiB: 230, cgroup: { workingSet: 100 * MIB } });
    const guard = m.make({ limit_mib: 256 }, metrics);
    guard.check();
    const text = await metrics.metrics();
    expect(text).toMatch(new RegExp(`^vigil_memory_used_bytes\\{source="process"\\} ${230 * MIB}$`, 'm'));
    expect(text).toMatch(new RegExp(`^vigil_memory_used_bytes\\{source="cgroup"\\} ${100 * MIB}$`, 'm'));
    expect(text).toMatch(new RegExp(`^vigil_memory_limit_bytes\\{limit="hard"\\} ${256 * MIB}$`, 'm'));
    expect(text).toMatch(/^vigil_memory_limit_bytes\{limit="soft"\} \d+/m);
    expect(text).toMatch(/^vigil_memory_limiter_active 1$/m);
  });
});

describe('memory limiter and native engines', () => {
  it("refuses while the heap, an engine's tracked memory and the room for its next insert would pass the ceiling", () => {
    const m = fakeMemory({ residentMiB: 150 });
    const metrics = new SelfMetrics();
    const guard = m.make({ limit_mib: 256, spike_limit_mib: 56 }, metrics); // soft 200
    m.state.heap.used = 40 * MIB;
    guard.reportNative('embedded_clickhouse', { trackedBytes: 150 * MIB, reserveBytes: 36 * MIB });
    guard.check();
    expect(guard.currentState).toBe('normal'); // 226 MiB accounted
    guard.reportNative('embedded_clickhouse', { trackedBytes: 190 * MIB, reserveBytes: 36 * MIB });
    guard.check();
    // Resident memory is still under the soft limit: the insert's memory has not arrived yet.
    expect(refuses(guard)).toBe(true);
    expect(guard.health().reason).toMatch(/embedded_clickhouse and the room reserved for its next insert \(266 MiB\)/);
    guard.reportNative('embedded_clickhouse', { trackedBytes: 100 * MIB, reserveBytes: 36 * MIB });
    guard.check();
    expect(refuses(guard)).toBe(false);
    // Withdrawn when the engine closes: nothing of it counts any more.
    guard.reportNative('embedded_clickhouse', { trackedBytes: 500 * MIB, reserveBytes: 36 * MIB });
    guard.reportNative('embedded_clickhouse', undefined);
    guard.check();
    expect(refuses(guard)).toBe(false);
  });

  it('refuses below the soft limit by the room an engine reserves for its next insert, which admission cannot stop', () => {
    const m = fakeMemory({ residentMiB: 170 });
    const metrics = new SelfMetrics();
    const guard = m.make({ limit_mib: 256, spike_limit_mib: 56 }, metrics); // soft 200
    m.state.heap.used = 20 * MIB;
    guard.check();
    expect(refuses(guard)).toBe(false);
    // Resident 170 + the insert's 36 MiB would pass the soft limit.
    guard.reportNative('embedded_clickhouse', { trackedBytes: 20 * MIB, reserveBytes: 36 * MIB });
    guard.check();
    expect(refuses(guard)).toBe(true);
    expect(guard.health().reason).toMatch(/above the soft limit 164 MiB/);
    m.setMiB(160);
    guard.check();
    expect(refuses(guard)).toBe(false);
    expect(guard.health()).toEqual({ status: 'ok' });
    // Held at rest above it (a floor): data again up to half the spike above it, 218 MiB.
    m.state.inFlight = false;
    m.setMiB(190);
    for (let i = 0; i < 4; i++) {
      guard.check();
      m.advance(1000);
    }
    expect(guard.floorBytes).toBe(190 * MIB);
    m.state.inFlight = true;
    m.setMiB(215);
    guard.check();
    expect(refuses(guard)).toBe(false);
    m.setMiB(225);
    guard.check();
    expect(refuses(guard)).toBe(true);
  });

  it('asks an engine to hand back what its allocator holds freed near the ceiling only, at most every 100 ms', () => {
    const m = fakeMemory({ residentMiB: 120 });
    const guard = m.make({ limit_mib: 256, spike_limit_mib: 56 }); // soft 200: asks above 172
    let released = 0;
    guard.reportNative('embedded_clickhouse', { trackedBytes: 20 * MIB, reserveBytes: 0, release: () => released++ });
    guard.check();
    expect(released).toBe(0);
    m.setMiB(180);
    guard.check();
    expect(released).toBe(1);
    m.advance(50);
    guard.check();
    expect(released).toBe(1);
    m.advance(50);
    guard.check();
    expect(released).toBe(2);
    // Above the hard limit too.
    m.setMiB(270);
    m.advance(100);
    guard.check();
    expect(released).toBe(3);
    m.setMiB(150);
    m.advance(1000);
    guard.check();
    expect(released).toBe(3);
  });

  it("exports each engine's tracked memory beside the process's", async () => {
    const m = fakeMemory({ residentMiB: 150 });
    const metrics = new SelfMetrics();
    const guard = m.make({ limit_mib: 256 }, metrics);
    guard.reportNative('embedded_clickhouse', { trackedBytes: 42 * MIB, reserveBytes: 36 * MIB });
    guard.check();
    const text = await metrics.registry.metrics();
    expect(text).toContain(`vigil_memory_used_bytes{source="embedded_clickhouse"} ${42 * MIB}`);
    expect(text).toContain(`vigil_memory_used_bytes{source="process"} ${150 * MIB}`);
  });
});

describe('memory limiter logs', () => {
  function capture(): { logger: Logger; records: Record<string, unknown>[] } {
    const records: Record<string, unknown>[] = [];
    const logger = createLogger('info', {
      write: (s: string) => records.push(JSON.parse(s) as Record<string, unknown>),
    } as unknown as NodeJS.WritableStream);
    return { logger, records };
  }
  const warnings = (records: Record<string, unknown>[]) => records.filter((r) => r.level === 40);

  it('warns on the first refusal, then counts entries and summarises them at most every 30 s', () => {
    const m = fakeMemory({ residentMiB: 100 });
    const { logger, records } = capture();
    const guard = m.make({ limit_mib: 256, spike_limit_mib: 56 }, undefined, logger); // soft 200
    // A flood: use crosses the hard limit and falls back every 250 ms, 200 times (50 s).
    for (let i = 0; i < 200; i++) {
      m.setMiB(i % 2 ? 150 : 300);
      guard.check();
      m.advance(250);
    }
    const warned = warnings(records);
    expect(warned[0]).toMatchObject({ state: 'hard', usedMiB: 300, limitMiB: 256 });
    // The first at once, then one summary at 30 s: not one line per entry.
    expect(warned).toHaveLength(2);
    expect(warned[1]).toMatchObject({ refusalsSinceLastLog: 60, hardRefusalsSinceLastLog: 60, peakUsedMiB: 300 });
    // Each line that says refusals started is followed by one that says they ended, no more.
    expect(records.filter((r) => String(r.msg).includes('take data again'))).toHaveLength(2);
    // Entries after the last summary are told once the interval has passed, at the next check, refusing or not.
    m.setMiB(150);
    m.advance(30_000);
    guard.check();
    const last = warnings(records).at(-1)!;
    expect(warnings(records)).toHaveLength(3);
    expect(last).toMatchObject({ refusalsSinceLastLog: 39, hardRefusalsSinceLastLog: 39 });
    // Nothing new to tell: no more lines.
    m.advance(60_000);
    guard.check();
    expect(warnings(records)).toHaveLength(3);
  });

  it('warns again at once for the first refusal after a quiet interval', () => {
    const m = fakeMemory({ residentMiB: 100 });
    const { logger, records } = capture();
    const guard = m.make({ limit_mib: 256, spike_limit_mib: 56 }, undefined, logger);
    m.setMiB(210);
    guard.check();
    m.setMiB(100);
    m.advance(250);
    guard.check();
    m.advance(31_000);
    m.setMiB(300);
    guard.check();
    expect(warnings(records).map((r) => r.state)).toEqual(['soft', 'hard']);
    expect(warnings(records)[1]).not.toHaveProperty('refusalsSinceLastLog');
  });
});

describe('memory limiter resident floor', () => {
  /** Periodic checks one second apart, as `check_interval: 1s` runs them. */
  function checks(guard: MemoryGuard, m: ReturnType<typeof fakeMemory>, n: number): void {
    for (let i = 0; i < n; i++) {
      m.advance(1000);
      guard.check();
    }
  }

  /** Use rises to `mib` as a request arrives, sampled then (not at a periodic check). */
  function refusesAt(guard: MemoryGuard, m: ReturnType<typeof fakeMemory>, mib: number): boolean {
    m.setMiB(mib);
    m.advance(20);
    return refuses(guard);
  }

  it('takes data again within a few checks once nothing is in flight, however high the idle use', () => {
    const m = fakeMemory({ residentMiB: 280 });
    const guard = m.make({ limit_mib: 256, spike_limit_mib: 51 }); // soft 205
    m.state.inFlight = true;
    guard.check();
    expect(refuses(guard)).toBe(true);
    m.state.inFlight = false; // every queue and spool drained; embedded ClickHouse keeps its arenas
    let resumedAfter: number | undefined;
    for (let i = 1; i <= 10 && resumedAfter === undefined; i++) {
      checks(guard, m, 1);
      if (!refuses(guard)) resumedAfter = i;
    }
    expect(resumedAfter).toBeDefined();
    expect(resumedAfter!).toBeLessThanOrEqual(5);
    // A collection was forced before the idle use was taken as the floor.
    expect(m.gcs.length).toBeGreaterThanOrEqual(1);
  });

  it('keeps refusing while accepted data is still in flight', () => {
    const m = fakeMemory({ residentMiB: 280 });
    const guard = m.make({ limit_mib: 256, spike_limit_mib: 51 });
    m.state.inFlight = true;
    checks(guard, m, 60);
    expect(refuses(guard)).toBe(true);
  });

  it('says so on /readyz and in a gauge, and budgets new data against the floor', async () => {
    const metrics = new SelfMetrics();
    const m = fakeMemory({ residentMiB: 280 });
    const guard = m.make({ limit_mib: 256, spike_limit_mib: 51 }, metrics);
    m.state.inFlight = false;
    checks(guard, m, 5);
    expect(refuses(guard)).toBe(false);
    expect(guard.floorBytes).toBe(280 * MIB);
    expect(guard.health().status).toBe('degraded');
    expect(guard.health().reason).toMatch(/280 MiB.*nothing in flight.*soft limit 205 MiB.*limit_mib/);
    const text = await metrics.metrics();
    expect(text).toMatch(new RegExp(`^vigil_memory_floor_bytes ${280 * MIB}$`, 'm'));
    expect(text).toMatch(/^vigil_memory_limiter_active 0$/m);
    // Data arrives: with the floor above the ceiling, it may raise use by half the spike headroom.
    m.state.inFlight = true;
    expect(refusesAt(guard, m, 300)).toBe(false);
    expect(refusesAt(guard, m, 310)).toBe(true);
    checks(guard, m, 1);
    expect(refuses(guard)).toBe(true);
    // Drained again, settled lower: the floor follows it, and refusals end.
    m.state.inFlight = false;
    m.setMiB(290);
    checks(guard, m, 5);
    expect(refuses(guard)).toBe(false);
    expect(guard.floorBytes).toBe(290 * MIB);
  });

  it('forgets the floor once idle use falls under the soft limit', async () => {
    const metrics = new SelfMetrics();
    const m = fakeMemory({ residentMiB: 280 });
    const guard = m.make({ limit_mib: 256, spike_limit_mib: 51 }, metrics);
    m.state.inFlight = false;
    checks(guard, m, 5);
    m.setMiB(150);
    checks(guard, m, 1);
    expect(guard.floorBytes).toBe(0);
    expect(guard.health()).toEqual({ status: 'ok' });
    expect(await metrics.metrics()).toMatch(/^vigil_memory_floor_bytes 0$/m);
    // Back to the configured limits: above the soft limit with data in flight is refused.
    m.state.inFlight = true;
    expect(refusesAt(guard, m, 210)).toBe(true);
  });

  it('takes the lowest use measured at rest as the floor, and lets data raise use by half the spike above it', () => {
    const m = fakeMemory({ residentMiB: 240 });
    const guard = m.make({ limit_mib: 256, spike_limit_mib: 51 });
    m.state.inFlight = false;
    for (const mib of [240, 215, 230, 235]) {
      m.setMiB(mib);
      checks(guard, m, 1);
    }
    expect(guard.floorBytes).toBe(215 * MIB);
    m.state.inFlight = true;
    // 215 + 25.5: the other half of the spike stays for what arrives before the next sample.
    expect(refusesAt(guard, m, 240)).toBe(false);
    expect(refusesAt(guard, m, 242)).toBe(true);
  });

  it('does not take a short idle moment during a flood for a floor', () => {
    const m = fakeMemory({ residentMiB: 280 });
    const guard = m.make({ limit_mib: 256, spike_limit_mib: 51 });
    for (let i = 0; i < 30; i++) {
      m.state.inFlight = i % 2 === 0; // queues empty between two batches, every other check
      checks(guard, m, 1);
    }
    expect(refuses(guard)).toBe(true);
  });
});

describe('memory limiter collection', () => {
  it('hands the memory of garbage back to the system, young generation included', () => {
    const collect = garbageCollector();
    expect(collect).toBeDefined();
    const source = processMemorySource();
    collect!();
    const before = source.resident();
    // A flood's worth of short-lived objects, some surviving a while: V8 grows both generations.
    const kept: object[][] = [];
    for (let round = 0; round < 12; round++) {
      const batch: object[] = [];
      for (let i = 0; i < 150_000; i++) batch.push({ i, text: `line ${i}` });
      kept.push(batch);
      if (kept.length > 4) kept.shift();
    }
    const grown = source.resident() - before;
    expect(grown).toBeGreaterThan(100 * MIB);
    kept.length = 0;
    collect!();
    // What stays resident is a small part of what the garbage took.
    expect(source.resident() - before).toBeLessThan(grown * 0.25);
  });
});

describe('the young generation of a daemon whose memory is limited', () => {
  /** V8's young generation after a burst of short-lived objects, in a fresh Node, in MiB. */
  const youngAfterBurst = (limited: boolean) => {
    const guard = fileURLToPath(new URL('../../src/pipeline/memoryGuard.ts', import.meta.url));
    const script = `
      import { getHeapSpaceStatistics } from 'node:v8';
      import { keepYoungGenerationSmall } from ${JSON.stringify(guard)};
      if (${limited}) keepYoungGenerationSmall();
      let kept = [];
      for (let i = 0; i < 3e6; i++) { kept.push({ i, text: 'line ' + i }); if (kept.length > 100000) kept = []; }
      const young = getHeapSpaceStatistics().find((s) => s.space_name === 'new_space');
      process.stdout.write(String(young.space_size / 1048576));`;
    return Number(execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' }));
  };

  it('stays near its starting size under load, where it would grow to tens of MiB', () => {
    // Measured: 128 MiB without; with, 2 MiB in most runs and up to 6.25 on a loaded machine.
    expect(youngAfterBurst(false)).toBeGreaterThanOrEqual(16);
    expect(youngAfterBurst(true)).toBeLessThanOrEqual(8);
  });
});

describe('memory sources', () => {
  /** A fake /proc and /sys: path → contents. */
  const files = (entries: Record<string, string>) => (path: string) => entries[path];

  it('reads a cgroup v2 limit and working set (usage less inactive file cache)', () => {
    const read = files({
      '/proc/self/cgroup': '0::/kubepods/pod1/c1\n',
      '/sys/fs/cgroup/kubepods/pod1/c1/memory.max': '536870912\n',
      '/sys/fs/cgroup/kubepods/pod1/c1/memory.current': '300000000\n',
      '/sys/fs/cgroup/kubepods/pod1/c1/memory.stat': 'anon 200000000\nfile 100000000\ninactive_file 80000000\n',
    });
    expect(readCgroupMemory(read)).toEqual({ limit: 536870912, workingSet: 220000000 });
  });

  it('reads a v2 cgroup namespace mounted at the root, and "max" as no limit', () => {
    const read = files({
      '/proc/self/cgroup': '0::/\n',
      '/sys/fs/cgroup/memory.max': 'max\n',
      '/sys/fs/cgroup/memory.current': '1000\n',
    });
    expect(readCgroupMemory(read)).toEqual({ workingSet: 1000 });
  });

  it('falls back to cgroup v1, where the largest value means no limit', () => {
    const v1 = (limit: string) =>
      files({
        '/proc/self/cgroup': '4:memory:/docker/abc\n3:cpu,cpuacct:/docker/abc\n',
        '/sys/fs/cgroup/memory/memory.limit_in_bytes': limit,
        '/sys/fs/cgroup/memory/memory.usage_in_bytes': '500000\n',
        '/sys/fs/cgroup/memory/memory.stat': 'inactive_file 10\ntotal_inactive_file 100000\n',
      });
    expect(readCgroupMemory(v1('268435456\n'))).toEqual({ limit: 268435456, workingSet: 400000 });
    expect(readCgroupMemory(v1('9223372036854771712\n'))).toEqual({ workingSet: 400000 });
  });

  it('says there is no cgroup when none is mounted', () => {
    expect(readCgroupMemory(files({ '/proc/self/cgroup': '0::/\n' }))).toBeUndefined();
  });

  it("reads this process's anonymous resident memory: some, and less than the whole RSS", () => {
    const resident = processMemorySource().resident();
    expect(resident).toBeGreaterThan(10 * MIB);
    expect(resident).toBeLessThanOrEqual(process.memoryUsage.rss());
  });
});
