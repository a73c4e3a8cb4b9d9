import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { answersOk, spawnReady } from './readyOnFreePort.ts';

/** A running Debian prometheus-alertmanager, alone (no cluster), on a free loopback port. */
export interface RunningAlertmanager {
  url: string;
  process: ChildProcess;
  stop(): Promise<void>;
}

/**
 * Starts Alertmanager on `configYaml` (its alertmanager.yml) on a free port and waits until it is
 * ready (see spawnReady).
 */
export async function startAlertmanager(configYaml: string): Promise<RunningAlertmanager> {
  const dir = mkdtempSync(join(tmpdir(), 'vigil-am-'));
  writeFileSync(join(dir, 'alertmanager.yml'), configYaml);
  const { port, proc, exited } = await spawnReady(
    (p) =>
      // No cluster: a lone instance would otherwise wait for gossip peers before sending.
      spawn(
        'prometheus-alertmanager',
        [
          `--config.file=${join(dir, 'alertmanager.yml')}`,
          `--storage.path=${dir}`,
          `--web.listen-address=127.0.0.1:${p}`,
          '--cluster.listen-address=',
        ],
        { stdio: 'ignore' },
      ),
    (p) => answersOk(`http://127.0.0.1:${p}/-/ready`),
    'Alertmanager to be ready',
  );
  return {
    url: `http://127.0.0.1:${port}`,
    process: proc,
    stop: async () => {
      proc.kill('SIGKILL');
      await exited;
    },
  };
}
