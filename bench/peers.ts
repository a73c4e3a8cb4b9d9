/**
 * Vigil next to its peers, on the same workloads in the same run: the OpenTelemetry Collector
 * (otlp → batch → debug, built by test/support/buildCollector.sh) for OTLP logs, metrics (Sum
 * data points) and traces (spans) from telemetrygen over gRPC and HTTP; rsyslog (imtcp/imudp → omfile) for syslog over TCP with 1 and
 * 50 connections and UDP at a set rate; a bare node:http server that parses and appends for JSON
 * events. Each server runs pinned to core 0, the load generator (telemetrygen, or this process)
 * on core 1. Per server and workload: records it took per CPU-second it used (utime + stime from
 * /proc/<pid>/stat, every thread), records per wall-clock second, resident memory once idle
 * after start and its peak (VmHWM), and the CPU-seconds apart, in user mode and in the kernel
 * (where writing a file's bytes counts, and moves from run to run on this kind of machine);
 * and Vigil's ratio to the peer.
 *
 * Run: `npm run bench -- peers [--quick]`, or `node bench/peers.ts [--quick] [--seconds 10]
 * [--only otlp-grpc,otlp-http,otlp-grpc-metrics,otlp-http-metrics,otlp-grpc-traces,otlp-http-traces,
 *  syslog-tcp-1,syslog-tcp-50,syslog-udp,syslog-udp-warm,json]
 * [--cold-page-cache]`.
 */
import type { ChildProcess } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { Readable } from 'node:stream';
import { collectorBinary } from '../test/support/collector.ts';
import { freePort } from '../test/support/redis.ts';
import { postEventsFor } from './jsonWorkload.ts';
import { grpcCallsFor, spansRequest } from './otlpWorkload.ts';
import {
  benchArgs,
  cpuTimes,
  fmt,
  peakRssMiB,
  pin,
  pinned,
  pinSelfToLoadCore,
  postFor,
  rssMiB,
  spawnUntil,
  table,
  vigilCommand,
  vigilEnv,
  warmVigil,
} from './support.ts';
import { runTelemetrygen, telemetrygenBinary, type TelemetrygenSignal } from './telemetrygenWorkload.ts';
import { FileLineCounter, line5424, sendTcp, sendUdp, startRsyslog, waitForCount } from './syslogWorkload.ts';

const { values } = benchArgs(import.meta.filename, {
  options: {
    quick: { type: 'boolean', default: false },
    seconds: { type: 'string' },
    only: { type: 'string' },
    // Measure without readying the page cache's memory first (see readyPageCache).
    'cold-page-cache': { type: 'boolean', default: false },
  },
});
const QUICK = values.quick;
/** How long telemetrygen and the JSON clients send. */
const SECONDS = Number(values.seconds ?? (QUICK ? 3 : 10));
const TCP_MESSAGES = QUICK ? 200_000 : 1_000_000;
const UDP_RATE = 100_000;
const UDP_MESSAGES = UDP_RATE * (QUICK ? 2 : 5);
const OTLP_BATCH = 512;
const JSON_BATCH = 1000;
pinSelfToLoadCore();

// ---- tools ------------------------------------------------------------------------------------

/** Sums the number a line reports (e.g. a debug exporter's per-batch count) over everything a stream prints. */
class ReportedCount {
  total = 0;
  private rest = '';
  constructor(stream: Readable, pattern: RegExp) {
    stream.on('data', (d: Buffer) => {
      const lines = (this.rest + d.toString()).split('\n');
      this.rest = lines.pop()!;
      for (const line of lines) {
        const m = pattern.exec(line);
        if (m) this.total += Number(m[1]);
      }
    });
  }
}

// ---- servers ----------------------------------------------------------------------------------

/** A server under load: its process, where it listens, and the records it has written or reported so far. */
interface Server {
  proc: ChildProcess;
  ports: Partial<Record<'grpc' | 'http' | 'tcp' | 'udp', number>>;
  records(): number;
}

async function stop(proc: ChildProcess): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  const exited = new Promise((r) => proc.once('exit', r));
  proc.kill('SIGTERM');
  await exited;
}

/**
 * The servers' directories, removed once a server is measured and stopped (and when the run
 * ends). A million syslog lines take about 740 MB: kept until the end, each workload that wrote
 * a file found less memory at hand for the next one's page cache, and on this kind of machine
 * (a virtual machine whose memory the host gives on first touch) writing them took up to 2 s
 * more in the kernel, so the later of two file workloads looked slower for being later.
 */
const tempDirs: string[] = [];

