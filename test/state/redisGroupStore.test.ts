import { describe, expect, it } from 'vitest';
import { joinGroup, type GroupState } from '../../src/exporters/tickets/notificationGroups.ts';
import type { RouteGrouping } from '../../src/exporters/tickets/routeGrouping.ts';
import { RedisGroupStore } from '../../src/state/redisGroupStore.ts';
import { RedisKeys } from '../../src/state/redisKeys.ts';
import { assetDown } from '../exporters/incidentFixtures.ts';
import { freshPrefix, redisAndClients } from './redisHelpers.ts';

const BY_SITE: RouteGrouping = {
  routeKey: '{}',
  by: ['site'],
  waitMs: 30_000,
  intervalMs: 300_000,
  repeatMs: 14_400_000,
};
const T = 1_800_000_000_000;

/** The group of `site` after its assets went down, in that order. */
function groupOf(site: string, assets: string[]): GroupState {
  let g: GroupState | undefined;
  for (const a of assets) g = joinGroup(g, BY_SITE, assetDown(a, site).next('opened'), T);
  return g!;
}

describe("an exporter's notification groups in Redis", () => {
  const { client } = redisAndClients();

  /** Two agents' views of one exporter's groups, and a client that inspects the keys. */
  async function agents() {
    const keys = new RedisKeys(freshPrefix());
    const made = [];
    for (const owner of ['node-a', 'node-b']) {
      const store = new RedisGroupStore({ client: await client(), keys, exporter: 'glpi' });
      made.push({ store, lease: store.lease(owner, 60_000) });
    }
    const [leaseKey] = keys.groupKeys('glpi');
    /** The term ends as a PX expiry ends it: the key is gone. */
    const expire = async () => void (await (await client()).del(leaseKey));
    return { a: made[0]!, b: made[1]!, expire };
  }

  const term = (lease: { owner: string; fence: number | undefined }) => ({ owner: lease.owner, fence: lease.fence! });

  it('keeps what the holder writes, members in the order they joined, and forgets a group written as undefined', async () => {
    const { a, b } = await agents();
    expect(await a.lease.acquire()).toBeDefined();
    const paris = groupOf('paris', ['p3', 'p1', 'p2']);
    const lyon = groupOf('lyon', ['l1']);
    expect(
      await a.store.write(
        term(a.lease),
        new Map([
          [paris.key, paris],
          [lyon.key, lyon],
        ]),
      ),
    ).toBe(true);

    const loaded = await b.store.load();
    expect(loaded).toEqual(
      new Map([
        [paris.key, paris],
        [lyon.key, lyon],
      ]),
    );
    expect(Object.keys(loaded.get(paris.key)!.members)).toEqual(Object.keys(paris.members));

    expect(await a.store.write(term(a.lease), new Map([[lyon.key, undefined]]))).toBe(true);
    expect([...(await b.store.load()).keys()]).toEqual([paris.key]);
  });

  it('refuses, as a whole, the writes of a runner whose term ran out and went to another agent', async () => {
    const { a, b, expire } = await agents();
    await a.lease.acquire();
    const paris = groupOf('paris', ['p1']);
    expect(await a.store.write(term(a.lease), new Map([[paris.key, paris]]))).toBe(true);
    const stale = term(a.lease);

    await expire();
    expect(await b.lease.acquire()).toBeGreaterThan(stale.fence);
    const carriedOn = groupOf('paris', ['p1', 'p2']);
    expect(await b.store.write(term(b.lease), new Map([[paris.key, carriedOn]]))).toBe(true);

    // a, stalled, still believes it runs the groups: neither its group nor its new one lands.
    const lyon = groupOf('lyon', ['l1']);
    expect(
      await a.store.write(
        stale,
        new Map([
          [paris.key, paris],
          [lyon.key, lyon],
        ]),
      ),
    ).toBe(false);
    expect(await a.store.load()).toEqual(new Map([[paris.key, carriedOn]]));
  });

  it("refuses a write of the owner's own earlier term, and of an agent that never held the lease", async () => {
    const { a, b, expire } = await agents();
    await a.lease.acquire();
    const earlier = term(a.lease);
    await expire();
    await a.lease.acquire();
    expect(a.lease.fence).toBeGreaterThan(earlier.fence);

    const paris = groupOf('paris', ['p1']);
    expect(await a.store.write(earlier, new Map([[paris.key, paris]]))).toBe(false);
    expect(await b.store.write({ owner: b.lease.owner, fence: a.lease.fence! }, new Map([[paris.key, paris]]))).toBe(
      false,
    );
    expect(await a.store.load()).toEqual(new Map());
    expect(await a.store.write(term(a.lease), new Map([[paris.key, paris]]))).toBe(true);
    expect(await b.store.load()).toEqual(new Map([[paris.key, paris]]));
  });
});
