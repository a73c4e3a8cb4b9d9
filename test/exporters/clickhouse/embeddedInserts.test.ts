import { mkdirSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { newExporter, sampleEvents, waitFor } from './harness.ts';

/*
 * Embedded inserts hand the engine each batch as a file it reads: the spool's own file, or one
 * written for bytes from elsewhere. Their own test file (one chdb engine per process): the data
 * directory's name holds a quote, which the INSERT names.
 */
describe('embedded ClickHouse inserts read from a file', () => {
  it('store batches from a data dir with a quote in its name, leave no file behind, and clear what a stopped run left', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "vigil-ch-it's-"));
    const inserts = join(dataDir, 'clickhouse', 'vigil_inserts');
    mkdirSync(inserts, { recursive: true });
    writeFileSync(join(inserts, '7.ndjson'), '{"Body": "a batch a killed run was inserting"}\n');
    const { exporter } = newExporter({ batch: { max_delay: '20ms' } }, dataDir);
    await exporter.start();
    try {
      expect(readdirSync(inserts)).toEqual([]);
      const backend = exporter.backend;
      let bytesInserted = 0;
      const insert = backend.insert.bind(backend);
      backend.insert = (db, table, rows, token) => {
        bytesInserted += rows.length;
        return insert(db, table, rows, token);
      };
      const events = sampleEvents(40, 3000);
      await exporter.consumeLogs(events.slice(0, 25));
      await exporter.consumeLogs(events.slice(25));
      const stored = async () =>
        (
          await exporter.backend.select<{ EventId: string }>(
            'SELECT EventId FROM otel.otel_logs WHERE Title LIKE {p:String}',
            { p: 'request 30__' },
          )
        ).map((r) => r.EventId);
      await waitFor(async () => (await stored()).length === 40, 'both batches stored');
      expect(new Set(await stored())).toEqual(new Set(events.map((e) => e.id)));
      // The engine read the spool's files: no batch came through JS, and none is left behind.
      expect(bytesInserted).toBe(0);
      expect(readdirSync(inserts)).toEqual([]);
      const spool = join(dataDir, 'clickhouse-spool', 'clickhouse');
      await waitFor(
        () => readdirSync(spool).filter((f) => f.endsWith('.jsonl')).length === 0,
        'no sealed batch left in the spool',
        20_000,
        () => readdirSync(spool),
      );

      // A batch the engine refuses: the error is ClickHouse's, and its file goes too.
      await expect(backend.insert('otel', 'no_such_table', Buffer.from('{}\n'), 'tok-1')).rejects.toThrow(
        /no_such_table/,
      );
      expect(readdirSync(inserts)).toEqual([]);
    } finally {
      await exporter.shutdown();
    }
  });
});
