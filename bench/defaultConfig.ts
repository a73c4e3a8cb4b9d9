/**
 * The default config end to end: OTLP logs from telemetrygen (512 records a request, four
 * workers, as fast as the daemon takes them) into `vigil run` on config/vigil.yaml as shipped
 * (embedded ClickHouse, the file exporter, correlation) with `service.memory_limiter.limit_mib`
 * set, for `--seconds`. Neither process is pinned: the rate is the machine's, load generator
 * included. Reports the records the receiver accepted per second while telemetrygen sent, the
 * records per second end to end (from the first request until the last accepted record was
 * inserted into ClickHouse), the daemon's CPU-seconds, its resident memory sampled every 100 ms
 * (total and anonymous, the part the limiter counts) against the ceiling, the requests refused,
 * and, after an orderly stop, whether every accepted record is in `otel.otel_logs`.
 * `--workload varied`: instead of telemetrygen, records that differ as an application's do
 * (bench/variedLogsWorkload.ts) over OTLP/HTTP protobuf, four connections: telemetrygen's one
 * record repeated is what ClickHouse compresses and indexes most cheaply.
 *
 * Run: `npm run bench -- defaultConfig [--seconds 30] [--limit-mib 512] [--http] [--workload telemetrygen|varied]`.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { Session } from 'chdb';
import { grpcPort } from '../test/receivers/otlp/sdkClients.ts';
import { EPHEMERAL_PORTS, startDaemon } from '../test/support/daemon.ts';
import { benchArgs, metricSum, cpuSeconds, fmt, peakRssMiB, postFor, table, vigilEnv, warmVigil } from './support.ts';
import { variedLogRequests } from './variedLogsWorkload.ts';
import { runTelemetrygenLogs, telemetrygenBinary } from './telemetrygenWorkload.ts';

const { values } = benchArgs(import.meta.filename, {
  options: {
    seconds: { type: 'string', default: '30' },
    'limit-mib': { type: 'string', default: '512' },
    http: { type: 'boolean', default: false },
    workload: { type: 'string', default: 'telemetrygen' },
  },
});
const SECONDS = Number(values.seconds);
const WORKLOAD = values.workload;
if (WORKLOAD !== 'telemetrygen' && WORKLOAD !== 'varied') {
  process.stderr.write(`bench/defaultConfig.ts: --workload is telemetrygen or varied, not ${WORKLOAD}\n`);
  process.exit(2);
}
const LIMIT_MIB = Number(values['limit-mib']);
const BATCH = 512;
const root = resolve(import.meta.dirname, '..');

/** VmRSS and RssAnon of a process, MiB. */
function residentMiB(pid: number): { rss: number; anon: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? 0);
  return { rss: kb('VmRSS') / 1024, anon: kb('RssAnon') / 1024 };
}

/** CPU-seconds per thread name (`comm`: V8's, libuv's, ClickHouse's pools), summed over threads of one name. */
function threadCpu(pid: number): Map<string, number> {
  const out = new Map<string, number>();
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      out.set(name, (out.get(name) ?? 0) + (Number(fields[11]) + Number(fields[12])) / 100);
    } catch {
      // the thread ended between the listing and the read
    }
  }
  return out;
}

const telemetrygen = WORKLOAD === 'telemetrygen' ? telemetrygenBinary() : undefined;
// 64 requests of distinct records, sent in turn: 32,768 records before one repeats.
const variedBodies = WORKLOAD === 'varied' ? variedLogRequests(64, BATCH, Date.now()) : [];
const config = readFileSync(join(root, 'config/vigil.yaml'), 'utf8').replace(
  /^service:\n/m,
  `service:\n  memory_limiter: { limit_mib: ${LIMIT_MIB}, check_interval: 250ms }\n`,
);
// One start and stop first: the measured daemon finds its modules compiled (see vigilEnv).
const env = { ...EPHEMERAL_PORTS, ...vigilEnv() };
await warmVigil('default config', () => startDaemon(config, { env }));
const daemon = await startDaemon(config, { env });
const pid = daemon.proc.pid!;
// What the daemon holds once started, before any load.
await new Promise((r) => setTimeout(r, 2000));
const idle = residentMiB(pid);
const load0 = loadavg();

let peak = { rss: 0, anon: 0 };
let overCeiling = 0;
const sampler = setInterval(() => {
  const now = residentMiB(pid);
  peak = { rss: Math.max(peak.rss, now.rss), anon: Math.max(peak.anon, now.anon) };
  if (now.anon > LIMIT_MIB) overCeiling++;
}, 100);

