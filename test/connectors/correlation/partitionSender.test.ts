import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { PartitionSender } from '../../../src/connectors/correlation/partitionOwner.ts';
import { newEvent, type VigilEvent } from '../../../src/model/event.ts';
import { eventsToRows } from '../../../src/model/eventRows.ts';
import { createRedisClient } from '../../../src/state/redisConnection.ts';
import { RedisKeys } from '../../../src/state/redisKeys.ts';
import { PartitionOwnership } from '../../../src/state/redisPartitions.ts';
import { attachReplica, startRedis, type RedisServer } from '../../support/redis.ts';
import { waitFor } from '../../support/waitFor.ts';
import { freshPrefix, stateConfig } from '../../state/redisHelpers.ts';

// An agent's sends on partitions (src/connectors/correlation/partitionOwner.ts's PartitionSender)
// to a master with one replica, both real redis-servers: answered once the replica has them.

describe('the sends of an agent on partitions, to a master with a replica', () => {
  const servers: RedisServer[] = [];
  const clients: { disconnect(): void }[] = [];
  afterEach(async () => {
    for (const c of clients.splice(0)) c.disconnect();
    await Promise.all(servers.splice(0).map((s) => s.stop()));
  });

  it('resolve once the replica has them; left behind by a replica that stops answering, they wait again once it catches up', async () => {
    const master = await startRedis();
    const replica = await startRedis(['--enable-debug-command', 'yes']);
    servers.push(master, replica);
    const toReplica = new Redis(replica.url);
    const toMaster = new Redis(master.url);
    clients.push(toReplica, toMaster);
    await attachReplica(master, replica);
    const client = createRedisClient(stateConfig({ url: master.url }));
    clients.push(client);
    await client.connect();
    const keys = new RedisKeys(freshPrefix()).partitionKeys();
    const ownership = new PartitionOwnership({ client, table: keys.table, agent: 'a', partitions: 2, termMs: 10_000 });
    const sender = new PartitionSender({
      ownership,
      keys: { stream: (p) => keys.held(`events:${p}`), checkpoint: (p) => keys.held(`checkpoint:${p}`) },
      partitionOf: () => 0,
      encode: (events) => eventsToRows(events),
      // Long enough for a replica that is answering to answer on a busy machine (the CI's two cores
      // running other files' servers beside it): at 100 ms, its first two sends were once kept.
      replicaWaitMs: 2_000,
    });
    let n = 0;
    const send = () => {
      const e: VigilEvent = newEvent({ source: 'test', title: `e${n}`, timeUnixNano: BigInt(++n) * 1_000_000n });
      return sender.send([e], n);
    };

    await send();
    await send();
    // The replica had each before it resolved: nothing kept to send again after a failover.
    expect(sender.unacknowledged).toBe(0);

    // The replica stops answering for three seconds: the send waits its 2 s, then resolves, kept.
    const asleep = toReplica.debug('SLEEP', '3');
    await send();
    expect(sender.unacknowledged).toBe(1);
    // Sends that follow do not wait for it (they would each wait out the 2 s): all kept.
    const waits = async () => Number(/cmdstat_wait:calls=(\d+)/.exec(await toMaster.info('commandstats'))?.[1] ?? 0);
    const waitsBefore = await waits();
    await send();
    await send();
    expect(sender.unacknowledged).toBe(3);
    expect(await waits()).toBe(waitsBefore);
    await asleep;
    // Other writers go on meanwhile (other agents, checkpoints), so no acknowledgement ever covers
    // the master's latest offset: once the replica has caught up with where the master was when
    // the wait gave up, a send waits for it again, and nothing is kept any more.
    const others = setInterval(() => void toMaster.set('elsewhere', String(Date.now())).catch(() => undefined), 1);
    try {
      await waitFor(
        async () => {
          await send();
          return sender.unacknowledged === 0;
        },
        'a send answered once the replica had it, after it caught up',
        10_000,
      );
    } finally {
      clearInterval(others);
    }
  });
});
