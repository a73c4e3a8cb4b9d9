import { afterEach } from 'vitest';
import { startDaemon, type RunningDaemon } from './daemon.ts';

/** The agent ids of a three-agent deployment, as a DaemonSet's pods would be named. */
export const THREE_AGENTS = ['node-a', 'node-b', 'node-c'] as const;

export interface RedisAgents {
  /**
   * Starts one daemon per agent id, all at once as a DaemonSet's pods start, each with the
   * configuration `config` makes for its id (the same Redis and prefix for all of them).
   */
  start(config: (agent: string) => string, agents?: readonly string[]): Promise<RunningDaemon[]>;
}

/**
 * Agents run as real daemons sharing a Redis. Called in a describe block: after each test its
 * agents are killed (-9), released or not, so the next one starts on a Redis no agent writes to.
 */
export function redisAgents(): RedisAgents {
  const running: RunningDaemon[] = [];
  afterEach(async () => {
    await Promise.all(running.splice(0).map((d) => d.stop('SIGKILL')));
  });
  return {
    async start(config, agents = THREE_AGENTS) {
      return Promise.all(
        agents.map(async (agent) => {
          const d = await startDaemon(config(agent));
          running.push(d);
          return d;
        }),
      );
    },
  };
}
