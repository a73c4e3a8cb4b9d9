import type { ChildProcess } from 'node:child_process';
import { freePort } from './redis.ts';
import { waitFor } from './waitFor.ts';

export interface ReadyProcess {
  port: number;
  proc: ChildProcess;
  /** Resolves once the process has exited. */
  exited: Promise<void>;
}

/**
 * A process started by `spawnOn` on a port freePort found (other ports it needs, it finds itself
 * at each start), once `ready(port)` holds. The port is
 * found by binding a socket first, and another process could take it before this one binds it:
 * a start whose process exits before it is ready is tried again on a new port, five times at most.
 */
export async function spawnReady(
  spawnOn: (port: number) => ChildProcess | Promise<ChildProcess>,
  ready: (port: number) => Promise<boolean>,
  what: string,
  timeoutMs?: number,
): Promise<ReadyProcess> {
  for (let attempt = 0; ; attempt++) {
    const port = await freePort();
    const proc = await spawnOn(port);
    let gone = false;
    const exited = new Promise<void>((resolve) =>
      proc.once('exit', () => {
        gone = true;
        resolve();
      }),
    );
    try {
      await waitFor(
        async () => {
          if (gone) throw new Error(`${what}: the process exited before it was ready on port ${port}`);
          return ready(port);
        },
        what,
        timeoutMs,
      );
      return { port, proc, exited };
    } catch (err) {
      proc.kill('SIGKILL');
      await exited;
      if (!gone || attempt >= 4) throw err;
    }
  }
}

/** Whether `url` answers 200. */
export async function answersOk(url: string): Promise<boolean> {
  return (await fetch(url).catch(() => undefined))?.status === 200;
}
