import { describe, expect, it } from 'vitest';
import { ev } from '../support/correlation.ts';
import { waitFor } from '../support/redis.ts';
import { inspector } from './redisHelpers.ts';
import { STORM_KEY, STORM_RULES, stormError, withSteppedAgents } from './redisSteppedAgents.ts';

/**
 * A change of leader while the last leader's writes are still on their way, played one step at
 * a time by agents on one real Redis (see redisSteppedAgents.ts).
 */
describe('a new leader of the timers, while the last leader’s writes are on their way', () => {
  const world = withSteppedAgents(STORM_RULES, 2000, 1000);

  it('notifies an incident once: it waits for them before its timers run', async () => {
    const w = world();
    const [a, b] = await w.leaderAndOther();

    // Both see the storm begin before either hears of the other: each opens an incident of its own.
    await a.process([stormError(900), stormError(950), stormError(1000)]);
    w.nowMs = 1100;
    await b.process([stormError(1050), stormError(1080), stormError(1100)]);
    // agent-a's opening reaches agent-b, which merges the twins (agent-b's writes stay with it).
    await a.store.flush();
    await waitFor(
      () => b.engine.book.get(STORM_KEY)?.incident.mergedIds !== undefined,
      "agent-a's twin to reach agent-b",
    );

    // agent-a flushes something else, and while that flush is on its way its timer notifies its
    // incident: the notification's write waits for the next flush.
    w.nowMs = 2050;
    await a.process([ev(2050, { service: 'web', severityText: 'ERROR', severityNumber: 17 })]);
    const flushing = a.store.flush();
    w.nowMs = 2100;
    await a.tick();
    await flushing;
    expect(w.told.filter((c) => c.notify && c.kind === 'opened')).toHaveLength(1);
    await waitFor(() => b.store.sharedThrough(2100) === 2050, "agent-a's word that it flushed up to 2050");

    // agent-a's term runs out (a stall, say) before its next flush; agent-b takes the lease over.
    w.nowMs = 2900;
    const look = inspector(w.url);
    await look.del(a.store.redisKeys.leaseKeys('timers')[0]);
    look.disconnect();
    await b.round();
    // Leader, yet its timers wait: agent-a's writes up to 2900 have not all arrived.
    expect(b.backend.leads()).toBe(false);
    await b.tick();
    // agent-a comes back and flushes what it held: its notification reaches agent-b.
    w.nowMs = 3000;
    await a.store.flush();
    await waitFor(
      () => b.engine.book.get(STORM_KEY)!.notifiedAtMs >= 0 && b.store.sharedThrough(3000) === 3000,
      "agent-a's notification, and its word that it flushed up to 3000, to reach agent-b",
    );
    w.nowMs = 3100;
    await b.tick();
    expect(b.backend.leads()).toBe(true);

    const opened = w.told.filter((c) => c.notify && c.kind === 'opened');
    expect(opened.map((c) => c.incident.key)).toEqual([STORM_KEY]);
  });
});
