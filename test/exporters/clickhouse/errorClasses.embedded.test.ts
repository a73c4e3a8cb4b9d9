import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';
import type { ClickHouseExporter } from '../../../src/exporters/clickhouse/exporter.ts';
import { classCases, run } from './errorClassCases.ts';

const embeddedPath = mkdtempSync(join(tmpdir(), 'vigil-ch-classes-db-'));
let embeddedSide: ClickHouseExporter | undefined;
classCases('against embedded ClickHouse (chdb)', () => ({
  raw: { path: embeddedPath },
  // Bloom filters on the logs table (log_indexes: auto on embedded ClickHouse).
  insertMemoryLimit: 32_000_000,
  serverSide: async (sql) => {
    // The engine is one per process: a second exporter on the path shares its session.
    if (!embeddedSide) {
      embeddedSide = run({ path: embeddedPath, database: 'side' }, 'side').exporter;
      await embeddedSide.start();
    }
    await embeddedSide.backend.command(sql);
  },
}));

afterAll(async () => {
  await embeddedSide?.shutdown();
});
