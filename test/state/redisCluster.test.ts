import type { Cluster } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRedisClient } from '../../src/state/redisConnection.ts';
import { flushGroup, groupMember, newGroup } from '../../src/exporters/tickets/notificationGroups.ts';
import { RedisKeys } from '../../src/state/redisKeys.ts';
import { keySlot } from '../../src/state/keySlot.ts';
import { ClusterReplicaWaits } from '../../src/state/clusterReplicaWaits.ts';
import { claimOutcomes } from '../../src/state/notificationClaims.ts';
import type { Incident, IncidentChange } from '../../src/model/incident.ts';
import { RedisNotificationGroups } from '../../src/state/redisNotificationGroups.ts';
import { RedisStateStore } from '../../src/state/redisStateStore.ts';
import { UnsentNotifications } from '../../src/state/unsentNotifications.ts';
import { startRedisCluster, waitFor, type RedisCluster } from '../support/redis.ts';
import { assetDown } from '../exporters/incidentFixtures.ts';
import { freshPrefix, stateConfig } from './redisHelpers.ts';

describe('RedisStateStore on Redis Cluster', () => {
  let cluster: RedisCluster;
  beforeAll(async () => {
    cluster = await startRedisCluster(3);
  });
  afterAll(async () => {
    await cluster?.stop();
  });

  it("converges agents whose rules live on different nodes, and gives a late joiner every node's keys", async () => {
    const prefix = freshPrefix();
    const open = (writer: string) =>
      new RedisStateStore({
        client: createRedisClient(stateConfig({ prefix, cluster: { nodes: cluster.nodes } })),
        prefix,
        writer,
        flushIntervalMs: 60_000,
      });
    const [a, b] = [open('agent-a'), open('agent-b')];
    await Promise.all([a.start(), b.start()]);
    expect(a.connected && b.connected).toBe(true);
    const exp = Date.now() + 3_600_000;
    // Twenty rules: their hash tags spread over the three masters.
    const rules = Array.from({ length: 20 }, (_, i) => `rule${i}`);
    for (const r of rules) {
      a.addCount(`c:${r}{svc="x"}`, 1, 2, exp);
      b.addCount(`c:${r}{svc="x"}`, 1, 3, exp);
      b.write(`i:${r}{svc="x"}`, { status: 'open' }, 1, exp);
    }
    await Promise.all([a.flush(), b.flush()]);
    await waitFor(
      () =>
        rules.every(
          (r) =>
            a.sumCounts(`c:${r}{svc="x"}`, 1, 1) === 5 &&
            b.sumCounts(`c:${r}{svc="x"}`, 1, 1) === 5 &&
            a.read(`i:${r}{svc="x"}`) !== undefined,
        ),
      'agents to converge',
    );

    // The rules' hash tags spread their keys over every master.
    const sizes = await Promise.all((a.redis as Cluster).nodes('master').map((n) => n.dbsize()));
    expect(sizes).toHaveLength(3);
    for (const n of sizes) expect(n).toBeGreaterThan(0);

    const late = open('agent-c');
    await late.start();
    for (const r of rules) {
      expect(late.sumCounts(`c:${r}{svc="x"}`, 1, 1)).toBe(5);
      expect(late.read(`i:${r}{svc="x"}`)?.value).toEqual({ status: 'open' });
    }
    await Promise.all([a.close(), b.close(), late.close()]);
  });

  /** Runs `use` with a client of the cluster, connected, and disconnects it after. */
  async function withClient(use: (client: Cluster) => Promise<void>): Promise<void> {
    const client = createRedisClient(
      stateConfig({ prefix: freshPrefix(), cluster: { nodes: cluster.nodes } }),
    ) as Cluster;
    try {
      await client.connect();
      await use(client);
    } finally {
      client.disconnect();
    }
  }

  it("works out each key's hash slot as the cluster does (hash tags, UTF-8)", () =>
    withClient(async (client) => {
      const keys = [
        'foo',
        '123456789',
        'vigil:told:{service_errors{service="orders"}}:abc:opened',
        '{user1000}.following',
        'foo{}{bar}',
        'foo{{bar}}zap',
        'foo{bar}{zap}',
        '{',
        '}{x}',
        'café{ünï}',
        '日本語のキー',
        '',
      ];
      for (const key of keys) expect([key, keySlot(key)]).toEqual([key, await client.cluster('KEYSLOT', key)]);
    }));

  it(
    'does not wait for a replica of a master that has none',
    () =>
      withClient(async (client) => {
        await client.set('k{waits}', '1');
        // Ten seconds of wait, were it to WAIT: the test's own timeout is shorter.
        expect(await new ClusterReplicaWaits(client, 10_000).wait(['k{waits}'])).toBe(false);
      }),
    5_000,
  );

  it('claims notifications under every id of their incidents, many at once, one script per slot whichever node holds it', async () => {
    const client = createRedisClient(stateConfig({ cluster: { nodes: cluster.nodes } }));
    const keys = new RedisKeys(freshPrefix());
    try {
      await client.connect();
      // Twenty incident keys, their claims on whichever masters their slots fall: one call each
      // would be refused (CROSSSLOT) if the claims of several slots went in one.
      const opened = (i: number, ids: string[]) =>
        ({
          kind: 'opened',
          atMs: 1,
          notify: true,
          incident: { key: `e${i}{svc="x"}`, id: ids[0], mergedIds: ids.slice(1), openedAtMs: 1 } as Incident,
        }) as IncidentChange;
      const all = (ids: string[], writer: string) =>
        claimOutcomes(
          client,
          keys,
          Array.from({ length: 20 }, (_, i) => ({ writer, change: opened(i, ids) })),
          'done',
        );
      expect(
        new Set(
          Array.from({ length: 20 }, (_, i) =>
            keySlot(keys.notificationClaimKeys(`e${i}{svc="x"}`, ['twin'], 'opened', 1)[0]!),
          ),
        ).size,
      ).toBeGreaterThan(1);
      expect(await all(['twin'], 'agent-a')).toEqual(Array(20).fill('claimed'));
      // The survivor, with the twin merged into it: the twin's claim refuses it.
      expect(await all(['survivor', 'twin'], 'agent-b')).toEqual(Array(20).fill('refused'));
      expect(await all(['survivor'], 'agent-b')).toEqual(Array(20).fill('claimed'));
      // A retry by the owner goes through.
      expect(await all(['twin'], 'agent-a')).toEqual(Array(20).fill('claimed'));
    } finally {
      client.disconnect();
    }
  });

  it('keeps the notifications an agent claimed in one slot, whatever slots their claims lie in, and the leader takes them over', async () => {
    const client = createRedisClient(stateConfig({ cluster: { nodes: cluster.nodes } }));
    const keys = new RedisKeys(freshPrefix());
    try {
      await client.connect();
      let now = 0;
      const agent = (incarnation: string) =>
        new UnsentNotifications({ client, keys, incarnation, presenceMs: 60_000, now: () => now });
      const [a, leader] = [agent('a#1'), agent('b#2')];
      const opened = (i: number) =>
        ({
          kind: 'opened',
          reason: 'down',
          atMs: 1,
          notify: true,
          eventIds: [],
          incident: { key: `e${i}{svc="x"}`, id: `i${i}`, openedAtMs: 1 } as Incident,
        }) as IncidentChange;
      const changes = Array.from({ length: 20 }, (_, i) => opened(i));
      expect(await a.claimAll(changes)).toEqual(Array(20).fill('claimed'));
      expect(await client.hlen(keys.unsentKeys().unsent('a#1'))).toBe(20);
      await client.del(keys.unsentKeys().presence('a#1'));
      // Found gone, and still gone half of presenceMs later.
      expect(await leader.takeOver()).toEqual([]);
      now += 30_000;
      const taken = await leader.takeOver();
      expect(taken.map((t) => t.change.incident.id).sort()).toEqual(changes.map((c) => c.incident.id).sort());
      await leader.sent(taken.map((t) => t.change));
      expect(await client.hlen(keys.unsentKeys().unsent('b#2'))).toBe(0);
      // Sent: claimed done under the leader, on every node.
      expect(
        await claimOutcomes(
          client,
          keys,
          changes.map((change) => ({ writer: 'c#3', change })),
          'pending',
        ),
      ).toEqual(Array(20).fill('refused'));
    } finally {
      client.disconnect();
    }
  });

  it("joins, claims and flushes notification groups in one script each, whichever node holds a group's slot", async () => {
    const client = createRedisClient(stateConfig({ cluster: { nodes: cluster.nodes } }));
    const groups = new RedisNotificationGroups({
      client,
      keys: new RedisKeys(freshPrefix()),
      exporter: 'glpi',
      owner: 'agent-a',
      claimTtlMs: 60_000,
      ttlMs: 3_600_000,
    });
    const grouping = { routeKey: '{}', by: ['site'], waitMs: 0, intervalMs: 60_000, repeatMs: 3_600_000 };
    const now = Date.now();
    try {
      await client.connect();
      // Twenty groups, on whichever masters their slots fall.
      const sites = Array.from({ length: 20 }, (_, i) => `site-${i}`);
      for (const site of sites) {
        const opened = assetDown(`h-${site}`, site).next('opened');
        const create = newGroup(grouping, opened.incident, now);
        const joined = await groups.join(
          create.key,
          create,
          [{ key: opened.incident.key, member: groupMember(opened) }],
          now,
        );
        expect(joined).toMatchObject({ key: create.key, createdAtMs: now });
      }
      const due = await groups.due(now, 100);
      expect(due).toHaveLength(20);
      for (const key of due) {
        const claim = await groups.claimFlush(key);
        if (claim === 'held') throw new Error(`${key} held`);
        const f = flushGroup(claim.group!, now);
        expect(f.send?.kind).toBe('opened');
        expect(await claim.commit(now, f.next, true)).toMatchObject({ flushedAtMs: now, version: 1 });
        await claim.release();
      }
      expect(await groups.due(now, 100)).toEqual([]);
    } finally {
      client.disconnect();
    }
  });
});
