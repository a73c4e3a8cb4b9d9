import { describe, expect, it } from 'vitest';
import { flushGroup, groupMember, newGroup, type GroupState } from '../../src/exporters/tickets/notificationGroups.ts';
import type { RouteGrouping } from '../../src/exporters/tickets/routeGrouping.ts';
import type { FlushClaim, SharedJoin } from '../../src/exporters/tickets/sharedGroups.ts';
import type { IncidentChange } from '../../src/model/incident.ts';
import { RedisKeys } from '../../src/state/redisKeys.ts';
import { RedisNotificationGroups } from '../../src/state/redisNotificationGroups.ts';
import { waitFor } from '../support/waitFor.ts';
import { assetDown } from '../exporters/incidentFixtures.ts';
import { freshPrefix, redisAndClients } from './redisHelpers.ts';

const S = 1000;
const BY_SITE: RouteGrouping = {
  routeKey: '{}',
  by: ['site'],
  waitMs: 30 * S,
  intervalMs: 300 * S,
  repeatMs: 4 * 3600 * S,
};
const T0 = 1_700_000_000_000;

/** The members of a group as `key:firing|resolved`, in the order the group lists them. */
const members = (g: GroupState | undefined) =>
  Object.entries(g?.members ?? {}).map(
    ([k, m]) => `${k.replace(/^asset_down\{asset="(\w+)"\}$/, '$1')}:${m.firing ? 'firing' : 'resolved'}`,
  );