/** Bytes `readyPageCache` writes: more than a syslog workload's lines (740 MB). */
const PAGE_CACHE_READY_BYTES = 1 << 30;

/**
 * Writes a gibibyte to a file and removes it, just before a server's measured load (unless
 * `--cold-page-cache`). On this kind of machine (a virtual machine whose host backs memory on
 * its first touch and takes freed memory back a moment later) the kernel's time for writing a
 * file's bytes went from 0.2 to 2.3 s for the same 740 MB, by whether the page cache got memory
 * touched a moment before or memory the host had to find. The memory this leaves free was just
 * touched, for the peer and for Vigil alike, as a server's memory always is on a machine that
 * owns it.
 */
function readyPageCache(): void {
  const dir = mkdtempSync(join(tmpdir(), 'vigil-bench-page-cache-'));
  const file = join(dir, 'ready');
  const fd = openSync(file, 'w');
  const block = Buffer.alloc(1 << 20, 0x2e);
  try {
    for (let written = 0; written < PAGE_CACHE_READY_BYTES; written += block.length) writeSync(fd, block);
  } finally {
    closeSync(fd);
    rmSync(dir, { recursive: true, force: true });
  }
}

function removeTempDirs(): void {
  for (const dir of tempDirs.splice(0)) rmSync(dir, { recursive: true, force: true });
}
process.on('exit', removeTempDirs);
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'vigil-bench-peers-'));
  tempDirs.push(dir);
  return dir;
}

/**
 * Vigil's daemon on `receivers` → `exporter`, run as `vigil` runs it (see vigilEnv), its setup's
 * first start a warm-up. With the `debug` exporter, a pipeline per OTLP signal and the records of
 * `signal` counted.
 */
async function startVigil(
  receivers: string,
  exporter: string,
  readyLine = /Vigil started/,
  signal: TelemetrygenSignal = 'logs',
): Promise<Server> {
  await warmVigil(
    `${receivers} → ${exporter}`,
    async () => (await launchVigil(receivers, exporter, readyLine, signal)).proc,
  );
  return launchVigil(receivers, exporter, readyLine, signal);
}

async function launchVigil(
  receivers: string,
  exporter: string,
  readyLine: RegExp,
  signal: TelemetrygenSignal,
): Promise<Server> {
  const receiver = /^\s*(\w+):/.exec(receivers)![1];
  const signals = exporter === 'debug' ? ['logs', 'metrics', 'traces'] : ['logs'];
  const dir = tempDir();
  const ports = { grpc: await freePort(), http: await freePort() };
  writeFileSync(
    join(dir, 'vigil.yaml'),
    `receivers:
${receivers.replaceAll('GRPC_PORT', String(ports.grpc)).replaceAll('HTTP_PORT', String(ports.http))}
exporters:
  ${exporter === 'debug' ? 'debug: { verbosity: basic }' : `file: { path: ${join(dir, 'out.ndjson')}, rotation: { max_megabytes: 0 } }`}
service:
  pipelines: { ${signals.map((s) => `${s}: { receivers: [${receiver}], exporters: [${exporter}] }`).join(', ')} }
  telemetry: { metrics: { endpoint: 127.0.0.1:0 }, logs: { level: info } }
`,
  );
  const [cmd, args] = vigilCommand(0, dir);
  const { proc, line } = await spawnUntil(cmd, args, readyLine, vigilEnv());
  if (exporter === 'debug') {
    const count = new ReportedCount(proc.stdout!, new RegExp(` ${signal}: (\\d+) record\\(s\\)`));
    return { proc, ports, records: () => count.total };
  }
  const started = JSON.parse(line) as {
    http?: { port: number }[];
    syslog?: { tcp: { port: number }; udp: { port: number } };
  };
  const file = new FileLineCounter(join(dir, 'out.ndjson'));
  const listening = started.syslog ? { tcp: started.syslog.tcp.port, udp: started.syslog.udp.port } : {};
  return { proc, ports: { http: started.http?.[0]?.port, ...listening }, records: () => file.count() };
}

/** What the Collector's debug exporter reports per batch of each signal: the records counted. */
const COLLECTOR_COUNTS: Record<TelemetrygenSignal, RegExp> = {
  logs: /"log records": (\d+)/,
  metrics: /"data points": (\d+)/,
  traces: /"spans": (\d+)/,
};

