import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startChdbHttpServer, type ChdbHttpServer } from '../../support/chdbHttpServer.ts';
import { newExporter, sampleEvents, waitFor } from './harness.ts';

/*
 * The HTTPS fixture of this file also serves the schema-refusal case: chdb holds one engine
 * per process, so each fixture-backed file has exactly one server.
 */
let server: ChdbHttpServer;
let certFile = '';
beforeAll(async () => {
  const dir = mkdtempSync(join(tmpdir(), 'vigil-ch-tls-'));
  certFile = join(dir, 'cert.pem');
  const keyFile = join(dir, 'key.pem');
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      keyFile,
      '-out',
      certFile,
      '-days',
      '1',
      '-subj',
      '/CN=127.0.0.1',
      '-addext',
      'subjectAltName=IP:127.0.0.1',
    ],
    { stdio: 'ignore' },
  );
  server = await startChdbHttpServer({
    path: join(dir, 'chdb'),
    users: { vigil: 'pw' },
    tls: { cert: readFileSync(certFile), key: readFileSync(keyFile) },
  });
});
afterAll(async () => {
  await server.close();
});

describe('clickhouse exporter over HTTPS', () => {
  it('verifies the server with tls.ca_file and stores rows', async () => {
    const { exporter } = newExporter({
      endpoint: server.url,
      username: 'vigil',
      password: 'pw',
      tls: { ca_file: certFile },
      batch: { max_delay: '20ms' },
    });
    await exporter.start();
    try {
      const events = sampleEvents(12);
      await exporter.consumeLogs(events);
      await waitFor(() => exporter.writer.pendingBatches === 0, 'the batch inserted');
      const rows = await exporter.backend.select<{ c: string }>('SELECT count() AS c FROM otel.otel_logs', {});
      expect(Number(rows[0]!.c)).toBe(12);
    } finally {
      await exporter.shutdown();
    }
  });

  it('refuses to start when the certificate cannot be verified, pointing at tls.ca_file', async () => {
    const { exporter } = newExporter({ endpoint: server.url, username: 'vigil', password: 'pw' });
    await expect(exporter.start()).rejects.toThrow(
      /cannot verify the TLS certificate of https:\/\/127\.0\.0\.1:\d+\/?: .*self[- ]signed.*Set exporters\.clickhouse\.tls\.ca_file/i,
    );
  });
});

describe('clickhouse exporter schema refusal', () => {
  it('fails start with the server message when the server refuses the DDL, rather than spooling forever', async () => {
    // ON CLUSTER needs a cluster the server knows; this one does not exist.
    const { exporter } = newExporter({
      endpoint: server.url,
      username: 'vigil',
      password: 'pw',
      tls: { ca_file: certFile },
      cluster: 'nowhere',
    });
    await expect(exporter.start()).rejects.toThrow(/refused Vigil's schema: .*nowhere.*create_schema: false/s);
  });
});
