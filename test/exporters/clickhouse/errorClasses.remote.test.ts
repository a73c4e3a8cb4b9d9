import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import { startChdbHttpServer, type ChdbHttpServer } from '../../support/chdbHttpServer.ts';
import { classCases } from './errorClassCases.ts';

let server: ChdbHttpServer;
beforeAll(async () => {
  server = await startChdbHttpServer({ path: mkdtempSync(join(tmpdir(), 'vigil-chdb-http-')) });
});
afterAll(async () => {
  await server.close();
});
classCases('against a ClickHouse server over HTTP', () => ({
  raw: { endpoint: server.url },
  // Text indexes on the logs table (log_indexes: auto on a server that has them).
  insertMemoryLimit: 64_000_000,
  serverSide: async (sql) => void (await server.session.queryAsync(sql, { format: 'Null' })),
}));
