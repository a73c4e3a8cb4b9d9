import { describe, expect, it } from 'vitest';
import { waitFor } from '../support/redis.ts';
import { STORM_KEY, STORM_RULES, stormError, withSteppedAgents } from './redisSteppedAgents.ts';

/**
 * Twins that two agents opened before hearing of each other, merged on one agent and not yet
 * on the other: a notification of the incident must go out once, whichever of its ids the
 * agent that sends it knows it by. Played one step at a time by agents on one real Redis (see
 * redisSteppedAgents.ts).
 */
describe('a notification of an incident whose twin merged into it', () => {
  const world = withSteppedAgents(STORM_RULES, 2000, 1000);

  it('goes out once, though one agent tells it under the twin’s id and the other under the survivor’s', async () => {
    const w = world();
    const [a, b] = await w.leaderAndOther();

    // Both see the storm begin, all in one bucket, before either hears of the other: twins.
    w.nowMs = 1200;
    await a.process([stormError(1000), stormError(1100), stormError(1200)]);
    w.nowMs = 1500;
    await b.process([stormError(1300), stormError(1400), stormError(1500)]);
    const twin = a.engine.book.get(STORM_KEY)!.incident.id;
    const survivor = b.engine.book.get(STORM_KEY)!.incident.id;
    expect(twin).not.toBe(survivor);

    // agent-a, leading, notifies its twin after group_wait and flushes: agent-b merges it into its
    // own incident (opened later), which now counts as notified. agent-b's writes stay with it.
    w.nowMs = 2300;
    await a.tick();
    await a.store.flush();
    await waitFor(
      () =>
        b.engine.book.get(STORM_KEY)!.incident.mergedIds?.includes(twin) === true &&
        b.engine.book.get(STORM_KEY)!.notifiedAtMs >= 0,
      "agent-a's notified twin to merge into agent-b's incident",
    );

    // The storm is over at 6 s. Each agent learns it from an error of its own, within one flush
    // interval, and tells the resolution: agent-b under the survivor's id, agent-a, which has not
    // heard of the merge, under its twin's.
    w.nowMs = 6500;
    await b.process([stormError(6500)]);
    w.nowMs = 6600;
    await a.process([stormError(6600)]);

    const resolved = w.told.filter((c) => c.kind === 'resolved');
    expect(resolved.map((c) => [c.incident.id, c.incident.resolvedAtMs])).toEqual([
      [survivor, 6000],
      [twin, 6000],
    ]);
    expect(resolved.filter((c) => c.notify).map((c) => c.incident.id)).toEqual([survivor]);
    expect(resolved[1]!.reason).toMatch(/another agent already notified it$/);

    // Their writes meet: both agents hold one incident, the survivor with its twin merged, and
    // nothing more is told of it.
    w.nowMs = 6700;
    await b.store.flush();
    await a.store.flush();
    // Which id carries on is the join's to choose (both resolved at one moment); that both
    // agents choose the same, with the other id merged, is the promise.
    const record = (x: typeof a) => {
      const inc = x.engine.book.get(STORM_KEY)!.incident;
      return `${inc.id} ${inc.status} merged ${(inc.mergedIds ?? []).join(',')}`;
    };
    const merged = [`${survivor} resolved merged ${twin}`, `${twin} resolved merged ${survivor}`];
    await waitFor(
      () => record(a) === record(b) && merged.includes(record(a)),
      'the agents to agree on the merged incident',
    ).catch((err: unknown) => {
      throw new Error(`${String(err)}: agent-a holds ${record(a)}, agent-b ${record(b)}`);
    });
    w.nowMs = 12_000;
    for (const x of [a, b]) await x.round();
    for (const x of [a, b]) await x.tick();
    const notified = w.told.filter((c) => c.notify).map((c) => `${c.kind} ${c.incident.id}`);
    expect(notified).toEqual([`opened ${twin}`, `resolved ${survivor}`]);
  });
});
