import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { newExporter, sampleEvents, storedEventIds, waitFor } from './harness.ts';

/*
 * `INSERT … FROM INFILE` reads its path as a glob: a data dir whose name has braces in it would
 * name no file, and each insert would take nothing without an error while the spool let its
 * batch go. Its own test file: one chdb engine per process.
 */
describe('embedded ClickHouse inserts under a data dir whose name is a glob', () => {
  it('store every batch from a data dir with braces and a star in its name', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'vigil-ch-{a,b}*-'));
    const { exporter } = newExporter({ batch: { max_delay: '20ms' } }, dataDir);
    await exporter.start();
    try {
      const events = sampleEvents(30, 5000);
      await exporter.consumeLogs(events.slice(0, 10));
      await exporter.consumeLogs(events.slice(10));
      const stored = () => storedEventIds(exporter, 'request 50__');
      const spool = join(dataDir, 'clickhouse-spool', 'clickhouse');
      await waitFor(
        async () => (await stored()).length === 30,
        'both batches stored',
        20_000,
        async () => ({
          stored: (await stored()).length,
          spool: readdirSync(spool),
        }),
      );
      expect(new Set(await stored())).toEqual(new Set(events.map((e) => e.id)));
      // And `insert`'s bytes, which never pass through a file.
      await exporter.backend.insert(
        'otel',
        'otel_logs',
        Buffer.from('{"Body": "one more", "Title": "request 5099"}\n'),
        't-1',
      );
      const more = await exporter.backend.select<{ c: string }>(
        "SELECT count() AS c FROM otel.otel_logs WHERE Title = 'request 5099'",
        {},
      );
      expect(Number(more[0]!.c)).toBe(1);
    } finally {
      await exporter.shutdown();
    }
  });
});
