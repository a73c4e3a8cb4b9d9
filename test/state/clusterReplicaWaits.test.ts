import type { Cluster } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ClusterReplicaWaits } from '../../src/state/clusterReplicaWaits.ts';
import { keySlot } from '../../src/state/keySlot.ts';
import { createRedisClient } from '../../src/state/redisConnection.ts';
import { startRedisCluster, waitFor, type RedisCluster } from '../support/redis.ts';
import { freshPrefix, stateConfig } from './redisHelpers.ts';

describe('waiting for the replicas of a Cluster', () => {
  let cluster: RedisCluster;
  let client: Cluster;
  beforeAll(async () => {
    cluster = await startRedisCluster(3, { replicas: 1 });
    client = createRedisClient(stateConfig({ prefix: freshPrefix(), cluster: { nodes: cluster.nodes } })) as Cluster;
    await client.connect();
  }, 60_000);
  afterAll(async () => {
    client?.disconnect();
    await cluster?.stop();
  });

  it('waits on the master of each key, leaves behind one whose replica stopped, and waits on it again once it caught up', async () => {
    const waits = new ClusterReplicaWaits(client, 300);
    const masterOf = (key: string) => client.slots[keySlot(key)]![0];
    const stalledMaster = () => masterOf('a{one}');
    // Keys on three slots: the masters of all three (or of some twice) are waited on.
    const keys = ['a{one}', 'b{two}', 'c{three}'];
    for (const k of keys) await client.set(k, '1');
    expect(await waits.wait(keys)).toBe(true);

    await cluster.stallReplicaOf('a{one}');
    await client.set('a{one}', '2');
    expect(await waits.wait(['a{one}'])).toBe(false);
    // Left behind: the next waits say no without waiting again (no WAIT reaches the master) while the replica is stopped.
    const stalled = client.nodes('master').find((n) => `${n.options.host}:${n.options.port}` === stalledMaster())!;
    const waitsRun = async () => Number(/cmdstat_wait:calls=(\d+)/.exec(await stalled.info('commandstats'))?.[1] ?? 0);
    const before = await waitsRun();
    await client.set('a{one}', '3');
    expect(await waits.wait(['a{one}'])).toBe(false);
    expect(await waits.wait(['a{one}'])).toBe(false);
    expect(await waitsRun()).toBe(before);
    // The other masters' replicas keep up: their keys are still waited for.
    await client.set('b{two}', '2');
    if (masterOf('b{two}') !== stalledMaster()) expect(await waits.wait(['b{two}'])).toBe(true);

    cluster.resumeReplicas();
    await waitFor(
      async () => {
        await client.set('a{one}', String(Date.now()));
        return waits.wait(['a{one}']);
      },
      'the replica caught up, and waited on again',
      30_000,
    );
  }, 60_000);
});
