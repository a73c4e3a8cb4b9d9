import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { newExporter, sampleEvents, storedEventIds, waitFor } from './harness.ts';

/*
 * Embedded inserts hand the engine the spool's own batch file to read. Their own test file (one
 * chdb engine per process): the data directory's name holds a quote, which the INSERT names.
 */
describe('embedded ClickHouse inserts read from a file', () => {
  it("store the spool's batch files from a data dir with a quote in its name, none through JS", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "vigil-ch-it's-"));
    const { exporter } = newExporter({ batch: { max_delay: '20ms' } }, dataDir);
    await exporter.start();
    try {
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
      const stored = () => storedEventIds(exporter, 'request 30__');
      await waitFor(async () => (await stored()).length === 40, 'both batches stored');
      expect(new Set(await stored())).toEqual(new Set(events.map((e) => e.id)));
      // The engine read the spool's files: no batch came through JS.
      expect(bytesInserted).toBe(0);
      const spool = join(dataDir, 'clickhouse-spool', 'clickhouse');
      await waitFor(
        () => readdirSync(spool).filter((f) => f.endsWith('.jsonl')).length === 0,
        'no sealed batch left in the spool',
        20_000,
        () => readdirSync(spool),
      );

      // A batch file the engine refuses: the error is ClickHouse's, named as such.
      const refused = join(dataDir, 'refused.jsonl');
      writeFileSync(refused, '{}\n');
      await expect(backend.insertFile!('otel', 'no_such_table', refused, 'tok-1')).rejects.toThrow(/no_such_table/);
    } finally {
      await exporter.shutdown();
    }
  });
});
