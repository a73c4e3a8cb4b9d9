import type { Redis } from 'ioredis';
import { beforeEach, describe, expect, it } from 'vitest';
import type { Incident, IncidentChange } from '../../src/model/incident.ts';
import { claimIdentity, claimNotification, markAllNotified } from '../../src/state/notificationClaims.ts';
import { RedisKeys } from '../../src/state/redisKeys.ts';
import { UnsentNotifications } from '../../src/state/unsentNotifications.ts';
import { waitFor } from '../support/waitFor.ts';
import { freshPrefix, redisAndClients } from './redisHelpers.ts';

// The notifications an agent sharing state claimed and had not yet handed to its incidents
// pipelines (src/state/unsentNotifications.ts), on a real redis-server: the leader sends those of
// an agent gone, once.

const opened = (id: string): IncidentChange => ({
  kind: 'opened',
  reason: 'count 5 ≥ 5 within 1m',
  atMs: 1_000,
  notify: true,
  eventIds: ['e1'],
  incident: { key: `errors{service="${id}"}`, id, openedAtMs: 1_000, status: 'open', eventCount: 5 } as Incident,
});

describe('notifications claimed and not yet sent (sharing: state)', () => {
  const redis = redisAndClients();
  let client: Redis;
  let keys: RedisKeys;
  /** The agents' wall clock, moved by the tests. */
  let now = 0;
  /** Agents by name on one key space, each its own incarnation. */
  const agent = (incarnation: string, presenceMs = 60_000) =>
    new UnsentNotifications({ client, keys, incarnation, presenceMs, now: () => now });
  /** An agent gone without a word (killed): its presence expired. */
  const gone = (a: UnsentNotifications) => client.del(keys.unsentKeys().presence(a.incarnation));
  /** The leader's looks until it has seen an agent's presence gone at two in a row: what the second took. */
  const looks = async (leader: UnsentNotifications) => {
    await leader.takeOver();
    now += 30_000;
    return leader.takeOver();
  };

  beforeEach(async () => {
    client = await redis.client();
    keys = new RedisKeys(freshPrefix());
  });

  it('the leader sends, once, what an agent gone had claimed and not sent; nothing while the agent is there', async () => {
    const [a, leader, next] = [agent('a#1'), agent('b#2'), agent('c#3')];
    const c = opened('i-1');
    expect(await a.claim(c)).toBe('claimed');
    // Claimed pending for a: no one else may claim it.
    expect(await claimNotification(client, keys, 'b#2', c)).toBe(false);
    // a is there (its presence renewed): its pipelines may yet take it.
    await a.renew();
    expect(await leader.takeOver()).toEqual([]);

    await gone(a);
    // Found gone: only suspected (its presence may come back: lost with a failover, say), until
    // half of presenceMs has passed.
    expect(await leader.takeOver()).toEqual([]);
    now += 29_999;
    expect(await leader.takeOver()).toEqual([]);
    await a.renew();
    now += 30_000;
    expect(await leader.takeOver()).toEqual([]);
    await gone(a);
    const taken = await looks(leader);
    expect(taken).toEqual([
      { change: { ...c, reason: `${c.reason}; sent for a#1, gone before sending it` }, from: 'a#1' },
    ]);
    // Taken over: a's entry gone, the leader's kept until its pipelines take it.
    expect(await client.hlen(keys.unsentKeys().unsent('a#1'))).toBe(0);
    expect(await client.sismember(keys.unsentKeys().agents, 'a#1')).toBe(0);
    expect(await next.takeOver()).toEqual([]);
    await leader.sent([taken[0]!.change]);
    expect(await client.hlen(keys.unsentKeys().unsent('b#2'))).toBe(0);
    // Sent: done, for anyone (a's retry included).
    expect(await claimNotification(client, keys, 'a#1', c, 'pending')).toBe(false);
    await gone(leader);
    expect(await next.takeOver()).toEqual([]);
  });

  it('the leader takes nothing an agent sent before it went, and drops its entry', async () => {
    const [a, leader] = [agent('a#1'), agent('b#2')];
    const [sent, unsent] = [opened('i-1'), opened('i-2')];
    await a.claim(sent);
    await a.claim(unsent);
    await a.sent([sent]);
    await gone(a);
    expect((await looks(leader)).map((t) => t.change.incident.id)).toEqual(['i-2']);
  });

  it('an agent gone between marking a claim sent and dropping its entry: the entry is dropped, not sent', async () => {
    const [a, leader] = [agent('a#1'), agent('b#2')];
    const c = opened('i-1');
    await a.claim(c);
    // Marked sent, the entry still there (the agent died between the two).
    await markAllNotified(client, keys, [{ writer: 'a#1', change: c }]);
    await gone(a);
    expect(await looks(leader)).toEqual([]);
    expect(await client.hlen(keys.unsentKeys().unsent('a#1'))).toBe(0);
  });

  it('a sent mark Redis could not take is made again at the next renewal, and before leaving: nothing sent twice', async () => {
    // Agent a on a connection of its own, which the test cuts as the pipelines take its changes.
    const own = await redis.client();
    const a = new UnsentNotifications({ client: own, keys, incarnation: 'a#1', presenceMs: 60_000, now: () => now });
    const back = async () => {
      await waitFor(() => own.status === 'end', "a's connection closed");
      await own.connect();
    };
    const leader = agent('b#2');
    const [first, second] = [opened('i-1'), opened('i-2')];
    await a.claim(first);
    await a.claim(second);
    await a.renew();
    own.disconnect();
    await expect(a.sent([first])).rejects.toThrow();
    await back();
    // Renewed: the mark goes this time.
    await a.renew();
    expect(await client.hkeys(keys.unsentKeys().unsent('a#1'))).toEqual([claimIdentity(second)]);
    own.disconnect();
    await expect(a.sent([second])).rejects.toThrow();
    await back();
    // An orderly stop: the mark first, then the presence goes.
    await a.leave();
    expect(await looks(leader)).toEqual([]);
    expect(await client.hlen(keys.unsentKeys().unsent('a#1'))).toBe(0);
  });

  it('an agent gone between keeping a change and claiming it: the leader claims it and sends it', async () => {
    const leader = agent('b#2');
    const c = opened('i-1');
    // As `claim` keeps it for a#1, without the claim that follows.
    const k = keys.unsentKeys();
    await client.hset(k.unsent('a#1'), 'opened\nerrors{service="i-1"}\ni-1\n1000', JSON.stringify(c));
    await client.sadd(k.agents, 'a#1');
    expect((await looks(leader)).map((t) => t.change.incident)).toEqual([c.incident]);
    expect(await claimNotification(client, keys, 'c#3', c)).toBe(false);
  });

  it("a claim another agent holds, or one whose kept change is not one, is not taken; the agent's own retry is", async () => {
    const [a, leader] = [agent('a#1'), agent('b#2')];
    const c = opened('i-1');
    await a.claim(c);
    // Another writer got there (a's claim lost with a failover, say): it is not a's to leave.
    await client.set(keys.notificationClaimKeys(c.incident.key, ['i-1'], 'opened', 1_000)[0]!, 'd#4\np');
    await client.hset(keys.unsentKeys().unsent('a#1'), 'junk', 'not json');
    await gone(a);
    expect(await looks(leader)).toEqual([]);
    expect(await client.hlen(keys.unsentKeys().unsent('a#1'))).toBe(0);
    // The same agent claiming again (a retry) goes through, and a claim refused keeps nothing.
    const d = opened('i-2');
    expect(await leader.claim(d)).toBe('claimed');
    expect(await leader.claim(d)).toBe('claimed');
    expect(await a.claim(d)).toBe('refused');
    expect(await client.hlen(keys.unsentKeys().unsent('a#1'))).toBe(0);
  });

  it('takes a few hundred over at a look, the rest at the next ones', async () => {
    const [a, leader] = [agent('a#1'), agent('b#2')];
    const many = Array.from({ length: 1_200 }, (_, i) => opened(`i-${i}`));
    for (let i = 0; i < many.length; i += 100) await a.claimAll(many.slice(i, i + 100));
    await gone(a);
    // The first look only suspects it gone.
    const taken = [(await leader.takeOver()).length];
    now += 30_000;
    for (let n = -1; n !== 0;) taken.push((n = (await leader.takeOver()).length));
    expect(taken).toEqual([0, 500, 500, 200, 0]);
    expect(await client.sismember(keys.unsentKeys().agents, 'a#1')).toBe(0);
  });

  it('an agent asks again whether its claims are its own only once its presence may have lapsed', async () => {
    const [a, leader] = [agent('a#1', 300), agent('b#2')];
    const c = opened('i-1');
    await a.claim(c);
    const calls = async () => Number(/cmdstat_evalsha:calls=(\d+)/.exec(await client.info('commandstats'))?.[1] ?? 0);
    const before = await calls();
    // Present all along: nothing to ask, nothing lost.
    expect(await a.lostClaims([c])).toEqual(new Set());
    expect(await calls()).toBe(before);
    // Not renewed for presenceMs: the leader may have taken it over, and has.
    await gone(a);
    expect(await looks(leader)).toHaveLength(1);
    now += 300;
    expect(await a.lostClaims([c])).toEqual(new Set([c]));
    // Forgotten: not asked again, not marked sent by a.
    expect(await a.lostClaims([c])).toEqual(new Set());
  });

  it("an agent's presence lasts presenceMs unrenewed, and goes at once when it leaves", async () => {
    const [a, b] = [agent('a#1', 300), agent('b#2', 60_000)];
    const k = keys.unsentKeys();
    await a.renew();
    await b.renew();
    await waitFor(async () => (await client.exists(k.presence('a#1'))) === 0, "a's presence to expire");
    expect(await client.exists(k.presence('b#2'))).toBe(1);
    await b.leave();
    expect(await client.exists(k.presence('b#2'))).toBe(0);
  });
});
