import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRedisClient } from '../../src/state/redisConnection.ts';
import { RedisStateStore } from '../../src/state/redisStateStore.ts';
import { startRedis, startRedisSentinel, waitFor, type RedisSentinel, type RedisServer } from '../support/redis.ts';
import { freshPrefix, stateConfig } from './redisHelpers.ts';

describe('RedisStateStore through Redis Sentinel', () => {
  let master: RedisServer;
  let sentinel: RedisSentinel;
  beforeAll(async () => {
    master = await startRedis();
    sentinel = await startRedisSentinel(master, 'vigil-master');
  });
  afterAll(async () => {
    await sentinel?.stop();
    await master?.stop();
  });

  it('finds the master through the sentinel and shares state through it', async () => {
    const prefix = freshPrefix();
    const open = (writer: string) =>
      new RedisStateStore({
        client: createRedisClient(stateConfig({ prefix, sentinel: { name: 'vigil-master', nodes: [sentinel.node] } })),
        prefix,
        writer,
        flushIntervalMs: 60_000,
      });
    const [a, b] = [open('agent-a'), open('agent-b')];
    await Promise.all([a.start(), b.start()]);
    expect(a.connected && b.connected).toBe(true);
    const exp = Date.now() + 3_600_000;
    a.addCount('c:errors{svc="x"}', 1, 2, exp);
    b.addCount('c:errors{svc="x"}', 1, 3, exp);
    await Promise.all([a.flush(), b.flush()]);
    await waitFor(
      () => a.sumCounts('c:errors{svc="x"}', 1, 1) === 5 && b.sumCounts('c:errors{svc="x"}', 1, 1) === 5,
      'agents to converge',
    );
    await Promise.all([a.close(), b.close()]);
  });
});
