/**
 * `npm run bench`: runs every benchmark in turn, each in its own process so one's heap and
 * JIT state cannot colour the next. `npm run bench -- json otlp` runs a subset;
 * `npm run bench -- peers --quick` passes `--quick` on.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

const ALL = [
  'json',
  'otlp',
  'syslog',
  'ottl',
  'correlation',
  'openTicks',
  'durability',
  'redis',
  'checkpoint',
  'stateNotifications',
  'redisHandoff',
  'replicaWait',
  'clickhouse',
  'embeddedInsert',
  'tickets',
  'api',
  'fuzz',
  'attacks',
  'flood',
  'peers',
  'agent',
  'defaultConfig',
];
const args = process.argv.slice(2);
if (args.includes('--help') || args.includes('-h')) {
  process.stdout.write(
    'npm run bench [-- NAME ...] [-- OPTIONS]: runs every benchmark, or the named ones, each in its own process.\n' +
      `Benchmarks: ${ALL.join(', ')}.\nOptions other than names go to each benchmark run; ` +
      "`node bench/NAME.ts --help` lists a benchmark's own.\n",
  );
  process.exit(0);
}
const isBench = (a: string) => !a.startsWith('-') && existsSync(join(import.meta.dirname, `${a}.ts`));
const wanted = args.filter(isBench);
// Everything else (`--quick`, `--seconds 3`) goes to each benchmark run.
const passed = args.filter((a) => !isBench(a));
const names = wanted.length ? wanted : ALL;
let failed = 0;
for (const name of names) {
  process.stdout.write(`\n## ${name}\n\n`);
  const r = spawnSync(process.execPath, ['--expose-gc', join(import.meta.dirname, `${name}.ts`), ...passed], {
    stdio: 'inherit',
  });
  if (r.status !== 0) failed++;
}
process.exitCode = failed ? 1 : 0;