async function startCollector(binary: string, signal: TelemetrygenSignal): Promise<Server> {
  const ports = { grpc: await freePort(), http: await freePort() };
  const config = `yaml:
receivers:
  otlp:
    protocols:
      grpc: { endpoint: 127.0.0.1:${ports.grpc} }
      http: { endpoint: 127.0.0.1:${ports.http} }
processors:
  batch: {}
exporters:
  # The exporter's sampler (2 lines a second, then 1 in 500) and the service's (10 lines per
  # 10 s, then 1 in 100) are both off: every batch's line is counted here.
  debug: { verbosity: basic, sampling_initial: 1000000, sampling_thereafter: 1 }
service:
  telemetry: { metrics: { level: none }, logs: { sampling: { enabled: false } } }
  pipelines:
    logs: { receivers: [otlp], processors: [batch], exporters: [debug] }
    metrics: { receivers: [otlp], processors: [batch], exporters: [debug] }
    traces: { receivers: [otlp], processors: [batch], exporters: [debug] }
`;
  const [cmd, args] = pin(0, [binary, '--config', config]);
  const { proc } = await spawnUntil(cmd, args, /Everything is ready/);
  const count = new ReportedCount(proc.stderr!, COLLECTOR_COUNTS[signal]);
  return { proc, ports, records: () => count.total };
}

async function startBareJson(): Promise<Server> {
  const out = join(tempDir(), 'out.ndjson');
  const [cmd, args] = pin(0, [process.execPath, join(import.meta.dirname, 'baselines/bareJsonServer.ts'), out]);
  const { proc, line } = await spawnUntil(cmd, args, /^listening \d+/);
  const file = new FileLineCounter(out);
  return { proc, ports: { http: Number(line.split(' ')[1]) }, records: () => file.count() };
}

async function startRsyslogPinned(): Promise<Server> {
  const r = await startRsyslog((argv) => pin(0, argv));
  if (!r) throw new Error('rsyslogd did not start (is rsyslog installed?)');
  tempDirs.push(dirname(r.out));
  const file = new FileLineCounter(r.out);
  return { proc: r.proc, ports: { tcp: r.tcpPort, udp: r.udpPort }, records: () => file.count() };
}

// ---- measurement ------------------------------------------------------------------------------

interface Measured {
  records: number;
  /** Records the load generator sent, when it knows (UDP), for the loss. */
  sent?: number;
  perCpuSecond: number;
  /** CPU-seconds taken in user mode and in the kernel. */
  user: number;
  system: number;
  wallRate: number;
  idleMiB: number;
  peakMiB: number;
}

/**
 * Lets the server settle after start and reads its idle memory, then drives the load and waits
 * until `expected` records landed or the count stopped growing for 1.5 s after the load ended;
 * CPU and wall time are taken at the last record, so the wait costs nothing. `warm`, if given,
 * sends first what the server takes before the measured load (and before its count's base and
 * CPU time are read).
 */
async function measure(
  server: Server,
  drive: () => Promise<number | void>,
  expected = Infinity,
  warm?: () => Promise<number>,
): Promise<Measured> {
  const pid = server.proc.pid!;
  await new Promise((r) => setTimeout(r, 1000));
  const idleMiB = rssMiB(pid);
  if (warm) {
    const warming = warm();
    await waitForCount(() => server.records(), await warming, warming);
  }
  if (!values['cold-page-cache']) readyPageCache();
  const base = server.records();
  const cpu0 = cpuTimes(pid);
  let last = -1;
  let cpuAtLast = cpu0;
  const count = () => {
    const n = server.records() - base;
    if (n !== last) {
      last = n;
      cpuAtLast = cpuTimes(pid);
    }
    return n;
  };
  const t0 = performance.now();
  const sending = drive();
  const done = await waitForCount(count, expected, sending);
  const sent = (await sending) ?? undefined;
  const peakMiB = peakRssMiB(pid);
  await stop(server.proc);
  removeTempDirs();
  return {
    records: done.n,
    sent,
    perCpuSecond: done.n / Math.max(0.01, cpuAtLast.user + cpuAtLast.system - cpu0.user - cpu0.system),
    user: cpuAtLast.user - cpu0.user,
    system: cpuAtLast.system - cpu0.system,
    wallRate: done.n / ((done.at - t0) / 1000),
    idleMiB,
    peakMiB,
  };
}

function telemetrygenLoad(binary: string, signal: TelemetrygenSignal, endpoint: string, http: boolean): Promise<void> {
  return runTelemetrygen(binary, signal, { endpoint, http, seconds: SECONDS, batch: OTLP_BATCH, core: 1 });
}

