import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RedisStateStore } from '../../src/state/redisStateStore.ts';
import { openStateBackend, type StateBackend } from '../../src/state/stateBackend.ts';
import { createLogger } from '../../src/telemetry/logger.ts';
import { SelfMetrics } from '../../src/telemetry/selfMetrics.ts';
import { startRedis, waitFor, type RedisServer } from '../support/redis.ts';
import { freshPrefix, openStore, stateConfig, type TestStore } from './redisHelpers.ts';

/**
 * How far the shared state is complete: an agent's timers (the leader's) decide on windows of
 * every agent's events, so they must not run past the moment up to which every other agent's
 * writes have reached this one. On a loaded host a flush can lag by more than the allowed
 * lateness, and a storm then resolved on the counts one agent had not shared yet.
 */
describe('RedisStateStore: the time through which other agents have shared their writes', () => {
  let redis: RedisServer;
  const open: TestStore[] = [];
  const backends: StateBackend[] = [];
  beforeAll(async () => {
    redis = await startRedis();
  });
  afterAll(async () => {
    await Promise.all([...open.map((s) => s.store.close()), ...backends.map((b) => b.stop())]);
    await redis.stop();
  });

  it('is the last flush each other agent landed, and forgets an agent silent for longer than the timeout', async () => {
    const prefix = freshPrefix();
    let nowMs = 1000;
    const now = () => nowMs;
    const [a, b] = [
      await openStore(redis.url, prefix, 'agent-a', { now, progressTimeoutMs: 2000 }),
      await openStore(redis.url, prefix, 'agent-b', { now, progressTimeoutMs: 2000 }),
    ];
    open.push(a, b);
    // Nobody else heard of yet: nothing holds the timers back.
    expect(a.store.sharedThrough(1000)).toBe(1000);
    b.store.addCount('c:errors{service="api"}#1', 1, 1, 60_000);
    await b.store.flush();
    // Said again until heard: agent-a's subscription may come after agent-b's first word.
    await waitFor(async () => {
      await b.store.tellProgress();
      return a.store.sharedThrough(1500) === 1000;
    }, "agent-b's flush at 1000");
    // agent-b counts more and has not flushed it: agent-a knows its writes only through 1000.
    nowMs = 2500;
    b.store.addCount('c:errors{service="api"}#1', 2, 1, 60_000);
    expect(a.store.sharedThrough(2500)).toBe(1000);
    await b.store.flush();
    await waitFor(() => a.store.sharedThrough(2600) === 2500, "agent-b's flush at 2500");
    // An agent with nothing pending says so on its flush timer, so the others move on.
    nowMs = 3000;
    await b.store.tellProgress();
    await waitFor(() => a.store.sharedThrough(3100) === 3000, "agent-b's word at 3000 that nothing is pending");
    // Silent for longer than the timeout (dead, or cut off from Redis): no longer waited for.
    expect(a.store.sharedThrough(5000)).toBe(3000);
    expect(a.store.sharedThrough(5001)).toBe(5001);
  });

  it("holds the leader's timers at it, a lease term at most, and never takes them back", async () => {
    const prefix = freshPrefix();
    let nowMs = 10_000;
    const now = () => nowMs;
    const leader = openStateBackend(stateConfig({ url: redis.url, prefix, agent_id: 'agent-a', lease_ttl: '2s' }), {
      logger: createLogger('silent'),
      metrics: new SelfMetrics(),
      clock: now,
    });
    backends.push(leader);
    await leader.start();
    const other = await openStore(redis.url, prefix, 'agent-b', { now });
    open.push(other);
    // Heard of once agent-b's word is in (the subscription may come after its first word).
    await waitFor(async () => {
      await other.store.tellProgress();
      return (leader.store as RedisStateStore).sharedThrough(10_500) === 10_000;
    }, "agent-b's word at 10000");
    expect(leader.timersAt!(10_500)).toBe(10_000);
    nowMs = 11_500;
    other.store.addCount('c:errors{service="api"}#11', 11, 1, 60_000);
    expect(leader.timersAt!(11_500)).toBe(10_000);
    // agent-b says no more for a lease term: the timers go on without it.
    nowMs = 12_001;
    expect(leader.timersAt!(12_001)).toBe(12_001);
    // Its flush of what it held, stamped 11500, comes late: the timers do not go back.
    nowMs = 11_500;
    await other.store.flush();
    nowMs = 12_100;
    await waitFor(() => leader.timersAt!(12_100) === 12_001, "agent-b's late flush");
  });
});
