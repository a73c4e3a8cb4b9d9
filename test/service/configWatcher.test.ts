import { mkdtempSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ConfigWatcher } from '../../src/service/configWatcher.ts';
import { waitFor } from '../support/waitFor.ts';

const watchers: ConfigWatcher[] = [];
afterEach(() => {
  for (const w of watchers.splice(0)) w.stop();
});

async function watched(text: string) {
  const file = join(mkdtempSync(join(tmpdir(), 'vigil-watch-')), 'vigil.yaml');
  writeFileSync(file, text);
  const changes: [string, string][] = [];
  const errors: Error[] = [];
  const watcher = new ConfigWatcher(file, {
    onChange: (t, why) => void changes.push([t, why]),
    onError: (err) => void errors.push(err),
    settleMs: 20,
  });
  watchers.push(watcher);
  await watcher.start();
  return { file, watcher, changes, errors };
}

describe('ConfigWatcher', () => {
  it('hands over content only when its hash changed, or when forced', async () => {
    const { file, watcher, changes } = await watched('a: 1\n');
    writeFileSync(file, 'a: 1\n');
    await watcher.check();
    expect(changes).toEqual([]);
    await watcher.check('SIGHUP', true);
    expect(changes).toEqual([['a: 1\n', 'SIGHUP']]);
    writeFileSync(file, 'a: 2\n');
    await watcher.check();
    await watcher.check();
    expect(changes).toEqual([
      ['a: 1\n', 'SIGHUP'],
      ['a: 2\n', 'file changed'],
    ]);
  });

  it('sees every save that renames a new file over the watched one', async () => {
    const { file, changes, errors } = await watched('a: 1\n');
    for (const n of [2, 3, 4]) {
      writeFileSync(`${file}.tmp`, `a: ${n}\n`);
      renameSync(`${file}.tmp`, file);
      await waitFor(() => changes.some(([t]) => t === `a: ${n}\n`), `save ${n} to be seen`);
    }
    expect(changes.map(([t]) => t)).toEqual(['a: 2\n', 'a: 3\n', 'a: 4\n']);
    expect(errors).toEqual([]);
  });

  it('keeps handing over the content after a change fails to apply', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'vigil-watch-')), 'vigil.yaml');
    writeFileSync(file, 'a: 1\n');
    const seen: string[] = [];
    const errors: Error[] = [];
    const watcher = new ConfigWatcher(file, {
      onChange: (t) => {
        seen.push(t);
        if (t === 'broken') throw new Error('cannot apply');
      },
      onError: (err) => void errors.push(err),
    });
    watchers.push(watcher);
    await watcher.start();
    writeFileSync(file, 'broken');
    await watcher.check();
    writeFileSync(file, 'a: 2\n');
    await watcher.check();
    expect(seen).toEqual(['broken', 'a: 2\n']);
    expect(errors.map((e) => e.message)).toEqual(['cannot apply']);
  });
});
