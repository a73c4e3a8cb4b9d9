/**
 * Soak: six applications, each with the stock OpenTelemetry JS SDK (LoggerProvider, batch
 * processor, OTLP exporter: two over gRPC, two over HTTP/protobuf, two over HTTP/JSON), send
 * logs into Vigil's default config (config/vigil.yaml: embedded ClickHouse, file, correlation)
 * for `--minutes` (default 5), at `--rate` records/s in all (default 900). Each exporter is
 * wrapped to count the records Vigil acknowledged. At the end the daemon drains and stops, and
 * otel_logs is counted: rows acknowledged, stored, duplicated (stored more than once) and set
 * aside (in the spool's rejected/ directory). Exits 1 unless every acknowledged row is stored.
 *
 * Run: `node bench/soak.ts [--minutes 5] [--rate 900]`.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { SeverityNumber } from '@opentelemetry/api-logs';
import type { ExportResult } from '@opentelemetry/core';
import { OTLPLogExporter as LogsGrpc } from '@opentelemetry/exporter-logs-otlp-grpc';
import { OTLPLogExporter as LogsHttp } from '@opentelemetry/exporter-logs-otlp-http';
import { OTLPLogExporter as LogsProto } from '@opentelemetry/exporter-logs-otlp-proto';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  BatchLogRecordProcessor,
  LoggerProvider,
  type LogRecordExporter,
  type ReadableLogRecord,
} from '@opentelemetry/sdk-logs';
import { Session } from 'chdb';
import { grpcPort } from '../test/receivers/otlp/sdkClients.ts';
import { EPHEMERAL_PORTS, startDaemon } from '../test/support/daemon.ts';
import { benchArgs, metricSum, fmt, table } from './support.ts';

const { values } = benchArgs(import.meta.filename, {
  options: { minutes: { type: 'string', default: '5' }, rate: { type: 'string', default: '900' } },
});
const MINUTES = Number(values.minutes);
const RATE = Number(values.rate);
const CLIENTS = 6;
const root = resolve(import.meta.dirname, '..');

/** The SDK's exporter, counting what Vigil answered with success. */
class CountingExporter implements LogRecordExporter {
  acknowledged = 0;
  failed = 0;
  private readonly inner: LogRecordExporter;
  constructor(inner: LogRecordExporter) {
    this.inner = inner;
  }
  export(logs: ReadableLogRecord[], done: (result: ExportResult) => void): void {
    this.inner.export(logs, (result) => {
      if (result.code === 0) this.acknowledged += logs.length;
      else this.failed += logs.length;
      done(result);
    });
  }
  shutdown(): Promise<void> {
    return this.inner.shutdown();
  }
  forceFlush(): Promise<void> {
    return this.inner.forceFlush?.() ?? Promise.resolve();
  }
}

const daemon = await startDaemon(readFileSync(join(root, 'config/vigil.yaml'), 'utf8'), { env: EPHEMERAL_PORTS });
const grpc = `http://127.0.0.1:${grpcPort(daemon)}`;
const http = daemon.url('');
const load0 = loadavg();

const clients = Array.from({ length: CLIENTS }, (_, n) => {
  const kind = (['grpc', 'http/protobuf', 'http/json'] as const)[n % 3]!;
  const inner =
    kind === 'grpc'
      ? new LogsGrpc({ url: grpc })
      : kind === 'http/protobuf'
        ? new LogsProto({ url: `${http}/v1/logs` })
        : new LogsHttp({ url: `${http}/v1/logs` });
  const exporter = new CountingExporter(inner);
  const provider = new LoggerProvider({
    resource: resourceFromAttributes({ 'service.name': `soak-${n}`, 'host.name': `soak-host-${n}` }),
    processors: [new BatchLogRecordProcessor({ exporter, maxQueueSize: 100_000, maxExportBatchSize: 512 })],
  });
  return { kind, exporter, provider, logger: provider.getLogger('soak'), emitted: 0 };
});

