import { mkdirSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { newExporter, sampleEvents, waitFor } from './harness.ts';

/*
 * Embedded inserts hand the engine each batch as a file it reads. Their own file (one chdb
 * engine per process): the data directory's name holds a quote, which the INSERT names.
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
      expect(readdirSync(inserts)).toEqual([]);

      // A batch the engine refuses: the error is ClickHouse's, and its file goes too.
      await expect(exporter.backend.insert('otel', 'no_such_table', Buffer.from('{}\n'), 'tok-1')).rejects.toThrow(
        /no_such_table/,
      );
      expect(readdirSync(inserts)).toEqual([]);
    } finally {
      await exporter.shutdown();
    }
  });
});
