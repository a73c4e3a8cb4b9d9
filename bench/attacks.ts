/**
 * The attacks of the hostile-input issue against a real daemon on the shipped limits (every limit
 * at its default, the heap capped as the Helm chart caps it), one fresh daemon per attack, on
 * loopback only, each attack bounded by `--seconds`. For each: whether the daemon is alive and
 * healthy afterwards, its peak RSS (VmHWM, sampled), what the attacker was answered, and how a
 * well-behaved client fared during the attack: one request every 50 ms from a separate process
 * (a JSON event, or a syslog line from another peer), its success rate and p99 latency.
 * Run: `node bench/attacks.ts [--seconds 10] [--only deflate-bomb]`.
 */
import { spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { readFileSync } from 'node:fs';
import { createServer, request, Agent, type IncomingMessage } from 'node:http';
import { connect as h2connect, type ClientHttp2Session } from 'node:http2';
import { connect, type Socket } from 'node:net';
import { loadavg } from 'node:os';
import { deflateRawSync, gzipSync } from 'node:zlib';
import { startDaemon, type RunningDaemon } from '../test/support/daemon.ts';
import { drainedOrClosed } from '../test/support/writable.ts';
import { benchArgs, fmt, table } from './support.ts';
import { grpcFrame } from './otlpWorkload.ts';

const { values } = benchArgs(import.meta.filename, {
  options: {
    seconds: { type: 'string', default: '10' },
    only: { type: 'string' },
    // Internal: the well-behaved client, run as a child process so the attacker's work does not delay it.
    probe: { type: 'string' },
    target: { type: 'string' },
  },
});
const SECONDS = Number(values.seconds);
const PROBE_EVERY_MS = 50;
const PROBE_TIMEOUT_MS = 2000;
// The chart's container limit leaves V8 this much heap.
const HEAP_MIB = 768;

interface ProbeResult {
  sent: number;
  ok: number;
  p99: number;
}

/** One request every 50 ms, open loop (a stalled answer does not delay the next request). */
async function probe(kind: string, target: string, seconds: number): Promise<ProbeResult> {
  const [host, port] = [target.slice(0, target.lastIndexOf(':')), Number(target.slice(target.lastIndexOf(':') + 1))];
  const agent = new Agent({ keepAlive: true, maxSockets: 4 });
  const latencies: number[] = [];
  let sent = 0;
  let ok = 0;
  const once = (): Promise<boolean> =>
    kind === 'json'
      ? new Promise((resolve) => {
          const body = JSON.stringify({ body: 'well-behaved client', severity: 'info', asset: 'probe' });
          const req = request(
            {
              host,
              port,
              // Another peer than the attacker's, as a real sender would be: shares are per peer.
              localAddress: '127.0.0.2',
              path: '/v1/events',
              method: 'POST',
              agent,
              headers: { 'content-type': 'application/json', 'content-length': body.length },
              timeout: PROBE_TIMEOUT_MS,
            },
            (res) => {
              res.resume();
              res.on('end', () => resolve(res.statusCode! >= 200 && res.statusCode! < 300));
            },
          );
          req.on('timeout', () => req.destroy());
          req.on('error', () => resolve(false));
          req.end(body);
        })
      : // A syslog sender on another address: connected, its line written, and not cut off.
        new Promise((resolve) => {
          const sock = connect({ host, port, localAddress: '127.0.0.2' });
          const timer = setTimeout(() => done(false), PROBE_TIMEOUT_MS);
          let closed = false;
          const done = (v: boolean) => {
            clearTimeout(timer);
            sock.destroy();
            resolve(v);
          };
          sock.on('error', () => done(false));
          sock.on('close', () => (closed = true));
          sock.on('connect', () =>
            sock.write('<13>1 2026-12-03T10:00:00Z probe app - - - well-behaved\n', () =>
              setTimeout(() => done(!closed), 100),
            ),
          );
        });
  const pending: Promise<void>[] = [];
  const end = Date.now() + seconds * 1000;
  while (Date.now() < end) {
    const t0 = performance.now();
    sent++;
    pending.push(
      once().then((success) => {
        if (success) ok++;
        latencies.push(success ? performance.now() - t0 : PROBE_TIMEOUT_MS);
      }),
    );
    await new Promise((r) => setTimeout(r, PROBE_EVERY_MS));
  }
  await Promise.all(pending);
  agent.destroy();
  latencies.sort((a, b) => a - b);
  return { sent, ok, p99: latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * 0.99))] ?? NaN };
}

