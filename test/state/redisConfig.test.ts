import { describe, expect, it } from 'vitest';
import { redisStateSchema } from '../../src/state/redisConfig.ts';
import { runCli } from '../support/daemon.ts';

function parse(raw: unknown) {
  const issues: { path: string; message: string }[] = [];
  const value = redisStateSchema.parse(raw, 'correlation.state', issues);
  return { value, issues };
}

describe('correlation.state config', () => {
  it('defaults to the memory store, and to sensible Redis settings when redis is chosen', () => {
    expect(parse(undefined).value).toMatchObject({ store: 'memory' });
    expect(parse({ store: 'redis' }).value).toEqual({
      store: 'redis',
      sharing: 'state',
      partitions: 12,
      checkpoint_interval: 1000,
      replica_wait: 250,
      url: 'redis://127.0.0.1:6379',
      prefix: 'vigil',
      flush_interval: 100,
      ttl_grace: 60_000,
      lease_ttl: 10_000,
      connect_timeout: 5_000,
    });
  });

  it('names the key at fault', () => {
    expect(parse({ store: 'redis', url: 'http://redis:6379' }).issues).toEqual([
      { path: 'correlation.state.url', message: 'must be a redis or rediss URL, got "http://redis:6379"' },
    ]);
    expect(parse({ store: 'redis', prefix: 'a{b}' }).issues[0]!.path).toBe('correlation.state.prefix');
    expect(parse({ store: 'redis', cluster: { nodes: ['r1'] } }).issues).toEqual([
      { path: 'correlation.state.cluster.nodes[0]', message: 'must be host:port; got "r1"' },
    ]);
    expect(
      parse({ store: 'redis', sentinel: { name: 'm', nodes: ['s:26379'] }, cluster: { nodes: ['r:6379'] } }).issues,
    ).toEqual([
      { path: 'correlation.state.cluster', message: 'cannot be set together with sentinel; choose one topology' },
    ]);
  });

  it.each(['redis-daemonset.yaml', 'redis-partitions.yaml'])(
    'accepts the shipped DaemonSet example %s',
    async (file) => {
      const r = await runCli(['validate', '--config', `config/examples/${file}`]);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
    },
  );
});
