import { Redis, type Cluster } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ClusterReplicaWaits } from '../../src/state/clusterReplicaWaits.ts';
import { keySlot } from '../../src/state/keySlot.ts';
import { createRedisClient } from '../../src/state/redisConnection.ts';
import { startRedisCluster, waitFor, type RedisCluster } from '../support/redis.ts';
import { freshPrefix, stateConfig } from './redisHelpers.ts';

/** A real Cluster of three masters with a replica each, and a client of it, for one describe's tests. */
function clusterWithClient(): { cluster: RedisCluster; client: Cluster } {
  const on = {} as { cluster: RedisCluster; client: Cluster };
  beforeAll(async () => {
    on.cluster = await startRedisCluster(3, { replicas: 1 });
    on.client = createRedisClient(
      stateConfig({ prefix: freshPrefix(), cluster: { nodes: on.cluster.nodes } }),
    ) as Cluster;
    // A master killed by a test: the client's own reconnects say so, the test's assertions tell.
    on.client.on('error', () => undefined);
    await on.client.connect();
  }, 60_000);
  afterAll(async () => {
    on.client?.disconnect();
    await on.cluster?.stop();
  });
  return on;
}

describe('waiting for the replicas of a Cluster', () => {
  const on = clusterWithClient();

  it('waits on the master of each key, leaves behind one whose replica stopped, and waits on it again once it caught up', async () => {
    const { cluster, client } = on;
    // A healthy replica answers at once; on a loaded machine (CI runs three test files at a time)
    // 300 ms was once too short for the first wait. A stopped replica costs the timeout once.
    const waits = new ClusterReplicaWaits(client, 2_000);
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

describe('waiting for the replicas of a Cluster whose master goes down', () => {
  const on = clusterWithClient();

  it('tells the keys whose master went down during the wait from those whose replica has them', async () => {
    const { cluster, client } = on;
    // Far longer than the test: the answer comes from the master's loss, not from the wait's end.
    const waits = new ClusterReplicaWaits(client, 60_000);
    const masterOf = (key: string) => client.slots[keySlot(key)]![0]!;
    const lost = 'a{one}';
    const kept = ['b{two}', 'c{three}', 'd{four}', 'e{five}'].find((k) => masterOf(k) !== masterOf(lost))!;
    await client.set(kept, '1');
    await cluster.stallReplicaOf(lost);
    await client.set(lost, '1');
    const answer = waits.waitFor([lost, kept]);
    // The WAIT is on the master (its replica stopped): the master is then killed.
    const [host, port] = masterOf(lost).split(':');
    const watcher = new Redis({ host, port: Number(port) });
    try {
      await waitFor(
        async () => String(await watcher.client('LIST')).includes('cmd=wait'),
        "the WAIT on the stalled replica's master",
      );
    } finally {
      watcher.disconnect();
    }
    await cluster.killMasterOf(lost);
    expect(await answer).toEqual({ replicated: false, unreached: [lost] });
  }, 90_000);
});
