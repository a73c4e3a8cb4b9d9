/**
 * A flood three times what the daemon takes, into each listener in turn (OTLP/gRPC, OTLP/HTTP,
 * JSON, syslog TCP), with `service.memory_limiter.limit_mib: 256`: the daemon's peak memory
 * (VmHWM, and the resident anonymous memory the limiter counts), the share of requests answered
 * 429 / RESOURCE_EXHAUSTED, and whether what was acknowledged is what was stored.
 *
 * Each run: a fresh daemon; `--calibrate` seconds of closed-loop load (16 requests in flight)
 * measure the rate it takes; then `--seconds` of open-loop load at `--factor` times that rate,
 * senders ignoring every refusal (up to 2,048 requests in flight; the rest count as not sent);
 * then the daemon drains, stops on SIGTERM, and the stored records are counted in the file
 * exporter's NDJSON (mode `file`) or in embedded ClickHouse's otel_logs (mode `clickhouse`,
 * config/vigil.yaml as shipped plus the limiter). Syslog TCP has no answers: what the sender
 * wrote is what it was told was taken, and back-pressure shows as a slower sender.
 *
 * Run: `node bench/flood.ts [--seconds 60] [--calibrate 5] [--factor 3] [--mode file|clickhouse|both]
 * [--listeners otlp-grpc,otlp-http,json,syslog-tcp] [--limit-mib 256] [--batch-bytes 2MiB]`
 * (about 11 minutes at the defaults; `--batch-bytes` sets the ClickHouse exporter's batch.max_bytes);
 * with `FLOOD_DEBUG=1` it also prints a timeline of the daemon's memory every 200 ms next to its
 * parts (V8's heap, external buffers, embedded ClickHouse's tracked memory, queued records) and,
 * after the drain, the daemon's metrics, its memory log lines and its /proc/PID/smaps_rollup:
 * what it holds at rest.
 */
