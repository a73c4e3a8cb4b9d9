/**
 * JSON events/s through receiver → pipeline → file exporter, on one core, at batch sizes 1,
 * 100 and 1000, with the server's peak RSS; next to a bare node:http baseline doing the same
 * parse-and-append work in the same run. Run: `node bench/json.ts [--seconds 3] [--batch N]
 * [--profile DIR]` (the last writes a CPU profile of the Vigil process into DIR).
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { postEventsFor } from './jsonWorkload.ts';
import {
  benchArgs,
  fmt,
  peakRssMiB,
  pin,
  pinSelfToLoadCore,
  spawnUntil,
  table,
  vigilCommand,
  vigilEnv,
  warmVigil,
} from './support.ts';

const { values } = benchArgs(import.meta.filename, {
  options: {
    seconds: { type: 'string', default: '3' },
    concurrency: { type: 'string', default: '16' },
    batch: { type: 'string' },
    queue: { type: 'string' },
    profile: { type: 'string' },
  },
});
const SECONDS = Number(values.seconds);
const QUEUE = values.queue === undefined ? '' : `, queue_size: ${values.queue}`;
const CONCURRENCY = Number(values.concurrency);
pinSelfToLoadCore();

const load = async (port: number, batch: number) => (await postEventsFor(port, batch, SECONDS, CONCURRENCY)).rate;

async function runVigil(batch: number): Promise<{ rate: number; rss: number }> {
  const dir = mkdtempSync(join(tmpdir(), 'vigil-bench-'));
  writeFileSync(
    join(dir, 'vigil.yaml'),
    `receivers: { json: { endpoint: 127.0.0.1:0 } }
exporters: { file: { path: ${join(dir, 'events.ndjson')}, rotation: { max_megabytes: 0 } } }
service:
  pipelines: { logs: { receivers: [json], exporters: [file]${QUEUE} } }
  telemetry: { metrics: { endpoint: 127.0.0.1:0 }, logs: { level: info } }
`,
  );
  const profile = values.profile === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${values.profile}`];
  const [cmd, args] = vigilCommand(0, dir, profile);
  await warmVigil('json → file', async () => (await spawnUntil(cmd, [...args], /Vigil started/, vigilEnv())).proc);
  const { proc, line } = await spawnUntil(cmd, [...args], /Vigil started/, vigilEnv());
  const port = (JSON.parse(line) as { http: { port: number }[] }).http[0]!.port;
  const rate = await load(port, batch);
  const rss = peakRssMiB(proc.pid!);
  proc.kill('SIGTERM');
  await new Promise((r) => proc.on('exit', r));
  return { rate, rss };
}

async function runBaseline(batch: number): Promise<{ rate: number; rss: number }> {
  const dir = mkdtempSync(join(tmpdir(), 'vigil-bench-'));
  const [cmd, args] = pin(0, [
    process.execPath,
    join(import.meta.dirname, 'baselines/bareJsonServer.ts'),
    join(dir, 'events.ndjson'),
  ]);
  const { proc, line } = await spawnUntil(cmd, [...args], /^listening \d+/);
  const port = Number(line.split(' ')[1]);
  const rate = await load(port, batch);
  const rss = peakRssMiB(proc.pid!);
  proc.kill('SIGTERM');
  await new Promise((r) => proc.on('exit', r));
  return { rate, rss };
}

const rows: (string | number)[][] = [];
for (const batch of values.batch === undefined ? [1, 100, 1000] : [Number(values.batch)]) {
  const base = await runBaseline(batch);
  const vigil = await runVigil(batch);
  rows.push([batch, fmt(vigil.rate), fmt(base.rate), (vigil.rate / base.rate).toFixed(2), vigil.rss, base.rss]);
}
process.stdout.write(
  `JSON events → file exporter, ${SECONDS}s per point, ${CONCURRENCY} connections, node ${process.version}\n\n`,
);
process.stdout.write(
  table(
    ['events/request', 'Vigil events/s', 'bare node:http events/s', 'ratio', 'Vigil peak RSS MiB', 'bare peak RSS MiB'],
    rows,
  ) + '\n',
);
