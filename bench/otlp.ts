/**
 * OTLP receive throughput: log records/s and metric points/s through the real daemon
 * (receiver → pipeline → debug exporter at `basic`, which only counts) over OTLP/HTTP protobuf,
 * OTLP/HTTP JSON and OTLP/gRPC (plain and zstd), 512 records a request with 10 attributes each, and the
 * daemon's peak RSS and CPU. Baselines in the same run and process: decoding the same payloads
 * with Vigil's decoders only, and with protobufjs's reflection decoder (message objects, no
 * mapping). Rates per CPU-second (the daemon's, or this process's for the baselines) are what
 * "per core" means here, and hold up on a machine shared with other work. Run: `node bench/otlp.ts [--seconds 2] [--concurrency 16]` (about 50 s at the defaults).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { zstdCompressSync } from 'node:zlib';
import { protoType } from '../test/support/otlpProtos.ts';
import { grpcCallsFor } from './otlpWorkload.ts';
import { SIGNAL_SPECS, type OtlpSignal } from '../src/receivers/otlp/signals.ts';
import {
  benchArgs,
  cpuSeconds,
  fmt,
  peakRssMiB,
  pinned,
  pinSelfToLoadCore,
  postFor,
  table,
  vigilCommand,
  vigilEnv,
  warmVigil,
  scratchDir,
} from './support.ts';

const { values } = benchArgs(import.meta.filename, {
  options: { seconds: { type: 'string', default: '2' }, concurrency: { type: 'string', default: '16' } },
});
const SECONDS = Number(values.seconds);
const CONCURRENCY = Number(values.concurrency);
const BATCH = 512;
pinSelfToLoadCore();

const kv = (key: string, value: Record<string, unknown>) => ({ key, value });
const resource = {
  attributes: [
    kv('service.name', { stringValue: 'checkout' }),
    kv('host.name', { stringValue: 'web-17' }),
    kv('deployment.environment', { stringValue: 'prod' }),
    kv('cloud.region', { stringValue: 'eu-west-1' }),
    kv('service.version', { stringValue: '4.2.0' }),
  ],
};
const tenAttributes = (i: number) => [
  kv('http.request.method', { stringValue: 'POST' }),
  kv('http.response.status_code', { intValue: 200 + (i % 5) }),
  kv('http.route', { stringValue: '/api/v1/orders/:id' }),
  kv('url.path', { stringValue: `/api/v1/orders/${100000 + i}` }),
  kv('user.id', { stringValue: `u-${i % 1000}` }),
  kv('duration.ms', { doubleValue: 12.5 + (i % 100) }),
  kv('retry', { boolValue: i % 10 === 0 }),
  kv('thread.id', { intValue: i % 64 }),
  kv('code.function', { stringValue: 'OrderController.create' }),
  kv('region', { stringValue: 'eu-west-1' }),
];

function logsRequest(): Record<string, unknown> {
  const ts = '1763892000123456789';
  const logRecords = Array.from({ length: BATCH }, (_, i) => ({
    timeUnixNano: ts,
    observedTimeUnixNano: ts,
    severityNumber: i % 20 === 0 ? 17 : 9,
    severityText: i % 20 === 0 ? 'ERROR' : 'INFO',
    body: {
      stringValue: `order ${100000 + i} created for customer ${i % 1000}: 3 items, total 42.50 EUR, payment authorised`,
    },
    attributes: tenAttributes(i),
    traceId: Buffer.alloc(16, (i % 250) + 1).toString('hex'),
    spanId: Buffer.alloc(8, (i % 250) + 1).toString('hex'),
    flags: 1,
  }));
  return { resourceLogs: [{ resource, scopeLogs: [{ scope: { name: 'orders', version: '1.0.0' }, logRecords }] }] };
}

function metricsRequest(): Record<string, unknown> {
  const metrics = Array.from({ length: BATCH / 8 }, (_, m) => ({
    name: `orders.requests.${m}`,
    unit: '1',
    sum: {
      aggregationTemporality: 2,
      isMonotonic: true,
      dataPoints: Array.from({ length: 8 }, (_, p) => ({
        attributes: tenAttributes(m * 8 + p),
        startTimeUnixNano: '1763891000000000000',
        timeUnixNano: '1763892000000000000',
        asInt: String(1000 + p),
      })),
    },
  }));
  return { resourceMetrics: [{ resource, scopeMetrics: [{ scope: { name: 'orders' }, metrics }] }] };
}

const REQUEST_TYPES: Record<'logs' | 'metrics', string> = {
  logs: 'opentelemetry.proto.collector.logs.v1.ExportLogsServiceRequest',
  metrics: 'opentelemetry.proto.collector.metrics.v1.ExportMetricsServiceRequest',
};

/** The request as OTLP/JSON (hex ids) and as protobuf (via protobufjs from proto/, bytes ids). */
function payloads(signal: 'logs' | 'metrics'): { json: Buffer; proto: Buffer } {
  const req = signal === 'logs' ? logsRequest() : metricsRequest();
  const json = Buffer.from(JSON.stringify(req));
  const forProto = JSON.parse(JSON.stringify(req), (k, v: unknown) =>
    (k === 'traceId' || k === 'spanId') && typeof v === 'string' ? Buffer.from(v, 'hex') : v,
  ) as Record<string, unknown>;
  const T = protoType(REQUEST_TYPES[signal]);
  return { json, proto: Buffer.from(T.encode(T.fromObject(forProto)).finish()) };
}

