/**
 * Events/s through the correlation engine on one core with 50 rules and 100,000 active groups,
 * and heap bytes per active group, next to a baseline in the same run: a bare loop that builds
 * the same group key per event and increments a Map entry (the least any correlator does).
 * Rules compile with the real OTTL subset and state goes through the in-memory StateStore.
 * Also the timer's cost at that size: ms per `tick()`, next to a baseline in the same run: the
 * same engine and state on a store whose `keys()` and `sweep()` walk every entry (the store
 * before its kind index and due-time slots).
 * Run: `node --expose-gc bench/correlation.ts [--passes 8] [--ticks 20]`.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import type { CorrelationEngine } from '../src/correlation/engine.ts';
import { MemoryStateStore } from '../src/state/memoryStore.ts';
import { BASE_MS, buildEngine, GROUPS, makeEvents, RULES } from './correlationWorkload.ts';
import { benchArgs, fmt, table } from './support.ts';

if (typeof globalThis.gc !== 'function') {
  // Heap figures need a forced collection; re-run under --expose-gc (pinned to one core when possible).
  let pin: string[] = [];
  try {
    execFileSync('taskset', ['-c', '0', 'true']);
    pin = ['taskset', '-c', '0'];
  } catch {
    /* no taskset: run unpinned */
  }
  const cmd = [...pin, process.execPath, '--expose-gc', ...process.argv.slice(1)];
  process.exit(spawnSync(cmd[0]!, cmd.slice(1), { stdio: 'inherit' }).status ?? 1);
}
const gc = globalThis.gc as () => void;

const { values } = benchArgs(import.meta.filename, {
  options: { passes: { type: 'string', default: '8' }, ticks: { type: 'string', default: '20' } },
});
const PASSES = Number(values.passes);
const TICKS = Number(values.ticks);
/** The store as it was before its kind index and due-time slots: `keys()` and `sweep()` walk every entry. */
class ScanningStateStore extends MemoryStateStore {
  override *keys(prefix: string): IterableIterator<string> {
    for (const key of super.keys('')) if (key.startsWith(prefix)) yield key;
  }

  override sweep(nowMs: number): number {
    // The walk is the cost being reproduced: the store's sweep visited every entry.
    for (const key of super.keys('')) if (key === '') break;
    return super.sweep(nowMs);
  }
}

const events = makeEvents();
const nowMs = BASE_MS + 61_000;
const BATCH = 1000;

function heapUsed(): number {
  gc();
  gc();
  return process.memoryUsage().heapUsed;
}

/** The baseline: the group key per event and one Map increment, over the same events. */
function baseline(): { seconds: number; bytesPerGroup: number } {
  const before = heapUsed();
  const counts = new Map<string, number>();
  const run = () => {
    for (const e of events) {
      const key = `t${(e.attributes.check as string).slice(1)}{asset="${e.asset}"}`;
      counts.set(key, (counts.get(key) ?? 0) + 1);
    }
  };
  run();
  const bytesPerGroup = (heapUsed() - before) / counts.size;
  const start = performance.now();
  for (let p = 0; p < PASSES; p++) run();
  return { seconds: (performance.now() - start) / 1000, bytesPerGroup };
}

function engineRun(): { seconds: number; bytesPerGroup: number; changes: number; entries: number; ticks: TickTimes } {
  const before = heapUsed();
  const engine = buildEngine();
  let changes = 0;
  const pass = () => {
    for (let i = 0; i < events.length; i += BATCH) changes += engine.process(events.slice(i, i + BATCH), nowMs).length;
  };
  pass();
  const bytesPerGroup = (heapUsed() - before) / GROUPS;
  const start = performance.now();
  for (let p = 0; p < PASSES; p++) pass();
  const seconds = (performance.now() - start) / 1000;
  return { seconds, bytesPerGroup, changes, entries: engine.store.size(), ticks: timeTicks(engine) };
}

interface TickTimes {
  /** The first tick, which also sweeps the store (the engine sweeps every 30 s). */
  sweepMs: number;
  /** Median and worst of the ticks that follow, one second apart: no sweep. */
  medianMs: number;
  maxMs: number;
  /** One `sweep()` on its own, with nothing due: what every 30 s adds to a tick. */
  bareSweepMs: number;
}

function timeTicks(engine: CorrelationEngine): TickTimes {
  const ms: number[] = [];
  for (let i = 0; i <= TICKS; i++) {
    const tickStart = performance.now();
    if (engine.tick(nowMs + i * 1000).length > 0)
      throw new Error('the benchmark expects no incident changes from the timer');
    ms.push(performance.now() - tickStart);
  }
  const rest = ms.slice(1).sort((a, b) => a - b);
  const sweepStart = performance.now();
  engine.store.sweep(nowMs + TICKS * 1000);
  const bareSweepMs = performance.now() - sweepStart;
  return { sweepMs: ms[0]!, medianMs: rest[Math.floor(rest.length / 2)]!, maxMs: rest[rest.length - 1]!, bareSweepMs };
}

/** The same state on the scanning store: one pass fills it, then the same ticks. */
function scanningTicks(): TickTimes {
  const engine = buildEngine(new ScanningStateStore());
  for (let i = 0; i < events.length; i += BATCH) engine.process(events.slice(i, i + BATCH), nowMs);
  return timeTicks(engine);
}

const base = baseline();
const eng = engineRun();
const scan = scanningTicks();
const total = events.length * PASSES;
const baseRate = total / base.seconds;
const engRate = total / eng.seconds;
process.stdout.write(
  table(
    ['run', 'events/s', 'vs baseline', 'bytes per active group', 'incident changes'],
    [
      [`baseline: group key + Map increment`, fmt(baseRate), '1.00', fmt(base.bytesPerGroup), '—'],
      [
        `engine: ${RULES} rules, ${fmt(GROUPS)} groups, StateStore (memory)`,
        fmt(engRate),
        (engRate / baseRate).toFixed(2),
        fmt(eng.bytesPerGroup),
        String(eng.changes),
      ],
    ],
  ) + '\n',
);
const ms = (t: number) => t.toFixed(1);
process.stdout.write(
  '\n' +
    table(
      ['tick', 'median ms', 'worst ms', 'vs baseline (median)', 'first tick (sweeps) ms', 'sweep() alone ms'],
      [
        [
          'baseline: keys() and sweep() walk every entry',
          ms(scan.medianMs),
          ms(scan.maxMs),
          '1.00',
          ms(scan.sweepMs),
          ms(scan.bareSweepMs),
        ],
        [
          'kind index and due-time slots',
          ms(eng.ticks.medianMs),
          ms(eng.ticks.maxMs),
          (eng.ticks.medianMs / scan.medianMs).toFixed(2),
          ms(eng.ticks.sweepMs),
          ms(eng.ticks.bareSweepMs),
        ],
      ],
    ) +
    '\n',
);
process.stdout.write(
  `\n${fmt(total)} events per run (${PASSES} passes over ${fmt(GROUPS)} events in batches of ${BATCH}); ${fmt(eng.entries)} state entries; ${TICKS} ticks after one sweeping tick; node ${process.version}\n`,
);
