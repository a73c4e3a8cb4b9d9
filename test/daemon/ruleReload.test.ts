import { mkdirSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { IncidentChange } from '../../src/model/incident.ts';
import { correlatingConfig, startDaemon, type RunningDaemon } from '../support/daemon.ts';
import { readNdjson } from '../support/ndjson.ts';
import { waitFor } from '../support/waitFor.ts';

/** Revision `n` of the config: one pair rule named after it, so the rules in force are visible. */
const config = (n: number) =>
  correlatingConfig(`
  tick_interval: 50ms
  defaults: { group_wait: 0s, reopen_window: 0s }
  rules:
    - { kind: pair, name: link_r${n}, group_by: [asset] }
`);

let daemon: RunningDaemon | undefined;
afterEach(async () => {
  await daemon?.stop('SIGKILL');
  daemon = undefined;
});

function reloadedRules(d: RunningDaemon): string[][] {
  const out: string[][] = [];
  for (const line of d.logs) {
    const rec = JSON.parse(line) as { msg?: string; rules?: string[] };
    if (rec.msg === 'correlation rules reloaded') out.push(rec.rules ?? []);
  }
  return out;
}

/** Waits until revision `n` is in force: logged as reloaded, and a down event opens an incident of its rule. */
async function expectRevision(d: RunningDaemon, n: number): Promise<void> {
  await waitFor(
    () => reloadedRules(d).some((rules) => rules.includes(`link_r${n}`)),
    `rules of revision ${n} to be reloaded`,
  );
  const res = await fetch(d.url('/v1/events'), {
    method: 'POST',
    body: JSON.stringify([{ asset: `sw-${n}`, type: 'down' }]),
    headers: { 'content-type': 'application/json' },
  });
  expect(await res.json()).toEqual({ accepted: 1, rejected: [] });
  const key = `link_r${n}{asset="sw-${n}"}`;
  await waitFor(
    () =>
      readNdjson<IncidentChange>(join(d.dataDir, 'incidents.ndjson')).some(
        (c) => c.kind === 'opened' && c.incident.key === key,
      ),
    `${key} to open`,
  );
}

describe('vigil run: rule reload from a watched config file', () => {
  it('keeps reloading after saves that rename a new file over the config', async () => {
    daemon = await startDaemon(config(1));
    const file = join(daemon.dataDir, 'vigil.yaml');
    for (const n of [2, 3]) {
      // How editors, `sed -i` and Ansible save: a new inode renamed over the old name.
      writeFileSync(`${file}.tmp`, config(n));
      renameSync(`${file}.tmp`, file);
      await expectRevision(daemon, n);
    }
    expect(reloadedRules(daemon)).toEqual([['link_r2'], ['link_r3']]);
  });

  it('keeps reloading a config mounted from a ConfigMap, whose updates swap a ..data symlink', async () => {
    // The kubelet's layout: the file links through `..data`, which links to a timestamped directory.
    const mount = (dataDir: string) => join(dataDir, 'config');
    const publish = (dataDir: string, n: number) => {
      const dir = `..2026_12_03_0${n}`;
      mkdirSync(join(mount(dataDir), dir), { recursive: true });
      writeFileSync(join(mount(dataDir), dir, 'vigil.yaml'), config(n));
      symlinkSync(dir, join(mount(dataDir), '..data_tmp'));
      renameSync(join(mount(dataDir), '..data_tmp'), join(mount(dataDir), '..data'));
      if (n > 1) rmSync(join(mount(dataDir), `..2026_12_03_0${n - 1}`), { recursive: true });
    };
    daemon = await startDaemon(config(1), {
      writeConfig: (dataDir) => {
        publish(dataDir, 1);
        symlinkSync(join('..data', 'vigil.yaml'), join(mount(dataDir), 'vigil.yaml'));
        return join(mount(dataDir), 'vigil.yaml');
      },
    });
    for (const n of [2, 3]) {
      publish(daemon.dataDir, n);
      await expectRevision(daemon, n);
    }
    expect(reloadedRules(daemon)).toEqual([['link_r2'], ['link_r3']]);
  });
});
