/**
 * Syslog messages/s into Vigil (receiver → pipeline → file exporter) over TCP (1 and 50
 * connections, RFC 5424 and RFC 3164) and UDP, with the daemon's peak RSS; next to, in the
 * same run, a bare node:net/dgram server that only splits lines and counts (the floor), and
 * rsyslog (imtcp/imudp → omfile) doing Vigil's job. Also parse+map throughput in-process
 * against a one-regex RFC 5424 header split. Run: `node bench/syslog.ts [--messages 200000]`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, readSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { syslogToEvent, type Origin } from '../src/receivers/syslog/mapping.ts';
import { SyslogParser } from '../src/receivers/syslog/parser.ts';
import { syslogReceiverSchema } from '../src/receivers/syslog/config.ts';
import { SyslogReceiver } from '../src/receivers/syslog/receiver.ts';
import type { VigilEvent } from '../src/model/event.ts';
import type { Consumer } from '../src/pipeline/signals.ts';
import { createLogger } from '../src/telemetry/logger.ts';
import { SelfMetrics } from '../src/telemetry/selfMetrics.ts';
import { fmt, peakRssMiB, spawnUntil, table } from './support.ts';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    messages: { type: 'string', default: '200000' },
    'udp-messages': { type: 'string', default: '100000' },
    'counting-sink': { type: 'boolean', default: false },
  },
});
const N = Number(values.messages);
const N_UDP = Number(values['udp-messages']);
const root = resolve(import.meta.dirname, '..');

const line5424 = (i: number) =>
  `<134>1 2026-11-23T10:00:00.123456Z web-${i % 50} billing 4242 PAY [req@32473 id="${i}" user="u${i % 1000}"] payment ${i} processed in 23 ms`;
const line3164 = (i: number) => `<134>Nov 23 10:00:00 web-${i % 50} billing[4242]: payment ${i} processed in 23 ms`;

function payload(make: (i: number) => string, from: number, to: number): Buffer {
  const parts: string[] = [];
  for (let i = from; i < to; i++) parts.push(make(i));
  return Buffer.from(parts.join('\n') + '\n');
}

/** Counts LFs appended to a file since the last call, reading only the new bytes. */
class FileLineCounter {
  private readonly path: string;
  private offset = 0;
  private lines = 0;
  private readonly buf = Buffer.allocUnsafe(1 << 20);
  constructor(path: string) {
    this.path = path;
  }
  count(): number {
    if (!existsSync(this.path)) return 0;
    const fd = openSync(this.path, 'r');
    try {
      for (;;) {
        const n = readSync(fd, this.buf, 0, this.buf.length, this.offset);
        if (n === 0) break;
        this.offset += n;
        for (let at = this.buf.indexOf(10); at !== -1 && at < n; at = this.buf.indexOf(10, at + 1)) this.lines++;
      }
    } finally {
      closeSync(fd);
    }
    return this.lines;
  }
}

/**
 * Waits until `count()` reaches `target`, or, once the sender is done, stops growing for
 * `stallMs` (lost UDP datagrams); returns the count and when the last message landed.
 */