if (values.probe) {
  process.stdout.write(JSON.stringify(await probe(values.probe, values.target!, SECONDS)));
  process.exit(0);
}

function startProbe(kind: 'json' | 'syslog-tcp', target: string): Promise<ProbeResult> {
  const child = spawn(
    process.execPath,
    [import.meta.filename, '--probe', kind, '--target', target, '--seconds', String(SECONDS)],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  return new Promise((resolve, reject) =>
    child.on('exit', (code) => (code === 0 ? resolve(JSON.parse(out) as ProbeResult) : reject(new Error(out)))),
  );
}

// ---- the daemon ----

const REGEX_DOS = '^(\\\\w+\\\\s?)+$';
const config = (webhookPort: number) => `
receivers:
  json: { endpoint: 127.0.0.1:0 }
  otlp: { protocols: { grpc: { endpoint: 127.0.0.1:0 }, http: { endpoint: 127.0.0.1:0 } } }
  syslog: { udp: { endpoint: 127.0.0.1:0 }, tcp: { endpoint: 127.0.0.1:0 } }
processors:
  filter/regex:
    logs: ['IsMatch(body, "${REGEX_DOS}")']
exporters:
  file/events: { path: events.ndjson }
  correlation: {}
  webhook: { url: http://127.0.0.1:${webhookPort}/hook, format: json }
correlation:
  defaults: { group_wait: 0s }
  rules:
    - { kind: pair, name: asset_down, group_by: [asset] }
service:
  pipelines:
    logs: { receivers: [json, otlp, syslog], processors: [filter/regex], exporters: [file/events, correlation] }
    incidents: { exporters: [webhook] }
  telemetry:
    metrics: { endpoint: 127.0.0.1:0 }
`;

interface Ports {
  http: number;
  grpc: number;
  syslogUdp: number;
  syslogTcp: number;
}

function ports(d: RunningDaemon): Ports {
  const out: Partial<Ports> = { http: d.http[0]!.port };
  for (const line of d.logs) {
    const rec = JSON.parse(line) as {
      grpc?: { port: number };
      syslog?: { udp: { port: number }; tcp: { port: number } };
    };
    if (rec.grpc) out.grpc = rec.grpc.port;
    if (rec.syslog) [out.syslogUdp, out.syslogTcp] = [rec.syslog.udp.port, rec.syslog.tcp.port];
  }
  return out as Ports;
}

// ---- attack tools ----

/** Tallies answers by class: `413`, `grpc 8`, `reset`... */
class Tally {
  readonly counts = new Map<string, number>();
  add(cls: string): void {
    this.counts.set(cls, (this.counts.get(cls) ?? 0) + 1);
  }
  toString(): string {
    return [...this.counts]
      .sort((a, b) => b[1] - a[1])
      .map(([c, n]) => `${c}: ${fmt(n)}`)
      .join(', ');
  }
}

/** Runs `one` with `concurrency` workers until `end`. */
async function loop(end: number, concurrency: number, one: () => Promise<void>): Promise<void> {
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (Date.now() < end) await one();
    }),
  );
}

function httpPost(
  port: number,
  path: string,
  body: Buffer,
  headers: Record<string, string>,
  agent: Agent,
): Promise<string> {
  return new Promise((resolve) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        path,
        method: 'POST',
        agent,
        headers: { ...headers, 'content-length': body.length },
        timeout: 30_000,
      },
      (res: IncomingMessage) => {
        let text = '';
        res.on('data', (d: Buffer) => (text.length < 4096 ? (text += d.toString()) : undefined));
        // A 2xx that rejected some records: the good ones beside them were kept.
        res.on('end', () =>
          resolve(`${res.statusCode}${/"rejected":\[\{/.test(text) ? ' with records rejected' : ''}`),
        );
      },
    );
    req.on('timeout', () => req.destroy());
    req.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? 'error'));
    req.end(body);
  });
}

