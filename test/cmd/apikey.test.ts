import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { AuthenticatorExtension } from '../../src/extensions/auth/authenticator.ts';
import { createLogger } from '../../src/telemetry/logger.ts';
import { SelfMetrics } from '../../src/telemetry/selfMetrics.ts';
import { runCli } from '../support/daemon.ts';

const CONFIG = `
extensions:
  authenticator:
    api_keys: {}
receivers:
  json: { endpoint: "127.0.0.1:0" }
exporters:
  debug: {}
service:
  extensions: [authenticator]
  pipelines:
    logs: { receivers: [json], exporters: [debug] }
`;

function setup(config = CONFIG): { dir: string; config: string; args: string[] } {
  const dir = mkdtempSync(join(tmpdir(), 'vigil-apikey-'));
  const file = join(dir, 'vigil.yaml');
  writeFileSync(file, config);
  return { dir, config: file, args: ['--config', file, '--data-dir', dir] };
}

// Each case spawns the CLI as a user would, a second or more each on a loaded 2-core machine.
describe('vigil apikey', () => {
  it(
    'creates a key shown once and stored as a hash, lists it, and revokes it so the authenticator refuses it',
    { timeout: 90_000 },
    async () => {
      const { dir, args } = setup();
      const created = await runCli([
        'apikey',
        'create',
        '--name',
        'ci-deploy',
        '--role',
        'operator',
        '--tenant',
        'team-a',
        ...args,
      ]);
      expect(created.code, created.stderr).toBe(0);
      const key = created.stdout.trim();
      expect(key).toMatch(/^vgk_[A-Za-z0-9_-]{43}$/);
      expect(created.stderr).toMatch(
        /API key "ci-deploy" \(operator, tenant team-a\) stored as a hash in .*apikeys\.json; this is the only time it is shown/,
      );

      const file = join(dir, 'apikeys.json');
      const stored = readFileSync(file, 'utf8');
      expect(stored).not.toContain(key);
      expect(stored).not.toContain(key.slice(8, 30));
      expect(statSync(file).mode & 0o777).toBe(0o600);

      const auth = new AuthenticatorExtension(
        { id: 'authenticator', logger: createLogger('silent'), metrics: new SelfMetrics(), dataDir: dir },
        { api_keys: {} },
      );
      await auth.start();
      expect(await auth.authenticate(`Bearer ${key}`)).toEqual({
        subject: 'ci-deploy',
        role: 'operator',
        tenant: 'team-a',
        method: 'apikey',
      });

      const list = await runCli(['apikey', 'list', ...args]);
      expect(list.code).toBe(0);
      const [header, row] = list.stdout.trim().split('\n');
      expect(header).toMatch(/^name\s+role\s+tenant\s+key\s+created\s+revoked$/);
      expect(row).toMatch(
        new RegExp(`^ci-deploy\\s+operator\\s+team-a\\s+${key.slice(0, 8)}…\\s+\\d{4}-\\d\\d-\\d\\dT\\S+Z\\s+-$`),
      );

      const twice = await runCli(['apikey', 'create', '--name', 'ci-deploy', '--role', 'viewer', ...args]);
      expect([twice.code, twice.stderr]).toEqual([
        1,
        'vigil apikey: an API key named "ci-deploy" exists; revoke it first or choose another name\n',
      ]);

      const revoked = await runCli(['apikey', 'revoke', '--name', 'ci-deploy', ...args]);
      expect([revoked.code, revoked.stdout]).toEqual([
        0,
        'API key "ci-deploy" revoked; a running daemon refuses it from now on\n',
      ]);
      await expect(auth.authenticate(`Bearer ${key}`)).rejects.toMatchObject({ reason: 'revoked_api_key' });
      expect((await runCli(['apikey', 'list', ...args])).stdout).toMatch(
        /ci-deploy\s+operator\s+team-a\s+\S+\s+\S+\s+\d{4}-\S+Z\n$/,
      );

      const again = await runCli(['apikey', 'revoke', '--name', 'ci-deploy', ...args]);
      expect([again.code, again.stderr]).toEqual([1, 'vigil apikey: API key "ci-deploy" is already revoked\n']);
      // The name of a revoked key is free again: a rotation keeps the name.
      const rotated = await runCli(['apikey', 'create', '--name', 'ci-deploy', '--role', 'viewer', ...args]);
      expect(rotated.code).toBe(0);
      expect(await auth.authenticate(`Bearer ${rotated.stdout.trim()}`)).toMatchObject({
        subject: 'ci-deploy',
        role: 'viewer',
      });
    },
  );

  it(
    'keeps every key when several are created at once, and says so when the keys file is damaged',
    { timeout: 90_000 },
    async () => {
      const { dir, args } = setup();
      const names = ['a', 'b', 'c', 'd', 'e'];
      const runs = await Promise.all(
        names.map((n) => runCli(['apikey', 'create', '--name', n, '--role', 'viewer', ...args])),
      );
      expect(runs.map((r) => r.code)).toEqual(names.map(() => 0));
      const listed = (await runCli(['apikey', 'list', ...args])).stdout
        .trim()
        .split('\n')
        .slice(1)
        .map((l) => l.split(/\s+/)[0]);
      expect(listed.sort()).toEqual(names);
      writeFileSync(join(dir, 'apikeys.json'), '{"keys": [{"name": "x"}]}');
      const damaged = await runCli(['apikey', 'list', ...args]);
      expect([damaged.code, damaged.stderr]).toEqual([
        1,
        `vigil apikey: ${join(dir, 'apikeys.json')}: keys[0] is not a valid entry (name, role, hash); it is written by "vigil apikey" (restore it from a backup, or move it away and create the keys again)\n`,
      ]);
    },
  );

  it('answers --help and says what is wrong with a call, without a stack trace', { timeout: 90_000 }, async () => {
    const { args } = setup();
    const help = await runCli(['apikey', 'create', '--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^Usage: vigil apikey create --name NAME --role viewer\|operator\|admin/);
    const cases: [string[], number, string][] = [
      [['apikey'], 2, 'vigil apikey: needs "create", "list" or "revoke" (see vigil apikey --help)\n'],
      [
        ['apikey', 'create', '--role', 'admin', ...args],
        2,
        'vigil apikey: create needs --name NAME (see vigil apikey --help)\n',
      ],
      [
        ['apikey', 'create', '--name', 'x', '--role', 'root', ...args],
        2,
        'vigil apikey: --role "root": use viewer, operator or admin (see vigil apikey --help)\n',
      ],
      [
        ['apikey', 'create', '--name', 'a b', '--role', 'admin', ...args],
        2,
        'vigil apikey: --name "a b": use 1 to 64 letters, digits and . _ - @, starting with a letter or digit (see vigil apikey --help)\n',
      ],
      [
        ['apikey', 'revoke', '--name', 'ghost', ...args],
        1,
        expect.stringMatching(
          /^vigil apikey: no API key named "ghost" in .*apikeys\.json \(see vigil apikey list\)\n$/,
        ) as unknown as string,
      ],
    ];
    for (const [argv, code, stderr] of cases) {
      const r = await runCli(argv);
      expect([r.code, r.stderr], argv.join(' ')).toEqual([code, stderr]);
    }
    const none = setup(
      CONFIG.replace(/extensions:\n {2}authenticator:\n {4}api_keys: \{\}\n/, '').replace(
        'extensions: [authenticator]',
        'extensions: []',
      ),
    );
    const r = await runCli(['apikey', 'list', ...none.args]);
    expect([r.code, r.stderr]).toEqual([
      1,
      `vigil apikey: ${none.config}: no authenticator extension takes API keys; add one with "api_keys: {}" (see docs/security.md)\n`,
    ]);
  });
});