import { execFileSync } from 'node:child_process';
import { closeSync, openSync, readFileSync, readSync, rmSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { connect as http2Connect, type ClientHttp2Session } from 'node:http2';
import { connect } from 'node:net';
import { loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { Session } from 'chdb';
import { protoType } from '../test/support/otlpProtos.ts';
import { EPHEMERAL_PORTS, startDaemon, type RunningDaemon } from '../test/support/daemon.ts';
import { benchArgs, metricSum, fmt, pinned, pinSelfToLoadCore, table, vigilEnv, warmVigil } from './support.ts';
import { grpcFrame } from './otlpWorkload.ts';

const { values } = benchArgs(import.meta.filename, {
  options: {
    seconds: { type: 'string', default: '60' },
    calibrate: { type: 'string', default: '5' },
    factor: { type: 'string', default: '3' },
    mode: { type: 'string', default: 'both' },
    listeners: { type: 'string', default: 'otlp-grpc,otlp-http,json,syslog-tcp' },
    'limit-mib': { type: 'string', default: '256' },
    'batch-bytes': { type: 'string' },
  },
});
const SECONDS = Number(values.seconds);
const CALIBRATE = Number(values.calibrate);
const FACTOR = Number(values.factor);
const LIMIT_MIB = Number(values['limit-mib']);
const MAX_IN_FLIGHT = 2048;
const root = resolve(import.meta.dirname, '..');
pinSelfToLoadCore();

type Listener = 'otlp-grpc' | 'otlp-http' | 'json' | 'syslog-tcp';
type Mode = 'file' | 'clickhouse';
const LISTENERS = values.listeners.split(',') as Listener[];
const MODES: Mode[] = values.mode === 'both' ? ['file', 'clickhouse'] : [values.mode as Mode];
const service = (l: Listener) => `flood-${l}`;

// ---- payloads -------------------------------------------------------------------------------

const OTLP_BATCH = 512;
const JSON_BATCH = 100;

function otlpLogs(serviceName: string): Buffer {
  const T = protoType('opentelemetry.proto.collector.logs.v1.ExportLogsServiceRequest');
  const now = BigInt(Date.now()) * 1_000_000n;
  const logRecords = Array.from({ length: OTLP_BATCH }, (_, i) => ({
    timeUnixNano: String(now + BigInt(i)),
    severityNumber: 9,
    severityText: 'INFO',
    body: { stringValue: `order ${100000 + i} created: 3 items, total 42.50 EUR, payment authorised` },
    attributes: [
      { key: 'http.route', value: { stringValue: '/api/v1/orders/:id' } },
      { key: 'user.id', value: { stringValue: `u-${i % 1000}` } },
    ],
  }));
  const req = {
    resourceLogs: [
      {
        resource: { attributes: [{ key: 'service.name', value: { stringValue: serviceName } }] },
        scopeLogs: [{ scope: { name: 'flood' }, logRecords }],
      },
    ],
  };
  return Buffer.from(T.encode(T.fromObject(req)).finish());
}

function jsonEvents(serviceName: string): Buffer {
  const events = Array.from({ length: JSON_BATCH }, (_, i) => ({
    service: serviceName,
    asset: `web-${i % 20}`,
    severity: 'info',
    body: `order ${100000 + i} created: 3 items, total 42.50 EUR, payment authorised`,
  }));
  return Buffer.from(JSON.stringify(events));
}

// ---- senders --------------------------------------------------------------------------------

interface Tally {
  sent: number;
  acked: number;
  /** Requests answered 429 / RESOURCE_EXHAUSTED (or 503 / UNAVAILABLE). */
  refused: number;
  other: number;
  /** Requests the open-loop schedule wanted but the in-flight cap held back. */
  notSent: number;
  ackedRecords: number;
}

const newTally = (): Tally => ({ sent: 0, acked: 0, refused: 0, other: 0, notSent: 0, ackedRecords: 0 });

/** One request; resolves with the records it got acknowledged, or a refusal. */
type Send = () => Promise<{ records: number } | 'refused' | 'other'>;

function httpSender(port: number, path: string, contentType: string, body: Buffer, records: number): Send {
  const agent = new Agent({ keepAlive: true, maxSockets: 256 });
  return () =>
    new Promise((res) => {
      const req = request(
        { host: '127.0.0.1', port, path, method: 'POST', agent, headers: { 'content-type': contentType } },
        (r) => {
          const chunks: Buffer[] = [];
          r.on('data', (c: Buffer) => chunks.push(c));
          r.on('end', () => {
            if (r.statusCode === 200) {
              // The JSON receiver says how many it took; OTLP/HTTP takes the whole request or refuses it.
              const said =
                contentType === 'application/json'
                  ? (JSON.parse(Buffer.concat(chunks).toString()) as { accepted?: number }).accepted
                  : undefined;
              res({ records: said ?? records });
            } else if (r.statusCode === 429 || r.statusCode === 503) res('refused');
            else {
              countOther(`HTTP ${r.statusCode}: ${Buffer.concat(chunks).toString().slice(0, 120)}`);
              res('other');
            }
          });
        },
      );
      req.on('error', (err: NodeJS.ErrnoException) => {
        countOther(`error ${err.code ?? err.message}`);
        res('other');
      });
      req.end(body);
    });
}

/** Answers counted as "other errors", by kind: printed with FLOOD_DEBUG. */
const otherAnswers = new Map<string, number>();
const countOther = (kind: string) => otherAnswers.set(kind, (otherAnswers.get(kind) ?? 0) + 1);

function grpcSender(port: number, message: Buffer, records: number): { send: Send; close(): void } {
  // Node's HTTP/2 client resets its own streams (ENHANCE_YOUR_CALM) once a session holds more
  // than maxSessionMemory (10 MB by default) of outbound bodies: 512 requests in flight per
  // session do, and the daemon then stored requests the sender counted as failed.
  const sessions: ClientHttp2Session[] = Array.from({ length: 4 }, () =>
    http2Connect(`http://127.0.0.1:${port}`, { maxSessionMemory: 1024 }),
  );
  for (const s of sessions) s.on('error', () => {});
  const body = grpcFrame(message, false);
  let next = 0;
  const send: Send = () =>
    new Promise((res) => {
      const session = sessions[next++ % sessions.length]!;
      const req = session.request({
        ':method': 'POST',
        ':path': '/opentelemetry.proto.collector.logs.v1.LogsService/Export',
        'content-type': 'application/grpc',
        te: 'trailers',
      });
      let status = '';
      req.on('response', (h) => (status = String(h['grpc-status'] ?? '')));
      req.on('trailers', (t) => (status = String(t['grpc-status'] ?? status)));
      // A stream error is one answer: the close that follows it counts nothing more.
      let failed = false;
      req.on('error', (err: NodeJS.ErrnoException) => {
        failed = true;
        countOther(`error ${err.code ?? err.message}${status ? ` after grpc-status ${status}` : ''}`);
        res('other');
      });
      req.on('close', () => {
        if (failed) return;
        const r = status === '0' ? { records } : status === '8' || status === '14' ? 'refused' : 'other';
        if (r === 'other') countOther(`grpc-status ${status || 'none'}`);
        res(r);
      });
      req.resume();
      req.end(body);
    });
  return { send, close: () => sessions.forEach((s) => s.close()) };
}

async function closedLoop(send: Send, seconds: number): Promise<number> {
  const deadline = performance.now() + seconds * 1000;
  let ok = 0;
  const worker = async () => {
    while (performance.now() < deadline) if (typeof (await send()) === 'object') ok++;
  };
  await Promise.all(Array.from({ length: 16 }, worker));
  return ok / seconds;
}

/** Requests at `rate` per second whatever the answers, at most MAX_IN_FLIGHT at once. */
async function openLoop(send: Send, rate: number, seconds: number, tally: Tally): Promise<void> {
  const start = performance.now();
  let due = 0;
  let inFlight = 0;
  const pending = new Set<Promise<void>>();
  while (performance.now() - start < seconds * 1000) {
    const target = Math.floor(((performance.now() - start) / 1000) * rate);
    for (; due < target; due++) {
      if (inFlight >= MAX_IN_FLIGHT) {
        tally.notSent++;
        continue;
      }
      inFlight++;
      tally.sent++;
      const p: Promise<void> = send().then((r) => {
        inFlight--;
        pending.delete(p);
        if (r === 'refused') tally.refused++;
        else if (r === 'other') tally.other++;
        else {
          tally.acked++;
          tally.ackedRecords += r.records;
        }
      });
      pending.add(p);
    }
    await new Promise((r) => setTimeout(r, 5));
  }
  await Promise.all(pending);
}

/** Syslog over TCP (octet-counted frames) on 4 connections as fast as the daemon reads, for `seconds`. */
async function syslogFlood(port: number, seconds: number, tally: Tally): Promise<void> {
  const deadline = performance.now() + seconds * 1000;
  const line = (i: number) => {
    const msg = `<14>1 2026-12-03T12:00:00.000Z web-${i % 20} ${service('syslog-tcp')} - - - order ${i} created: 3 items, total 42.50 EUR`;
    return `${Buffer.byteLength(msg)} ${msg}`;
  };
  const conn = () =>
    new Promise<void>((res, rej) => {
      const socket = connect({ port, host: '127.0.0.1' });
      socket.on('error', rej);
      let i = 0;
      const pump = () => {
        while (performance.now() < deadline) {
          const chunk = Array.from({ length: 100 }, () => line(i++)).join('');
          tally.sent += 100;
          tally.ackedRecords += 100;
          if (!socket.write(chunk)) return void socket.once('drain', pump);
        }
        // Written is all a syslog sender knows: what the kernel still buffers is read after this.
        socket.end();
        res();
      };
      socket.once('connect', pump);
    });
  await Promise.all(Array.from({ length: 4 }, conn));
}

// ---- the daemon -----------------------------------------------------------------------------

function configFor(mode: Mode): string {
  const limiter = `  memory_limiter: { limit_mib: ${LIMIT_MIB}, check_interval: 250ms }\n`;
  if (mode === 'clickhouse') {
    let config = readFileSync(join(root, 'config/vigil.yaml'), 'utf8').replace(/^service:\n/m, `service:\n${limiter}`);
    if (values['batch-bytes'])
      config = config.replace(
        /^ {2}clickhouse:\n/m,
        `  clickhouse:\n    batch: { max_bytes: ${values['batch-bytes']} }\n`,
      );
    return config;
  }
  return `
receivers:
  json: { endpoint: 127.0.0.1:0 }
  otlp:
    protocols:
      grpc: { endpoint: 127.0.0.1:0 }
      http: { endpoint: 127.0.0.1:0 }
  syslog:
    tcp: { endpoint: 127.0.0.1:0 }
exporters:
  # Never rotated: every stored record stays countable.
  file/events: { path: events.ndjson, rotation: { max_megabytes: 0 } }
service:
${limiter}  pipelines:
    logs: { receivers: [json, otlp, syslog], exporters: [file/events] }
  telemetry:
    metrics: { endpoint: 127.0.0.1:0 }
    logs: { level: info }
`;
}

interface MemorySample {
  hwm: number;
  peakAnon: number;
}

/** Samples the daemon's memory every 50 ms until stopped. */
function sampleMemory(pid: number): { stop(): MemorySample } {
  let peakAnon = 0;
  let hwm = 0;
  const read = () => {
    try {
      const status = readFileSync(`/proc/${pid}/status`, 'utf8');
      const kb = (f: string) => Number(new RegExp(`${f}:\\s+(\\d+) kB`).exec(status)?.[1] ?? 0) * 1024;
      peakAnon = Math.max(peakAnon, kb('RssAnon') + kb('RssShmem'));
      hwm = Math.max(hwm, kb('VmHWM'));
    } catch {
      /* exited */
    }
  };
  const timer = setInterval(read, 50);
  return {
    stop() {
      read();
      clearInterval(timer);
      return { hwm, peakAnon };
    },
  };
}

function logPorts(d: RunningDaemon): { grpc: number; syslog: number } {
  let grpc = 0;
  let syslog = 0;
  for (const line of d.logs) {
    const rec = JSON.parse(line) as { msg?: string; grpc?: { port: number }; syslog?: { tcp?: { port: number } } };
    if (rec.msg === 'OTLP gRPC listening') grpc = rec.grpc!.port;
    if (rec.msg === 'syslog receiver listening') syslog = rec.syslog!.tcp!.port;
  }
  return { grpc, syslog };
}

async function countStored(mode: Mode, dataDir: string, serviceName: string): Promise<number> {
  if (mode === 'file') {
    // Counted in chunks: a flood's file can pass the longest string V8 makes (512 MiB).
    const needle = Buffer.from(`"service":${JSON.stringify(serviceName)}`);
    const fd = openSync(join(dataDir, 'events.ndjson'), 'r');
    try {
      const chunk = Buffer.alloc(8 * MIB + needle.length);
      let n = 0;
      let carry = 0;
      let position = 0;
      while (true) {
        const read = readSync(fd, chunk, carry, chunk.length - carry, position);
        if (read === 0) return n;
        position += read;
        const end = carry + read;
        for (let i = chunk.indexOf(needle); i !== -1 && i + needle.length <= end; i = chunk.indexOf(needle, i + 1)) n++;
        // The last bytes may hold the start of a needle the next read completes.
        carry = Math.min(needle.length - 1, end);
        chunk.copy(chunk, 0, end - carry, end);
        chunk.fill(0, carry);
      }
    } finally {
      closeSync(fd);
    }
  }
  const session = new Session(join(dataDir, 'clickhouse'));
  try {
    const text = session.query(`SELECT count() FROM otel.otel_logs WHERE ServiceName = '${serviceName}'`, 'CSV');
    return Number(text.toString().trim());
  } finally {
    session.cleanup?.();
  }
}

interface RunResult {
  mode: Mode;
  listener: Listener;
  calibrated: number;
  tally: Tally;
  memory: MemorySample;
  stored: number;
  drainSeconds: number;
}

/**
 * With FLOOD_DEBUG: every 200 ms the daemon's resident anonymous memory next to what its own
 * metrics say held it (V8's heap in use and committed, external buffers, embedded ClickHouse's
 * tracked memory, records in pipeline queues, the limiter's state), printed after the run.
 */
function memoryTimeline(d: RunningDaemon): { stop(): void } {
  const rows: string[][] = [];
  const start = performance.now();
  const metric = (text: string, name: string, label = '') => {
    let sum = 0;
    for (const m of text.matchAll(new RegExp(`^${name}(?:\\{([^}]*)\\})? (\\S+)$`, 'gm')))
      if ((m[1] ?? '').includes(label)) sum += Number(m[2]);
    return sum;
  };
  const mib = (n: number) => (n / MIB).toFixed(0);
  let busy = false;
  const timer = setInterval(() => {
    if (busy) return;
    busy = true;
    const t = ((performance.now() - start) / 1000).toFixed(1);
    let anon = 0;
    try {
      const status = readFileSync(`/proc/${d.proc.pid}/status`, 'utf8');
      const kb = (f: string) => Number(new RegExp(`${f}:\\s+(\\d+) kB`).exec(status)?.[1] ?? 0) * 1024;
      anon = kb('RssAnon') + kb('RssShmem');
    } catch {
      /* exited */
    }
    fetch(d.adminUrl('/metrics'))
      .then((r) => r.text())
      .then((text) => {
        rows.push([
          t,
          mib(anon),
          mib(metric(text, 'nodejs_heap_size_used_bytes')),
          mib(metric(text, 'nodejs_heap_size_total_bytes')),
          mib(metric(text, 'nodejs_external_memory_bytes')),
          mib(metric(text, 'vigil_memory_used_bytes', 'source="embedded_clickhouse"')),
          String(metric(text, 'vigil_pipeline_queue_size')),
          String(metric(text, 'vigil_memory_limiter_active')),
        ]);
      })
      .catch(() => {})
      .finally(() => (busy = false));
  }, 200);
  return {
    stop() {
      clearInterval(timer);
      process.stderr.write(
        table(['s', 'anon MiB', 'heap used', 'heap total', 'external', 'chdb tracked', 'queued', 'limiter'], rows) +
          '\n',
      );
    },
  };
}

async function run(mode: Mode, listener: Listener): Promise<RunResult> {
  const daemon = await startDaemon(configFor(mode), { env: DAEMON_ENV });
  if (pinned) execFileSync('taskset', ['-acp', '0', String(daemon.proc.pid)], { stdio: 'ignore' });
  const mem = sampleMemory(daemon.proc.pid!);
  const timeline = process.env.FLOOD_DEBUG ? memoryTimeline(daemon) : undefined;
  const { grpc, syslog } = logPorts(daemon);
  const http = daemon.http[0]!.port;
  const tally = newTally();
  let calibrated = 0;
  const exporter = mode === 'file' ? 'exporter="file/events"' : 'exporter="clickhouse"';
  try {
    if (listener === 'syslog-tcp') {
      await syslogFlood(syslog, SECONDS, tally);
    } else {
      let send: Send;
      let close = () => {};
      if (listener === 'otlp-grpc') {
        const g = grpcSender(grpc, otlpLogs(service(listener)), OTLP_BATCH);
        send = g.send;
        close = g.close;
      } else if (listener === 'otlp-http')
        send = httpSender(http, '/v1/logs', 'application/x-protobuf', otlpLogs(service(listener)), OTLP_BATCH);
      else send = httpSender(http, '/v1/events', 'application/json', jsonEvents(service(listener)), JSON_BATCH);
      const warmup = newTally();
      calibrated = await closedLoop(async () => {
        const r = await send();
        if (typeof r === 'object') warmup.ackedRecords += r.records;
        return r;
      }, CALIBRATE);
      tally.ackedRecords += warmup.ackedRecords;
      await openLoop(send, Math.max(1, calibrated * FACTOR), SECONDS, tally);
      close();
    }
    // Drain: the receiver has taken what syslog senders wrote, and the exporter has sent
    // everything the receivers accepted (or 180 s passed).
    const drainStart = performance.now();
    const written = listener === 'syslog-tcp' ? tally.ackedRecords : 0;
    while (performance.now() - drainStart < 180_000) {
      const accepted = await metricSum(
        daemon.adminUrl('/metrics'),
        'vigil_receiver_accepted_records_total',
        'signal="logs"',
      );
      const sent = await metricSum(daemon.adminUrl('/metrics'), 'vigil_exporter_sent_records_total', exporter);
      if (accepted >= written && sent >= accepted) break;
      await new Promise((r) => setTimeout(r, 250));
    }
    const drainSeconds = (performance.now() - drainStart) / 1000;
    timeline?.stop();
    if (process.env.FLOOD_DEBUG && otherAnswers.size)
      process.stderr.write(`other answers: ${JSON.stringify(Object.fromEntries(otherAnswers))}\n`);
    otherAnswers.clear();
    if (process.env.FLOOD_DEBUG) {
      const text = await (await fetch(daemon.adminUrl('/metrics'))).text();
      process.stderr.write(
        text
          .split('\n')
          .filter((l) =>
            /^(vigil_(receiver|syslog|memory|pipeline|exporter_sent|embedded)|nodejs_(heap_size|heap_space_size|external)|process_resident)/.test(
              l,
            ),
          )
          .join('\n') + '\n',
      );
      for (const line of daemon.logs) if (line.includes('memory')) process.stderr.write(line + '\n');
      process.stderr.write(readFileSync(`/proc/${daemon.proc.pid}/smaps_rollup`, 'utf8'));
    }
    await daemon.stop('SIGTERM');
    const memory = mem.stop();
    const stored = await countStored(mode, daemon.dataDir, service(listener));
    // A minute's flood leaves gigabytes behind.
    rmSync(daemon.dataDir, { recursive: true, force: true });
    return { mode, listener, calibrated, tally, memory, stored, drainSeconds };
  } catch (err) {
    await daemon.stop('SIGKILL');
    mem.stop();
    throw err;
  }
}

/** The daemon runs as the `vigil` command runs it: with Node's compile cache (see vigilEnv), filled by one start of each mode. */
const DAEMON_ENV = { ...EPHEMERAL_PORTS, ...vigilEnv() };
for (const mode of MODES) await warmVigil(mode, () => startDaemon(configFor(mode), { env: DAEMON_ENV }));

const MIB = 1024 * 1024;
const results: RunResult[] = [];
const load0 = loadavg();
for (const mode of MODES)
  for (const listener of LISTENERS) {
    const r = await run(mode, listener);
    results.push(r);
    process.stderr.write(
      `${mode} ${listener}: ${JSON.stringify({ ...r.tally, hwm: r.memory.hwm / MIB, anon: r.memory.peakAnon / MIB, stored: r.stored })}\n`,
    );
  }
const load1 = loadavg();

console.log(
  `Flood at ${FACTOR}× the calibrated rate for ${SECONDS} s per listener, memory_limiter.limit_mib ${LIMIT_MIB}` +
    ` (load average ${load0.map((l) => l.toFixed(2)).join(' ')} before, ${load1.map((l) => l.toFixed(2)).join(' ')} after)\n`,
);
console.log(
  table(
    [
      'mode',
      'listener',
      'calibrated req/s',
      'requests sent',
      'refused (429 / RESOURCE_EXHAUSTED)',
      'other errors',
      'held back (2,048 in flight)',
      'records acknowledged',
      'records stored',
      'peak VmHWM MiB',
      'peak anon RSS MiB',
      'drain s',
    ],
    results.map((r) => [
      r.mode,
      r.listener,
      r.listener === 'syslog-tcp' ? '—' : fmt(r.calibrated),
      r.listener === 'syslog-tcp' ? '—' : fmt(r.tally.sent),
      r.listener === 'syslog-tcp'
        ? '— (TCP back-pressure)'
        : `${((100 * r.tally.refused) / Math.max(1, r.tally.sent)).toFixed(1)} %`,
      r.tally.other,
      r.tally.notSent,
      fmt(r.tally.ackedRecords),
      fmt(r.stored),
      (r.memory.hwm / MIB).toFixed(0),
      (r.memory.peakAnon / MIB).toFixed(0),
      r.drainSeconds.toFixed(1),
    ]),
  ),
);
const lost = results.filter((r) => r.stored < r.tally.ackedRecords);
if (lost.length) {
  console.log(
    `\nacknowledged but not stored: ${lost.map((r) => `${r.mode}/${r.listener} ${r.tally.ackedRecords - r.stored}`).join(', ')}`,
  );
  process.exitCode = 1;
}