/** `concurrency` senders POST `body` until `end` over one keep-alive pool; answers into `tally`. */
async function postUntil(
  end: number,
  concurrency: number,
  tally: Tally,
  target: { port: number; path: string; body: Buffer; headers: Record<string, string> },
): Promise<void> {
  const agent = new Agent({ keepAlive: true, maxSockets: concurrency });
  await loop(end, concurrency, async () =>
    tally.add(await httpPost(target.port, target.path, target.body, target.headers, agent)),
  );
  agent.destroy();
}

const JSON_TYPE = { 'content-type': 'application/json' };

const LOGS_EXPORT = '/opentelemetry.proto.collector.logs.v1.LogsService/Export';

function grpcCall(session: ClientHttp2Session, message: Buffer, encoding: string): Promise<string> {
  return new Promise((resolve) => {
    const stream = session.request({
      ':method': 'POST',
      ':path': LOGS_EXPORT,
      'content-type': 'application/grpc',
      'grpc-encoding': encoding,
      te: 'trailers',
    });
    let status = '';
    stream.on('response', (h) => (status = String(h['grpc-status'] ?? status)));
    stream.on('trailers', (t) => (status = String(t['grpc-status'] ?? status)));
    stream.on('error', () => (status ||= 'reset'));
    stream.on('close', () => resolve(status ? `grpc ${status}` : 'reset'));
    stream.resume();
    stream.end(grpcFrame(message, encoding !== 'identity'));
  });
}

function varint(n: number): Buffer {
  const out: number[] = [];
  while (n > 0x7f) {
    out.push((n & 0x7f) | 0x80);
    n = Math.floor(n / 128);
  }
  out.push(n);
  return Buffer.from(out);
}

function lengthDelimited(field: number, body: Buffer): Buffer {
  return Buffer.concat([Buffer.from([(field << 3) | 2]), varint(body.length), body]);
}

/** An ExportLogsServiceRequest of `n` empty log records: 2 bytes each on the wire. */
function emptyLogRecords(n: number): Buffer {
  const records = Buffer.alloc(2 * n);
  for (let i = 0; i < n; i++) records[2 * i] = 0x12; // ScopeLogs.log_records, length 0
  return lengthDelimited(1, lengthDelimited(2, records));
}

function nested(depth: number): string {
  return `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`;
}

const sockets: Socket[] = [];
function openSocket(port: number, host = '127.0.0.1'): Promise<Socket | undefined> {
  return new Promise((resolve) => {
    const s = connect({ port, host });
    s.on('error', () => resolve(undefined));
    s.on('connect', () => {
      sockets.push(s);
      resolve(s);
    });
  });
}

// ---- the attacks ----

interface Attack {
  name: string;
  what: string;
  probe: 'json' | 'syslog-tcp';
  fdLimit?: number;
  /** Runs until `end`; returns what the attacker saw. */
  run(p: Ports, end: number, ctx: { webhooks: () => number; adminUrl: (path: string) => string }): Promise<string>;
}