describe('notification groups shared in Redis', () => {
  const redis = redisAndClients();

  /** Scripts Redis has run so far (every Vigil script runs by EVALSHA, or EVAL when Redis lacked it). */
  async function scriptCalls(): Promise<number> {
    const info = await (await redis.client()).info('commandstats');
    return [...info.matchAll(/^cmdstat_eval(?:sha)?:calls=(\d+)/gm)].reduce((n, m) => n + Number(m[1]), 0);
  }

  /** `n` agents' groups of one exporter on a fresh prefix, each on its own connection. */
  async function agents(n: number, claimTtlMs = 10_000): Promise<RedisNotificationGroups[]> {
    const keys = new RedisKeys(freshPrefix());
    const out: RedisNotificationGroups[] = [];
    for (let i = 0; i < n; i++) {
      const client = await redis.client();
      out.push(
        new RedisNotificationGroups({
          client,
          keys,
          exporter: 'glpi',
          owner: `agent-${i}`,
          claimTtlMs,
          ttlMs: 3_600_000,
        }),
      );
    }
    return out;
  }

  /** Joins `change` to its group at `now` through `groups`, as an agent's stage does. */
  function join(groups: RedisNotificationGroups, change: IncidentChange, now: number) {
    const create = newGroup(BY_SITE, change.incident, now);
    const j: SharedJoin = { key: change.incident.key, member: groupMember(change) };
    return groups.join(create.key, create, [j], now);
  }

  /** Claims and flushes the group at `now` through `groups`; what it sent, and the header after. */
  async function flush(groups: RedisNotificationGroups, key: string, now: number) {
    const claim = (await groups.claimFlush(key)) as FlushClaim;
    try {
      const f = flushGroup(claim.group!, now);
      return { send: f.send, after: await claim.commit(now, f.next, f.send !== undefined) };
    } finally {
      await claim.release();
    }
  }

  it("lets agents' members join one group, listed in the order they joined, and one agent at a time claim its flush", async () => {
    const [a, b, c] = await agents(3);
    const stories = ['p1', 'p2', 'p3', 'p4'].map((p) => assetDown(p, 'paris'));
    const agentsInTurn = [a!, b!, c!, a!];
    let header;
    for (const [i, s] of stories.entries()) header = await join(agentsInTurn[i]!, s.next('opened'), T0 + i);
    // Formed by the first, at its time: the group's timers count from there whoever joins later.
    expect(header).toMatchObject({ createdAtMs: T0, changedAtMs: T0, version: 0 });
    // A lone resolution of an incident the group never had changes nothing, as with one agent.
    await join(b!, assetDown('p9', 'paris').next('resolved'), T0 + 5);
    expect(await join(c!, assetDown('p9', 'lyon').next('resolved'), T0 + 5)).toBeUndefined();

    const key = header!.key;
    const claims = await Promise.all([a!, b!, c!].map((g) => g.claimFlush(key)));
    expect(claims.filter((cl) => cl === 'held')).toHaveLength(2);
    const held = claims.find((cl) => cl !== 'held') as FlushClaim;
    expect(members(held.group)).toEqual(['p1:firing', 'p2:firing', 'p3:firing', 'p4:firing']);
    await held.release();
    expect(await b!.due(T0 + 30 * S - 1, 10)).toEqual([]);
    expect(await b!.due(T0 + 30 * S, 10)).toEqual([key]);
  });

  it('keeps, through a flush, what another agent changed after the flush read the group', async () => {
    const [a, b] = await agents(2);
    const [p1, p2] = ['p1', 'p2'].map((p) => assetDown(p, 'paris'));
    const h = (await join(a!, p1!.next('opened'), T0))!;
    await join(b!, p2!.next('opened'), T0);
    const first = await flush(a!, h.key, T0 + 30 * S);
    expect(first.send?.kind).toBe('opened');
    expect(first.after).toMatchObject({ flushedAtMs: T0 + 30 * S, version: 1 });
    expect(first.after?.changedAtMs).toBeUndefined();

    // p1 resolves; a reads the group to flush it, and meanwhile b hears p1 open again and p3 join.
    await join(b!, p1!.next('resolved'), T0 + 60 * S);
    const at = T0 + 330 * S;
    const claim = (await a!.claimFlush(h.key)) as FlushClaim;
    expect(members(claim.group)).toEqual(['p1:resolved', 'p2:firing']);
    await join(b!, p1!.next('opened'), at);
    await join(b!, assetDown('p3', 'paris').next('opened'), at);
    const f = flushGroup(claim.group!, at);
    expect(f.send?.reason).toMatch(/^1 resolved; 1 firing, 1 resolved/);
    const after = await claim.commit(at, f.next, true);
    await claim.release();
    // Neither is lost: p1 stays (firing again) and the news waits for the next tick.
    expect(after).toMatchObject({ flushedAtMs: at, version: 2, changedAtMs: T0 + 60 * S });
    const next = (await b!.claimFlush(h.key)) as FlushClaim;
    expect(members(next.group)).toEqual(['p1:firing', 'p2:firing', 'p3:firing']);
    expect(flushGroup(next.group!, at + 300 * S).send?.reason).toMatch(/^2 joined; 3 firing/);
    await next.release();
  });

  it('forgets a group once its last members are reported resolved, and forms a new one after', async () => {
    const [a] = await agents(1);
    const p1 = assetDown('p1', 'paris');
    const h = (await join(a!, p1.next('opened'), T0))!;
    await flush(a!, h.key, T0 + 30 * S);
    await join(a!, p1.next('resolved'), T0 + 60 * S);
    const last = await flush(a!, h.key, T0 + 330 * S);
    expect(last.send?.kind).toBe('resolved');
    expect(last.after).toBeUndefined();
    expect(await a!.due(Infinity, 10)).toEqual([]);
    const again = await join(a!, p1.next('opened'), T0 + 400 * S);
    expect(again).toMatchObject({ createdAtMs: T0 + 400 * S, version: 0 });
    expect(again!.id).not.toBe(h.id);
  });

  it('takes back what agents knew of a group Redis lost: its latest flush, and the latest state of each member', async () => {
    const [a, b] = await agents(2);
    const [p1, p2, p3] = ['p1', 'p2', 'p3'].map((p) => assetDown(p, 'paris'));
    const [o1, o2] = [p1!.next('opened'), p2!.next('opened')];
    const h = (await join(a!, o1, T0))!;
    await join(b!, o2, T0);
    const flushed = (await flush(a!, h.key, T0 + 30 * S)).after!;
    const r1 = p1!.next('resolved');
    const member = (c: IncidentChange): SharedJoin => ({ key: c.incident.key, member: groupMember(c) });
    await (await redis.client()).flushall();
    // A join after the loss, by an agent that has not noticed it yet, forms the group anew.
    expect((await join(b!, p3!.next('opened'), T0 + 40 * S))!.id).not.toBe(h.id);
    // b knew the group before a's flush, and p1's resolution; a knew its flush, and p1 firing.
    await b!.restore(h.key, h, [member(r1), member(o2)], T0 + 41 * S);
    const after = await a!.restore(h.key, flushed, [member(o1), member(o2)], T0 + 42 * S);
    expect(after).toMatchObject({ id: h.id, createdAtMs: T0, flushedAtMs: T0 + 30 * S, version: 1 });
    const claim = (await a!.claimFlush(h.key)) as FlushClaim;
    // p3 joined after the members written back: it is listed after them.
    expect(members(claim.group)).toEqual(['p1:resolved', 'p2:firing', 'p3:firing']);
    expect(flushGroup(claim.group!, T0 + 330 * S).send?.reason).toMatch(/^1 joined, 1 resolved; 2 firing, 1 resolved/);
    await claim.release();
  });

  it('keeps, just after a write-back, the resolution of a member that only an agent yet to write back knew', async () => {
    const [a, b] = await agents(2);
    const [p1, p2] = ['p1', 'p2'].map((p) => assetDown(p, 'paris'));
    const [o1, o2] = [p1!.next('opened'), p2!.next('opened')];
    const h = (await join(a!, o1, T0))!;
    await join(a!, o2, T0);
    const member = (c: IncidentChange): SharedJoin => ({ key: c.incident.key, member: groupMember(c) });
    await (await redis.client()).flushall();
    // b knew only p2, and writes it back first; then p1's resolution reaches b; then a writes back p1 firing.
    await b!.restore(h.key, h, [member(o2)], T0 + 40 * S);
    await join(b!, p1!.next('resolved'), T0 + 41 * S);
    await a!.restore(h.key, h, [member(o1), member(o2)], T0 + 42 * S);
    const claim = (await a!.claimFlush(h.key)) as FlushClaim;
    expect(members(claim.group)).toEqual(['p2:firing', 'p1:resolved']);
    // Written back a moment ago: the flush waits for every agent's write-back.
    expect(claim.writtenBackAtMs).toBe(T0 + 42 * S);
    await claim.release();
    // Later, a resolution of a member the group never had changes nothing again.
    await join(b!, assetDown('p9', 'paris').next('resolved'), T0 + 60 * S);
    const later = (await a!.claimFlush(h.key)) as FlushClaim;
    expect(members(later.group)).toEqual(['p2:firing', 'p1:resolved']);
    await later.release();
  });

  it('gives the flush claim back as it records the flush, with no call of its own', async () => {
    const [a, b] = await agents(2);
    const h = (await join(a!, assetDown('p1', 'paris').next('opened'), T0))!;
    const claim = (await a!.claimFlush(h.key)) as FlushClaim;
    const f = flushGroup(claim.group!, T0 + 30 * S);
    await claim.commit(T0 + 30 * S, f.next, true);
    // Free once recorded: another agent may take the next flush at once.
    const next = await b!.claimFlush(h.key);
    expect(next).not.toBe('held');
    await (next as FlushClaim).release();
    const before = await scriptCalls();
    await claim.release();
    expect(await scriptCalls()).toBe(before);
  });

  it('refuses to record the flush of an agent whose claim lapsed, once another agent took it', async () => {
    // Redis keeps real time: a short claim.
    const [a, b] = await agents(2, 300);
    const h = (await join(a!, assetDown('p1', 'paris').next('opened'), T0))!;
    const stale = (await a!.claimFlush(h.key)) as FlushClaim;
    let fresh: FlushClaim | undefined;
    await waitFor(async () => {
      const taken = await b!.claimFlush(h.key);
      if (taken !== 'held') fresh = taken;
      return fresh !== undefined;
    }, "a's claim to lapse");
    if (!fresh) throw new Error('unreachable');
    const now = T0 + 30 * S;
    const f = flushGroup(fresh.group!, now);
    await fresh.commit(now, f.next, true);
    await fresh.release();
    const g = flushGroup(stale.group!, now);
    await expect(stale.commit(now, g.next, true)).rejects.toThrow(/lapsed/);
  });
});
