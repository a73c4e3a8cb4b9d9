import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const BENCH = join(import.meta.dirname, '../../bench');
// The benchmarks a user runs (`npm run bench -- NAME` or `node bench/NAME.ts`); workloads and
// support modules are imported by them, not run.
const commands = readdirSync(BENCH)
  .filter((f) => f.endsWith('.ts') && !/Workload|support|redisAgent/.test(f))
  .sort();

function run(file: string, args: string[]) {
  return spawnSync(process.execPath, [join(BENCH, file), ...args], { encoding: 'utf8', timeout: 60_000 });
}

describe('benchmark commands', () => {
  it.each(commands)(
    '%s answers --help with its options, and a wrong option with one line, not a stack trace',
    (file) => {
      const help = run(file, ['--help']);
      expect(help.status, help.stderr).toBe(0);
      expect(help.stdout.length).toBeGreaterThan(40);
      expect(help.stderr).not.toMatch(/\n\s+at /);
      if (file !== 'run.ts') {
        expect(help.stdout).toContain('Options:');
        const wrong = run(file, ['--no-such-option']);
        expect(wrong.status).toBe(2);
        expect(wrong.stderr).toContain("Unknown option '--no-such-option'");
        expect(wrong.stderr).not.toMatch(/\n\s+at /);
      }
    },
  );
});