const ATTACKS: Attack[] = [
  {
    name: 'proto-datagram',
    what: '38-byte RFC 5424 datagrams with `__proto__`/`constructor` SD-IDs, over UDP and TCP',
    probe: 'json',
    async run(p, end) {
      const lines = ['__proto__', 'constructor', 'prototype', 'toString'].map(
        (id) => `<13>1 - h a - - [${id} x="1"] m`,
      );
      const udp = createSocket('udp4');
      const tcp = await openSocket(p.syslogTcp);
      let sent = 0;
      while (Date.now() < end) {
        for (let i = 0; i < 100; i++) {
          const line = lines[sent++ % lines.length]!;
          udp.send(line, p.syslogUdp, '127.0.0.1');
          tcp?.write(`${line}\n`);
        }
        await new Promise((r) => setTimeout(r, 20));
      }
      udp.close();
      return `${fmt(sent)} datagrams and as many TCP lines`;
    },
  },
  {
    name: 'record-amplification',
    what: 'empty records: a 4 KB gzip gRPC message (2 M records), a 1 MB plain gRPC message, a 20 KB gzip OTLP/HTTP body, a 20 KB gzip JSON `[{},{},…]`',
    probe: 'json',
    async run(p, end) {
      const grpcGzip = gzipSync(emptyLogRecords(2_000_000));
      const grpcPlain = emptyLogRecords(500_000);
      const httpGzip = gzipSync(emptyLogRecords(9_000_000));
      const jsonGzip = gzipSync(Buffer.from(`[${'{},'.repeat(6_000_000)}{}]`));
      const tally = new Tally();
      const session = h2connect(`http://127.0.0.1:${p.grpc}`);
      session.on('error', () => {});
      const gzipped = (type: string) => ({ 'content-type': type, 'content-encoding': 'gzip' });
      await Promise.all([
        loop(end, 2, async () => tally.add(await grpcCall(session, grpcGzip, 'gzip'))),
        loop(end, 2, async () => tally.add(await grpcCall(session, grpcPlain, 'identity'))),
        postUntil(end, 2, tally, {
          port: p.http,
          path: '/v1/logs',
          body: httpGzip,
          headers: gzipped('application/x-protobuf'),
        }),
        postUntil(end, 2, tally, {
          port: p.http,
          path: '/v1/events',
          body: jsonGzip,
          headers: gzipped('application/json'),
        }),
      ]);
      session.destroy();
      return `bodies ${fmt(grpcGzip.length)} B / ${fmt(grpcPlain.length)} B / ${fmt(httpGzip.length)} B / ${fmt(jsonGzip.length)} B; ${tally}`;
    },
  },
  {
    name: 'slow-body',
    what: '40 sockets each send 20 MiB of a 20 MiB body but its last byte, then stall',
    probe: 'json',
    async run(p, end) {
      const size = 20 * 1024 * 1024;
      const chunk = Buffer.alloc(1024 * 1024, 0x61);
      const answers = new Tally();
      await Promise.all(
        Array.from({ length: 40 }, async () => {
          const s = await openSocket(p.http);
          if (!s) return answers.add('refused');
          s.on('data', (d: Buffer) => answers.add(/^HTTP\/1\.1 (\d+)/.exec(d.toString('latin1'))?.[1] ?? 'data'));
          s.write(
            `POST /v1/events HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: ${size}\r\n\r\n`,
          );
          for (let sent = 0; sent + chunk.length < size && !s.destroyed; sent += chunk.length)
            if (!s.write(chunk)) await drainedOrClosed(s);
        }),
      );
      await new Promise((r) => setTimeout(r, Math.max(0, end - Date.now())));
      return `answers before the end: ${answers.toString() || 'none (held)'}`;
    },
  },
  {
    name: 'stalled-grpc-streams',
    what: '256 gRPC streams (8 connections) each announce a 4 MiB message, send all but 1 KiB, then stall',
    probe: 'json',
    async run(p, end) {
      const size = 4 * 1024 * 1024 - 64;
      // One unknown length-delimited field (15) spanning the message: well-formed as far as it
      // is sent, so Vigil holds it (malformed bytes are refused as soon as they are counted).
      const body = Buffer.alloc(size - 1024, 0x0a);
      body[0] = 0x7a;
      const inner = size - 5;
      body.set([(inner & 0x7f) | 0x80, ((inner >> 7) & 0x7f) | 0x80, ((inner >> 14) & 0x7f) | 0x80, inner >> 21], 1);
      const tally = new Tally();
      const sessions = Array.from({ length: 8 }, () => {
        const s = h2connect(`http://127.0.0.1:${p.grpc}`);
        s.on('error', () => {});
        return s;
      });
      for (let i = 0; i < 256; i++) {
        const stream = sessions[i % 8]!.request({
          ':method': 'POST',
          ':path': LOGS_EXPORT,
          'content-type': 'application/grpc',
          te: 'trailers',
        });
        stream.on('trailers', (t) => tally.add(`grpc ${String(t['grpc-status'])}`));
        stream.on('response', (h) => h['grpc-status'] !== undefined && tally.add(`grpc ${String(h['grpc-status'])}`));
        stream.on('error', () => tally.add('reset'));
        stream.resume();
        const head = Buffer.alloc(5);
        head.writeUInt32BE(size, 1);
        stream.write(head);
        stream.write(body);
      }
      await new Promise((r) => setTimeout(r, Math.max(0, end - Date.now())));
      for (const s of sessions) s.destroy();
      return `answers before the end: ${tally.toString() || 'none (held)'}`;
    },
  },
  {
    name: 'deflate-bomb',
    what: '8 concurrent requests, each 200 KB of deflate that inflates to 200 MiB (10× the body limit)',
    probe: 'json',
    async run(p, end) {
      const bomb = deflateRawSync(Buffer.alloc(200 * 1024 * 1024), { level: 9 });
      const tally = new Tally();
      await postUntil(end, 8, tally, {
        port: p.http,
        path: '/v1/events',
        body: bomb,
        headers: { ...JSON_TYPE, 'content-encoding': 'deflate' },
      });
      return `bomb ${fmt(bomb.length)} B; ${tally}`;
    },
  },
  {
    name: 'idle-grpc-fd',
    what: '1,100 idle HTTP/2 connections to gRPC, daemon under `ulimit -n 1024`',
    probe: 'json',
    fdLimit: 1024,
    async run(p, end) {
      let open = 0;
      let refused = 0;
      const sessions: ClientHttp2Session[] = [];
      for (let i = 0; i < 1100 && Date.now() < end; i++) {
        const ok = await new Promise<boolean>((resolve) => {
          const s = h2connect(`http://127.0.0.1:${p.grpc}`);
          sessions.push(s);
          s.on('error', () => resolve(false));
          s.on('close', () => resolve(false));
          s.on('remoteSettings', () => resolve(true));
          setTimeout(() => resolve(false), 2000);
        });
        if (ok) open++;
        else refused++;
      }
      await new Promise((r) => setTimeout(r, Math.max(0, end - Date.now())));
      const stillOpen = sessions.filter((s) => !s.closed && !s.destroyed).length;
      for (const s of sessions) s.destroy();
      return `${fmt(open)} set up, ${fmt(refused)} refused or closed, ${fmt(stillOpen)} open at the end`;
    },
  },
  {
    name: 'syslog-idle-peer',
    what: '1,000 idle syslog TCP sockets from one peer; the well-behaved client is a syslog sender on another address',
    probe: 'syslog-tcp',
    async run(p, end) {
      let open = 0;
      for (let i = 0; i < 1000 && Date.now() < end; i++) if (await openSocket(p.syslogTcp)) open++;
      await new Promise((r) => setTimeout(r, Math.max(0, end - Date.now())));
      const alive = sockets.filter((s) => !s.destroyed && s.readyState === 'open').length;
      return `${fmt(open)} connected, ${fmt(alive)} still open at the end (the rest closed by Vigil)`;
    },
  },
  {
    name: 'deep-nesting',
    what: 'JSON records nested 20,000 deep, each beside a good record',
    probe: 'json',
    async run(p, end) {
      const body = Buffer.from(`[${nested(20_000)},{"body":"good","asset":"beside"}]`);
      const tally = new Tally();
      await postUntil(end, 4, tally, { port: p.http, path: '/v1/events', body, headers: JSON_TYPE });
      return tally.toString();
    },
  },
  {
    name: 'incident-flood',
    what: '5,000 `down` events for distinct assets in one burst (10 requests of 500), a webhook exporter on the incidents',
    probe: 'json',
    async run(p, end, ctx) {
      const agent = new Agent({ keepAlive: true, maxSockets: 4 });
      const tally = new Tally();
      const t0 = Date.now();
      for (let b = 0; b < 10; b++) {
        const events = Array.from({ length: 500 }, (_, i) => ({
          asset: `flood-${b * 500 + i}`,
          type: 'down',
          severity: 'critical',
          title: 'unreachable',
        }));
        tally.add(await httpPost(p.http, '/v1/events', Buffer.from(JSON.stringify(events)), JSON_TYPE, agent));
      }
      const burstMs = Date.now() - t0;
      await new Promise((r) => setTimeout(r, Math.max(0, end - Date.now())));
      agent.destroy();
      const metrics = await fetch(ctx.adminUrl('/metrics')).then((r) => r.text());
      const open = /^vigil_correlation_open_incidents(?:\{[^}]*\})? (\d+)/m.exec(metrics)?.[1] ?? '?';
      return `burst in ${fmt(burstMs)} ms (${tally}); open incidents after: ${open}; webhooks received in the window: ${fmt(ctx.webhooks())}`;
    },
  },
  {
    name: 'regex-dos',
    what: 'a filter with `IsMatch(body, "^(\\w+\\s?)+$")` and 31-byte bodies that make a backtracking engine explode (100 per request)',
    probe: 'json',
    async run(p, end) {
      const events = Array.from({ length: 100 }, () => ({ body: `${'a'.repeat(30)}!`, asset: 'redos' }));
      const body = Buffer.from(JSON.stringify(events));
      const tally = new Tally();
      await postUntil(end, 4, tally, { port: p.http, path: '/v1/events', body, headers: JSON_TYPE });
      return tally.toString();
    },
  },
];

