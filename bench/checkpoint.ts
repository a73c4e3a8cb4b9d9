/**
 * What the checkpoints of `correlation.state.sharing: partitions` cost an engine: the workload of
 * bench/redis.ts (threshold, pair and dedup rules; `--groups` groups per rule) through one
 * memory engine alone, and through the same engine with a `CheckpointChangeTracker` taking the
 * entries changed every `--every` events (15,000 by default: about a second of three runtime
 * agents in bench/redis.ts), each taken entry made the bytes a socket write would send (a
 * checkpoint is written as it is taken). Timers every 50 s of event time, as `--tick 50000` there.
 * A third run only notes the changes (the store's `trackChanges`, its list taken and dropped as
 * often), to show what noting costs the engine's writes apart from the takes.
 * The machine is shared, so the three run in alternating rounds (`--rounds`) and each round's
 * ratio is to the engine alone of the same round; the table gives the median round. What this
 * benchmark counts of each take's entries by kind (the second table) is left out of the CPU.
 * No Redis: what is measured is the engine's side of a checkpoint (noting changes, encoding),
 * not the write (bench/redis.ts `--owners runtime` has the whole).
 * Run: `node bench/checkpoint.ts [--groups 2000,100000] [--events 300000] [--every 15000] [--rounds 3]`.
 */
import { CorrelationEngine } from '../src/correlation/engine.ts';
import { MemoryStateStore } from '../src/state/memoryStore.ts';
import { CHECKPOINT_FIELD, CheckpointChangeTracker } from '../src/state/stateCheckpoint.ts';
import { BATCH, ruleSet, streamShare, timeMsOf } from './redisWorkload.ts';
import { benchArgs, cpuUs, fmt, median, table } from './support.ts';

const { values } = benchArgs(import.meta.filename, {
  options: {
    groups: { type: 'string', default: '2000,100000' },
    events: { type: 'string', default: '300000' },
    every: { type: 'string', default: '15000' },
    rounds: { type: 'string', default: '3' },
  },
});
const EVENTS = Number(values.events);
const EVERY = Number(values.every);
const ROUNDS = Number(values.rounds);
const TICK_MS = 50_000;

interface Run {
  /** CPU ms of the whole run, and of the checkpoints' takes within it. */
  cpuMs: number;
  takeMs: number;
  bytes: number;
  entries: number;
  removed: number;
  takes: number;
  /** Entries and bytes (key and value) written, by the kind of state their key holds (`i:`, `au:`...). */
  kinds: Map<string, { entries: number; bytes: number }>;
}

const cpuMs = (from: NodeJS.CpuUsage) => cpuUs(from) / 1000;

function run(groups: number, mode: 'alone' | 'noting' | 'checkpoints'): Run {
  const checkpoints = mode === 'checkpoints';
  const events = streamShare(EVENTS, groups, 0, 1);
  globalThis.gc?.();
  const store = new MemoryStateStore();
  const engine = new CorrelationEngine(ruleSet(0), store, { soleWriter: true });
  const tracker = checkpoints ? new CheckpointChangeTracker(store) : undefined;
  if (mode === 'noting') store.trackChanges();
  let countingMs = 0;
  const out: Run = { cpuMs: 0, takeMs: 0, bytes: 0, entries: 0, removed: 0, takes: 0, kinds: new Map() };
  let nextTick = TICK_MS;
  let sinceTake = 0;
  const started = process.cpuUsage();
  for (let i = 0; i < events.length; i += BATCH) {
    const batch = events.slice(i, i + BATCH);
    const nowMs = timeMsOf(batch[batch.length - 1]!);
    for (; nextTick <= nowMs; nextTick += TICK_MS) engine.tick(nextTick);
    engine.process(batch, nowMs);
    sinceTake += batch.length;
    if (mode === 'noting' && sinceTake >= EVERY) {
      sinceTake = 0;
      out.entries += store.takeChanged().size;
    }
    if (tracker && sinceTake >= EVERY) {
      sinceTake = 0;
      const from = process.cpuUsage();
      const { set, remove } = tracker.take();
      for (let j = 0; j < set.length; j++) out.bytes += Buffer.byteLength(set[j]!);
      out.takeMs += cpuMs(from);
      const counting = process.cpuUsage();
      for (let j = 0; j < set.length; j += 2) {
        // What a long set gained goes under a field of its own (`setFieldNames`): counted apart.
        const field = set[j]!;
        const gain = field.startsWith(CHECKPOINT_FIELD);
        const key = gain ? field.slice(field.indexOf(CHECKPOINT_FIELD, 1) + 1) : field;
        const kind = key.slice(0, key.indexOf(':') + 1) + (gain ? ' gained' : '');
        let k = out.kinds.get(kind);
        if (!k) out.kinds.set(kind, (k = { entries: 0, bytes: 0 }));
        k.entries++;
        k.bytes += Buffer.byteLength(set[j]!) + Buffer.byteLength(set[j + 1]!);
      }
      countingMs += cpuMs(counting);
      out.entries += set.length / 2;
      out.removed += remove.length;
      out.takes++;
    }
  }
  out.cpuMs = cpuMs(started) - countingMs;
  tracker?.close();
  return out;
}

