/**
 * What one embedded insert costs the engine, by how the batch reaches it: the same log rows
 * (bench/variedLogsWorkload.ts records, decoded and serialised as the OTLP receiver and the
 * clickhouse exporter do, 3,072 rows and about 3 MB a batch: what the default config inserts at
 * a 512 MiB limit) inserted into the `otel_logs` schema of embedded ClickHouse (a bloom-indexed
 * table, as `log_indexes: auto` makes it), merges stopped so that only the inserts are counted:
 * - `payload`: chdb's insert call with the JSONEachRow bytes (Vigil before 2026-12-05);
 * - `file`: the bytes written to a file, then `INSERT … FROM INFILE` (Vigil at 1cb62ce);
 * - `spool`: `INSERT … FROM INFILE` of a file already on disk (the exporter's spool batches).
 * Rounds alternate the ways; each prints the process's CPU (every thread, chdb's included) and
 * wall-clock time per row. chdb's allocator options (`JE_MALLOC_CONF`) come from the environment,
 * as in the daemon: set them to compare (`dirty_decay_ms:0,muzzy_decay_ms:0` was Vigil's before
 * 2026-12-05).
 * Run: `node bench/embeddedInsert.ts [--batches 10] [--rounds 3] [--ways payload,file,spool]`.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { configureEmbeddedAllocator } from '../src/exporters/clickhouse/embeddedMemory.ts';
import { logRowsBytes } from '../src/exporters/clickhouse/rows.ts';
import { schemaStatements } from '../src/exporters/clickhouse/schema.ts';
import { clickhouseExporterSchema } from '../src/exporters/clickhouse/config.ts';
import type { ConfigIssue } from '../src/config/schema.ts';
import { decodeLogsProto } from '../src/otlp/proto/logs.ts';
import { createReader } from '../src/otlp/proto/wireReader.ts';
import { benchArgs, fmt, table } from './support.ts';
import { variedLogRequests } from './variedLogsWorkload.ts';

const { values } = benchArgs(import.meta.filename, {
  options: {
    batches: { type: 'string', default: '10' },
    rounds: { type: 'string', default: '3' },
    ways: { type: 'string', default: 'payload,file,spool' },
  },
});
const BATCHES = Number(values.batches);
const ROUNDS = Number(values.rounds);
const WAYS = values.ways.split(',');
const REQUESTS_PER_BATCH = 6;

configureEmbeddedAllocator();
const { Session } = await import('chdb');

const requests = variedLogRequests(BATCHES * REQUESTS_PER_BATCH, 512, Date.now());
const batches: Buffer[] = [];
let rows = 0;
for (let i = 0; i < requests.length; i += REQUESTS_PER_BATCH) {
  const parts: Buffer[] = [];
  for (const body of requests.slice(i, i + REQUESTS_PER_BATCH)) {
    const { items } = decodeLogsProto(createReader(body), BigInt(Date.now()) * 1_000_000n);
    rows += items.length;
    parts.push(logRowsBytes(items));
  }
  batches.push(Buffer.concat(parts));
}
const rowsPerBatch = rows / BATCHES;

const dir = mkdtempSync(join(tmpdir(), 'vigil-bench-insert-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
const session = new Session(join(dir, 'engine'));
const issues: ConfigIssue[] = [];
const tables = clickhouseExporterSchema.parse({}, '', issues)!.tables;
for (const sql of schemaStatements({ database: 'otel', tables, ttlMs: 0, textIndexes: false })) session.query(sql);
session.query(`SYSTEM STOP MERGES otel.${tables.logs}`);
const spooled = batches.map((b, i) => {
  const file = join(dir, `spooled-${i}.jsonl`);
  writeFileSync(file, b);
  return file;
});

const cpuSeconds = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};
const fromFile = (file: string, token: string) =>
  session.queryAsync(
    `INSERT INTO otel.${tables.logs} FROM INFILE '${file}' SETTINGS insert_deduplication_token = '${token}', insert_deduplicate = 1 FORMAT JSONEachRow`,
    { format: 'Null' },
  );
let token = 0;
async function insert(way: string, i: number): Promise<void> {
  const tok = `t${token++}`;
  if (way === 'payload') {
    await session.insert({
      table: `otel.${tables.logs}`,
      values: batches[i]!,
      format: 'JSONEachRow',
      settings: { insert_deduplication_token: tok, insert_deduplicate: 1 },
    });
  } else if (way === 'file') {
    const file = join(dir, 'batch.ndjson');
    await writeFile(file, batches[i]!);
    await fromFile(file, tok);
    rmSync(file);
  } else if (way === 'spool') {
    await fromFile(spooled[i]!, tok);
  } else throw new Error(`unknown way ${way}: payload, file or spool`);
}

const results: (string | number)[][] = [];
for (let round = 1; round <= ROUNDS; round++) {
  for (const way of WAYS) {
    session.query(`TRUNCATE TABLE otel.${tables.logs}`);
    const cpu0 = cpuSeconds();
    const t0 = performance.now();
    for (let i = 0; i < BATCHES; i++) await insert(way, i);
    const cpu = cpuSeconds() - cpu0;
    const wall = (performance.now() - t0) / 1000;
    const stored = Number(session.query(`SELECT count() FROM otel.${tables.logs}`, 'TSV').trim());
    if (stored !== rows) throw new Error(`${way}: ${stored} rows stored of ${rows}`);
    results.push([round, way, ((cpu * 1e6) / rows).toFixed(2), ((wall * 1e6) / rows).toFixed(2), fmt(rows / cpu)]);
  }
}
session.close();
process.stdout.write(
  `Embedded inserts of ${fmt(rows)} log rows in ${BATCHES} batches of ${fmt(rowsPerBatch)} (${(batches[0]!.length / 1e6).toFixed(1)} MB), merges stopped; JE_MALLOC_CONF=${process.env.JE_MALLOC_CONF}; node ${process.version}; load average ${(
    await import('node:os')
  )
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')}\n\n` +
    table(['round', 'way', 'CPU µs a row', 'wall µs a row', 'rows per CPU-second'], results) +
    '\n',
);