// ---- the run ----

function vmHwmMiB(pid: number): number | undefined {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : undefined;
  } catch {
    return undefined;
  }
}

/**
 * CPU seconds the process has used (user + system), from /proc: what an attack cost the daemon,
 * which the well-behaved client's latency shows only through the load of a shared machine.
 */
function cpuSeconds(pid: number): number {
  // Fields after the command name (which may hold spaces): utime and stime are the 12th and 13th, in clock ticks.
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
}
// sysconf(_SC_CLK_TCK): 100 on every Linux Vigil runs on.
const CLOCK_TICKS = 100;

const rows: (string | number)[][] = [];
let failed = false;
for (const attack of ATTACKS.filter((a) => !values.only || a.name === values.only)) {
  let webhooks = 0;
  const sink = createServer((req, res) => {
    webhooks++;
    req.resume();
    req.on('end', () => res.writeHead(200).end());
  });
  await new Promise<void>((r) => sink.listen(0, '127.0.0.1', r));
  const daemon = await startDaemon(config((sink.address() as { port: number }).port), {
    env: { NODE_OPTIONS: `--max-old-space-size=${HEAP_MIB}` },
    ...(attack.fdLimit ? { fdLimit: attack.fdLimit } : {}),
  });
  const p = ports(daemon);
  let peak = 0;
  const sampler = setInterval(() => {
    const v = vmHwmMiB(daemon.proc.pid!);
    if (v !== undefined) peak = Math.max(peak, v);
  }, 100);
  const start = vmHwmMiB(daemon.proc.pid!) ?? 0;
  const cpuBefore = cpuSeconds(daemon.proc.pid!);
  const probing = startProbe(attack.probe, `127.0.0.1:${attack.probe === 'json' ? p.http : p.syslogTcp}`);
  let seen: string;
  try {
    seen = await attack.run(p, Date.now() + SECONDS * 1000, {
      webhooks: () => webhooks,
      adminUrl: (path) => daemon.adminUrl(path),
    });
  } catch (err) {
    seen = `attack failed: ${(err as Error).message}`;
  }
  const probed = await probing;
  clearInterval(sampler);
  const v = vmHwmMiB(daemon.proc.pid!);
  const cpu = daemon.proc.exitCode === null ? cpuSeconds(daemon.proc.pid!) - cpuBefore : NaN;
  if (v !== undefined) peak = Math.max(peak, v);
  const healthy =
    daemon.proc.exitCode === null &&
    (await fetch(daemon.adminUrl('/healthz'), { signal: AbortSignal.timeout(5000) }).then(
      (r) => r.status === 200,
      () => false,
    ));
  if (!healthy) failed = true;
  for (const s of sockets.splice(0)) s.destroy();
  await daemon.stop('SIGKILL');
  await new Promise<void>((r) => sink.close(() => r()));
  rows.push([
    attack.name,
    attack.what,
    healthy ? 'yes' : `**no** (exit ${daemon.proc.exitCode})`,
    `${Math.round(start)} → ${Math.round(peak)}`,
    cpu.toFixed(1),
    `${((probed.ok / probed.sent) * 100).toFixed(1)} % of ${fmt(probed.sent)}`,
    fmt(probed.p99),
    seen,
  ]);
  process.stderr.write(`${attack.name}: done\n`);
}

console.log(
  `${SECONDS} s per attack, one daemon each (heap ${HEAP_MIB} MiB, every limit at its default), well-behaved client: one request every ${PROBE_EVERY_MS} ms (${PROBE_TIMEOUT_MS} ms timeout); load average after: ${loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')}.\n`,
);
console.log(
  table(
    [
      'attack',
      'what',
      'daemon alive',
      'RSS start → peak (MiB)',
      'daemon CPU (s)',
      'well-behaved client served',
      'its p99 (ms)',
      'what the attacker got',
    ],
    rows,
  ),
);
process.exitCode = failed ? 1 : 0;
