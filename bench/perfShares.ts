/**
 * Where each agent of a `bench/redis.ts` run spent its CPU, from a system-wide `perf` profile cut
 * to each agent's measured run (the run's bounds from `BENCH_WINDOWS`). Every sample goes to the
 * first part its stack meets from the innermost frame out (the engine before what called it), or,
 * on a thread other than the main one, to V8's compiler or collector, by what the thread runs.
 * Not a benchmark of its own (not in `npm run bench`): the tool behind the CPU shares in
 * docs/benchmarks.md.
 *
 * Record and cut (node's perf map names JIT frames; `-k CLOCK_MONOTONIC` puts the samples on the
 * clock the agents write their bounds on):
 *
 *   BENCH_WINDOWS=windows.txt NODE_OPTIONS="--perf-basic-prof --interpreted-frames-native-stack" \
 *     perf record -k CLOCK_MONOTONIC -F 499 -g -a -o perf.data -- node bench/redis.ts --owners runtime ...
 *   perf script -i perf.data -F comm,pid,tid,time,ip,sym > perf.txt
 *   node bench/perfShares.ts --windows windows.txt --script perf.txt [--from 0.5]
 *
 * `--from F`: only the part of each run after the fraction F of it (0.5: its second half).
 * `perf`'s map keeps a JIT address's first name after V8 moves or frees the code, so a few frames
 * per profile name the wrong function: the shares by part hold, a single function's needs care.
 */
import { readFileSync } from 'node:fs';
import { benchArgs, table } from './support.ts';

const { values } = benchArgs(import.meta.filename, {
  options: {
    windows: { type: 'string', default: '' },
    script: { type: 'string', default: '' },
    from: { type: 'string', default: '0' },
  },
});
const from = Number(values.from);
if (!values.windows || !values.script || !(from >= 0 && from < 1)) {
  process.stderr.write('bench/perfShares.ts: give --windows FILE and --script FILE (and --from in [0, 1))\n');
  process.exit(2);
}

/** The parts, in the order a frame is matched against them. */
const PARTS: [name: string, frame: RegExp][] = [
  ['collecting garbage', /Heap::|Scavenge|MarkCompact|GCTracer|Sweeper|ConcurrentMarking|MinorMark|Evacuat|Marking/],
  ['compiling', /Turbofan|Maglev|compiler::|OptimizingCompile|Compile/],
  ['decoding rows', /eventsFromRows|pointsFromJson/],
  ['encoding rows', /eventsToRows|pointsToJson/],
  ['checkpoints', /checkpoint|Checkpoint|stateCheckpoint/],
  ['the Redis client', /ioredis|redis-parser|node_modules\/(denque|standard-as-callback)/],
  ['the engine', /src\/correlation\//],
  ['owner, runtime, placement', /partitionOwner|partitionRuntime|partitionPlacement|redisPartitions|partitionMirror/],
  ['the socket', /uv__|writev|readv|tcp_|sock_|node:net|node:internal\/stream|stream_base/],
  ['the bench itself', /bench\//],
];

interface Window {
  mode: string;
  fromS: number;
  toS: number;
  counts: Map<string, number>;
  samples: number;
}

const windows = new Map<string, Window>();
for (const line of readFileSync(values.windows, 'utf8').split('\n')) {
  const [pid, mode, fromNs, toNs] = line.trim().split(' ');
  if (!pid || !mode || !fromNs || !toNs) continue;
  const start = Number(fromNs) / 1e9;
  const end = Number(toNs) / 1e9;
  windows.set(pid, { mode, fromS: start + from * (end - start), toS: end, counts: new Map(), samples: 0 });
}

/** The part of one sample: on the main thread by its frames, on another by what the thread runs. */
function partOf(comm: string, mainThread: boolean, frames: string[]): string {
  if (!mainThread) {
    if (!/V8Worker/.test(comm)) return `other threads (${comm})`;
    for (const [name, re] of PARTS.slice(0, 2)) if (frames.some((f) => re.test(f))) return `${name}, V8's threads`;
    return "other work on V8's threads";
  }
  for (const frame of frames) for (const [name, re] of PARTS) if (re.test(frame)) return name;
  return 'other (malloc, memmove, page faults, no script on the stack)';
}

for (const block of readFileSync(values.script, 'utf8').split('\n\n')) {
  const lines = block.trim().split('\n');
  const head = /^(\S+)\s+(\d+)\/(\d+)\s+([\d.]+):/.exec(lines[0] ?? '');
  if (!head) continue;
  const w = windows.get(head[2]!);
  const t = Number(head[4]);
  if (!w || t < w.fromS || t > w.toS) continue;
  const frames = lines.slice(1).map((l) => l.trim());
  const part = partOf(head[1]!, head[2] === head[3], frames);
  w.counts.set(part, (w.counts.get(part) ?? 0) + 1);
  w.samples++;
}

/** Each part's share summed over the agents: the table's rows, greatest first. */
const weight = new Map<string, number>();
for (const w of windows.values())
  for (const [part, n] of w.counts) weight.set(part, (weight.get(part) ?? 0) + n / w.samples);
const parts = [...weight.keys()].sort((a, b) => weight.get(b)! - weight.get(a)!);
const measured = [...windows.entries()].filter(([, w]) => w.samples > 0);
process.stdout.write(
  table(
    ['share of the CPU', ...measured.map(([pid, w]) => `${w.mode} ${pid} (${w.samples} samples)`)],
    parts.map((p) => [p, ...measured.map(([, w]) => `${((100 * (w.counts.get(p) ?? 0)) / w.samples).toFixed(1)} %`)]),
  ) + '\n',
);
