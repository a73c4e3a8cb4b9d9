import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ASSETS, buildConsole } from '../../src/api/console/build.ts';

describe('the console bundle', () => {
  it('is what its sources build: the committed files are byte for byte a fresh build, with no path of the building machine', async () => {
    const out = mkdtempSync(join(tmpdir(), 'vigil-console-build-'));
    await buildConsole(out);
    const committed = readdirSync(ASSETS).sort();
    expect(committed).toEqual(['app.css', 'app.js', 'index.html']);
    expect(readdirSync(out).sort()).toEqual(committed);
    for (const name of committed) {
      const fresh = readFileSync(join(out, name));
      expect(
        fresh.equals(readFileSync(join(ASSETS, name))),
        `${name} differs from a fresh build: run npm run build:console`,
      ).toBe(true);
      expect(fresh.toString()).not.toContain(process.cwd());
      expect(fresh.toString()).not.toContain(tmpdir());
    }
  });
});
