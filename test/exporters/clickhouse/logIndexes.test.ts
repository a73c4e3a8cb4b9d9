import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { logIndexChanges, logIndexes, type SchemaOptions } from '../../../src/exporters/clickhouse/schema.ts';
import { exporterConfig, newExporter, sampleEvents, waitFor } from './harness.ts';

/*
 * One chdb data directory for the whole file (chdb holds one per process); each case writes a
 * database of its own.
 */
const dataDir = mkdtempSync(join(tmpdir(), 'vigil-ch-indexes-'));

type Exporter = ReturnType<typeof newExporter>['exporter'];

async function indexKinds(exporter: Exporter, database: string): Promise<Record<string, string>> {
  const rows = await exporter.backend.select<{ name: string; type: string }>(
    "SELECT name, type FROM system.data_skipping_indices WHERE database = {db:String} AND table = 'otel_logs'",
    { db: database },
  );
  return Object.fromEntries(rows.map((r) => [r.name, r.type]));
}

const BLOOM = {
  idx_trace_id: 'bloom_filter',
  idx_res_attr_key: 'bloom_filter',
  idx_res_attr_value: 'bloom_filter',
  idx_scope_attr_key: 'bloom_filter',
  idx_scope_attr_value: 'bloom_filter',
  idx_log_attr_key: 'bloom_filter',
  idx_log_attr_value: 'bloom_filter',
  idx_lower_body: 'tokenbf_v1',
  idx_asset: 'bloom_filter',
  idx_event_id: 'bloom_filter',
};
const TEXT = {
  ...BLOOM,
  idx_trace_id: 'text',
  idx_res_attr_key: 'text',
  idx_res_attr_value: 'text',
  idx_scope_attr_key: 'text',
  idx_scope_attr_value: 'text',
  idx_log_attr_key: 'text',
  idx_log_attr_value: 'text',
  idx_lower_body: 'text',
};

async function store(exporter: Exporter, n: number, offset: number): Promise<void> {
  await exporter.consumeLogs(sampleEvents(n, offset));
  await waitFor(() => exporter.writer.pendingBatches === 0, 'the rows inserted');
}

/** Rows found through each indexed column: the trace id, an attribute, a word of the body. */
async function lookups(exporter: Exporter, database: string): Promise<number[]> {
  const [row] = await exporter.backend.select<{ trace: string; attr: string; word: string }>(
    `SELECT countIf(TraceId = '5b8efff798038103d269b633813fc60c') AS trace,
            countIf(has(mapKeys(LogAttributes), 'http.status')) AS attr,
            countIf(hasToken(lower(Body), 'failed')) AS word
     FROM \`${database}\`.otel_logs`,
    {},
  );
  return [Number(row!.trace), Number(row!.attr), Number(row!.word)];
}

describe("the logs table's index kind (log_indexes)", () => {
  it('gives embedded ClickHouse bloom filters by default, and text indexes when asked', async () => {
    const byDefault = newExporter({ database: 'default_kind', batch: { max_delay: '20ms' } }, dataDir).exporter;
    await byDefault.start();
    try {
      expect(await indexKinds(byDefault, 'default_kind')).toEqual(BLOOM);
    } finally {
      await byDefault.shutdown();
    }
    const text = newExporter({ database: 'text_kind', log_indexes: 'text' }, dataDir).exporter;
    await text.start();
    try {
      expect(await indexKinds(text, 'text_kind')).toEqual(TEXT);
    } finally {
      await text.shutdown();
    }
  });

  it('turns the text indexes of an embedded table an older Vigil made into bloom filters at start, rows before and after still found', async () => {
    const older = newExporter(
      { database: 'upgraded', log_indexes: 'text', batch: { max_delay: '20ms' } },
      dataDir,
    ).exporter;
    await older.start();
    try {
      await store(older, 40, 0);
      expect(await indexKinds(older, 'upgraded')).toEqual(TEXT);
    } finally {
      await older.shutdown();
    }

    const upgraded = newExporter({ database: 'upgraded', batch: { max_delay: '20ms' } }, dataDir).exporter;
    await upgraded.start();
    try {
      expect(await indexKinds(upgraded, 'upgraded')).toEqual(BLOOM);
      await store(upgraded, 40, 40);
      // 80 rows, half of them errors ("failed" in every body), all with the one trace id.
      expect(await lookups(upgraded, 'upgraded')).toEqual([80, 80, 80]);
      await upgraded.backend.command('OPTIMIZE TABLE upgraded.otel_logs FINAL');
      expect(await lookups(upgraded, 'upgraded')).toEqual([80, 80, 80]);
    } finally {
      await upgraded.shutdown();
    }
    // A start that finds the kind it wants changes nothing.
    const again = newExporter({ database: 'upgraded' }, dataDir).exporter;
    await again.start();
    try {
      expect(await indexKinds(again, 'upgraded')).toEqual(BLOOM);
    } finally {
      await again.shutdown();
    }
  });

  it('changes only indexes of the other kind, and none a table does not have', () => {
    const o: SchemaOptions = {
      database: 'otel',
      tables: exporterConfig({}).tables,
      ttlMs: 0,
      textIndexes: false,
    };
    const made = logIndexes({ textIndexes: true }).map((i) => ({ name: i.name, type: 'text' }));
    const changes = logIndexChanges(o, [...made.slice(0, 2), { name: 'idx_asset', type: 'bloom_filter' }]);
    expect(changes).toEqual([
      'ALTER TABLE `otel`.`otel_logs` DROP INDEX `idx_trace_id`',
      'ALTER TABLE `otel`.`otel_logs` ADD INDEX idx_trace_id TraceId TYPE bloom_filter(0.001) GRANULARITY 1',
      'ALTER TABLE `otel`.`otel_logs` DROP INDEX `idx_res_attr_key`',
      'ALTER TABLE `otel`.`otel_logs` ADD INDEX idx_res_attr_key mapKeys(ResourceAttributes) TYPE bloom_filter(0.01) GRANULARITY 1',
    ]);
    expect(logIndexChanges({ ...o, textIndexes: true }, made)).toEqual([]);
  });

  it('refuses a kind it does not know, naming the choices', () => {
    expect(() => exporterConfig({ log_indexes: 'inverted' })).toThrow(/log_indexes.*auto.*text.*bloom/);
  });
});
