import { describe, expect, it } from 'vitest';
import { RedisKeys } from '../../src/state/redisKeys.ts';
import { LeaderElection, RedisLease, type ElectionTimers } from '../../src/state/redisLease.ts';
import { startRedis, waitFor } from '../support/redis.ts';
import { freshPrefix, redisAndClients } from './redisHelpers.ts';

/** A clock the test moves; the election's own schedule is not used (tests call step()). */
function fakeClock(): ElectionTimers & { at: number } {
  return {
    at: 1_000_000,
    now() {
      return this.at;
    },
    setTimeout: () => undefined,
    clearTimeout: () => undefined,
  };
}

describe('leases and leader election', () => {
  const { server, client } = redisAndClients();

  async function candidates(n: number, ttlMs: number, url = server().url) {
    const keys = new RedisKeys(freshPrefix()).leaseKeys('leader');
    const clock = fakeClock();
    const changes: string[] = [];
    const elections: LeaderElection[] = [];
    for (let i = 0; i < n; i++) {
      const name = `agent-${i}`;
      elections.push(
        new LeaderElection({
          lease: new RedisLease(await client(url), keys, name, ttlMs),
          timers: clock,
          onChange: (l) => changes.push(`${name}:${l ? 'leads' : 'follows'}`),
        }),
      );
    }
    return { elections, clock, changes };
  }

  it('elects exactly one leader, and a crashed leader is replaced after its term with a higher fence', async () => {
    const { elections, changes } = await candidates(3, 300);
    for (const e of elections) await e.step();
    expect(elections.map((e) => e.isLeader)).toEqual([true, false, false]);
    const firstFence = elections[0]!.fence!;
    // Renewals keep it: the others keep failing.
    for (const e of elections) await e.step();
    expect(elections.map((e) => e.isLeader)).toEqual([true, false, false]);

    await elections[0]!.stop(false); // a crash: the lease is not given back
    const [, b, c] = elections;
    await waitFor(async () => {
      await b!.step();
      await c!.step();
      return b!.isLeader || c!.isLeader;
    }, 'a follower to take over');
    expect(b!.isLeader !== c!.isLeader).toBe(true);
    const successor = b!.isLeader ? b! : c!;
    expect(successor.fence).toBeGreaterThan(firstFence);
    expect(changes[0]).toBe('agent-0:leads');
    expect(changes).toContain('agent-0:follows');
  });

  it('tells a holder whose term lapsed and was taken that it lost, instead of extending the new term', async () => {
    const keys = new RedisKeys(freshPrefix()).leaseKeys('ticket:svc-x');
    // Redis expires the term in real time: long enough that a loaded machine cannot lapse it
    // between two steps, short enough to wait out.
    const a = new RedisLease(await client(), keys, 'agent-a', 1_000);
    const b = new RedisLease(await client(), keys, 'agent-b', 1_000);
    const fenceA = await a.acquire();
    expect(fenceA).toBe(1);
    expect(await b.acquire()).toBeUndefined();
    await waitFor(async () => (await b.acquire()) !== undefined, 'the lapsed lease to pass to b');
    expect(b.fence).toBe(2);
    expect(await a.renew()).toBe(false);
    expect(a.fence).toBeUndefined();
    expect(await b.renew()).toBe(true);
    await a.release(); // a no-op: a holds nothing
    expect(await (await client()).get(keys[0])).toBe('agent-b');
  });

  it('campaigns every third of a term, so a crashed leader is replaced within its term and a third', async () => {
    const keys = new RedisKeys(freshPrefix()).leaseKeys('leader');
    // Timers that run nothing by themselves: each round asks for the next, and says when.
    const asked: { agent: string; ms: number; run: () => void }[] = [];
    const elections = new Map<string, LeaderElection>();
    for (const agent of ['agent-0', 'agent-1']) {
      const timers: ElectionTimers = {
        now: () => Date.now(),
        setTimeout: (run, ms) => asked.push({ agent, ms, run }),
        clearTimeout: () => undefined,
      };
      elections.set(agent, new LeaderElection({ lease: new RedisLease(await client(), keys, agent, 3000), timers }));
    }
    const nextRound = async (agent: string) => {
      const due = asked.findIndex((a) => a.agent === agent);
      asked.splice(due, 1)[0]!.run();
      await waitFor(() => asked.some((a) => a.agent === agent), `${agent}'s round to end`);
      return asked.find((a) => a.agent === agent)!.ms;
    };
    for (const e of elections.values()) e.start();
    expect(asked.map((a) => a.ms)).toEqual([0, 0]);
    expect([await nextRound('agent-0'), await nextRound('agent-1')]).toEqual([1000, 1000]);
    const leader = elections.get('agent-0')!;
    expect([leader.isLeader, elections.get('agent-1')!.isLeader]).toEqual([true, false]);

    await leader.stop(false); // a crash: the lease is not given back
    // The follower keeps asking every third of a term, however often it is refused.
    for (let round = 0; round < 3; round++) expect(await nextRound('agent-1')).toBe(1000);
    await elections.get('agent-1')!.stop();
  });

  it('hands leadership over at once on a clean stop', async () => {
    const { elections } = await candidates(2, 60_000);
    for (const e of elections) await e.step();
    await elections[0]!.stop();
    await elections[1]!.step();
    expect(elections[1]!.isLeader).toBe(true);
  });

  it('steps down when Redis is unreachable before the term it confirmed could end', async () => {
    const own = await startRedis();
    try {
      const { elections, clock, changes } = await candidates(1, 10_000, own.url);
      const [leader] = elections;
      await leader!.step();
      expect(leader!.isLeader).toBe(true);
      await own.kill();
      clock.at += 5_000;
      await leader!.step(); // fails: keeps the confirmed term
      expect(leader!.isLeader).toBe(true);
      // 10 s term less a 1 s margin: by then another agent could not yet have taken over.
      clock.at += 4_000;
      expect(leader!.isLeader).toBe(false);
      expect(changes).toEqual(['agent-0:leads', 'agent-0:follows']);
      // Back: the lapsed term is free again and the same agent takes a new one.
      await own.restart();
      await waitFor(async () => {
        await leader!.step();
        return leader!.isLeader;
      }, 'leadership after the outage');
    } finally {
      await own.stop();
    }
  });
});
