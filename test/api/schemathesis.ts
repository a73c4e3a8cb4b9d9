/**
 * Fuzzes the operators' API of a throwaway `vigil run` with schemathesis (PyPI), from the
 * /openapi.json it serves: every generated request must get an answer the document declares
 * (status, media type, schema), none a 5xx, and the daemon must log no error meanwhile.
 * Run through test/api/schemathesis.sh.
 */
import { spawnSync } from 'node:child_process';
import { correlatingConfig, startDaemon } from '../support/daemon.ts';

const examples = process.argv[2] ?? '50';
const schemathesis = process.env.SCHEMATHESIS ?? 'schemathesis';

// Operators may act (anonymous_role: operator), so the actions run for real against real incidents;
// events and incident changes are stored in embedded ClickHouse, which the event routes read.
const config = `${correlatingConfig(`
  defaults: { group_wait: 0s, allowed_lateness: 1h }
  rules:
    - { kind: pair, name: asset_down, group_by: [tenant, asset] }
`)
  .replace('  correlation: {}', '  correlation: {}\n  clickhouse: { batch: { max_delay: 100ms } }')
  .replace('exporters: [correlation]', 'exporters: [correlation, clickhouse]')
  .replace('exporters: [file/incidents]', 'exporters: [file/incidents, clickhouse]')}
api:
  endpoint: 127.0.0.1:0
  anonymous_role: operator
  event_store: clickhouse
`;

const daemon = await startDaemon(config);
let code: number;
try {
  // A few incidents over two tenants, one resolved, so reads and actions find something.
  const events = [
    { asset: 'web-1', type: 'down', title: 'web-1 unreachable', severity: 'ERROR', tenant: 'acme' },
    { asset: 'db-1', type: 'down', title: 'db-1 unreachable', severity: 'FATAL', tenant: 'acme' },
    { asset: 'sw-1', type: 'down', title: 'sw-1 unreachable', severity: 'WARN', tenant: 'globex' },
    { asset: 'sw-1', type: 'up', title: 'sw-1 back', severity: 'INFO', tenant: 'globex' },
  ];
  const res = await fetch(daemon.url('/v1/events'), {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(events),
  });
  if (res.status !== 200) throw new Error(`seeding events: ${res.status} ${await res.text()}`);
  const run = spawnSync(
    schemathesis,
    [
      '--config-file',
      new URL('schemathesis.toml', import.meta.url).pathname,
      'run',
      daemon.apiUrl('/openapi.json'),
      '--checks',
      'all',
      '--max-examples',
      examples,
      '--seed',
      '16',
      '--workers',
      '1',
      '--generation-database',
      'none',
      '--no-color',
      '--report-dir',
      `${daemon.dataDir}/schemathesis`,
    ],
    // Its cache (.schemathesis/) goes to the working directory: the daemon's, not the checkout.
    { stdio: ['ignore', 'pipe', 'pipe'], cwd: daemon.dataDir, encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 },
  );
  if (run.error) throw run.error;
  code = run.status ?? 1;
  const output = `${run.stdout}${run.stderr}`;
  // On success one summary of our own, not schemathesis' report: its pytest-styled closing line
  // ("=== 2 warnings in 33.06s ===") and phase lines ("25 skipped") read, to anything that takes
  // a test run's closing line from the log, as a run that executed no test.
  process.stdout.write(code === 0 ? `${fuzzSummary(output)}\n` : output);
  const errors = daemon.logs.filter((l) => l.includes('"level":50'));
  if (errors.length) {
    console.error(`vigil logged errors while fuzzed:\n${errors.join('\n')}`);
    code = 1;
  }
} finally {
  await daemon.stop();
}
process.exit(code);

/** One line on a run that found nothing: operations and cases tested, and the warnings named. */
function fuzzSummary(output: string): string {
  const tested = /Tested: (\d+)/.exec(output)?.[1] ?? '?';
  const selected = /Selected: (\d+\/\d+)/.exec(output)?.[1] ?? '?';
  const cases = /(\d+) generated/.exec(output)?.[1] ?? '?';
  const warnings = [...output.matchAll(/^\s*⚠️\s*(.+)$/gmu)].map((m) => (m[1] ?? '').trim());
  return (
    `API fuzzing (schemathesis, seed 16): ${tested} operations tested of ${selected} selected, ` +
    `${cases} generated cases, every answer as documented` +
    (warnings.length ? `; its warnings: ${warnings.join('; ')}` : '')
  );
}
