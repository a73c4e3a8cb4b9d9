/**
 * What a round of the timers costs with many incidents open. One engine on the memory store (one
 * agent's, or one partition's) is fed the Redis benchmark's stream (bench/redisWorkload.ts: error
 * storms, link flaps and disk alerts over `--groups` groups per rule, its timers every 50 s of
 * event time), then runs `--ticks` rounds of its timers one second apart after the last event, each
 * timed in CPU. A round looks at every open incident (its record and group count, its rule's own
 * state, suppression, notification timers), so the figure to scale by is µs per open incident.
 * Baseline, in the same run: the same stream under the rules' own max_open_incidents (1,000 a
 * rule), which holds the open incidents near the limit; the other run has no limit.
 * Run: `node bench/openTicks.ts [--groups 2000,100000] [--events 300000] [--ticks 5]`.
 */
import { CorrelationEngine } from '../src/correlation/engine.ts';
import { MemoryStateStore } from '../src/state/memoryStore.ts';
import { BATCH, ruleSet, streamShare, timeMsOf } from './redisWorkload.ts';
import { benchArgs, cpuUs, fmt, median, table } from './support.ts';

const { values } = benchArgs(import.meta.filename, {
  options: {
    groups: { type: 'string', default: '2000,100000' },
    events: { type: 'string', default: '300000' },
    ticks: { type: 'string', default: '5' },
  },
});
const SIZES = values.groups.split(',').map(Number);
const EVENTS = Number(values.events);
const TICKS = Number(values.ticks);
for (const [name, n] of [
  ['--events', EVENTS],
  ['--ticks', TICKS],
  ...SIZES.map((g) => ['--groups', g] as const),
] as const) {
  if (!Number.isInteger(n) || n < 1) {
    process.stderr.write(`bench/openTicks.ts: ${name} takes a whole number of at least 1\n`);
    process.exit(2);
  }
}
/** Event time between two rounds of the timers while the stream is fed. */
const FEED_TICK_MS = 50_000;
/** The rules' own default. */
const DEFAULT_LIMIT = 1000;

interface Run {
  open: number;
  ticksMs: number[];
}

function run(groups: number, maxOpen: number): Run {
  const events = streamShare(EVENTS, groups, 0, 1);
  const engine = new CorrelationEngine(ruleSet(maxOpen), new MemoryStateStore(), { soleWriter: true });
  let nextTick = FEED_TICK_MS;
  let nowMs = 0;
  for (let i = 0; i < events.length; i += BATCH) {
    const batch = events.slice(i, i + BATCH);
    nowMs = timeMsOf(batch[batch.length - 1]!);
    for (; nextTick <= nowMs; nextTick += FEED_TICK_MS) engine.tick(nextTick);
    engine.process(batch, nowMs);
  }
  const open = engine.openIncidents().length;
  const ticksMs: number[] = [];
  for (let t = 1; t <= TICKS; t++) {
    const from = process.cpuUsage();
    engine.tick(nowMs + t * 1000);
    ticksMs.push(cpuUs(from) / 1000);
  }
  return { open, ticksMs };
}

const rows: string[][] = [];
for (const groups of SIZES) {
  const base = run(groups, DEFAULT_LIMIT);
  const all = run(groups, 0);
  for (const [label, r] of [
    [`max_open_incidents ${fmt(DEFAULT_LIMIT)} (baseline)`, base],
    ['no limit', all],
  ] as const) {
    const mid = median(r.ticksMs);
    rows.push([
      fmt(groups),
      label,
      fmt(r.open),
      mid.toFixed(1),
      Math.max(...r.ticksMs).toFixed(1),
      ((mid * 1000) / Math.max(1, r.open)).toFixed(2),
      (mid / median(base.ticksMs)).toFixed(2),
    ]);
  }
}
process.stdout.write(
  `${fmt(EVENTS)} events, ${TICKS} rounds of the timers after the last, node ${process.version}\n\n` +
    table(
      [
        'groups per rule',
        'run',
        'open incidents',
        'ms per round (median, CPU)',
        'worst ms',
        'µs per open incident',
        '× baseline',
      ],
      rows,
    ) +
    '\n',
);
