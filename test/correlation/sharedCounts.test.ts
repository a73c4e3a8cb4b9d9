import { describe, expect, it } from 'vitest';
import type { CorrelationEngine } from '../../src/correlation/engine.ts';
import type { IncidentRecord } from '../../src/correlation/incidentBook.ts';
import { MemoryStateStore } from '../../src/state/memoryStore.ts';
import { API_STORM, engineFrom, inStorage, sharingAgents as agents } from '../support/correlation.ts';

const shared = (store: MemoryStateStore, key: string) =>
  (store.read('i:' + key)?.value as unknown as IncidentRecord).incident;

const { rules, key: KEY, error: err } = API_STORM;

/**
 * Three agents: the leader opens on four errors that b and c hear of; b and c then each hold an
 * error the leader has not heard of when its timer resolves the storm (count 4).
 */
function resolvedBehind() {
  const all = agents(rules, ['agent-a', 'agent-b', 'agent-c']);
  const [leader, b, c] = all.engines as [CorrelationEngine, CorrelationEngine, CorrelationEngine];
  all.stored.push(...leader.process([err(1000), err(1100), err(1200), err(1300)], 1300));
  all.deliver(0);
  all.stored.push(...b.process([err(1400)], 1400), ...c.process([err(1500)], 1500));
  all.stored.push(...leader.tick(12_000));
  return { ...all, leader, b, c };
}

describe('a storm counted by agents whose writes meet late', () => {
  it('ends with every event in its count, in storage as in the shared record', () => {
    const { engines, stores, stored, deliver, flushAll } = agents(rules, ['agent-a', 'agent-b']);
    const [leader, other] = engines as [CorrelationEngine, CorrelationEngine];
    stored.push(...leader.process([err(1000), err(1100), err(1200), err(1300)], 1300));
    expect(stored.map((c) => [c.kind, c.incident.eventCount])).toEqual([['opened', 4]]);
    deliver(0);
    // The other agent attaches two errors; its writes have not left it yet when the leader's
    // timer resolves the storm with the count it knows, its own fifth error included.
    stored.push(...other.process([err(1400), err(1500)], 1500));
    stored.push(...leader.process([err(1600)], 1600));
    const resolved = leader.tick(12_000);
    expect(resolved.map((c) => [c.kind, c.incident.eventCount])).toEqual([['resolved', 5]]);
    stored.push(...resolved);
    // Everything meets: seven errors in all.
    flushAll(12_100);
    stored.push(...leader.tick(12_200), ...other.settle(12_200));
    flushAll(12_300);
    for (const s of stores) expect(shared(s, KEY)).toMatchObject({ status: 'resolved', eventCount: 7 });
    expect(inStorage(stored, KEY)).toEqual([{ id: shared(stores[0]!, KEY).id, status: 'resolved', count: 7 }]);
    // The next storm counts only its own errors.
    stored.push(...other.process([err(20_000), err(20_100), err(20_200), err(20_300)], 20_300));
    flushAll(20_400);
    stored.push(...leader.process([err(20_500)], 20_500));
    flushAll(20_600);
    const next = shared(stores[0]!, KEY);
    expect(next.openedAtMs).toBe(20_300);
    expect(leader.book.get(KEY)!.incident.eventCount).toBe(5);
    expect(other.book.get(KEY)!.incident.eventCount).toBe(5);
  });

  it('counts what an agent saw before it heard of the resolution, not what came after', () => {
    const { engines, stores, stored, deliver, flushAll, leader, b } = resolvedBehind();
    // b hears of the resolution first; c's error reaches b only later, with c's own news.
    deliver(0);
    deliver(1);
    stored.push(...b.settle(12_100));
    deliver(1);
    deliver(2);
    flushAll(12_200);
    stored.push(...leader.tick(12_300));
    flushAll(12_400);
    for (const s of stores) expect(shared(s, KEY)).toMatchObject({ status: 'resolved', eventCount: 6 });
    expect(inStorage(stored, KEY).map((s) => s.count)).toEqual([6]);
    // A lone error later, below the threshold, is no part of the storm.
    stored.push(...b.process([err(30_000)], 30_000));
    flushAll(30_100);
    stored.push(...leader.tick(30_200));
    flushAll(30_300);
    for (const e of engines) expect(e.book.get(KEY)!.incident.eventCount).toBe(6);
    expect(inStorage(stored, KEY).map((s) => s.count)).toEqual([6]);
  });

  it("seals an agent's share once: what it counts after it heard of the resolution stays out, whatever merges later", () => {
    const { stores, stored, deliver, flushAll, leader, b, c } = resolvedBehind();
    deliver(0);
    // b hears of the resolution, then counts a lone error; c's share arrives after both.
    stored.push(...b.settle(12_100), ...b.process([err(30_000)], 30_000));
    stored.push(...c.settle(30_100));
    flushAll(30_200);
    stored.push(...leader.tick(30_300), ...b.settle(30_300));
    flushAll(30_400);
    for (const s of stores) expect(shared(s, KEY)).toMatchObject({ status: 'resolved', eventCount: 6 });
    expect(inStorage(stored, KEY).map((s) => s.count)).toEqual([6]);
  });
});

