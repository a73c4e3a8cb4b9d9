import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './redis.ts';
import { waitFor } from './waitFor.ts';

/** A running Debian prometheus-alertmanager, alone (no cluster), on a free loopback port. */
export interface RunningAlertmanager {
  url: string;
  process: ChildProcess;
  stop(): Promise<void>;
}

/** Starts Alertmanager on `configYaml` (its alertmanager.yml) and waits until it is ready. */
export async function startAlertmanager(configYaml: string): Promise<RunningAlertmanager> {
  const dir = mkdtempSync(join(tmpdir(), 'vigil-am-'));
  writeFileSync(join(dir, 'alertmanager.yml'), configYaml);
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  // No cluster: a lone instance would otherwise wait for gossip peers before sending.
  const am = spawn(
    'prometheus-alertmanager',
    [
      `--config.file=${join(dir, 'alertmanager.yml')}`,
      `--storage.path=${dir}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--cluster.listen-address=',
    ],
    { stdio: 'ignore' },
  );
  const exited = new Promise<void>((resolve) => am.once('exit', () => resolve()));
  await waitFor(
    async () => (await fetch(`${url}/-/ready`).catch(() => undefined))?.status === 200,
    'Alertmanager to be ready',
  );
  return {
    url,
    process: am,
    stop: async () => {
      am.kill('SIGKILL');
      await exited;
    },
  };
}
