/**
 * Log rows/s from VigilEvents into ClickHouse through the clickhouse exporter (consume in
 * 512-event batches, as a pipeline hands them over, until every row is inserted), next to a
 * bare `INSERT ... FORMAT JSONEachRow` of the same rows in 50k-row inserts in the same run:
 * once into embedded chdb, once over HTTP (@clickhouse/client, gzip) to ClickHouse's HTTP
 * interface served by chdb in another process (test/support/chdbHttpServer.ts). Also the
 * rate at which a spool left by a crashed run is replayed, and each phase's peak RSS.
 * Run: `node bench/clickhouse.ts [--rows 50000]`.
 */
import { Readable } from 'node:stream';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { createClient } from '@clickhouse/client';
import { clickhouseExporterSchema } from '../src/exporters/clickhouse/config.ts';
import { ClickHouseExporter } from '../src/exporters/clickhouse/exporter.ts';
import type { ClickHouseBackend } from '../src/exporters/clickhouse/backend.ts';
import { BatchWriter } from '../src/exporters/clickhouse/batchWriter.ts';
import { logRowsBytes } from '../src/exporters/clickhouse/rows.ts';
import { Spool } from '../src/exporters/clickhouse/spool.ts';
import { logsTable } from '../src/exporters/clickhouse/schema.ts';
import type { ConfigIssue } from '../src/config/schema.ts';
import { newEvent, type VigilEvent } from '../src/model/index.ts';
import { createLogger } from '../src/telemetry/logger.ts';
import { ExporterTelemetry } from '../src/exporters/helper/telemetry.ts';
import { SelfMetrics } from '../src/telemetry/selfMetrics.ts';
import { startChdbHttpServer } from '../test/support/chdbHttpServer.ts';
import { benchArgs, fmt, peakRssMiB, scratchDir, spawnUntil, table } from './support.ts';

const { values } = benchArgs(import.meta.filename, {
  options: { rows: { type: 'string', default: '50000' }, phase: { type: 'string' }, serve: { type: 'string' } },
});
const ROWS = Number(values.rows);
const ROUNDS = 2;
const PIPELINE_BATCH = 512;
const INSERT_ROWS = 50_000;

function makeEvents(n: number): VigilEvent[] {
  const t0 = BigInt(Date.now()) * 1_000_000n;
  return Array.from({ length: n }, (_, i) =>
    newEvent({
      source: 'json',
      timeUnixNano: t0 + BigInt(i) * 1000n,
      severityNumber: i % 5 === 0 ? 17 : 9,
      severityText: i % 5 === 0 ? 'ERROR' : 'INFO',
      body: `CPU usage at ${90 + (i % 10)}% on core ${i % 8} of host-${i % 500}`,
      attributes: { region: 'eu-west-1', team: 'payments', check: 'cpu', core: i % 8 },
      resource: { 'service.name': 'billing', 'host.name': `host-${i % 500}` },
      asset: `host-${i % 500}`,
      title: 'CPU usage above threshold',
      type: i % 7 === 0 ? 'up' : 'down',
      service: 'billing',
      tenant: 'acme',
    }),
  );
}

function exporterFor(raw: Record<string, unknown>, dataDir: string): ClickHouseExporter {
  const issues: ConfigIssue[] = [];
  const config = clickhouseExporterSchema.parse(raw, 'exporters.clickhouse', issues)!;
  if (issues.length) throw new Error(JSON.stringify(issues));
  return new ClickHouseExporter(
    { id: 'clickhouse', logger: createLogger('warn'), metrics: new SelfMetrics(), dataDir },
    config,
  );
}

/** The baseline's table: the same otel_logs DDL under another name. */
function bareTableDdl(): string {
  const issues: ConfigIssue[] = [];
  const tables = { ...clickhouseExporterSchema.parse({}, '', issues)!.tables, logs: 'bare_logs' };
  return logsTable({ database: 'otel', tables, ttlMs: 0, textIndexes: true });
}

