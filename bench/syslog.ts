/**
 * Syslog messages/s into Vigil (receiver → pipeline → file exporter) over TCP (1 and 50
 * connections, RFC 5424 and RFC 3164) and UDP, with the daemon's peak RSS; next to, in the
 * same run, a bare node:net/dgram server that only splits lines and counts (the floor), and
 * rsyslog (imtcp/imudp → omfile) doing Vigil's job. Also parse+map throughput in-process
 * against a one-regex RFC 5424 header split, and the file exporter's lines made in-process from
 * the messages' bytes against the same lines made from their text (decoded, parsed, written).
 * Run: `node bench/syslog.ts [--messages 200000] [--in-process]` (`--in-process`: those two tables alone).
 */
import { type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { syslogToEvent, type Origin } from '../src/receivers/syslog/mapping.ts';
import { SyslogParser } from '../src/receivers/syslog/parser.ts';
import { SyslogLineEncoder } from '../src/receivers/syslog/eventLine.ts';
import { syslogReceiverSchema } from '../src/receivers/syslog/config.ts';
import { SyslogReceiver } from '../src/receivers/syslog/receiver.ts';
import type { VigilEvent } from '../src/model/event.ts';
import type { Consumer } from '../src/pipeline/signals.ts';
import { createLogger } from '../src/telemetry/logger.ts';
import { SelfMetrics } from '../src/telemetry/selfMetrics.ts';
import { benchArgs, fmt, peakRssMiB, scratchDir, spawnUntil, table, vigilEnv, warmVigil } from './support.ts';
import { FileLineCounter, line3164, line5424, sendTcp, sendUdp, startRsyslog, waitForCount } from './syslogWorkload.ts';

const { values, positionals } = benchArgs(import.meta.filename, {
  allowPositionals: true,
  options: {
    messages: { type: 'string', default: '200000' },
    'udp-messages': { type: 'string', default: '100000' },
    'counting-sink': { type: 'boolean', default: false },
    'in-process': { type: 'boolean', default: false },
  },
});
const N = Number(values.messages);
const N_UDP = Number(values['udp-messages']);
const root = resolve(import.meta.dirname, '..');

interface Result {
  rate: number;
  received: number;
  rss: number;
}

async function stop(proc: ChildProcess): Promise<void> {
  if (proc.exitCode !== null) return;
  proc.kill('SIGTERM');
  await new Promise((r) => proc.once('exit', r));
}

async function vigil(
  transport: 'tcp' | 'udp',
  make: (i: number) => string,
  total: number,
  connections = 1,
): Promise<Result> {
  const dir = scratchDir();
  const out = join(dir, 'events.ndjson');
  writeFileSync(
    join(dir, 'vigil.yaml'),
    `receivers:
  syslog: { location: UTC, tcp: { endpoint: 127.0.0.1:0 }, udp: { endpoint: 127.0.0.1:0, receive_buffer_size: 8MiB } }
exporters: { file: { path: ${out}, rotation: { max_megabytes: 0 } } }
service:
  pipelines: { logs: { receivers: [syslog], exporters: [file] } }
  telemetry: { metrics: { endpoint: 127.0.0.1:0 }, logs: { level: info } }
`,
  );
  const start = () =>
    spawnUntil(
      process.execPath,
      [join(root, 'cmd/vigil.ts'), 'run', '--config', join(dir, 'vigil.yaml'), '--data-dir', dir],
      /syslog receiver listening/,
      vigilEnv(),
    );
  await warmVigil('syslog → file', async () => (await start()).proc);
  const { proc, line } = await start();
  const ports = (JSON.parse(line) as { syslog: { tcp: { port: number }; udp: { port: number } } }).syslog;
  const counter = new FileLineCounter(out);
  const started = performance.now();
  const sending =
    transport === 'tcp' ? sendTcp(ports.tcp.port, make, total, connections) : sendUdp(ports.udp.port, make, total);
  const done = await waitForCount(() => counter.count(), total, sending);
  await sending;
  const rss = peakRssMiB(proc.pid!);
  await stop(proc);
  return { rate: done.n / ((done.at - started) / 1000), received: done.n, rss };
}

/**
 * A server process speaking the bare baseline's protocol (`listening PORT`, then `count N` on
 * SIGUSR2 and once `total` arrived): the bare split-and-count server, or Vigil's receiver alone
 * feeding a counting sink.
 */
async function countingServer(
  args: string[],
  transport: 'tcp' | 'udp',
  make: (i: number) => string,
  total: number,
  connections = 1,
): Promise<Result> {
  const { proc, line } = await spawnUntil(process.execPath, [...args, transport, String(total)], /^listening \d+/);
  const port = Number(line.split(' ')[1]);
  let latest = 0;
  proc.stderr!.on('data', (d: Buffer) => {
    const m = /count (\d+)\s*$/.exec(d.toString());
    if (m) latest = Number(m[1]);
  });
  const started = performance.now();
  const sending = transport === 'tcp' ? sendTcp(port, make, total, connections) : sendUdp(port, make, total);
  const done = await waitForCount(
    () => {
      proc.kill('SIGUSR2');
      return latest;
    },
    total,
    sending,
  );
  await sending;
  const rss = peakRssMiB(proc.pid!);
  await stop(proc);
  return { rate: done.n / ((done.at - started) / 1000), received: done.n, rss };
}

async function rsyslog(
  transport: 'tcp' | 'udp',
  make: (i: number) => string,
  total: number,
  connections = 1,
): Promise<Result | undefined> {
  const r = await startRsyslog();
  if (!r) return undefined;
  const counter = new FileLineCounter(r.out);
  const started = performance.now();
  const sending = transport === 'tcp' ? sendTcp(r.tcpPort, make, total, connections) : sendUdp(r.udpPort, make, total);
  const done = await waitForCount(() => counter.count(), total, sending);
  await sending;
  const rss = peakRssMiB(r.proc.pid!);
  await stop(r.proc);
  return { rate: done.n / ((done.at - started) / 1000), received: done.n, rss };
}

/** Parse + map per message in this process, against one regex splitting the RFC 5424 header. */
function parseOnly(make: (i: number) => string): { vigil: number; regex: number } {
  const lines = Array.from({ length: 50_000 }, (_, i) => make(i));
  const parser = new SyslogParser('auto', 'UTC');
  const origin: Origin = { peerAddress: '127.0.0.1', transport: 'tcp' };
  const header = /^<(\d{1,3})>(?:1 )?(\S+) (\S+) (\S+) (\S+) (\S+) (-|\[.*?\]) ?(.*)$/s;
  const time = (fn: (l: string) => unknown) => {
    let n = 0;
    const start = performance.now();
    while (performance.now() - start < 1000) {
      parser.beginBatch();
      for (const l of lines) fn(l);
      n += lines.length;
    }
    return n / ((performance.now() - start) / 1000);
  };
  time((l) => parser.parse(l)); // warm-up
  const vigilRate = time((l) => {
    const m = parser.parse(l);
    return typeof m === 'string' ? m : syslogToEvent(m, origin, 0n, false);
  });
  const regexRate = time((l) => header.exec(l));
  return { vigil: vigilRate, regex: regexRate };
}

/**
 * Lines for the file exporter per message in this process, as a TCP listener makes them from
 * a chunk of LF-framed messages, batch by batch: from the bytes where the message allows
 * (`encodeBytes`), and all from the text (decoded, parsed, then written), as before.
 */
function linesOnly(make: (i: number) => string): { bytes: number; text: number } {
  const batch = 500;
  const chunk = Buffer.from(Array.from({ length: batch }, (_, i) => make(i) + '\n').join(''));
  const parser = new SyslogParser('auto', 'UTC');
  const lines = new SyslogLineEncoder('vigil');
  const origin: Origin = { peerAddress: '127.0.0.1', transport: 'tcp' };
  const time = (fromBytes: boolean) => {
    let n = 0;
    const start = performance.now();
    while (performance.now() - start < 1000) {
      parser.beginBatch();
      lines.beginBatch();
      const observed = BigInt(Date.now()) * 1_000_000n;
      for (let at = 0; at < chunk.length;) {
        const end = chunk.indexOf(10, at);
        if (!fromBytes || !lines.encodeBytes(chunk, at, end, origin, observed, false)) {
          const text = chunk.toString('utf8', at, end);
          const m = parser.parse(text);
          if (typeof m !== 'string') lines.encode(m, origin, observed, false, text);
        }
        at = end + 1;
      }
      const made = new Array<Uint8Array>(batch);
      lines.finishBatch(made);
      lines.written(made);
      n += batch;
    }
    return n / ((performance.now() - start) / 1000);
  };
  time(true); // warm-up
  time(false);
  return { bytes: time(true), text: time(false) };
}

/**
 * `--counting-sink tcp|udp EXPECTED`: Vigil's syslog receiver alone (framing, parsing, mapping
 * to events) feeding a consumer that only counts, isolating the receiver from exporter cost.
 */
async function runCountingSink(transport: 'tcp' | 'udp', expected: number): Promise<void> {
  let count = 0;
  let reported = false;
  const report = () => process.stderr.write(`count ${count}\n`);
  process.on('SIGUSR2', report);
  const sink: Consumer<VigilEvent> = {
    consume(batch) {
      count += batch.length;
      if (!reported && count >= expected) {
        reported = true;
        report();
      }
      return Promise.resolve();
    },
  };
  const config = syslogReceiverSchema.parse(
    {
      location: 'UTC',
      [transport]: { endpoint: '127.0.0.1:0', ...(transport === 'udp' ? { receive_buffer_size: '8MiB' } : {}) },
    },
    '',
    [],
  )!;
  const receiver = new SyslogReceiver(
    { id: 'syslog', logger: createLogger('silent'), metrics: new SelfMetrics(), dataDir: tmpdir() },
    config,
    sink,
  );
  await receiver.start();
  process.stderr.write(`listening ${receiver.addresses[transport]!.port}\n`);
  process.on('SIGTERM', () => void receiver.shutdown().then(() => process.exit(0)));
}

if (values['counting-sink']) {
  await runCountingSink(positionals[0] as 'tcp' | 'udp', Number(positionals[1]));
} else if (values['in-process']) inProcess();
else await main();

/** The in-process tables: parsing and mapping, and making lines. */
function inProcess(): void {
  const rows = (measure: (make: (i: number) => string) => [number, number]) =>
    (
      [
        ['RFC 5424', measure(line5424)],
        ['RFC 3164', measure(line3164)],
      ] as const
    ).map(([name, [a, b]]) => [name, fmt(a), fmt(b), (a / b).toFixed(2)]);
  const parse = rows((make) => {
    const p = parseOnly(make);
    return [p.vigil, p.regex];
  });
  const lines = rows((make) => {
    const l = linesOnly(make);
    return [l.bytes, l.text];
  });
  process.stdout.write(
    table(['in-process, one core', 'Vigil parse + map msg/s', 'one-regex header split msg/s', 'ratio'], parse) +
      '\n\n' +
      table(['in-process, one core', 'file lines from the bytes msg/s', 'from the text msg/s', 'ratio'], lines) +
      '\n',
  );
}

async function main(): Promise<void> {
  const rows: (string | number)[][] = [];
  const scenarios: [string, 'tcp' | 'udp', (i: number) => string, number, number][] = [
    ['TCP, 1 connection, RFC 5424', 'tcp', line5424, N, 1],
    ['TCP, 1 connection, RFC 3164', 'tcp', line3164, N, 1],
    ['TCP, 50 connections, RFC 5424', 'tcp', line5424, N, 50],
    ['UDP, RFC 5424', 'udp', line5424, N_UDP, 1],
  ];
  for (const [name, transport, make, total, conns] of scenarios) {
    process.stderr.write(`${name}: bare, counting sink, Vigil, rsyslog\n`);
    const base = await countingServer(
      [join(import.meta.dirname, 'baselines/bareSyslogServer.ts')],
      transport,
      make,
      total,
      conns,
    );
    const sink = await countingServer([import.meta.filename, '--counting-sink'], transport, make, total, conns);
    const v = await vigil(transport, make, total, conns);
    const r = await rsyslog(transport, make, total, conns);
    const loss = (res: Result) =>
      transport === 'udp'
        ? ` (${(100 * (1 - res.received / total)).toFixed(2)} % lost)`
        : res.received < total
          ? ` (${total - res.received} missing)`
          : '';
    rows.push([
      name,
      `${fmt(base.rate)}${loss(base)}`,
      `${fmt(sink.rate)}${loss(sink)}`,
      (sink.rate / base.rate).toFixed(2),
      `${fmt(v.rate)}${loss(v)}`,
      (v.rate / base.rate).toFixed(2),
      r ? `${fmt(r.rate)}${loss(r)}` : 'n/a',
      r ? (v.rate / r.rate).toFixed(2) : 'n/a',
      v.rss,
      r ? r.rss : 'n/a',
    ]);
  }
  process.stdout.write(
    `Syslog → file, ${fmt(N)} TCP / ${fmt(N_UDP)} UDP messages per point (~120 B), node ${process.version}, no CPU pinning (2 cores shared by sender and server)\n\n`,
  );
  process.stdout.write(
    table(
      [
        'scenario',
        'bare split-and-count msg/s',
        'Vigil receiver → counting sink msg/s',
        'sink / bare',
        'Vigil → file exporter msg/s',
        'file / bare',
        'rsyslog → omfile msg/s',
        'Vigil / rsyslog',
        'Vigil peak RSS MiB',
        'rsyslog peak RSS MiB',
      ],
      rows,
    ) + '\n\n',
  );
  inProcess();
}
