import { afterEach, describe, expect, it } from 'vitest';
import { createRedisClient, runScript, type RedisClient } from '../../src/state/redisConnection.ts';
import { freshPrefix, redisAndClients, stateConfig } from './redisHelpers.ts';

const clients: RedisClient[] = [];
afterEach(() => {
  for (const c of clients.splice(0)) c.disconnect();
});

describe("Vigil's Lua scripts on a connection that pipelines what one tick issues", () => {
  const redis = redisAndClients();

  it('run when the first script call shares its tick with a plain command', async () => {
    const client = createRedisClient(stateConfig({ url: redis.server().url }));
    client.on('error', () => undefined);
    clients.push(client);
    await client.connect();
    const prefix = freshPrefix();
    // The plain command opens the tick's pipeline; the script joins the same pipeline.
    const plain = client.get(`${prefix}:nothing`);
    const fence = runScript(client, 'vigilLeaseAcquire', [`${prefix}:lease`, `${prefix}:fence`], ['node-0', 10_000]);
    expect(await plain).toBeNull();
    expect(await fence).toBe(1);
  });
});
