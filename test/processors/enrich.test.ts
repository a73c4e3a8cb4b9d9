import { once } from 'node:events';
import { mkdirSync, renameSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { VigilEvent } from '../../src/model/index.ts';
import { enrichProcessorFactory } from '../../src/processors/enrich/factory.ts';
import { EnrichProcessor } from '../../src/processors/enrich/processor.ts';
import { parseCsvTable, parseYamlTable } from '../../src/processors/enrich/tableFile.ts';
import { configIssues, counterValue, ev, parseProcessorConfig, testSettings } from './harness.ts';

const CMDB_CSV =
  'host,owner,site,criticality,parent\nweb-1,team-shop,paris,high,sw-paris-1\n"db-1","team ""data""","lyon, dc2",critical,\n';

const started: { stop(): Promise<void> | void }[] = [];
afterEach(async () => {
  for (const s of started.splice(0)) await s.stop();
});

async function enrich(raw: unknown, opts: { now?: () => number; files?: Record<string, string> } = {}) {
  const settings = testSettings('enrich/cmdb');
  for (const [name, text] of Object.entries(opts.files ?? {})) writeFileSync(join(settings.dataDir, name), text);
  const p = new EnrichProcessor(settings, parseProcessorConfig(enrichProcessorFactory, raw, 'enrich/cmdb'), {
    now: opts.now,
  });
  await p.start();
  started.push({ stop: () => p.shutdown() });
  return { p, settings, run: async (events: VigilEvent[]) => p.process(events) };
}

describe('lookup table files', () => {
  it('parses RFC 4180 CSV: quotes, doubled quotes, commas inside quotes, CRLF, a BOM', () => {
    const t = parseCsvTable('\ufeffkey,a,b\r\nk1,"x, y","say ""hi"""\r\nk2,,\r\n', 'key');
    expect(t.get('k1')).toEqual({ key: 'k1', a: 'x, y', b: 'say "hi"' });
    expect(t.get('k2')).toEqual({ key: 'k2', a: '', b: '' });
  });

  it('says what is wrong with a table and on which line', () => {
    expect(() => parseCsvTable('host,owner\nweb-1,a,b\n', 'host')).toThrow('line 2 has 3 fields, the header has 2');
    expect(() => parseCsvTable('name,owner\n', 'host')).toThrow(
      'the header has no "host" column (key_field); columns: name, owner',
    );
    expect(() => parseCsvTable('host\n"web-1\n', 'host')).toThrow('line 2: a quoted field is not closed');
    expect(() => parseYamlTable('- owner: a\n', 'host')).toThrow('item 0 has no "host" field (key_field)');
    expect(() => parseYamlTable('web-1: plain\n', 'host')).toThrow('"web-1" must be a mapping of fields');
  });

  it('reads YAML as a mapping of key → fields or as a list of rows', () => {
    expect(parseYamlTable('web-1: { owner: a, tier: 1 }\n', 'host').get('web-1')).toEqual({
      host: 'web-1',
      owner: 'a',
      tier: 1,
    });
    expect(parseYamlTable('- { host: web-2, owner: b }\n', 'host').get('web-2')).toEqual({ host: 'web-2', owner: 'b' });
  });
});

describe('enrich processor: lookup table', () => {
  it("adds the row's fields to events keyed by asset, keeping attributes the event already has", async () => {
    const { run, settings } = await enrich(
      { table: { path: 'cmdb.csv', key_field: 'host' } },
      { files: { 'cmdb.csv': CMDB_CSV } },
    );
    const out = await run([
      ev({ asset: 'web-1', attributes: { site: 'from-event' } }),
      ev({ asset: 'db-1' }),
      ev({ asset: 'unknown' }),
      ev({ asset: '' }),
    ]);
    expect(out[0]!.attributes).toEqual({
      owner: 'team-shop',
      site: 'from-event',
      criticality: 'high',
      parent: 'sw-paris-1',
    });
    expect(out[1]!.attributes).toEqual({
      owner: 'team "data"',
      site: 'lyon, dc2',
      criticality: 'critical',
      parent: '',
    });
    expect(out[2]!.attributes).toEqual({});
    expect(await counterValue(settings, 'vigil_enrich_lookups_total', { source: 'table', outcome: 'found' })).toBe(2);
    expect(await counterValue(settings, 'vigil_enrich_lookups_total', { source: 'table', outcome: 'not_found' })).toBe(
      1,
    );
  });

  it('maps chosen fields to attribute names, keys by any expression, overwrites when asked, and honours where', async () => {
    const { run } = await enrich(
      {
        key: 'ToLowerCase(resource.attributes["host.name"])',
        where: 'type != "up"',
        table: { path: 'cmdb.yaml' },
        attributes: { 'owner.team': 'owner', 'topology.parent': 'parent' },
        overwrite: true,
      },
      { files: { 'cmdb.yaml': 'web-1: { owner: team-shop, parent: sw-1, secret: nope }\n' } },
    );
    const out = await run([
      ev({ resource: { 'host.name': 'WEB-1' }, attributes: { 'owner.team': 'old' } }),
      ev({ type: 'up', resource: { 'host.name': 'web-1' } }),
    ]);
    expect(out[0]!.attributes).toEqual({ 'owner.team': 'team-shop', 'topology.parent': 'sw-1' });
    expect(out[1]!.attributes).toEqual({});
  });

  it('gives each event its own copy of a nested row value', async () => {
    const { run } = await enrich(
      { table: { path: 'cmdb.yaml' } },
      { files: { 'cmdb.yaml': 'web-1: { contacts: { oncall: alice } }\n' } },
    );
    const [first] = await run([ev({ asset: 'web-1' })]);
    (first!.attributes.contacts as Record<string, string>).oncall = 'changed downstream';
    const [second] = await run([ev({ asset: 'web-1' })]);
    expect(second!.attributes.contacts).toEqual({ oncall: 'alice' });
  });

  it('reloads the table when the file changes, and keeps the previous table when the new file is broken', async () => {
    const { p, run, settings } = await enrich(
      { table: { path: 'cmdb.csv', key_field: 'host' } },
      { files: { 'cmdb.csv': CMDB_CSV } },
    );
    const path = join(settings.dataDir, 'cmdb.csv');
    const reloaded = once(p.table!, 'reload');
    // Editors save by writing a temporary file and renaming it over the old one.
    writeFileSync(`${path}.tmp`, 'host,owner\nweb-1,team-new\nweb-9,team-nine\n');
    renameSync(`${path}.tmp`, path);
    expect(await reloaded).toEqual([2]);
    const out = await run([ev({ asset: 'web-1' }), ev({ asset: 'web-9' })]);
    expect(out.map((e) => e.attributes.owner)).toEqual(['team-new', 'team-nine']);

    const failed = once(p.table!, 'reloadError');
    writeFileSync(path, 'host,owner\nweb-1,a,b,c\n');
    const [err] = (await failed) as [Error];
    expect(err.message).toBe('line 2 has 4 fields, the header has 2');
    expect((await run([ev({ asset: 'web-9' })]))[0]!.attributes.owner).toBe('team-nine');
    expect(await counterValue(settings, 'vigil_enrich_table_reloads_total', { outcome: 'ok' })).toBe(1);
    expect(await counterValue(settings, 'vigil_enrich_table_reloads_total', { outcome: 'error' })).toBe(1);
  });

  it('reloads a table mounted from a Kubernetes ConfigMap, whose update swaps a ..data symlink', async () => {
    const settings = testSettings('enrich/cmdb');
    const dir = join(settings.dataDir, 'tables');
    mkdirSync(join(dir, '..v1'), { recursive: true });
    writeFileSync(join(dir, '..v1', 'cmdb.csv'), 'host,owner\nweb-1,team-old\n');
    symlinkSync('..v1', join(dir, '..data'));
    symlinkSync(join('..data', 'cmdb.csv'), join(dir, 'cmdb.csv'));
    const p = new EnrichProcessor(
      settings,
      parseProcessorConfig(enrichProcessorFactory, { table: { path: 'tables/cmdb.csv', key_field: 'host' } }),
    );
    await p.start();
    started.push({ stop: () => p.shutdown() });
    expect((await p.process([ev({ asset: 'web-1' })]))[0]!.attributes.owner).toBe('team-old');

    const reloaded = once(p.table!, 'reload');
    mkdirSync(join(dir, '..v2'));
    writeFileSync(join(dir, '..v2', 'cmdb.csv'), 'host,owner\nweb-1,team-new\n');
    symlinkSync('..v2', join(dir, '..data_tmp'));
    renameSync(join(dir, '..data_tmp'), join(dir, '..data'));
    await reloaded;
    expect((await p.process([ev({ asset: 'web-1' })]))[0]!.attributes.owner).toBe('team-new');
  });

  it('refuses to start on a missing table, naming the file', async () => {
    await expect(enrich({ table: { path: 'missing.csv' } })).rejects.toThrow(
      /^cannot load lookup table .*missing\.csv: ENOENT/,
    );
  });

  it('needs a table or an http lookup', () => {
    expect(configIssues(enrichProcessorFactory, {}, 'enrich/cmdb')).toEqual([
      'processors.enrich/cmdb: an enrich processor needs a table, an http lookup, or both',
    ]);
    expect(
      configIssues(enrichProcessorFactory, { key: 'attributes[', table: { path: 'x.csv' } }, 'enrich/cmdb')[0],
    ).toMatch(/^processors\.enrich\/cmdb\.key: column 12: expected a value/);
    expect(configIssues(enrichProcessorFactory, { http: { url: 'cmdb.local/{{ asset }}' } }, 'enrich/cmdb')).toEqual([
      'processors.enrich/cmdb.http.url: must start with http:// or https:// and a host, e.g. "http://cmdb.local/api/assets/{{ asset }}"; got "cmdb.local/{{ asset }}"',
    ]);
    expect(configIssues(enrichProcessorFactory, { http: { url: 'http://cmdb/{{ asset' } }, 'enrich/cmdb')).toEqual([
      'processors.enrich/cmdb.http.url: column 13: expected "}}" to close this "{{"',
    ]);
  });
});

/** A CMDB-like lookup service on 127.0.0.1:0 that records every request. */
async function lookupService(handler: (req: IncomingMessage, res: ServerResponse) => void) {
  const requests: string[] = [];
  const server: Server = createServer((req, res) => {
    requests.push(req.url!);
    handler(req, res);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  started.push({
    stop: () => {
      const closed = new Promise<void>((r) => server.close(() => r()));
      // Hanging requests and idle keep-alive sockets would hold close() open.
      server.closeAllConnections();
      return closed;
    },
  });
  return { requests, base: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

/** Where a test is not about the timeout, a loaded CI machine must not trip it. */
const SLOW_MACHINE_TIMEOUT = '10s';

const ASSETS: Record<string, object> = {
  'web-1': { owner: 'team-shop', site: 'paris' },
  'db 1/a': { owner: 'team-data' },
};

function cmdb(req: IncomingMessage, res: ServerResponse) {
  const key = decodeURIComponent(req.url!.slice('/assets/'.length));
  const row = ASSETS[key];
  res
    .writeHead(row ? 200 : 404, { 'content-type': 'application/json' })
    .end(JSON.stringify(row ?? { error: 'not found' }));
}

describe('enrich processor: HTTP lookup', () => {
  it('looks each distinct key up once, caches answers (404 included) until their TTL, and encodes the key', async () => {
    const svc = await lookupService(cmdb);
    let now = 1_000_000;
    const { run, settings } = await enrich(
      { http: { url: `${svc.base}/assets/{{ asset }}`, ttl: '1m', timeout: SLOW_MACHINE_TIMEOUT } },
      { now: () => now },
    );
    const out = await run([
      ev({ asset: 'web-1' }),
      ev({ asset: 'web-1' }),
      ev({ asset: 'db 1/a' }),
      ev({ asset: 'nope' }),
    ]);
    expect(out.map((e) => e.attributes)).toEqual([
      { owner: 'team-shop', site: 'paris' },
      { owner: 'team-shop', site: 'paris' },
      { owner: 'team-data' },
      {},
    ]);
    expect(svc.requests.sort()).toEqual(['/assets/db%201%2Fa', '/assets/nope', '/assets/web-1']);

    now += 59_000;
    await run([ev({ asset: 'web-1' }), ev({ asset: 'nope' })]);
    expect(svc.requests).toHaveLength(3);
    now += 2_000;
    expect((await run([ev({ asset: 'web-1' })]))[0]!.attributes.owner).toBe('team-shop');
    expect(svc.requests).toHaveLength(4);
    expect(await counterValue(settings, 'vigil_enrich_lookups_total', { source: 'http', outcome: 'found' })).toBe(3);
    expect(await counterValue(settings, 'vigil_enrich_lookups_total', { source: 'http', outcome: 'not_found' })).toBe(
      1,
    );
  });

  it('asks the service only for keys the table does not hold', async () => {
    const svc = await lookupService(cmdb);
    const { run } = await enrich(
      {
        table: { path: 't.csv', key_field: 'host' },
        http: { url: `${svc.base}/assets/{{ asset }}`, timeout: SLOW_MACHINE_TIMEOUT },
      },
      { files: { 't.csv': 'host,owner\nweb-2,from-table\n' } },
    );
    const out = await run([ev({ asset: 'web-2' }), ev({ asset: 'web-1' })]);
    expect(out.map((e) => e.attributes.owner)).toEqual(['from-table', 'team-shop']);
    expect(svc.requests).toEqual(['/assets/web-1']);
  });

  it('lets a batch through un-enriched after the timeout, then pauses lookups after 3 failures in a row', async () => {
    // The service never answers: every request runs into the timeout.
    const svc = await lookupService(() => {});
    let now = 0;
    const { run, settings } = await enrich(
      { http: { url: `${svc.base}/assets/{{ asset }}`, timeout: '100ms', error_ttl: '30s' } },
      { now: () => now },
    );
    const events = [ev({ asset: 'a' }), ev({ asset: 'b' }), ev({ asset: 'c' })];
    const out = await run(events);
    expect(out).toEqual(events);
    expect(out.every((e) => Object.keys(e.attributes).length === 0)).toBe(true);
    // Counted client-side: on a loaded machine a request aborted after 100 ms may never have
    // reached the server.
    const outcomes = async () => ({
      error: await counterValue(settings, 'vigil_enrich_lookups_total', { source: 'http', outcome: 'error' }),
      skipped: await counterValue(settings, 'vigil_enrich_lookups_total', { source: 'http', outcome: 'skipped' }),
    });
    expect(await outcomes()).toEqual({ error: 3, skipped: 0 });

    // Paused: a new key is not even asked for.
    await run([ev({ asset: 'd' })]);
    expect(await outcomes()).toEqual({ error: 3, skipped: 1 });

    now += 31_000;
    await run([ev({ asset: 'e' })]);
    expect(await outcomes()).toEqual({ error: 4, skipped: 1 });
    expect(svc.requests.length).toBeLessThanOrEqual(4);
  });

  it('counts a non-JSON or non-object answer as a failure', async () => {
    const svc = await lookupService((_req, res) =>
      res.writeHead(200, { 'content-type': 'application/json' }).end('[1,2]'),
    );
    const { run, settings } = await enrich({ http: { url: `${svc.base}/{{ asset }}` } });
    expect((await run([ev({ asset: 'x' })]))[0]!.attributes).toEqual({});
    expect(await counterValue(settings, 'vigil_enrich_lookups_total', { source: 'http', outcome: 'error' })).toBe(1);
  });

  it('keeps event data from choosing the endpoint: no dot segments, no redirect to another origin, capped answers, a rate limit', async () => {
    const other = await lookupService((req, res) =>
      res
        .writeHead(200, { 'content-type': 'application/json' })
        .end(JSON.stringify({ owner: 'attacker', saw: req.headers['x-api-key'] ?? '' })),
    );
    const svc = await lookupService((req, res) => {
      if (req.url === '/assets/moved') return void res.writeHead(302, { location: '/assets/web-1' }).end();
      if (req.url === '/assets/away') return void res.writeHead(302, { location: `${other.base}/steal` }).end();
      if (req.url === '/assets/huge')
        return void res
          .writeHead(200, { 'content-type': 'application/json' })
          .end(JSON.stringify({ owner: 'x'.repeat(200_000) }));
      cmdb(req, res);
    });
    let now = 5_000_000;
    const { run, settings } = await enrich(
      {
        http: {
          url: `${svc.base}/assets/{{ asset }}`,
          timeout: SLOW_MACHINE_TIMEOUT,
          headers: { 'x-api-key': 'k-123' },
          max_requests_per_second: 5,
        },
      },
      { now: () => now },
    );
    const outcome = (o: string) => counterValue(settings, 'vigil_enrich_lookups_total', { source: 'http', outcome: o });

    const out = await run([
      ev({ asset: '..' }),
      ev({ asset: '.' }),
      ev({ asset: 'moved' }),
      ev({ asset: 'away' }),
      ev({ asset: 'huge' }),
    ]);
    expect(out.map((e) => e.attributes.owner)).toEqual([undefined, undefined, 'team-shop', undefined, undefined]);
    // The dot segments were never asked for; the same-origin redirect was followed, the other one not.
    expect(svc.requests.sort()).toEqual(['/assets/away', '/assets/huge', '/assets/moved', '/assets/web-1']);
    expect(other.requests).toEqual([]);
    expect(await outcome('skipped')).toBe(2);
    expect(await outcome('error')).toBe(2);

    // Five lookups a second: the sixth distinct key in the same second is skipped, not asked.
    now += 1_000;
    await run(['k1', 'k2', 'k3', 'k4', 'k5', 'k6'].map((asset) => ev({ asset })));
    expect(svc.requests.filter((r) => /\/assets\/k\d$/.test(r))).toHaveLength(5);
    expect(await outcome('skipped')).toBe(3);
    // Skipped is not remembered: the key is asked for in the next second.
    now += 1_000;
    await run([ev({ asset: 'k6' })]);
    expect(svc.requests.filter((r) => /\/assets\/k\d$/.test(r))).toHaveLength(6);
  });
});