async function drained(ex: ClickHouseExporter): Promise<void> {
  await ex.writer.flush();
  while (ex.writer.pendingBatches > 0) await new Promise((r) => setTimeout(r, 2));
}

/** The exporter path: consume in pipeline-sized batches, then wait until ClickHouse has every row. */
async function viaExporter(ex: ClickHouseExporter, events: VigilEvent[]): Promise<number> {
  const started = performance.now();
  for (let i = 0; i < events.length; i += PIPELINE_BATCH) await ex.consumeLogs(events.slice(i, i + PIPELINE_BATCH));
  await drained(ex);
  return events.length / ((performance.now() - started) / 1000);
}

/** The baseline: the same rows serialised and inserted directly, 50k rows per INSERT. */
async function bare(insert: (buf: Buffer) => Promise<void>, events: VigilEvent[]): Promise<number> {
  const started = performance.now();
  for (let i = 0; i < events.length; i += INSERT_ROWS) {
    await insert(logRowsBytes(events.slice(i, i + INSERT_ROWS)));
  }
  return events.length / ((performance.now() - started) / 1000);
}

async function embeddedPhase(): Promise<Record<string, number>> {
  const dir = scratchDir('vigil-bench-ch-');
  const events = makeEvents(ROWS);
  const ex = exporterFor({}, dir);
  await ex.start();
  const b = ex.backend;
  await b.command(bareTableDdl());
  let token = 0;
  // Alternating rounds, best of each: the first insert into a fresh table pays for warm-up either way.
  let bareRate = 0;
  let vigilRate = 0;
  for (let round = 0; round < ROUNDS; round++) {
    bareRate = Math.max(bareRate, await bare((buf) => b.insert('otel', 'bare_logs', buf, `bare-${token++}`), events));
    vigilRate = Math.max(vigilRate, await viaExporter(ex, events));
  }

  // Spool replay: a run that accepted rows and crashed before inserting them; the next start replays them.
  const crashedSpool = { dir: join(dir, 'crashed-spool') };
  const crashed = exporterFor(
    { spool: crashedSpool, batch: { max_delay: '1h', max_rows: 1_000_000, max_bytes: '1GiB' } },
    dir,
  );
  await crashed.start();
  const replayEvents = makeEvents(ROWS);
  for (let i = 0; i < replayEvents.length; i += PIPELINE_BATCH)
    await crashed.consumeLogs(replayEvents.slice(i, i + PIPELINE_BATCH));
  const restarted = exporterFor({ spool: crashedSpool }, dir);
  const started = performance.now();
  await restarted.start();
  await drained(restarted);
  const replayRate = replayEvents.length / ((performance.now() - started) / 1000);
  await restarted.shutdown();
  await ex.shutdown();
  return { bareRate, vigilRate, replayRate, rss: peakRssMiB(process.pid) };
}

/**
 * Vigil's own share: rows → JSONEachRow → spool → sealed batch read back, with a backend that
 * takes every insert at once. This is the exporter's ceiling on one core, whatever the server.
 */
async function cpuPhase(): Promise<Record<string, number>> {
  const dir = scratchDir('vigil-bench-ch-');
  const events = makeEvents(ROWS);
  const discard: ClickHouseBackend = {
    description: 'discard',
    version: async () => '26.7',
    command: async () => {},
    insert: async () => {},
    select: async () => [],
    close: async () => {},
  };
  const writer = new BatchWriter({
    id: 'bench',
    backend: discard,
    database: 'otel',
    spool: new Spool(join(dir, 'spool'), false),
    maxRows: INSERT_ROWS,
    maxBytes: 16 * 1024 * 1024,
    maxDelayMs: 1000,
    spoolMaxBytes: 1024 ** 3,
    retryInitialMs: 500,
    retryMaxMs: 30_000,
    prepare: async () => {},
    signalOf: () => 'logs',
    logger: createLogger('warn'),
    telemetry: new ExporterTelemetry(new SelfMetrics(), 'clickhouse'),
  });
  await writer.start();
  let best = 0;
  for (let round = 0; round < ROUNDS; round++) {
    const started = performance.now();
    for (let i = 0; i < events.length; i += PIPELINE_BATCH) {
      const batch = events.slice(i, i + PIPELINE_BATCH);
      await writer.write('otel_logs', logRowsBytes(batch), batch.length);
    }
    await writer.flush();
    while (writer.pendingBatches > 0) await new Promise((r) => setTimeout(r, 2));
    best = Math.max(best, events.length / ((performance.now() - started) / 1000));
  }
  await writer.close();
  return { cpuRate: best, rss: peakRssMiB(process.pid) };
}