const cpu0 = cpuSeconds(pid);
const threads0 = threadCpu(pid);
const t0 = performance.now();
if (WORKLOAD === 'varied') {
  const port = Number(new URL(daemon.url('')).port);
  const target = { port, path: '/v1/logs', contentType: 'application/x-protobuf' };
  await postFor(target, variedBodies, BATCH, SECONDS, 4);
} else {
  const endpoint = values.http ? daemon.url('').replace(/^http:\/\//, '') : `127.0.0.1:${grpcPort(daemon)}`;
  await runTelemetrygenLogs(telemetrygen!, { endpoint, http: values.http, seconds: SECONDS, batch: BATCH });
}
const sendSeconds = (performance.now() - t0) / 1000;
const accepted = await metricSum(daemon.adminUrl('/metrics'), 'vigil_receiver_accepted_records_total', 'signal="logs"');
const refused = await metricSum(daemon.adminUrl('/metrics'), 'vigil_receiver_refused_records_total', 'signal="logs"');

// Until ClickHouse took every accepted record (or five minutes passed).
let stored = 0;
let storedAt = performance.now();
const deadline = Date.now() + 300_000;
while (Date.now() < deadline) {
  const now = await metricSum(
    daemon.adminUrl('/metrics'),
    'vigil_exporter_sent_records_total',
    'exporter="clickhouse",signal="logs"',
  );
  if (now !== stored) {
    stored = now;
    storedAt = performance.now();
  }
  if (stored >= accepted) break;
  await new Promise((r) => setTimeout(r, 100));
}
const endToEndSeconds = (storedAt - t0) / 1000;
const cpu = cpuSeconds(pid) - cpu0;
const byThread = [...threadCpu(pid)]
  .map(([name, s]) => [name, s - (threads0.get(name) ?? 0)] as const)
  .filter(([, s]) => s >= 0.05)
  .sort((a, b) => b[1] - a[1]);
clearInterval(sampler);
const vmHwm = peakRssMiB(pid);
const code = await daemon.stop('SIGTERM');
const load1 = loadavg();

const session = new Session(join(daemon.dataDir, 'clickhouse'));
const rows = Number(
  session
    .query(
      `SELECT count() FROM otel.otel_logs WHERE ServiceName IN (${WORKLOAD === 'varied' ? "'checkout', 'payments', 'inventory', 'shipping'" : "'telemetrygen'"})`,
      'CSV',
    )
    .trim(),
);
// Parts left unmerged at the stop: what queries read across until merges catch up.
const parts = Number(
  session
    .query("SELECT count() FROM system.parts WHERE active AND database = 'otel' AND table = 'otel_logs'", 'CSV')
    .trim(),
);
session.cleanup();

console.log(
  `Default config (config/vigil.yaml, memory_limiter.limit_mib ${LIMIT_MIB}) end to end: ${WORKLOAD === 'varied' ? 'varied records (bench/variedLogsWorkload.ts) over OTLP/HTTP protobuf' : `telemetrygen OTLP/${values.http ? 'HTTP protobuf' : 'gRPC'} logs`}, ${BATCH} records a request, 4 workers, ${SECONDS} s, unpinned; node ${process.version}; daemon exit ${code}; load average ${load0.map((l) => l.toFixed(2)).join(' ')} at start, ${load1.map((l) => l.toFixed(2)).join(' ')} at end\n`,
);
console.log(
  table(
    [
      'accepted',
      'accepted/s while sending',
      'stored',
      'end to end records/s',
      'refused (records)',
      'daemon CPU-s',
      'records/CPU-s',
      'RSS idle / peak MiB',
      'anonymous idle / peak MiB',
      'samples over the ceiling',
      'rows in otel_logs',
      'otel_logs parts at the stop',
    ],
    [
      [
        fmt(accepted),
        fmt(accepted / sendSeconds),
        fmt(stored),
        fmt(stored / endToEndSeconds),
        fmt(refused),
        cpu.toFixed(1),
        fmt(stored / cpu),
        `${Math.round(idle.rss)} / ${Math.round(Math.max(peak.rss, vmHwm))}`,
        `${Math.round(idle.anon)} / ${Math.round(peak.anon)}`,
        overCeiling,
        fmt(rows),
        parts,
      ],
    ],
  ),
);
console.log(
  `\nDaemon CPU-seconds by thread name: ${byThread.map(([name, s]) => `${name} ${s.toFixed(1)}`).join(', ')}`,
);
if (rows < accepted || code !== 0) {
  console.log(`\nFAIL: ${fmt(accepted - rows)} accepted records are not in otel_logs`);
  process.exitCode = 1;
}
