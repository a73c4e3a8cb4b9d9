import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRedisClient } from '../../src/state/redisConnection.ts';
import { RedisStateStore } from '../../src/state/redisStateStore.ts';
import { startRedisTls, waitFor, type RedisTlsServer } from '../support/redis.ts';
import { freshPrefix, stateConfig } from './redisHelpers.ts';

describe('RedisStateStore over TLS with an ACL user', () => {
  let redis: RedisTlsServer;
  beforeAll(async () => {
    redis = await startRedisTls();
  });
  afterAll(async () => {
    await redis?.stop();
  });

  const open = (prefix: string, writer: string, auth: { username: string; password: string }) =>
    new RedisStateStore({
      client: createRedisClient(stateConfig({ prefix, url: redis.url, tls: { ca_file: redis.caFile }, ...auth })),
      prefix,
      writer,
      flushIntervalMs: 60_000,
    });

  it('verifies the server against the configured CA, authenticates and shares state', async () => {
    const prefix = freshPrefix();
    const [a, b] = [
      open(prefix, 'agent-a', { username: 'vigil', password: 's3cret' }),
      open(prefix, 'agent-b', { username: 'vigil', password: 's3cret' }),
    ];
    await Promise.all([a.start(), b.start()]);
    expect(a.connected && b.connected).toBe(true);
    a.write('i:errors{svc="x"}', 'open', 1, Date.now() + 60_000);
    await a.flush();
    await waitFor(() => b.read('i:errors{svc="x"}')?.value === 'open', "b to see a's write");
    await Promise.all([a.close(), b.close()]);
  });

  it('stays on local state, without crashing, when the password is wrong', async () => {
    const store = open(freshPrefix(), 'agent-a', { username: 'vigil', password: 'wrong' });
    await store.start();
    expect(store.connected).toBe(false);
    expect(store.addCount('c:errors{svc="x"}', 1, 1, Date.now() + 60_000)).toBe(1);
    await store.close();
  });
});