async function waitForCount(
  count: () => number | Promise<number>,
  target: number,
  sending: Promise<void>,
  stallMs = 1500,
): Promise<{ n: number; at: number }> {
  let sentAt = Infinity;
  void sending.then(() => (sentAt = performance.now()));
  let last = -1;
  let lastChange = performance.now();
  for (;;) {
    const n = await count();
    const now = performance.now();
    if (n !== last) {
      last = n;
      lastChange = now;
    }
    if (n >= target) return { n, at: now };
    // A server busy with a flood may report late: the stall is timed from the end of sending too.
    if (now - Math.max(lastChange, sentAt) > stallMs) return { n, at: lastChange };
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function sendTcp(port: number, make: (i: number) => string, total: number, connections: number): Promise<void> {
  const per = Math.ceil(total / connections);
  const buffers = Array.from({ length: connections }, (_, c) => payload(make, c * per, Math.min(total, (c + 1) * per)));
  await Promise.all(
    buffers.map(
      (buf) =>
        new Promise<void>((res, rej) => {
          const s = connect(port, '127.0.0.1', () => {
            let at = 0;
            const pump = () => {
              while (at < buf.length) {
                const chunk = buf.subarray(at, at + 65536);
                at += chunk.length;
                if (!s.write(chunk)) return void s.once('drain', pump);
              }
              s.end();
            };
            pump();
          });
          s.on('close', () => res());
          s.on('error', (err) => rej(new Error(`sending to port ${port}: ${err.message}`, { cause: err })));
        }),
    ),
  );
}

async function sendUdp(port: number, make: (i: number) => string, total: number): Promise<void> {
  const s = createSocket('udp4');
  const msgs = Array.from({ length: 1000 }, (_, i) => Buffer.from(make(i)));
  for (let i = 0; i < total; i += 500) {
    await Promise.all(
      Array.from(
        { length: Math.min(500, total - i) },
        (_, j) => new Promise<void>((res) => s.send(msgs[(i + j) % 1000]!, port, '127.0.0.1', () => res())),
      ),
    );
  }
  s.close();
}

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
  const dir = mkdtempSync(join(tmpdir(), 'vigil-bench-'));
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
  const { proc, line } = await spawnUntil(
    process.execPath,
    [join(root, 'cmd/vigil.ts'), 'run', '--config', join(dir, 'vigil.yaml'), '--data-dir', dir],
    /syslog receiver listening/,
    {},
  );
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

async function freeUdpPort(): Promise<number> {
  const s = createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
  const port = s.address().port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

async function rsyslog(
  transport: 'tcp' | 'udp',
  make: (i: number) => string,
  total: number,
  connections = 1,
): Promise<Result | undefined> {
  const dir = mkdtempSync(join(tmpdir(), 'vigil-bench-rsyslog-'));
  const out = join(dir, 'out.log');
  const udpPort = await freeUdpPort();
  writeFileSync(
    join(dir, 'rsyslog.conf'),
    `global(workDirectory="${dir}")
module(load="imtcp")
module(load="imudp")
input(type="imtcp" port="0" listenPortFileName="${join(dir, 'tcp.port')}")
input(type="imudp" port="${udpPort}" address="127.0.0.1" rcvbufSize="8m")
action(type="omfile" file="${out}")
`,
  );
  let proc: ChildProcess;
  try {
    proc = spawn('rsyslogd', ['-n', '-f', join(dir, 'rsyslog.conf'), '-i', join(dir, 'rsyslogd.pid')], {
      stdio: 'ignore',
    });
  } catch {
    return undefined;
  }
  const failed = new Promise<undefined>((r) => proc.once('error', () => r(undefined)));
  const portFile = join(dir, 'tcp.port');
  const ready = (async () => {
    while (!existsSync(portFile) || readFileSync(portFile, 'utf8').trim() === '')
      await new Promise((r) => setTimeout(r, 20));
    return Number(readFileSync(portFile, 'utf8').trim());
  })();
  const tcpPort = await Promise.race([ready, failed]);
  if (tcpPort === undefined) return undefined;
  const counter = new FileLineCounter(out);
  const started = performance.now();
  const sending = transport === 'tcp' ? sendTcp(tcpPort, make, total, connections) : sendUdp(udpPort, make, total);
  const done = await waitForCount(() => counter.count(), total, sending);
  await sending;
  const rss = peakRssMiB(proc.pid!);
  await stop(proc);
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
} else await main();

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
  const p5424 = parseOnly(line5424);
  const p3164 = parseOnly(line3164);

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
  process.stdout.write(
    table(
      ['in-process, one core', 'Vigil parse + map msg/s', 'one-regex header split msg/s', 'ratio'],
      [
        ['RFC 5424', fmt(p5424.vigil), fmt(p5424.regex), (p5424.vigil / p5424.regex).toFixed(2)],
        ['RFC 3164', fmt(p3164.vigil), fmt(p3164.regex), (p3164.vigil / p3164.regex).toFixed(2)],
      ],
    ) + '\n',
  );
}
