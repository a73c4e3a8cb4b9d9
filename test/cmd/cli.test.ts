import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from '../support/daemon.ts';

const CLI = resolve(import.meta.dirname, '../../cmd/vigil.ts');

describe('vigil: help for every command, one line for every user mistake', () => {
  it('prints help on stdout, with examples, for every command and subcommand', async () => {
    const calls = [
      ['--help'],
      ['-h'],
      ['help'],
      ['run', '--help'],
      ['validate', '-h'],
      ['rules', '--help'],
      ['rules', 'test', '--help'],
      ['rules', 'lint', '--help'],
      ['routes', 'test', '--help'],
      ['apikey', '--help'],
      ['tickets', '--help'],
      ['config-docs', '--help'],
      ['help', 'run'],
    ];
    // Side by side: each start costs a second or two on a loaded machine.
    const results = await Promise.all(calls.map((args) => runCli(args)));
    for (const [i, args] of calls.entries()) {
      const r = results[i]!;
      expect(r.code, args.join(' ')).toBe(0);
      expect(r.stdout, args.join(' ')).toMatch(/^Usage: vigil /);
      expect(r.stderr, args.join(' ')).toBe('');
    }
    expect((await runCli(['run', '--help'])).stdout).toContain('Examples:');
    expect((await runCli(['rules', 'test', '--help'])).stdout).toContain(
      'vigil rules test --config config/vigil.yaml --events events.ndjson',
    );
  });

  it('answers usage mistakes with one line and exit 2, and failures with one line and exit 1, never a stack trace', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'vigil-cli-'));
    const cases: [string[], number, RegExp][] = [
      [[], 2, /^Usage: vigil <command>/],
      [['bogus'], 2, /^vigil: unknown command "bogus" \(see vigil --help\)$/],
      [['validate'], 2, /^vigil validate: needs --config FILE/],
      [['version', '--x'], 2, /^vigil version: Unknown option '--x'/],
      [['rules'], 2, /^vigil rules: needs "test", "backtest" or "lint"/],
      [
        ['rules', 'test', '--config', 'config/vigil.yaml', '--events', 'x', '--after', '-5m'],
        2,
        /^vigil rules: Option '--after' argument is ambiguous; a value may not start with "-"/,
      ],
      [
        ['rules', 'test', '--config', 'config/vigil.yaml', '--events', join(dir, 'missing.ndjson')],
        1,
        /^vigil rules: .*missing\.ndjson: no such file$/,
      ],
      [
        ['rules', 'test', '--config', 'config/vigil.yaml', '--events', 'x', '--format', 'xml'],
        2,
        /^vigil rules: --format "xml": use table or json/,
      ],
    ];
    for (const [args, code, line] of cases) {
      const r = await runCli(args);
      expect(r.code, args.join(' ')).toBe(code);
      expect(r.stderr.split('\n')[0], args.join(' ')).toMatch(line);
      expect(r.stderr, args.join(' ')).not.toMatch(/\n\s+at /);
    }
    // --debug adds the stack trace.
    const debug = await runCli([
      'rules',
      'test',
      '--config',
      'config/vigil.yaml',
      '--events',
      join(dir, 'missing.ndjson'),
      '--debug',
    ]);
    expect(debug.code).toBe(1);
    expect(debug.stderr).toMatch(/\n\s+at /);
  });

  it('reads an events file that starts with a UTF-8 BOM, and stops quietly when its reader goes away', () => {
    const dir = mkdtempSync(join(tmpdir(), 'vigil-cli-'));
    const bom = join(dir, 'bom.ndjson');
    writeFileSync(bom, '\ufeff{"asset":"web-1","type":"down","ts":"2026-01-01T00:00:00Z"}\n');
    const r = spawnSync(
      process.execPath,
      [CLI, 'rules', 'test', '--config', 'config/vigil.yaml', '--events', bom, '--format', 'json'],
      { encoding: 'utf8' },
    );
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('asset_down{asset=\\"web-1\\"}');

    const many = join(dir, 'many.ndjson');
    writeFileSync(
      many,
      Array.from({ length: 5000 }, (_, i) =>
        JSON.stringify({ asset: `a${i}`, type: 'down', ts: '2026-01-01T00:00:00Z' }),
      ).join('\n'),
    );
    const piped = spawnSync(
      'bash',
      [
        '-c',
        `set -o pipefail; "${process.execPath}" "${CLI}" rules test --config config/vigil.yaml --events "${many}" | head -1`,
      ],
      { encoding: 'utf8' },
    );
    expect(piped.stdout.split('\n')[0]).toMatch(/^time\s+change/);
    expect(piped.stderr).toBe('');
    expect(piped.status).toBe(0);
  });
});
