import { readFileSync, writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { runCli, startDaemon, type RunningDaemon } from '../support/daemon.ts';
import { readNdjson } from '../support/ndjson.ts';
import { waitFor } from '../support/waitFor.ts';

/** What `npm ci --omit=optional` leaves out, simulated: chdb cannot be resolved in the daemon. */
const WITHOUT_CHDB = { NODE_OPTIONS: `--import ${resolve(import.meta.dirname, '../support/withoutChdb.mjs')}` };
/** A process that cannot load Fastify's schema compilers (Ajv, fast-json-stringify's). */
const WITHOUT_SCHEMA_COMPILERS = {
  NODE_OPTIONS: `--import ${resolve(import.meta.dirname, '../support/withoutSchemaCompilers.mjs')}`,
};

/** An agent: OTLP in, logs to a file, traces to a ClickHouse server that is down (closed port). */
const AGENT = `
receivers:
  otlp:
    protocols:
      http: { endpoint: 127.0.0.1:0 }
exporters:
  file: { path: logs.ndjson }
  clickhouse: { endpoint: http://127.0.0.1:1 }
service:
  pipelines:
    logs: { receivers: [otlp], exporters: [file] }
    traces: { receivers: [otlp], exporters: [clickhouse] }
  telemetry: { metrics: { endpoint: 127.0.0.1:0 } }
`;

const EMBEDDED = `
receivers:
  otlp:
    protocols:
      http: { endpoint: 127.0.0.1:0 }
exporters:
  clickhouse: {}
service:
  pipelines:
    logs: { receivers: [otlp], exporters: [clickhouse] }
  telemetry: { metrics: { endpoint: 127.0.0.1:0 } }
`;

const mapsChdb = (d: RunningDaemon) => readFileSync(`/proc/${d.proc.pid}/maps`, 'utf8').includes('chdb');

describe('agent mode: storing elsewhere, without embedded ClickHouse', () => {
  const running: RunningDaemon[] = [];
  afterEach(async () => {
    await Promise.all(running.splice(0).map((d) => d.stop()));
  });

  it('starts without the chdb package, takes OTLP logs, and loads no embedded engine', async () => {
    const d = await startDaemon(AGENT, { env: WITHOUT_CHDB });
    running.push(d);
    const res = await fetch(d.url('/v1/logs'), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        resourceLogs: [
          {
            resource: { attributes: [{ key: 'service.name', value: { stringValue: 'checkout' } }] },
            scopeLogs: [{ logRecords: [{ severityText: 'ERROR', body: { stringValue: 'payment failed' } }] }],
          },
        ],
      }),
    });
    expect(res.status).toBe(200);
    const file = join(d.dataDir, 'logs.ndjson');
    await waitFor(() => readNdjson(file).length === 1, 'the log record in the file');
    expect(readNdjson(file)[0]).toMatchObject({ body: 'payment failed' });
    expect(mapsChdb(d)).toBe(false);
  });

  it("takes OTLP and answers /metrics and /readyz without loading Fastify's schema compilers", async () => {
    // No receiver route and no admin route has a schema: an agent need not hold Ajv in memory.
    const d = await startDaemon(AGENT, { env: WITHOUT_SCHEMA_COMPILERS });
    running.push(d);
    const res = await fetch(d.url('/v1/logs'), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ resourceLogs: [{ scopeLogs: [{ logRecords: [{ body: { stringValue: 'hello' } }] }] }] }),
    });
    expect(res.status).toBe(200);
    const file = join(d.dataDir, 'logs.ndjson');
    await waitFor(() => readNdjson(file).length === 1, 'the log record in the file');
    const metrics = await fetch(d.adminUrl('/metrics'));
    expect(metrics.status).toBe(200);
    expect(await metrics.text()).toContain('vigil_receiver_accepted');
    expect((await fetch(d.adminUrl('/readyz'))).status).toBe(200);
  });

  it('does not load chdb when it is installed but no pipeline embeds ClickHouse', async () => {
    const d = await startDaemon(AGENT);
    running.push(d);
    expect(mapsChdb(d)).toBe(false);
  });

  it('refuses a config that embeds ClickHouse without chdb, naming the key to set, at validate and at run', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'vigil-agent-'));
    const config = join(dir, 'vigil.yaml');
    writeFileSync(config, EMBEDDED);
    for (const args of [
      ['validate', '--config', config],
      ['run', '--config', config, '--data-dir', dir],
    ]) {
      const r = await runCli(args, WITHOUT_CHDB, 60_000);
      expect(r.code, `vigil ${args[0]}`).toBe(1);
      expect(r.stderr).toContain('exporters.clickhouse.endpoint');
      expect(r.stderr).toContain('the optional "chdb" package is not installed');
      expect(r.stderr).not.toMatch(/\n\s+at /); // one message, no stack trace
    }
  });

  it('still embeds ClickHouse when chdb is installed', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'vigil-agent-'));
    const config = join(dir, 'vigil.yaml');
    writeFileSync(config, EMBEDDED);
    const r = await runCli(['validate', '--config', config]);
    expect(r.code).toBe(0);
  });
});
