/**
 * JSON events/s through receiver → pipeline → file exporter, on one core, at batch sizes 1,
 * 100 and 1000, with the server's peak RSS; next to a bare node:http baseline doing the same
 * parse-and-append work in the same run. Run: `node bench/json.ts [--seconds 3] [--batch N]
 * [--profile DIR]` (the last writes a CPU profile of the Vigil process into DIR).
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { fmt, peakRssMiB, pin, pinSelfToLoadCore, spawnUntil, table } from './support.ts';

const { values } = parseArgs({
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
const root = resolve(import.meta.dirname, '..');
pinSelfToLoadCore();

function makeBody(batch: number): Buffer {
  const events = Array.from({ length: batch }, (_, i) => ({
    asset_unique_id: `host-${i % 500}`,
    event_title: 'CPU usage above threshold',
    event_type: i % 7 === 0 ? 'up' : 'down',
    event_level: 'CRITICAL',
    event_desc: `CPU usage at ${90 + (i % 10)}% on core ${i % 8}`,
    event_ts: '2026-11-23T10:00:00.123Z',
    service: 'billing',
    region: 'eu-west-1',
    team: 'payments',
    check: 'cpu',
  }));
  return Buffer.from(JSON.stringify(batch === 1 ? events[0] : events));
}

async function load(port: number, batch: number): Promise<number> {
  const body = makeBody(batch);
  const agent = new Agent({ keepAlive: true, maxSockets: CONCURRENCY });
  const deadline = performance.now() + SECONDS * 1000;
  let events = 0;
  const worker = async () => {
    while (performance.now() < deadline) {
      const status = await new Promise<number>((res, rej) => {
        const req = request(
          {
            host: '127.0.0.1',
            port,
            path: '/v1/events',
            method: 'POST',
            agent,
            headers: { 'content-type': 'application/json', 'content-length': body.length },
          },
          (r) => {
            r.resume();
            r.on('end', () => res(r.statusCode!));
          },
        );
        req.on('error', rej);
        req.end(body);
      });
      if (status === 200) events += batch;
      else if (status === 429) await new Promise((r) => setTimeout(r, 5));
      else throw new Error(`unexpected status ${status}`);
    }
  };
  const started = performance.now();
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  const elapsed = (performance.now() - started) / 1000;
  agent.destroy();
  return events / elapsed;
}

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
  const [cmd, args] = pin(0, [
    process.execPath,
    ...profile,
    join(root, 'cmd/vigil.ts'),
    'run',
    '--config',
    join(dir, 'vigil.yaml'),
    '--data-dir',
    dir,
  ]);
  const { proc, line } = await spawnUntil(cmd, [...args], /Vigil started/);
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
