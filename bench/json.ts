/**
 * JSON events/s through receiver → pipeline → file exporter, on one core, at batch sizes 1,
 * 100 and 1000, with the server's peak RSS; next to a bare node:http baseline doing the same
 * parse-and-append work in the same run. Run: `node bench/json.ts [--seconds 3] [--batch N]
 * [--profile DIR] [--processor]` (`--profile` writes a CPU profile of the Vigil process into DIR;
 * `--processor` puts a filter that keeps every event before the exporter, so that the receiver
 * hands on events instead of lines), or `node bench/json.ts --in-process`: in this process, the
 * file lines and the events of 1,000-event bodies, read from the body's bytes (`JsonBodyReader`)
 * and by parsing and mapping, with the record count every body gets first.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeBody, postEventsFor } from './jsonWorkload.ts';
import { eventToJson } from '../src/model/eventJson.ts';
import { nowNanos } from '../src/model/event.ts';
import { fieldMappingSchema } from '../src/receivers/json/config.ts';
import { JsonBodyReader } from '../src/receivers/json/bodyReader.ts';
import { JsonEventMapper } from '../src/receivers/json/mapping.ts';
import { countBodyRecords, parseJsonBody } from '../src/receivers/json/receiver.ts';
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
  removeScratch,
  scratchDir,
} from './support.ts';

const { values } = benchArgs(import.meta.filename, {
  options: {
    seconds: { type: 'string', default: '3' },
    concurrency: { type: 'string', default: '16' },
    batch: { type: 'string' },
    queue: { type: 'string' },
    profile: { type: 'string' },
    'in-process': { type: 'boolean', default: false },
    processor: { type: 'boolean', default: false },
  },
});
const SECONDS = Number(values.seconds);
const QUEUE = values.queue === undefined ? '' : `, queue_size: ${values.queue}`;
const CONCURRENCY = Number(values.concurrency);
if (!values['in-process']) pinSelfToLoadCore();

const load = async (port: number, batch: number) => (await postEventsFor(port, batch, SECONDS, CONCURRENCY)).rate;

async function runVigil(batch: number): Promise<{ rate: number; rss: number }> {
  const dir = scratchDir();
  writeFileSync(
    join(dir, 'vigil.yaml'),
    `receivers: { json: { endpoint: 127.0.0.1:0 } }
processors: { filter: { logs: ['severity_number == 99'] } }
exporters: { file: { path: ${join(dir, 'events.ndjson')}, rotation: { max_megabytes: 0 } } }
service:
  pipelines: { logs: { receivers: [json], processors: [${values.processor ? 'filter' : ''}], exporters: [file]${QUEUE} } }
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
  // Hundreds of megabytes of events: gone before the next run writes its own.
  removeScratch(dir);
  return { rate, rss };
}

async function runBaseline(batch: number): Promise<{ rate: number; rss: number }> {
  const dir = scratchDir();
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
  // Hundreds of megabytes of events: gone before the next run writes its own.
  removeScratch(dir);
  return { rate, rss };
}

/**
 * µs per event of making the file lines, and the events, of `body` (1,000 events) in this
 * process, from the bytes and by parsing and mapping, best of five rounds of two seconds' worth.
 */
function inProcess(): void {
  const mapping = fieldMappingSchema.parse({}, '', [])!;
  const encoder = JsonBodyReader.for(mapping)!;
  const mapper = new JsonEventMapper(mapping);
  const out = Buffer.allocUnsafe(1 << 20);
  const viaBytes = (body: Buffer) => {
    countBodyRecords(body, 'application/json');
    const lines: Uint8Array[] = [];
    if (encoder.lines(body, false, nowNanos(), undefined, lines, () => {}) < 0) throw new Error('body not taken');
    encoder.written(lines);
  };
  const mapped = (body: Buffer) => {
    const observed = nowNanos();
    return parseJsonBody(body.toString('utf8'), 'application/json').records.map((r) => {
      const m = mapper.map(r.value, observed);
      if (!m.ok) throw new Error(m.reason);
      return m.event;
    });
  };
  const viaEvents = (body: Buffer) => {
    countBodyRecords(body, 'application/json');
    let at = 0;
    for (const e of mapped(body)) {
      at += out.write(eventToJson(e), at);
      out[at++] = 10;
    }
  };
  const eventsFromBytes = (body: Buffer) => {
    countBodyRecords(body, 'application/json');
    if (encoder.events(body, false, nowNanos(), undefined, () => {}) === undefined) throw new Error('body not taken');
  };
  const eventsMapped = (body: Buffer) => {
    countBodyRecords(body, 'application/json');
    mapped(body);
  };
  const perEvent = (make: (body: Buffer) => void, body: Buffer) => {
    let best = Infinity;
    for (let round = 0; round < 5; round++) {
      const t0 = performance.now();
      let n = 0;
      while (performance.now() - t0 < 2000) {
        make(body);
        n++;
      }
      best = Math.min(best, ((performance.now() - t0) * 1000) / (n * 1000));
    }
    return best;
  };
  // The bench's events, and the same with one record in four nested (those go through their events).
  const flat = makeBody(1000);
  const nested = Buffer.from(
    JSON.stringify(
      (JSON.parse(flat.toString()) as Record<string, unknown>[]).map((e, i) =>
        i % 4 === 0 ? { ...e, labels: { team: e.team, zone: 'b' } } : e,
      ),
    ),
  );
  const bodies = [
    ['the bench body (flat events)', flat],
    ['one event in four nested', nested],
  ] as const;
  const compare = (fromBytes: (body: Buffer) => void, parsed: (body: Buffer) => void) =>
    bodies.map(([name, body]) => {
      const bytes = perEvent(fromBytes, body);
      const slow = perEvent(parsed, body);
      return [name, bytes.toFixed(2), slow.toFixed(2), (slow / bytes).toFixed(2)];
    });
  process.stdout.write(
    `JSON bodies in one process, 1,000 events a body, record count included, node ${process.version}\n\n` +
      table(
        ['file lines of', 'from the bytes µs/event', 'through events µs/event', 'ratio'],
        compare(viaBytes, viaEvents),
      ) +
      '\n\n' +
      table(
        ['events of', 'from the bytes µs/event', 'parsed and mapped µs/event', 'ratio'],
        compare(eventsFromBytes, eventsMapped),
      ) +
      '\n',
  );
}

if (values['in-process']) {
  inProcess();
  process.exit(0);
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
