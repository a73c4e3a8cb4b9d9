/**
 * Agent mode: how long `vigil run` takes from spawn to listening ("Vigil started"), and its
 * resident memory once idle, for configs that store elsewhere (OTLP receiver → OTLP/gRPC
 * exporter to a gateway; OTLP receiver → a ClickHouse server), with the modules it loaded and
 * whether embedded ClickHouse (chdb) was mapped into the process. Each config is started as the
 * `vigil` command does (cmd/start.mjs, Node's compile cache warmed by one start first) and as
 * `node cmd/vigil.ts` (no compile cache: every TypeScript module stripped and compiled at start).
 * The daemon is pinned to core 0. Exporters point at closed ports: an agent starts and takes
 * data while its destination is down.
 *
 * Run: `npm run bench -- agent [--runs 5]`.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { benchArgs, median, pin, pinned, pinSelfToLoadCore, rssMiB, scratchDir, spawnUntil, table } from './support.ts';

const { values } = benchArgs(import.meta.filename, {
  options: { runs: { type: 'string', default: '5' }, quick: { type: 'boolean' } },
});
const RUNS = values.quick ? 3 : Number(values.runs);
pinSelfToLoadCore();

const OTLP_RECEIVER = `receivers:
  otlp:
    protocols:
      grpc: { endpoint: 127.0.0.1:0 }
      http: { endpoint: 127.0.0.1:0 }`;
const TELEMETRY = `  telemetry: { metrics: { endpoint: 127.0.0.1:0 }, logs: { level: info } }`;

const CONFIGS: [string, string][] = [
  [
    'OTLP → otlp_grpc gateway',
    `${OTLP_RECEIVER}
exporters:
  otlp_grpc/gateway: { endpoint: 127.0.0.1:1, tls: { insecure: true } }
service:
  pipelines:
    logs: { receivers: [otlp], exporters: [otlp_grpc/gateway] }
    metrics: { receivers: [otlp], exporters: [otlp_grpc/gateway] }
    traces: { receivers: [otlp], exporters: [otlp_grpc/gateway] }
${TELEMETRY}
`,
  ],
  [
    'OTLP → ClickHouse server',
    `${OTLP_RECEIVER}
exporters:
  clickhouse: { endpoint: http://127.0.0.1:1 }
service:
  pipelines:
    logs: { receivers: [otlp], exporters: [clickhouse] }
    metrics: { receivers: [otlp], exporters: [clickhouse] }
    traces: { receivers: [otlp], exporters: [clickhouse] }
${TELEMETRY}
`,
  ],
];

/** Loaded modules, counted by a module hook the daemon is started with. */
const HOOK = `data:text/javascript,${encodeURIComponent(`
import { registerHooks } from 'node:module';
let n = 0;
registerHooks({ load(url, ctx, next) { n++; return next(url, ctx); } });
process.on('SIGUSR2', () => process.stderr.write('modules loaded ' + n + '\\n'));
`)}`;

const ENTRIES = { vigil: 'cmd/start.mjs', 'node cmd/vigil.ts': 'cmd/vigil.ts' } as const;
type Entry = keyof typeof ENTRIES;
const COMPILE_CACHE = scratchDir('vigil-bench-compile-cache-');

async function once(
  config: string,
  entry: Entry,
): Promise<{ readyMs: number; idleMiB: number; modules: number; chdb: boolean }> {
  const dir = scratchDir('vigil-bench-agent-');
  writeFileSync(join(dir, 'vigil.yaml'), config);
  const script = resolve(import.meta.dirname, '..', ENTRIES[entry]);
  const argv = [
    process.execPath,
    '--import',
    HOOK,
    script,
    'run',
    '--config',
    join(dir, 'vigil.yaml'),
    '--data-dir',
    dir,
  ];
  const [cmd, args] = pin(0, argv);
  const t0 = performance.now();
  const { proc } = await spawnUntil(
    cmd,
    args,
    /"msg":"Vigil started"/,
    entry === 'vigil' ? { NODE_COMPILE_CACHE: COMPILE_CACHE } : { NODE_DISABLE_COMPILE_CACHE: '1' },
  );
  const readyMs = performance.now() - t0;
  await new Promise((r) => setTimeout(r, 2000));
  const idleMiB = rssMiB(proc.pid!);
  const chdb = readFileSync(`/proc/${proc.pid}/maps`, 'utf8').includes('chdb');
  const modules = await new Promise<number>((res) => {
    proc.stderr!.on('data', (d: Buffer) => {
      const m = /modules loaded (\d+)/.exec(d.toString());
      if (m) res(Number(m[1]));
    });
    proc.kill('SIGUSR2');
  });
  const exited = new Promise((r) => proc.once('exit', r));
  proc.kill('SIGTERM');
  await exited;
  return { readyMs, idleMiB, modules, chdb };
}

const load = loadavg();
const rows: (string | number)[][] = [];
for (const [name, config] of CONFIGS) {
  for (const entry of Object.keys(ENTRIES) as Entry[]) {
    if (entry === 'vigil') await once(config, entry); // fills the compile cache
    const runs = [];
    for (let i = 0; i < RUNS; i++) runs.push(await once(config, entry));
    rows.push([
      name,
      entry,
      Math.round(median(runs.map((r) => r.readyMs))),
      `${Math.round(Math.min(...runs.map((r) => r.readyMs)))}–${Math.round(Math.max(...runs.map((r) => r.readyMs)))}`,
      median(runs.map((r) => r.idleMiB)),
      median(runs.map((r) => r.modules)),
      runs.some((r) => r.chdb) ? 'yes' : 'no',
    ]);
  }
}
process.stdout.write(
  `Agent start and idle memory, ${new Date().toISOString()}, node ${process.version}, ${RUNS} runs each, ` +
    `${pinned ? 'daemon on core 0' : 'no CPU pinning'}, load average ${load.map((l) => l.toFixed(2)).join(' ')}\n\n`,
);
process.stdout.write(
  table(
    [
      'config',
      'started as',
      'spawn → listening ms (median)',
      'range ms',
      'idle RSS MiB (median)',
      'modules loaded',
      'chdb mapped',
    ],
    rows,
  ) + '\n',
);
