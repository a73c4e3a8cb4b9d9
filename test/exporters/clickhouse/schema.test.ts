import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { schemaStatements, ttlClause } from '../../../src/exporters/clickhouse/schema.ts';
import { Spool } from '../../../src/exporters/clickhouse/spool.ts';
import { clickhouseExporterSchema } from '../../../src/exporters/clickhouse/config.ts';
import type { ConfigIssue } from '../../../src/config/schema.ts';
import { exporterConfig } from './harness.ts';

describe('clickhouse DDL', () => {
  const tables = exporterConfig({}).tables;

  it('renders TTL as the OTel exporter does: whole days, else the largest whole unit', () => {
    expect(ttlClause('toDateTime(Timestamp)', 72 * 3600_000)).toBe('TTL toDateTime(Timestamp) + toIntervalDay(3)');
    expect(ttlClause('toDateTime(Timestamp)', 90 * 60_000)).toBe('TTL toDateTime(Timestamp) + toIntervalMinute(90)');
    expect(ttlClause('toDateTime(Timestamp)', 0)).toBe('');
  });

  it('uses ON CLUSTER and Replicated engines under a cluster, and plain dedup-window tables otherwise', () => {
    const clustered = schemaStatements({ database: 'otel', tables, cluster: 'main', ttlMs: 0, textIndexes: false });
    expect(clustered[0]).toBe('CREATE DATABASE IF NOT EXISTS `otel` ON CLUSTER `main`');
    // Columns added since the first release come last, for tables an older Vigil created; and
    // Vigil's own columns, for OTel tables the Collector's exporter created without them.
    const alters = clustered.filter((s) => s.startsWith('ALTER'));
    expect(alters.filter((s) => s.includes('vigil_incidents'))).toEqual([
      'ALTER TABLE `otel`.`vigil_incidents` ON CLUSTER `main` ADD COLUMN IF NOT EXISTS MergedIds Array(String)',
      'ALTER TABLE `otel`.`vigil_incidents` ON CLUSTER `main` ADD COLUMN IF NOT EXISTS MergedInto String',
    ]);
    expect(alters.filter((s) => s.includes(' Tenant ')).map((s) => s.split(' ')[2])).toEqual(
      ['otel_logs', 'otel_traces', ...Object.values(tables).filter((n) => n.startsWith('otel_metrics_'))].map(
        (n) => `\`otel\`.\`${n}\``,
      ),
    );
    expect(alters).toContain(
      'ALTER TABLE `otel`.`otel_traces` ON CLUSTER `main` ADD COLUMN IF NOT EXISTS Tenant LowCardinality(String) CODEC(ZSTD(1))',
    );
    expect(clustered.find((s) => s.startsWith('CREATE MATERIALIZED VIEW'))).toMatch(
      /^CREATE MATERIALIZED VIEW IF NOT EXISTS `otel`\.`otel_traces_trace_id_ts_mv` ON CLUSTER `main`\nTO `otel`\.`otel_traces_trace_id_ts`/,
    );
    for (const sql of clustered
      .slice(1)
      .filter((s) => !s.startsWith('ALTER') && !s.startsWith('CREATE MATERIALIZED VIEW'))) {
      expect(sql).toMatch(/^CREATE TABLE IF NOT EXISTS `otel`\.`\w+` ON CLUSTER `main` \(/);
      expect(sql).toMatch(
        /ENGINE = Replicated(Replacing)?MergeTree\('\/clickhouse\/tables\/\{shard\}\/\{database\}\/\{table\}', '\{replica\}'/,
      );
      expect(sql).not.toContain('non_replicated_deduplication_window');
    }
    expect(clustered.find((s) => s.includes('`vigil_incidents`'))).toContain(
      "ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/{database}/{table}', '{replica}', Version)",
    );

    const single = schemaStatements({ database: 'otel', tables, ttlMs: 0, textIndexes: true });
    for (const sql of single
      .slice(1)
      .filter((s) => !s.startsWith('ALTER') && !s.startsWith('CREATE MATERIALIZED VIEW')))
      expect(sql).toContain('non_replicated_deduplication_window = 1000');
    expect(single.find((s) => s.includes('`otel_logs`'))).toContain(
      "INDEX idx_lower_body lower(Body) TYPE text(tokenizer = 'splitByNonAlpha')",
    );
    const old = schemaStatements({ database: 'otel', tables, ttlMs: 0, textIndexes: false });
    expect(old.find((s) => s.includes('`otel_logs`'))).toContain(
      'INDEX idx_lower_body lower(Body) TYPE tokenbf_v1(32768, 3, 0) GRANULARITY 8',
    );
  });
});

describe('clickhouse DDL over shards (distributed)', () => {
  const tables = exporterConfig({}).tables;
  const ddl = schemaStatements({
    database: 'otel',
    tables,
    cluster: 'main',
    distributed: true,
    ttlMs: 0,
    textIndexes: false,
  });

  it('keeps rows in <table>_local on every server, Replicated, and puts a Distributed table in front', () => {
    for (const name of Object.values(tables)) {
      expect(
        ddl.find((s) => s.startsWith(`CREATE TABLE IF NOT EXISTS \`otel\`.\`${name}_local\` ON CLUSTER \`main\` (`)),
        name,
      ).toMatch(/ENGINE = Replicated/);
      const front = `CREATE TABLE IF NOT EXISTS \`otel\`.\`${name}\` ON CLUSTER \`main\` AS \`otel\`.\`${name}_local\` ENGINE = Distributed('main', 'otel', '${name}_local', `;
      expect(
        ddl.filter((s) => s.startsWith(front)),
        name,
      ).toHaveLength(1);
    }
  });

  it('shards incidents by key and traces by trace id, so FINAL and the trace lookup see everything on one shard', () => {
    const key = (name: string) =>
      ddl.find((s) => s.includes(`AS \`otel\`.\`${name}_local\` ENGINE = Distributed`))!.match(/, ([^,]+)\)$/)![1];
    expect(key('vigil_incidents')).toBe('cityHash64(Key)');
    expect(key('vigil_incident_events')).toBe('cityHash64(IncidentKey)');
    expect(key('otel_traces')).toBe('cityHash64(TraceId)');
    expect(key('otel_traces_trace_id_ts')).toBe('cityHash64(TraceId)');
    expect(key('otel_logs')).toBe('rand()');
  });

  it('fills the local trace lookup from the local traces table, and adds new columns to both incident tables', () => {
    expect(ddl.find((s) => s.startsWith('CREATE MATERIALIZED VIEW'))).toBe(
      [
        'CREATE MATERIALIZED VIEW IF NOT EXISTS `otel`.`otel_traces_trace_id_ts_local_mv` ON CLUSTER `main`',
        'TO `otel`.`otel_traces_trace_id_ts_local`',
        'AS SELECT TraceId, min(Timestamp) AS Start, max(Timestamp) AS End',
        'FROM `otel`.`otel_traces_local`',
        "WHERE TraceId != ''",
        'GROUP BY TraceId',
      ].join('\n'),
    );
    const alters = ddl.filter((s) => s.startsWith('ALTER'));
    expect(alters.filter((s) => s.includes('vigil_incidents')).map((s) => s.split(' ')[2])).toEqual([
      '`otel`.`vigil_incidents_local`',
      '`otel`.`vigil_incidents`',
      '`otel`.`vigil_incidents_local`',
      '`otel`.`vigil_incidents`',
    ]);
    // The stored table's column has its codec; the Distributed table in front only the type.
    expect(alters.filter((s) => s.includes('`otel_traces') && s.includes(' Tenant '))).toEqual([
      'ALTER TABLE `otel`.`otel_traces_local` ON CLUSTER `main` ADD COLUMN IF NOT EXISTS Tenant LowCardinality(String) CODEC(ZSTD(1))',
      'ALTER TABLE `otel`.`otel_traces` ON CLUSTER `main` ADD COLUMN IF NOT EXISTS Tenant LowCardinality(String)',
    ]);
    // Vigil's indexes on a Collector-made logs table: on the local table on every server, after its columns;
    // a Distributed table has no parts to index.
    const indexes = alters.filter((s) => s.includes(' ADD INDEX '));
    expect(indexes).toEqual([
      'ALTER TABLE `otel`.`otel_logs_local` ON CLUSTER `main` ADD INDEX IF NOT EXISTS idx_asset Asset TYPE bloom_filter(0.01) GRANULARITY 1',
      'ALTER TABLE `otel`.`otel_logs_local` ON CLUSTER `main` ADD INDEX IF NOT EXISTS idx_event_id EventId TYPE bloom_filter(0.001) GRANULARITY 1',
    ]);
    expect(ddl.indexOf(indexes[0]!)).toBeGreaterThan(
      ddl.findLastIndex((s) => s.includes('`otel_logs') && s.includes('ADD COLUMN IF NOT EXISTS Asset')),
    );
    expect(alters.some((s) => s.includes('MATERIALIZE INDEX'))).toBe(false);
    // Distributed tables come after the local ones they stand for, and ALTERs after both.
    const firstDistributed = ddl.findIndex((s) => s.includes('ENGINE = Distributed'));
    expect(ddl.findLastIndex((s) => s.startsWith('CREATE') && s.includes('_local` ON CLUSTER'))).toBeLessThan(
      firstDistributed,
    );
    expect(ddl.findIndex((s) => s.startsWith('ALTER'))).toBeGreaterThan(
      ddl.findLastIndex((s) => s.includes('ENGINE = Distributed')),
    );
  });

  it('leaves a single server and a plain cluster as they were', () => {
    expect(
      schemaStatements({ database: 'otel', tables, cluster: 'main', ttlMs: 0, textIndexes: false }).join('\n'),
    ).not.toMatch(/_local|Distributed/);
    expect(
      schemaStatements({ database: 'otel', tables, distributed: true, ttlMs: 0, textIndexes: false }).join('\n'),
    ).not.toMatch(/_local|Distributed/);
  });
});

describe('clickhouse exporter config', () => {
  const parse = (raw: Record<string, unknown>) => {
    const issues: ConfigIssue[] = [];
    clickhouseExporterSchema.parse(raw, 'exporters.clickhouse', issues);
    return issues;
  };
  it('names the key at fault', () => {
    expect(parse({ database: 'otel; DROP TABLE x' })).toEqual([
      { path: 'exporters.clickhouse.database', message: expect.stringMatching(/plain identifier/) },
    ]);
    expect(parse({ tables: { logs: 'my-logs' } })[0]!.path).toBe('exporters.clickhouse.tables.logs');
    expect(parse({ endpoint: 'tcp://ch:9000' })[0]!.path).toBe('exporters.clickhouse.endpoint');
    expect(parse({ endpoint: 'http://ch:8123', tls: { ca_file: '/ca.pem' } })).toEqual([
      { path: 'exporters.clickhouse.tls', message: 'needs an https:// endpoint' },
    ]);
    expect(parse({ endpoint: 'https://ch:8443', tls: { cert_file: '/c.pem' } })).toEqual([
      { path: 'exporters.clickhouse.tls', message: 'cert_file and key_file go together' },
    ]);
    expect(parse({ endpoint: 'http://ch:8123', distributed: true })).toEqual([
      { path: 'exporters.clickhouse.distributed', message: expect.stringMatching(/needs cluster/) },
    ]);
  });
});

describe('clickhouse spool recovery', () => {
  it('keeps complete rows of a batch a crash left open, drops the torn last line, and continues numbering', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'vigil-spool-'));
    const first = new Spool(dir, false);
    await first.recover();
    const a = await first.create('otel_logs');
    await first.append(a, Buffer.from('{"n":1}\n{"n":2}\n'), 2);
    await first.seal(a);
    const b = await first.create('otel_traces');
    await first.append(b, Buffer.from('{"n":3}\n'), 1);
    // A crash in the middle of a write leaves a partial row behind.
    const openFile = readdirSync(dir).find((f) => f.endsWith('.open'))!;
    writeFileSync(join(dir, openFile), '{"n":3}\n{"n":', { flag: 'w' });

    const second = new Spool(dir, false);
    const left = await second.recover();
    expect(left.map((s) => [s.seq, s.table, s.token])).toEqual([
      [1, 'otel_logs', a.token],
      [2, 'otel_traces', b.token],
    ]);
    expect((await second.read(left[1]!)).toString()).toBe('{"n":3}\n');
    expect(second.bytes).toBe(16 + 8);
    expect((await second.create('otel_logs')).seq).toBe(3);
    expect(
      readFileSync(
        join(
          dir,
          readdirSync(dir).find((f) => f.startsWith('000000000001'))!,
        ),
        'utf8',
      ),
    ).toBe('{"n":1}\n{"n":2}\n');
  });
});