describe('a storm counted by an agent that restarts after it heard of the resolution', () => {
  it('keeps what the agent counted after it heard out of the resolved count, though its memory of hearing is gone', () => {
    const { engines, stores, stored, deliver, flushAll } = agents(rules, ['agent-a', 'agent-b']);
    const [leader, b] = engines as [CorrelationEngine, CorrelationEngine];
    stored.push(...leader.process([err(1000), err(1100), err(1200), err(1300)], 1300));
    stored.push(...b.process([err(1400)], 1400));
    deliver(1);
    // The leader resolves with b's error in its count: b, hearing of it, has nothing to raise.
    stored.push(...leader.tick(12_000));
    deliver(0);
    stored.push(...b.settle(12_100));
    flushAll(12_200);
    for (const s of stores) expect(shared(s, KEY)).toMatchObject({ status: 'resolved', eventCount: 5 });
    // A lone error on b, below the threshold, then b restarts: a fresh engine on the shared state.
    stored.push(...b.process([err(30_000)], 30_000));
    flushAll(30_100);
    const restarted = new MemoryStateStore('agent-b');
    const engine = engineFrom(rules, restarted);
    for (const [key, entry] of stores[1]!.exportEntries()) restarted.load(key, structuredClone(entry));
    stored.push(...engine.settle(30_200));
    restarted.onDelta((d) => stores[0]!.merge(structuredClone(d)));
    stored.push(...engine.settle(30_300), ...leader.tick(30_300));
    expect(shared(restarted, KEY)).toMatchObject({ status: 'resolved', eventCount: 5 });
    expect(inStorage(stored, KEY).map((x) => x.count)).toEqual([5]);
  });
});

describe('the opening of a storm that only all agents together bring to the threshold', () => {
  it('is dated near the error that crossed it, not at the end of its bucket', () => {
    const { engines, stored, flushAll } = agents(rules, ['agent-a', 'agent-b', 'agent-c']);
    const [leader, b, c] = engines as [CorrelationEngine, CorrelationEngine, CorrelationEngine];
    // A storm from 1050 ms, an error every 30 ms round robin over the agents; each sees its own
    // only until they share. The fourth error (1140 ms) crosses the threshold: one agent alone
    // would open the incident then.
    const times = Array.from({ length: 9 }, (_, i) => 1050 + 30 * i);
    const alone = engineFrom(rules).process(times.map(err), 1400);
    expect(alone.map((x) => [x.kind, x.incident.openedAtMs])).toEqual([['opened', 1140]]);
    times.forEach((t, i) => stored.push(...engines[i % 3]!.process([err(t)], t)));
    expect(stored).toEqual([]);
    flushAll(1400);
    // The leader hears of the others' errors on its tick: every error of the bucket is in.
    stored.push(...leader.tick(1400), ...b.settle(1400), ...c.settle(1400));
    const opened = stored.filter((x) => x.kind === 'opened');
    expect(opened).toHaveLength(1);
    // The window holds no error times, only counts per bucket: the crossing is placed within its
    // bucket as the errors in it are spread, here within a flush interval of the truth.
    expect(Math.abs(opened[0]!.incident.openedAtMs - 1140)).toBeLessThanOrEqual(100);
  });
});