async function remotePhase(): Promise<Record<string, number>> {
  const dir = scratchDir('vigil-bench-ch-');
  const { proc, line } = await spawnUntil(
    process.execPath,
    [import.meta.filename, '--serve', join(dir, 'server')],
    /^listening \d+/,
  );
  const url = `http://127.0.0.1:${line.split(' ')[1]}`;
  try {
    const events = makeEvents(ROWS);
    const ex = exporterFor({ endpoint: url }, dir);
    await ex.start();
    await ex.backend.command(bareTableDdl());
    const client = createClient({ url, compression: { request: true, response: true } });
    let token = 0;
    const insert = async (buf: Buffer) => {
      const res = await client.exec({
        query: 'INSERT INTO otel.bare_logs FORMAT JSONEachRow',
        values: Readable.from([buf]),
        clickhouse_settings: { insert_deduplication_token: `bare-${token++}` },
      });
      for await (const _ of res.stream);
    };
    let bareRate = 0;
    let vigilRate = 0;
    for (let round = 0; round < ROUNDS; round++) {
      bareRate = Math.max(bareRate, await bare(insert, events));
      vigilRate = Math.max(vigilRate, await viaExporter(ex, events));
    }
    await client.close();
    await ex.shutdown();
    return { bareRate, vigilRate, rss: peakRssMiB(process.pid) };
  } finally {
    proc.kill();
  }
}

if (values.serve) {
  const server = await startChdbHttpServer({ path: values.serve });
  console.log(`listening ${server.port}`);
} else if (values.phase) {
  const result =
    values.phase === 'embedded'
      ? await embeddedPhase()
      : values.phase === 'cpu'
        ? await cpuPhase()
        : await remotePhase();
  console.log(JSON.stringify(result));
  // The "crashed" exporter of the replay measurement still holds a timer and a file, as a crashed run would.
  process.exit(0);
} else {
  const run = (phase: string) => {
    const r = spawnSync(process.execPath, [import.meta.filename, '--phase', phase, '--rows', String(ROWS)], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    return JSON.parse(r.stdout.trim().split('\n').pop()!) as Record<string, number>;
  };
  const embedded = run('embedded');
  const remote = run('remote');
  const cpu = run('cpu');
  console.log(
    `${fmt(ROWS)} log rows ×${ROUNDS} rounds (best of each), pipeline batches of ${PIPELINE_BATCH}, exporter defaults (max_rows 50,000, spool on, fsync off); baseline = bare INSERT ... FORMAT JSONEachRow of the same rows in 50,000-row inserts.\n`,
  );
  console.log(
    table(
      ['path', 'Vigil rows/s', 'bare INSERT rows/s', 'ratio', 'peak RSS (MiB)'],
      [
        [
          'embedded chdb',
          fmt(embedded.vigilRate!),
          fmt(embedded.bareRate!),
          (embedded.vigilRate! / embedded.bareRate!).toFixed(2),
          embedded.rss!,
        ],
        [
          'remote HTTP (gzip) → chdb HTTP fixture',
          fmt(remote.vigilRate!),
          fmt(remote.bareRate!),
          (remote.vigilRate! / remote.bareRate!).toFixed(2),
          remote.rss!,
        ],
        ['spool restart + replay after a crash (embedded)', fmt(embedded.replayRate!), '', '', ''],
        ['exporter alone: serialise + spool, backend discarding', fmt(cpu.cpuRate!), '', '', cpu.rss!],
      ],
    ),
  );
}
