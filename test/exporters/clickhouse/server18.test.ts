import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ClickHouseAuthError, ClickHouseTooOldError } from '../../../src/exporters/clickhouse/backend.ts';
import { RemoteBackend } from '../../../src/exporters/clickhouse/remoteBackend.ts';
import { spawnReady } from '../../support/readyOnFreePort.ts';
import { freePort } from '../../support/redis.ts';
import { newExporter } from './harness.ts';

/*
 * A smoke test of the HTTP transport against a real ClickHouse server: Debian's
 * clickhouse-server package (18.16), the only one the build machines can install
 * (`apt-get install clickhouse-server`). It predates DateTime64, Map and dedup tokens, so it
 * checks the transport (ping, auth error, a gzip JSONEachRow insert into a plain table) and
 * that the exporter refuses it with a clear message; schema and dedup are covered on chdb.
 */
const BINARY = '/usr/sbin/clickhouse-server';

let proc: ChildProcess | undefined;
let url = '';
const PASSWORD = 'smoke pass';

beforeAll(async () => {
  const installed = spawnSync(BINARY, ['--help'], { stdio: 'ignore' });
  if (installed.error)
    throw new Error(
      `clickhouse-server is not installed: apt-get install -y clickhouse-server (${installed.error.message})`,
    );
  const dir = mkdtempSync(join(tmpdir(), 'vigil-ch18-'));
  for (const d of ['data', 'tmp', 'user_files', 'format_schemas']) mkdirSync(join(dir, d));
  writeFileSync(
    join(dir, 'users.xml'),
    readFileSync('/etc/clickhouse-server/users.xml', 'utf8').replace(
      /<password><\/password>/g,
      `<password>${PASSWORD}</password>`,
    ),
  );
  const started = await spawnReady(
    async (http) => {
      const tcp = await freePort();
      // The packaged config, moved into a temporary directory and onto free ports, IPv4 loopback only.
      const config = readFileSync('/etc/clickhouse-server/config.xml', 'utf8')
        .replace(/<http_port>\d+<\/http_port>/, `<http_port>${http}</http_port>`)
        .replace(/<tcp_port>\d+<\/tcp_port>/, `<tcp_port>${tcp}</tcp_port>`)
        .replace(/<interserver_http_port>\d+<\/interserver_http_port>/, '')
        .replace(/<listen_host>::1<\/listen_host>/, '')
        .replaceAll('/var/lib/clickhouse/tmp/', `${dir}/tmp/`)
        .replaceAll('/var/lib/clickhouse/user_files/', `${dir}/user_files/`)
        .replaceAll('/var/lib/clickhouse/format_schemas/', `${dir}/format_schemas/`)
        .replaceAll('/var/lib/clickhouse/', `${dir}/data/`)
        .replaceAll('/var/log/clickhouse-server/', `${dir}/`);
      writeFileSync(join(dir, 'config.xml'), config);
      return spawn(BINARY, [`--config-file=${join(dir, 'config.xml')}`], { stdio: 'ignore' });
    },
    (http) =>
      fetch(`http://127.0.0.1:${http}/ping`)
        .then((r) => r.ok)
        .catch(() => false),
    'clickhouse-server to answer /ping',
    60_000,
  );
  proc = started.proc;
  url = `http://127.0.0.1:${started.port}`;
});

afterAll(() => {
  proc?.kill('SIGKILL');
});

describe('HTTP transport against Debian clickhouse-server 18.16', () => {
  it('talks to it with keep-alive and gzip: version, DDL, a JSONEachRow insert, a select', async () => {
    const b = new RemoteBackend({
      url,
      database: 'default',
      username: 'default',
      password: PASSWORD,
      compression: true,
      timeoutMs: 10_000,
      maxOpenConnections: 2,
    });
    try {
      expect(await b.version()).toMatch(/^18\.16\./);
      await b.command('CREATE DATABASE IF NOT EXISTS smoke');
      await b.command(
        'CREATE TABLE IF NOT EXISTS smoke.events (Id UInt32, Asset String, Body String) ENGINE = MergeTree ORDER BY Id',
      );
      const rows = Array.from(
        { length: 500 },
        (_, i) => JSON.stringify({ Id: i, Asset: `web-${i % 5}`, Body: `line ${i} "quoted" ünïcode` }) + '\n',
      ).join('');
      await b.insert('smoke', 'events', Buffer.from(rows), '');
      // 18.16 predates query parameters ({name:Type} arrived in 19.x), so this select is plain.
      const counts = await b.select<{ Asset: string; c: string }>(
        "SELECT Asset, count() AS c FROM smoke.events WHERE Asset != 'web-4' GROUP BY Asset ORDER BY Asset",
        {},
      );
      expect(counts).toEqual([
        { Asset: 'web-0', c: '100' },
        { Asset: 'web-1', c: '100' },
        { Asset: 'web-2', c: '100' },
        { Asset: 'web-3', c: '100' },
      ]);
      const [one] = await b.select<{ Body: string }>('SELECT Body FROM smoke.events WHERE Id = 7', {});
      expect(one!.Body).toBe('line 7 "quoted" ünïcode');
    } finally {
      await b.close();
    }
  });

  it('reports a wrong password as a configuration error naming the keys', async () => {
    const { exporter } = newExporter({ endpoint: url, username: 'default', password: 'not it' });
    const err = await exporter.start().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ClickHouseAuthError);
    expect((err as Error).message).toMatch(
      /refused user "default": .*(password|Authentication).*exporters\.clickhouse\.password/is,
    );
  });

  it('refuses a server older than 22.2 at start, saying what it needs', async () => {
    const { exporter } = newExporter({ endpoint: url, username: 'default', password: PASSWORD });
    const err = await exporter.start().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ClickHouseTooOldError);
    expect((err as Error).message).toMatch(/is version 18\.16\.[\d.]+; Vigil needs 22\.2 or newer/);
  });
});
