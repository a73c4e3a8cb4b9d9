import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EmbeddedBackend } from '../../src/exporters/clickhouse/embeddedBackend.ts';
import { ClickHouseQueries } from '../../src/exporters/clickhouse/query.ts';
import { clickhouseExporterSchema } from '../../src/exporters/clickhouse/config.ts';
import { runCli, startDaemon, type RunningDaemon } from '../support/daemon.ts';

/**
 * `vigil rules backtest` against what a real daemon stored in embedded ClickHouse: the events
 * and the incidents its rules opened. A changed rule set then shows what it would have done
 * differently.
 */
const rules = (pairMatch: string, threshold: number) => `
correlation:
  rules:
    - { kind: pair, name: link, group_by: [asset]${pairMatch ? `, match: '${pairMatch}'` : ''} }
    - { kind: threshold, name: errors, match: 'severity_number >= SEVERITY_NUMBER_ERROR', group_by: [service], window: 1m, threshold: ${threshold} }
`;
const config = (pairMatch: string, threshold: number) => `
receivers:
  json: { endpoint: 127.0.0.1:0 }
exporters:
  clickhouse: {}
  correlation: {}
${rules(pairMatch, threshold)}
service:
  pipelines:
    logs: { receivers: [json], exporters: [clickhouse, correlation] }
    incidents: { receivers: [correlation], exporters: [clickhouse] }
  telemetry: { metrics: { endpoint: 127.0.0.1:0 } }
`;

let daemon: RunningDaemon;
let tuned: string;
let original: string;

beforeAll(async () => {
  daemon = await startDaemon(config('', 3));
  const events = [
    { asset: 'sw-1', type: 'down', message: 'link down' },
    { asset: 'sw-2', type: 'down', message: 'link down' },
    ...Array.from({ length: 2 }, () => ({ service: 'billing', severity: 'error', message: 'timeout' })),
    ...Array.from({ length: 4 }, () => ({ service: 'checkout', severity: 'error', message: 'timeout' })),
  ];
  const res = await fetch(daemon.url('/v1/events'), {
    method: 'POST',
    body: JSON.stringify(events),
    headers: { 'content-type': 'application/json' },
  });
  expect(await res.json()).toEqual({ accepted: 8, rejected: [] });
  // Stopping drains the exporter: the events and incidents are in ClickHouse once it exits.
  expect(await daemon.stop()).toBe(0);
  original = join(daemon.dataDir, 'original.yaml');
  writeFileSync(original, config('', 3));
  // sw-2's link no longer counts, and two errors are enough.
  tuned = join(daemon.dataDir, 'tuned.yaml');
  writeFileSync(tuned, config('asset != "sw-2"', 2));
}, 120_000);

afterAll(async () => {
  await daemon?.stop('SIGKILL');
});

interface Outline {
  key: string;
  rule: string;
}

describe('vigil rules backtest', () => {
  it('finds what a tuned rule set would have opened and what it would not have', async () => {
    const r = await runCli([
      'rules',
      'backtest',
      '--config',
      tuned,
      '--since',
      '1h',
      '--json',
      '--data-dir',
      daemon.dataDir,
    ]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const result = JSON.parse(r.stdout) as {
      events: number;
      new: Outline[];
      missing: Outline[];
      changed: unknown[];
      same: number;
    };
    expect(result.events).toBe(8);
    expect(result.new.map((i) => i.key)).toEqual(['errors{service="billing"}']);
    expect(result.missing.map((i) => i.key)).toEqual(['link{asset="sw-2"}']);
    expect(result.changed).toEqual([]);
    expect(result.same).toBe(2);
  }, 60_000);

  it('prints a table, finds no difference with the rules that ran, and compares only the rules asked for', async () => {
    const table = await runCli(['rules', 'backtest', '-c', tuned, '--since', '1h', '--data-dir', daemon.dataDir]);
    expect(table.code).toBe(0);
    const lines = table.stdout.split('\n');
    expect(lines[0]).toMatch(/^\s+incident\s+opened\s+resolved\s+events\s+what differs$/);
    expect(lines.find((l) => l.startsWith('new'))).toMatch(/^new\s+errors\{service="billing"\}\s+\d{4}-.*would open/);
    expect(lines.find((l) => l.startsWith('missing'))).toMatch(/^missing\s+link\{asset="sw-2"\}/);
    expect(table.stdout).toMatch(
      /8 stored event\(s\) from .* \(exporter clickhouse\): 1 new, 1 missing, 0 changed, 2 the same\n$/,
    );

    const same = await runCli(['rules', 'backtest', '-c', original, '--since', '1h', '--data-dir', daemon.dataDir]);
    expect(same.stdout).toMatch(/: 0 new, 0 missing, 0 changed, 3 the same\n$/);

    const onlyLinks = await runCli([
      'rules',
      'backtest',
      '-c',
      tuned,
      '--since',
      '1h',
      '--rules',
      'link',
      '--data-dir',
      daemon.dataDir,
    ]);
    expect(onlyLinks.stdout).toMatch(/: 0 new, 1 missing, 0 changed, 1 the same\n$/);
  }, 120_000);

  it('reads the stored events in pages, in the order they arrived, each once', async () => {
    const backend = await EmbeddedBackend.open(join(daemon.dataDir, 'clickhouse'), 'exporters.clickhouse');
    try {
      const cfg = clickhouseExporterSchema.parse({}, 'exporters.clickhouse', [])!;
      const queries = new ClickHouseQueries(backend, cfg.database, cfg.tables);
      const now = BigInt(Date.now()) * 1_000_000n;
      const pages = [];
      for await (const page of queries.eventsInArrivalOrder(now - 3_600_000_000_000n, now, 3)) pages.push(page);
      expect(pages.map((p) => p.length)).toEqual([3, 3, 2]);
      const rows = pages.flat();
      expect(new Set(rows.map((r) => r.EventId)).size).toBe(8);
      const order = rows.map((r) => [BigInt(r.ObservedNs), r.EventId] as const);
      const sorted = [...order].sort((a, b) => (a[0] === b[0] ? (a[1] < b[1] ? -1 : 1) : a[0] < b[0] ? -1 : 1));
      expect(order).toEqual(sorted);
    } finally {
      await backend.close();
    }
  });

  it('answers mistakes with one line and exit 2', async () => {
    for (const [args, message] of [
      [['--since', 'yesterday'], /^vigil rules: --since "yesterday": use a duration back from now \(e\.g\. 7d, 12h\)/],
      [
        ['--since', '1h', '--rules', 'link,nope'],
        /^vigil rules: --rules: no rule named "nope" \(the config has: link, errors\)/,
      ],
      [['--since', '1h', '--until', '2h'], /^vigil rules: --since must come before --until/],
      [[], /^vigil rules: backtest needs --since, e\.g\. --since 7d/],
    ] as const) {
      const r = await runCli(['rules', 'backtest', '-c', tuned, '--data-dir', daemon.dataDir, ...args]);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr.trim().split('\n'), args.join(' ')).toHaveLength(1);
      expect(r.stderr).toMatch(message);
    }
    const help = await runCli(['rules', 'backtest', '--help']);
    expect(help.stdout).toContain('vigil rules backtest --config config/vigil.yaml --since 7d');
  }, 120_000);
});
