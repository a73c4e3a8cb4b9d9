import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { CorrelationEngine } from '../../src/correlation/engine.ts';
import type { IncidentRecord } from '../../src/correlation/incidentBook.ts';
import type { IncidentChange } from '../../src/model/incident.ts';
import type { RedisStateStore } from '../../src/state/redisStateStore.ts';
import { API_STORM, engineFrom } from '../support/correlation.ts';
import { startRedis, waitFor, type RedisServer } from '../support/redis.ts';
import { freshPrefix, inspector, openStore } from './redisHelpers.ts';

/**
 * A threshold opening that a late event completes, with three agents on one real Redis: the
 * engine clock and the flushes are the test's, so the interleaving is played one step at a
 * time. The story of an error storm on a loaded DaemonSet that ended as two incidents.
 */
const { rules: RULES, key: KEY, error: err } = API_STORM;

interface Agent {
  store: RedisStateStore;
  engine: CorrelationEngine;
}

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

describe('a storm whose threshold a late event completes, on agents sharing Redis', () => {
  let redis: RedisServer;
  beforeAll(async () => {
    redis = await startRedis();
  });
  afterAll(async () => {
    await redis.stop();
  });

  it('stays one incident, opened after the resolution of the storm before it', async () => {
    const prefix = freshPrefix();
    let nowMs = 0;
    const agents: Agent[] = [];
    for (const name of ['agent-a', 'agent-b', 'agent-c']) {
      const { store } = await openStore(redis.url, prefix, name, {
        flushIntervalMs: 3_600_000,
        now: () => nowMs,
        progressTimeoutMs: 3_600_000,
      });
      cleanup.push(() => store.close());
      agents.push({ store, engine: engineFrom(RULES, store) });
    }
    const [a, b, c] = agents as [Agent, Agent, Agent];
    const changes: IncidentChange[] = [];

    /**
     * Until nothing is left to send: every agent flushes (or says it has nothing pending), and
     * once each has heard every other's word, the others settle what they heard (a merge writes
     * back), as their ticks do; the first agent runs the timers and ticks only when told.
     */
    async function exchange(): Promise<void> {
      for (let round = 0; round < 10; round++) {
        for (const x of agents) {
          await x.store.flush();
          await x.store.tellProgress();
        }
        await waitFor(
          () => agents.every((x) => x.store.sharedThrough(nowMs) === nowMs),
          `every agent to hear every other's flush at ${nowMs}`,
        );
        for (const x of [b, c]) changes.push(...x.engine.settle(nowMs));
        if (agents.every((x) => x.store.pendingKeys() === 0)) return;
      }
      throw new Error('the agents kept writing merges back');
    }
    const at = (agent: Agent, times: number[], clock: number) => {
      nowMs = clock;
      changes.push(...agent.engine.process(times.map(err), clock));
    };

    // Storm one (4 errors at 1.0–1.3 s) is over by 6 s. a hears of storm two first (6.1 s): the
    // quiet window 2–5 s resolves storm one at 6 s. c takes in an error of 5.9 s late (at 6.4 s,
    // within the lateness): with b's two, it brings the window 3–6 s to the threshold.
    at(a, [1000, 1100, 1200, 1300], 1300);
    await exchange();
    at(a, [6100], 6100);
    await exchange();
    at(b, [6200, 6300], 6300);
    await exchange();
    at(c, [5900], 6400);
    await exchange();
    for (let t = 6500; t < 8000; t += 100) {
      at(agents[(t / 100) % 3]!, [t], t);
      await exchange();
    }
    nowMs = 8000;
    changes.push(...a.engine.tick(nowMs));
    await exchange();

    // Storm one and storm two, one incident each: storm two opened in the bucket that crossed,
    // after storm one's resolution, and holds all of its 19 errors on every agent and in Redis.
    const ids = new Set(changes.filter((ch) => ch.incident.key === KEY).map((ch) => ch.incident.id));
    expect(ids.size).toBe(2);
    expect(changes.filter((ch) => ch.incident.mergedInto !== undefined)).toEqual([]);
    const books = agents.map((x) => x.engine.book.get(KEY)!.incident);
    for (const inc of books) {
      expect(inc).toMatchObject({ id: books[0]!.id, status: 'open', openedAtMs: 6001, eventCount: 19 });
      expect(ids).toContain(inc.id);
    }
    const look = inspector(redis.url);
    cleanup.push(async () => look.disconnect());
    const shared = JSON.parse((await look.hget(a.store.redisKeys.stateKey(`i:${KEY}`), '#v'))!) as IncidentRecord;
    expect(shared.incident).toMatchObject({ id: books[0]!.id, status: 'open', openedAtMs: 6001 });
  }, 60_000);
});