/** What a workload's name calls one record of each OTLP signal. */
const RECORDS: Record<TelemetrygenSignal, string> = { logs: 'logs', metrics: 'Sum data points', traces: 'spans' };

/**
 * Spans come from this process, not telemetrygen: its traces go through the Go SDK's batch span
 * processor, which drops what its queue (2,048 spans) cannot hold and exported about 65,000 spans
 * a second to a server that answers at once, a tenth of what these servers take. One prepared
 * request of OTLP_BATCH spans (bench/otlpWorkload.ts), sent again and again, 16 in flight.
 */
let spans: Buffer | undefined;
async function spansLoad(ports: Server['ports'], http: boolean): Promise<void> {
  spans ??= spansRequest(OTLP_BATCH);
  if (http) {
    const target = { port: ports.http!, path: '/v1/traces', contentType: 'application/x-protobuf' };
    await postFor(target, spans, OTLP_BATCH, SECONDS, 16);
    return;
  }
  await grpcCallsFor({
    port: ports.grpc!,
    path: '/opentelemetry.proto.collector.trace.v1.TraceService/Export',
    message: spans,
    encoding: 'identity',
    recordsPerCall: OTLP_BATCH,
    seconds: SECONDS,
    concurrency: 16,
  });
}

/** The OTLP load of a workload: telemetrygen's, or spansLoad's for spans. */
function otlpLoad(signal: TelemetrygenSignal, server: Server, http: boolean): Promise<void> {
  if (signal === 'traces') return spansLoad(server.ports, http);
  return telemetrygenLoad(telemetrygen, signal, `127.0.0.1:${http ? server.ports.http : server.ports.grpc}`, http);
}

// ---- workloads --------------------------------------------------------------------------------

interface Workload {
  id: string;
  name: string;
  peer: string;
  runPeer(): Promise<Measured>;
  runVigil(): Promise<Measured>;
}

const OTLP_RECEIVER = `  otlp:
    protocols:
      grpc: { endpoint: 127.0.0.1:GRPC_PORT }
      http: { endpoint: 127.0.0.1:HTTP_PORT }`;
const SYSLOG_RECEIVER = `  syslog: { location: UTC, tcp: { endpoint: 127.0.0.1:0 }, udp: { endpoint: 127.0.0.1:0, receive_buffer_size: 8MiB } }`;

function workloads(collector: string): Workload[] {
  const otlp = (http: boolean, signal: TelemetrygenSignal = 'logs'): Workload => ({
    id: `${http ? 'otlp-http' : 'otlp-grpc'}${signal === 'logs' ? '' : `-${signal}`}`,
    name: `OTLP/${http ? 'HTTP protobuf' : 'gRPC'} ${RECORDS[signal]}, ${signal === 'traces' ? 'Node client' : 'telemetrygen'} ${OTLP_BATCH}/request → count`,
    peer: 'Collector otlp → batch → debug',
    async runPeer() {
      const c = await startCollector(collector, signal);
      return measure(c, () => otlpLoad(signal, c, http));
    },
    async runVigil() {
      const v = await startVigil(OTLP_RECEIVER, 'debug', undefined, signal);
      return measure(v, () => otlpLoad(signal, v, http));
    },
  });
  const tcp = (connections: number): Workload => ({
    id: `syslog-tcp-${connections}`,
    name: `syslog TCP RFC 5424, ${connections} connection${connections > 1 ? 's' : ''} → file`,
    peer: 'rsyslog imtcp → omfile',
    async runPeer() {
      const r = await startRsyslogPinned();
      return measure(r, () => sendTcp(r.ports.tcp!, line5424, TCP_MESSAGES, connections), TCP_MESSAGES);
    },
    async runVigil() {
      const v = await startVigil(SYSLOG_RECEIVER, 'file', /syslog receiver listening/);
      return measure(v, () => sendTcp(v.ports.tcp!, line5424, TCP_MESSAGES, connections), TCP_MESSAGES);
    },
  });
  return [
    otlp(false),
    otlp(true),
    otlp(false, 'metrics'),
    otlp(true, 'metrics'),
    otlp(false, 'traces'),
    otlp(true, 'traces'),
    tcp(1),
    tcp(50),
    udpWorkload(false),
    udpWorkload(true),
    {
      id: 'json',
      name: `JSON events, ${fmt(JSON_BATCH)}/request → file`,
      peer: 'bare node:http parse + append',
      async runPeer() {
        const b = await startBareJson();
        return measure(b, () => jsonLoad(b.ports.http!));
      },
      async runVigil() {
        const v = await startVigil('  json: { endpoint: 127.0.0.1:0 }', 'file');
        return measure(v, () => jsonLoad(v.ports.http!));
      },
    },
  ];
}