const rows: (string | number)[][] = [];
const kindRows: (string | number)[][] = [];
for (const groups of values.groups.split(',').map(Number)) {
  const alone: Run[] = [];
  const withCheckpoints: Run[] = [];
  const noting: Run[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    alone.push(run(groups, 'alone'));
    noting.push(run(groups, 'noting'));
    withCheckpoints.push(run(groups, 'checkpoints'));
  }
  const notingRatios = noting.map((n, r) => alone[r]!.cpuMs / n.cpuMs);
  const ratios = withCheckpoints.map((w, r) => alone[r]!.cpuMs / w.cpuMs);
  const m = ratios.indexOf(median(ratios));
  const w = withCheckpoints[m]!;
  const a = alone[m]!;
  rows.push([
    fmt(groups),
    fmt((EVENTS / a.cpuMs) * 1000),
    median(notingRatios).toFixed(2),
    fmt((EVENTS / w.cpuMs) * 1000),
    (a.cpuMs / w.cpuMs).toFixed(2),
    `${((100 * w.takeMs) / w.cpuMs).toFixed(1)} %`,
    ((w.takeMs * 1000) / (w.entries + w.removed)).toFixed(2),
    fmt(w.entries / w.takes),
    fmt(w.removed / w.takes),
    fmt(w.bytes / w.entries),
    fmt(w.bytes / EVENTS),
  ]);
  // What the checkpoints write, by kind of state: the largest first, the rest together.
  const kinds = [...w.kinds].sort((x, y) => y[1].bytes - x[1].bytes);
  const rest = kinds.slice(5).reduce((r, [, k]) => ({ entries: r.entries + k.entries, bytes: r.bytes + k.bytes }), {
    entries: 0,
    bytes: 0,
  });
  const shown: [string, { entries: number; bytes: number }][] = [...kinds.slice(0, 5), ['others', rest]];
  for (const [kind, k] of shown)
    if (k.entries)
      kindRows.push([
        fmt(groups),
        kind,
        fmt(k.entries / w.takes),
        fmt(k.bytes / k.entries),
        `${((100 * k.bytes) / w.bytes).toFixed(0)} %`,
      ]);
}
process.stdout.write(
  `${fmt(EVENTS)} events, 3 rules, one engine, a checkpoint every ${fmt(EVERY)} events, timers every 50 s of event time, node ${process.version}; median of ${ROUNDS} alternating rounds\n\n`,
);
process.stdout.write(
  table(
    [
      'groups per rule',
      'engine alone, events per CPU-second',
      'noting changes only, × alone',
      'with checkpoints',
      '× alone',
      'CPU in the takes',
      'µs per entry taken',
      'entries written per checkpoint',
      'removed per checkpoint',
      'bytes per entry (key and value)',
      'bytes per event',
    ],
    rows,
  ) + '\n',
);
process.stdout.write(
  '\nWhat the median round wrote, by kind of state (the key up to its colon; "gained": what a long set gained, written apart):\n\n' +
    table(['groups per rule', 'kind', 'entries per checkpoint', 'bytes per entry', 'share of the bytes'], kindRows) +
    '\n',
);