/**
 * Records per CPU-second of a synchronous function over one payload. CPU time rather than wall
 * time, so that a core shared with other work does not count against it.
 */
function inProcess(fn: () => void): number {
  const warm = performance.now() + 500;
  while (performance.now() < warm) fn();
  const start = performance.now();
  const cpu0 = process.cpuUsage();
  let n = 0;
  while (performance.now() - start < SECONDS * 1000) {
    fn();
    n++;
  }
  const cpu = process.cpuUsage(cpu0);
  return (n * BATCH) / ((cpu.user + cpu.system) / 1e6);
}

async function httpLoad(port: number, path: string, body: Buffer, contentType: string): Promise<number> {
  return (await postFor({ port, path, contentType }, body, BATCH, SECONDS, CONCURRENCY)).rate;
}

async function grpcLoad(port: number, path: string, message: Buffer, encoding: 'identity' | 'zstd'): Promise<number> {
  return (
    await grpcCallsFor({
      port,
      path,
      message,
      encoding,
      recordsPerCall: BATCH,
      seconds: SECONDS,
      concurrency: CONCURRENCY,
    })
  ).rate;
}

/** Spawns the daemon and resolves with every log line up to "Vigil started", which names the HTTP port. */
function spawnUntilStarted(cmd: string, args: string[]): Promise<{ proc: ChildProcess; lines: string[] }> {
  return new Promise((resolve, reject) => {
    const proc = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...vigilEnv() } });
    const lines: string[] = [];
    let buf = '';
    proc.stderr.on('data', (d: Buffer) => {
      buf += d.toString();
      let nl: number;
      while ((nl = buf.indexOf('\n')) !== -1) {
        lines.push(buf.slice(0, nl));
        buf = buf.slice(nl + 1);
        if (lines.at(-1)!.includes('"msg":"Vigil started"')) resolve({ proc, lines });
      }
    });
    proc.on('exit', (code) => reject(new Error(`vigil exited with ${code} before it started:\n${lines.join('\n')}`)));
  });
}

type Transport = 'HTTP/protobuf' | 'HTTP/JSON' | 'gRPC' | 'gRPC zstd';