async function udp(port: number): Promise<number> {
  await sendUdp(port, line5424, UDP_MESSAGES, UDP_RATE);
  return UDP_MESSAGES;
}

/** Datagrams a warmed-up run sends first, at half the rate, before the measured ones. */
const UDP_WARM_MESSAGES = UDP_RATE;

async function udpWarm(port: number): Promise<number> {
  await sendUdp(port, line5424, UDP_WARM_MESSAGES, UDP_RATE / 2);
  return UDP_WARM_MESSAGES;
}

/**
 * Syslog UDP at UDP_RATE into a file, from a server just started or, `warm`, one that has
 * taken UDP_WARM_MESSAGES first: UDP cannot push back, so what a server loses while its code
 * is still being compiled (Vigil's first second or so) counts in the cold run only.
 */
function udpWorkload(warm: boolean): Workload {
  return {
    id: warm ? 'syslog-udp-warm' : 'syslog-udp',
    name: `syslog UDP RFC 5424 at ${fmt(UDP_RATE)}/s → file${warm ? `, after ${fmt(UDP_WARM_MESSAGES)} at half the rate` : ''}`,
    peer: 'rsyslog imudp → omfile',
    async runPeer() {
      const r = await startRsyslogPinned();
      return measure(r, () => udp(r.ports.udp!), UDP_MESSAGES, warm ? () => udpWarm(r.ports.udp!) : undefined);
    },
    async runVigil() {
      const v = await startVigil(SYSLOG_RECEIVER, 'file', /syslog receiver listening/);
      return measure(v, () => udp(v.ports.udp!), UDP_MESSAGES, warm ? () => udpWarm(v.ports.udp!) : undefined);
    },
  };
}

async function jsonLoad(port: number): Promise<void> {
  await postEventsFor(port, JSON_BATCH, SECONDS, 16);
}

// ---- report -----------------------------------------------------------------------------------

function rate(m: Measured): string {
  const missing = m.sent === undefined ? 0 : Math.max(0, m.sent - m.records);
  const lost = m.sent === undefined ? '' : ` (${fmt(missing)} lost, ${((100 * missing) / m.sent).toFixed(2)} %)`;
  return `${fmt(m.wallRate)}${lost}`;
}

const collector = collectorBinary();
const telemetrygen = telemetrygenBinary();
const only = values.only?.split(',');
const chosen = workloads(collector).filter((w) => !only || only.includes(w.id));
const load = loadavg();
const rows: (string | number)[][] = [];
for (const w of chosen) {
  process.stderr.write(`${w.name}: ${w.peer}, then Vigil\n`);
  const peer = await w.runPeer();
  const vigil = await w.runVigil();
  rows.push([
    w.name,
    w.peer,
    fmt(vigil.perCpuSecond),
    fmt(peer.perCpuSecond),
    (vigil.perCpuSecond / peer.perCpuSecond).toFixed(2),
    rate(vigil),
    rate(peer),
    (vigil.wallRate / peer.wallRate).toFixed(2),
    `${vigil.idleMiB} / ${vigil.peakMiB}`,
    `${peer.idleMiB} / ${peer.peakMiB}`,
    `${vigil.user.toFixed(2)} / ${vigil.system.toFixed(2)}`,
    `${peer.user.toFixed(2)} / ${peer.system.toFixed(2)}`,
  ]);
}
const after = loadavg();
process.stdout.write(
  `Vigil and its peers, ${new Date().toISOString()}, node ${process.version}, ${pinned ? 'server on core 0, load on core 1' : 'no CPU pinning (taskset missing)'}, ` +
    `load average ${load.map((l) => l.toFixed(2)).join(' ')} before, ${after.map((l) => l.toFixed(2)).join(' ')} after` +
    `${QUICK ? ', --quick' : ''}; OTLP and JSON load ${SECONDS} s, TCP ${fmt(TCP_MESSAGES)} messages, UDP ${fmt(UDP_MESSAGES)}\n\n`,
);
process.stdout.write(
  table(
    [
      'workload',
      'peer',
      'Vigil records/CPU-s',
      'peer records/CPU-s',
      'ratio',
      'Vigil records/s (wall)',
      'peer records/s (wall)',
      'ratio',
      'Vigil RSS idle / peak MiB',
      'peer RSS idle / peak MiB',
      'Vigil CPU-s user / kernel',
      'peer CPU-s user / kernel',
    ],
    rows,
  ) + '\n',
);
