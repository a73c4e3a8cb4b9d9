import { afterAll, describe, expect, it } from 'vitest';
import { FakeGlpi } from '../support/fakes/glpi.ts';
import { startFaultProxy, type FaultProxy } from '../support/faultProxy.ts';
import { startRedis, type RedisServer } from '../support/redis.ts';
import { aloneOnce, expectTheSame, linkStates, runStream, stories } from './equivalenceStream.ts';

/**
 * Three agents sharing the work by partitions against one agent alone, fed the seeded real-time
 * stream (test/state/equivalenceStream.ts), while Redis goes away for 20 s mid-stream and comes
 * back: they must tell the same incidents, counts, notifications and tickets.
 */
describe('three agents on partitions and one agent alone, Redis gone for 20 s mid-stream', () => {
  /** How Redis goes away for 20 s and comes back, for the agents on partitions. */
  interface Outage {
    outage: string;
    down(server: RedisServer, link: FaultProxy): void | Promise<void>;
    up(server: RedisServer, link: FaultProxy): void | Promise<void>;
  }
  const OUTAGES: Outage[] = [
    { outage: 'restarted after 20 s with its data (AOF)', down: (r) => r.kill(), up: (r) => r.restart() },
    {
      outage: 'cut off for 20 s, running on (every connection reset)',
      down: (_, link) => link.cut(true),
      up: (_, link) => link.cut(false),
    },
  ];

  const alone = aloneOnce();
  afterAll(() => alone.close());

  it.each(OUTAGES)(
    'tell the same on partitions when Redis is $outage mid-stream',
    async ({ down, up }) => {
      const persisted = await startRedis(['--appendonly', 'yes', '--appendfsync', 'always']);
      // Reached through a relay, which the cut resets.
      const link = await startFaultProxy(persisted);
      const glpiThree = await new FakeGlpi().listen();
      let phase = 0;
      let back: Promise<void> | undefined;
      try {
        const { one, glpi: glpiOne } = await alone.get(persisted);
        const three = await runStream(
          // The agents reach Redis through the relay.
          { ...persisted, url: `redis://127.0.0.1:${link.port}` },
          3,
          glpiThree,
          async (offsetMs) => {
            if (phase !== 0 || offsetMs < 6000) return;
            phase = 1;
            await down(persisted, link);
            // Not on the stream's clock: its sends wait for Redis meanwhile (their senders retry).
            back = new Promise((r) => setTimeout(r, 20_000)).then(async () => {
              await up(persisted, link);
              phase = 2;
            });
          },
          linkStates(stories(one.changes, one.base)),
          'partitions',
        );
        await back;
        expect(phase).toBe(2);
        // The senders waited out the outage and sent the rest late, dated as they were: each owner
        // took every agent's events in time order, so nothing came late or was lost to it.
        expectTheSame(one, three, glpiOne, glpiThree);
      } finally {
        await back;
        await link.close();
        await persisted.stop();
        await glpiThree.close();
      }
    },
    240_000,
  );
});
