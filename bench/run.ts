/**
 * `npm run bench`: runs every benchmark in turn, each in its own process so one's heap and
 * JIT state cannot colour the next. `npm run bench -- json otlp` runs a subset.
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
  'durability',
  'redis',
  'clickhouse',
  'tickets',
  'api',
  'fuzz',
  'attacks',
  'flood',
];
const wanted = process.argv.slice(2).filter((a) => !a.startsWith('-'));
const names = (wanted.length ? wanted : ALL).filter((n) => existsSync(join(import.meta.dirname, `${n}.ts`)));
let failed = 0;
for (const name of names) {
  process.stdout.write(`\n## ${name}\n\n`);
  const r = spawnSync(process.execPath, ['--expose-gc', join(import.meta.dirname, `${name}.ts`)], { stdio: 'inherit' });
  if (r.status !== 0) failed++;
}
process.exitCode = failed ? 1 : 0;