// Each client emits its share every 100 ms; bodies are unique so duplicates can be counted.
const perTick = RATE / CLIENTS / 10;
const started = Date.now();
const ticker = setInterval(() => {
  for (const c of clients) {
    const due = Math.floor(((Date.now() - started) / 100) * perTick) - c.emitted;
    for (let i = 0; i < due; i++) {
      const k = c.emitted++;
      c.logger.emit({
        severityNumber: k % 50 === 0 ? SeverityNumber.ERROR : SeverityNumber.INFO,
        severityText: k % 50 === 0 ? 'ERROR' : 'INFO',
        body: `soak ${c.kind} record ${k}`,
        attributes: { 'soak.seq': k, 'http.route': '/api/orders' },
      });
    }
  }
}, 100);
const progress = setInterval(() => {
  const acked = clients.reduce((s, c) => s + c.exporter.acknowledged, 0);
  process.stderr.write(`${((Date.now() - started) / 60000).toFixed(1)} min: ${fmt(acked)} acknowledged\n`);
}, 30_000);
await new Promise((r) => setTimeout(r, MINUTES * 60_000));
clearInterval(ticker);
clearInterval(progress);
await Promise.all(clients.map((c) => c.provider.shutdown()));

// Drain: ClickHouse took every accepted log (or 5 minutes passed), then an orderly stop.
const drainStart = Date.now();
while (Date.now() - drainStart < 300_000) {
  const accepted = await metricSum(
    daemon.adminUrl('/metrics'),
    'vigil_receiver_accepted_records_total',
    'signal="logs"',
  );
  if (
    (await metricSum(
      daemon.adminUrl('/metrics'),
      'vigil_exporter_sent_records_total',
      'exporter="clickhouse",signal="logs"',
    )) >= accepted
  )
    break;
  await new Promise((r) => setTimeout(r, 500));
}
const code = await daemon.stop('SIGTERM');
const load1 = loadavg();

const session = new Session(join(daemon.dataDir, 'clickhouse'));
const [stored, distinct] = session
  .query("SELECT count(), uniqExact(ServiceName, Body) FROM otel.otel_logs WHERE ServiceName LIKE 'soak-%'", 'CSV')
  .trim()
  .split(',')
  .map(Number) as [number, number];
session.cleanup();
let setAside = 0;
const spoolRoot = join(daemon.dataDir, 'clickhouse-spool');
for (const exporter of existsSync(spoolRoot) ? readdirSync(spoolRoot) : []) {
  const dir = join(spoolRoot, exporter, 'rejected');
  for (const f of existsSync(dir) ? readdirSync(dir) : []) {
    if (f.includes('.otel_logs.'))
      setAside += readFileSync(join(dir, f), 'utf8')
        .split('\n')
        .filter((l) => l.includes('soak ')).length;
  }
}

const acknowledged = clients.reduce((s, c) => s + c.exporter.acknowledged, 0);
const failed = clients.reduce((s, c) => s + c.exporter.failed, 0);
const emitted = clients.reduce((s, c) => s + c.emitted, 0);
console.log(
  `Soak: ${CLIENTS} OpenTelemetry JS SDK clients (2 gRPC, 2 HTTP/protobuf, 2 HTTP/JSON) into config/vigil.yaml for ${MINUTES} min at ${RATE} records/s; daemon exit ${code}; drain ${((Date.now() - drainStart) / 1000).toFixed(0)} s; load average ${load0.map((l) => l.toFixed(2)).join(' ')} at start, ${load1.map((l) => l.toFixed(2)).join(' ')} at end\n`,
);
console.log(
  table(
    ['emitted', 'acknowledged', 'export failures (records)', 'stored', 'duplicated', 'set aside'],
    [[fmt(emitted), fmt(acknowledged), fmt(failed), fmt(distinct), fmt(stored - distinct), fmt(setAside)]],
  ),
);
if (distinct < acknowledged || code !== 0) {
  console.log(`\nFAIL: ${fmt(acknowledged - distinct)} acknowledged rows are not stored`);
  process.exitCode = 1;
}