async function runDaemon(
  signal: 'logs' | 'metrics',
  transport: Transport,
  body: { json: Buffer; proto: Buffer },
): Promise<{ rate: number; perCore: number; rss: number }> {
  const dir = scratchDir();
  writeFileSync(
    join(dir, 'vigil.yaml'),
    `receivers: { otlp: { protocols: { grpc: { endpoint: 127.0.0.1:0 }, http: { endpoint: 127.0.0.1:0 } } } }
exporters: { debug: { verbosity: basic } }
service:
  pipelines: { ${signal}: { receivers: [otlp], exporters: [debug] } }
  telemetry: { metrics: { endpoint: 127.0.0.1:0 }, logs: { level: info } }
`,
  );
  const [cmd, args] = vigilCommand(0, dir);
  await warmVigil(`otlp → debug (${signal})`, async () => (await spawnUntilStarted(cmd, args)).proc);
  const { proc, lines } = await spawnUntilStarted(cmd, args);
  const grpcPort = (JSON.parse(lines.find((l) => l.includes('OTLP gRPC listening'))!) as { grpc: { port: number } })
    .grpc.port;
  const httpPort = (JSON.parse(lines.at(-1)!) as { http: { port: number }[] }).http[0]!.port;
  proc.stdout!.resume();
  const path = SIGNAL_SPECS[signal as OtlpSignal];
  const cpu0 = cpuSeconds(proc.pid!);
  const t0 = performance.now();
  const rate =
    transport === 'gRPC' || transport === 'gRPC zstd'
      ? await grpcLoad(
          grpcPort,
          `/${path.grpcService}/Export`,
          transport === 'gRPC' ? body.proto : zstdCompressSync(body.proto),
          transport === 'gRPC' ? 'identity' : 'zstd',
        )
      : await httpLoad(
          httpPort,
          path.httpPath,
          transport === 'HTTP/JSON' ? body.json : body.proto,
          transport === 'HTTP/JSON' ? 'application/json' : 'application/x-protobuf',
        );
  const busy = (cpuSeconds(proc.pid!) - cpu0) / ((performance.now() - t0) / 1000);
  const rss = peakRssMiB(proc.pid!);
  proc.kill('SIGTERM');
  await new Promise((r) => proc.on('exit', r));
  return { rate, perCore: rate / Math.max(busy, 0.01), rss };
}

const rows: (string | number)[][] = [];
for (const signal of ['logs', 'metrics'] as const) {
  const body = payloads(signal);
  const spec = SIGNAL_SPECS[signal];
  const T = protoType(REQUEST_TYPES[signal]);
  const decodeProto = inProcess(() => spec.decodeProto(body.proto, 1n));
  const decodeJson = inProcess(() => spec.decodeJson(body.json, 1n));
  const reflection = inProcess(() => T.decode(body.proto));
  const unit = signal === 'logs' ? 'log records' : 'metric points';
  rows.push([`${unit}: decode only, Vigil protobuf decoder → model`, '', fmt(decodeProto), '', '']);
  rows.push([`${unit}: decode only, protobufjs reflection → message objects`, '', fmt(reflection), '', '']);
  rows.push([`${unit}: decode only, Vigil OTLP/JSON decoder → model`, '', fmt(decodeJson), '', '']);
  for (const transport of ['HTTP/protobuf', 'HTTP/JSON', 'gRPC', 'gRPC zstd'] as const) {
    const r = await runDaemon(signal, transport, body);
    const baseline = transport === 'HTTP/JSON' ? decodeJson : decodeProto;
    rows.push([`${unit}: daemon, ${transport}`, fmt(r.rate), fmt(r.perCore), (r.perCore / baseline).toFixed(2), r.rss]);
  }
}
process.stdout.write(
  `OTLP receive → pipeline → counting exporter, ${BATCH} records/request with 10 attributes, ${SECONDS}s per point, ${CONCURRENCY} requests in flight, node ${process.version}${pinned ? ', daemon pinned to one core' : ''}\n\n`,
);
process.stdout.write(
  table(
    [
      'path',
      'records/s (wall clock)',
      'records per CPU-second',
      'ratio to decode-only, per CPU-second',
      'daemon peak RSS MiB',
    ],
    rows,
  ) + '\n',
);
