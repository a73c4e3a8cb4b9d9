import { describe, expect, it } from 'vitest';
import { incidentId, type IncidentRecord } from '../../src/correlation/incidentBook.ts';
import { MemoryStateStore } from '../../src/state/memoryStore.ts';
import type { StateDelta } from '../../src/correlation/stateStore.ts';
import type { CorrelationEngine } from '../../src/correlation/engine.ts';
import { engineFrom, ev } from '../support/correlation.ts';

const rules = `
defaults: { group_wait: 0s, allowed_lateness: 1m }
rules:
  - { kind: pair, name: link, group_by: [asset] }
  - { kind: threshold, name: errors, match: 'severity_text == "ERROR"', group_by: [service], window: 1m, threshold: 6 }
`;

/** Two agents whose stores ship every write to each other, copied as if over the wire. */
function twoAgents() {
  const a = new MemoryStateStore('agent-a');
  const b = new MemoryStateStore('agent-b');
  a.onDelta((d) => b.merge(structuredClone(d)));
  b.onDelta((d) => a.merge(structuredClone(d)));
  return [engineFrom(rules, a), engineFrom(rules, b)] as const;
}

/**
 * Stores of `names`, each with what the first `shipping` of them wrote, as the Redis store ships
 * it (a record as its kind encodes it), on a wire of its own.
 */
function wiredStores(names: string[], shipping: number) {
  const stores = names.map((n) => new MemoryStateStore(n));
  const wire: StateDelta[][] = stores.slice(0, shipping).map(() => []);
  stores
    .slice(0, shipping)
    .forEach((s, i) =>
      s.onDelta((d) =>
        wire[i]!.push(
          d.kind === 'register'
            ? { ...d, register: { ...d.register, value: JSON.parse(s.encodeRegister(d.key, d.register.value)) } }
            : structuredClone(d),
        ),
      ),
    );
  return { stores, wire };
}

function deliver(to: MemoryStateStore, deltas: StateDelta[]): void {
  for (const d of deltas) to.merge(structuredClone(d));
}

/** A dedup rule over disk alerts of one host, keeping `sampleSize` event ids per incident. */
const diskRules = (sampleSize: number) => `
defaults: { group_wait: 0s, allowed_lateness: 1m }
rules:
  - { kind: dedup, name: disk, match: 'attributes["check"] == "disk"', group_by: [asset], sample_size: ${sampleSize}, dedup_window: 1m }
`;
const DISK_KEY = 'disk{asset="db-1"}';
const disk = (t: number) => ev(t, { asset: 'db-1', attributes: { check: 'disk' } });

describe('two agents sharing state', () => {
  it('fold their events into one incident with one id', () => {
    const [a, b] = twoAgents();
    const first = a.process([ev(5000, { asset: 'sw-1', type: 'down' })], 5000);
    const second = b.process([ev(6000, { asset: 'sw-1', type: 'down' })], 6000);
    expect(first.map((c) => c.kind)).toEqual(['opened']);
    expect(second).toEqual([]);
    for (const engine of [a, b]) {
      expect(engine.book.get('link{asset="sw-1"}')!.incident).toMatchObject({
        id: incidentId('link{asset="sw-1"}', 5000),
        eventCount: 2,
        status: 'open',
      });
    }
    expect(b.process([ev(7000, { asset: 'sw-1', type: 'up' })], 7000).map((c) => c.kind)).toEqual(['resolved']);
    expect(a.book.get('link{asset="sw-1"}')!.incident.status).toBe('resolved');
  });

  it('add up their window counts: three errors on each open one incident', () => {
    const [a, b] = twoAgents();
    const err = (t: number) => ev(t, { service: 'api', severityText: 'ERROR', severityNumber: 17 });
    const changes = [...a.process([err(1000), err(2000), err(3000)], 3000), ...b.process([err(1500), err(2500)], 3000)];
    expect(changes).toEqual([]);
    const opened = b.process([err(3500)], 3500);
    expect(opened.map((c) => [c.kind, c.incident.eventCount, c.reason])).toEqual([
      ['opened', 6, 'count 6 ≥ 6 within 1m'],
    ]);
    // The other agent attaches to it rather than opening a twin.
    expect(a.process([err(4000)], 4000)).toEqual([]);
    expect(b.book.get('errors{service="api"}')!.incident.eventCount).toBe(7);
  });
});

/**
 * Two agents whose writes reach each other only when `exchange()` delivers them, as a flush
 * interval and a message would: what each does in between, the other does not know yet.
 */
function lateAgents(yaml: string) {
  const a = new MemoryStateStore('agent-a');
  const b = new MemoryStateStore('agent-b');
  const aOut: StateDelta[] = [];
  const bOut: StateDelta[] = [];
  a.onDelta((d) => aOut.push(structuredClone(d)));
  b.onDelta((d) => bOut.push(structuredClone(d)));
  const exchange = () => {
    for (const d of bOut.splice(0)) a.merge(d);
    for (const d of aOut.splice(0)) b.merge(d);
  };
  return { leader: engineFrom(yaml, a), other: engineFrom(yaml, b), exchange };
}

describe('a window only all agents together bring to the threshold', () => {
  it("opens on the leader's tick, once the agents' counts have met", () => {
    // The errors of both are in flight when each sees its own.
    const { leader, other, exchange } = lateAgents(rules);
    const err = (t: number) => ev(t, { service: 'api', severityText: 'ERROR', severityNumber: 17 });
    // Three errors on each: six in the window, the threshold, but neither saw more than three.
    expect([
      ...leader.process([err(1000), err(2000), err(3000)], 3000),
      ...other.process([err(1500), err(2500), err(3500)], 3500),
    ]).toEqual([]);
    exchange();
    expect(other.settle(4000)).toEqual([]);
    const opened = leader.tick(4000);
    expect(opened.map((c) => [c.kind, c.incident.key, c.incident.eventCount])).toEqual([
      ['opened', 'errors{service="api"}', 6],
    ]);
    expect(opened[0]!.incident.openedAtMs).toBeLessThanOrEqual(4000);
    // A second tick with nothing new opens nothing more.
    expect(leader.tick(4100)).toEqual([]);
  });
});

describe("a silence one agent sees in its share of a group's events", () => {
  it('is no silence when another agent heard from the group within it', () => {
    const yaml = `
defaults: { group_wait: 0s, allowed_lateness: 5s }
rules:
  - { kind: absence, name: silent, match: 'attributes["check"] == "heartbeat"', group_by: [asset], interval: 2s }
`;
    const { leader, other, exchange } = lateAgents(yaml);
    const beat = (t: number) => ev(t, { asset: 'db-1', attributes: { check: 'heartbeat' } });
    // Heartbeats every 500 ms; the agents share state late: a sees 0 and 3000, b everything between.
    expect(leader.process([beat(0)], 0)).toEqual([]);
    expect(other.process([beat(500), beat(1000), beat(1500), beat(2000), beat(2500)], 2500)).toEqual([]);
    expect(leader.process([beat(3000)], 3000)).toEqual([]);
    exchange();
    // Well past the watermark of every beat: one agent alone would have opened nothing.
    expect(
      [...leader.tick(9000), ...other.settle(9000), ...leader.process([beat(9000)], 9000)].filter(
        (c) => c.kind === 'opened' && c.incident.openedAtMs < 5000,
      ),
    ).toEqual([]);
  });
});

describe('a repeat that moves only the last seen of an open incident', () => {
  const yaml = diskRules(1);
  const key = DISK_KEY;

  /** Stores of `names`, each with its engine, and the deltas each wrote, copied as if over the wire. */
  function agents(...names: string[]) {
    return names.map((name) => {
      const store = new MemoryStateStore(name);
      const out: StateDelta[] = [];
      store.onDelta((d) => out.push(structuredClone(d)));
      return { store, engine: engineFrom(yaml, store), out };
    });
  }

  it('ships a mark, not the incident record, and the marks merge in any order, twice, to one incident', () => {
    const [a, b, c, x, y] = agents('agent-a', 'agent-b', 'agent-c', 'agent-x', 'agent-y');
    expect(a!.engine.process([disk(1000)], 1000).map((ch) => ch.kind)).toEqual(['opened']);
    const opening = a!.out.splice(0);
    for (const other of [b, c, x, y]) for (const d of opening) other!.store.merge(structuredClone(d));
    // Repeats on two agents that have not heard of each other's.
    expect(b!.engine.process([disk(5000), disk(6000)], 6000)).toEqual([]);
    expect(c!.engine.process([disk(7000)], 7000)).toEqual([]);
    const repeats = [b!.out.splice(0), c!.out.splice(0)];
    expect(repeats.flat().filter((d) => d.key.startsWith('i:'))).toEqual([]);
    // Each observer hears them in another order; y hears the marks twice (a message, then a
    // reconnect's read). Counter cells are idempotent in Redis by the writer's totals, not here.
    for (const d of [...repeats[0]!, ...repeats[1]!]) x!.store.merge(structuredClone(d));
    const reversed = [...repeats[1]!, ...repeats[0]!].reverse();
    for (const d of [...reversed, ...reversed.filter((d) => d.kind !== 'count')]) y!.store.merge(structuredClone(d));
    const seen = (s: CorrelationEngine) => {
      const inc = s.book.withTrail(key)!.incident;
      return {
        id: inc.id,
        status: inc.status,
        lastSeenMs: inc.lastSeenMs,
        eventCount: inc.eventCount,
        sample: inc.sampleEventIds,
      };
    };
    const one = seen(x!.engine);
    expect(one).toMatchObject({ status: 'open', lastSeenMs: 7000, eventCount: 4 });
    expect(seen(y!.engine)).toEqual(one);
    // The repeat's last seen is the record's once someone writes it, as a resolution does.
    const resolved = y!.engine.tick(200_000).filter((ch) => ch.kind === 'resolved');
    expect(resolved.map((ch) => ch.incident.lastSeenMs)).toEqual([7000]);
  });
});

describe("an incident's audit trail shared by agents", () => {
  const yaml = `
defaults: { group_wait: 0s, allowed_lateness: 1m, reopen_window: 1h }
rules:
  - { kind: pair, name: link, group_by: [asset] }
`;
  const key = 'link{asset="sw-1"}';
  const link = (t: number, type: 'down' | 'up') => ev(t, { asset: 'sw-1', type });

  it('travels as set members, not in the record, and merges in any order, twice, to one trail', () => {
    const { stores, wire } = wiredStores(['agent-a', 'agent-b', 'agent-x', 'agent-y'], 2);
    const [a, b, x, y] = stores.map((s) => engineFrom(yaml, s));
    expect(a!.process([link(1000, 'down')], 1000).map((c) => c.kind)).toEqual(['opened']);
    deliver(stores[1]!, wire[0]!);
    // Concurrent: b resolves and reopens, a hears the link down again, neither hearing of the other.
    expect(b!.process([link(2000, 'up'), link(3000, 'down')], 3000).map((c) => c.kind)).toEqual([
      'resolved',
      'reopened',
    ]);
    expect(a!.process([link(2500, 'down')], 2500)).toEqual([]);
    const trails = wire
      .flat()
      .flatMap((d) =>
        d.kind === 'register' && d.key.startsWith('i:') ? [d.register.value as unknown as IncidentRecord] : [],
      )
      .map((r) => r.incident.audit);
    expect(trails.length).toBeGreaterThan(0);
    expect(trails.filter((t) => t.length > 0)).toEqual([]);
    const all = [...wire[0]!, ...wire[1]!];
    deliver(stores[2]!, all);
    const reversed = all.slice().reverse();
    deliver(stores[3]!, [...reversed, ...reversed.filter((d) => d.kind !== 'count')]);
    const trail = (e: CorrelationEngine) => e.book.withTrail(key)!.incident.audit.map((x) => `${x.atMs} ${x.kind}`);
    expect(trail(x!)).toEqual(['1000 opened', '2000 resolved', '3000 reopened']);
    expect(trail(y!)).toEqual(trail(x!));
    expect([x!, y!].map((e) => e.book.get(key)!.incident.status)).toEqual(['open', 'open']);
  });
});

describe("an incident's sample of event ids shared by agents", () => {
  const yaml = diskRules(3);
  const key = DISK_KEY;

  it('fills as set members, not by rewriting the record, and merges in any order, twice, to the earliest events', () => {
    const { stores, wire } = wiredStores(['agent-a', 'agent-b', 'agent-c', 'agent-x', 'agent-y'], 3);
    const [a, b, c, x, y] = stores.map((s) => engineFrom(yaml, s));
    const opening = a!.process([disk(1000)], 1000);
    expect(opening.map((ch) => [ch.kind, ch.incident.sampleEventIds.length])).toEqual([['opened', 1]]);
    const opened = wire[0]!.splice(0);
    for (const s of stores.slice(1)) deliver(s, opened);
    // Repeats on two agents that have not heard of each other's, while the sample is not full.
    const e2 = disk(2000);
    const e3 = disk(3000);
    const e4 = disk(2500);
    expect(b!.process([e2, e3], 3000)).toEqual([]);
    expect(c!.process([e4], 2500)).toEqual([]);
    const repeats = [wire[1]!.splice(0), wire[2]!.splice(0)];
    expect(repeats.flat().filter((d) => d.key.startsWith('i:'))).toEqual([]);
    const all = repeats.flat();
    deliver(stores[3]!, all);
    const reversed = all.slice().reverse();
    deliver(stores[4]!, [...reversed, ...reversed.filter((d) => d.kind !== 'count')]);
    const sample = (e: CorrelationEngine) => e.book.withTrail(key)!.incident.sampleEventIds;
    const first = (opening[0]!.incident.sampleEventIds[0] ?? '') as string;
    expect(sample(x!)).toEqual([first, e2.id, e4.id]);
    expect(sample(y!)).toEqual(sample(x!));
    // A full sample takes no later event; an earlier one (late, or seen by an agent behind the
    // others) takes the place of the latest it keeps.
    x!.process([disk(4000)], 4000);
    expect(sample(x!)).toEqual([first, e2.id, e4.id]);
    const e5 = disk(1500);
    y!.process([e5], 4000);
    expect(sample(y!)).toEqual([first, e5.id, e2.id]);
    // A change's snapshot carries the sample too.
    const resolved = y!.tick(200_000).filter((ch) => ch.kind === 'resolved');
    expect(resolved.map((ch) => ch.incident.sampleEventIds)).toEqual([[first, e5.id, e2.id]]);
  });
});

describe('a pair incident told again that its member is down', () => {
  const yaml = `
defaults: { group_wait: 0s, allowed_lateness: 1m, sample_size: 1 }
rules:
  - { kind: pair, name: link, group_by: [asset] }
`;
  const key = 'link{asset="sw-1"}';
  const link = (t: number, type: 'down' | 'up') => ev(t, { asset: 'sw-1', type });

  it('ships the count and a mark, not the incident record, and another agent resolves it as one agent would', () => {
    const { stores, wire } = wiredStores(['agent-a', 'agent-b'], 2);
    const [a, b] = stores.map((s) => engineFrom(yaml, s));
    expect(a!.process([link(1000, 'down')], 1000).map((c) => c.kind)).toEqual(['opened']);
    deliver(stores[1]!, wire[0]!.splice(0));
    expect([...a!.process([link(2000, 'down')], 2000), ...b!.process([link(3000, 'down')], 3000)]).toEqual([]);
    const [fromA, fromB] = wire.map((w) => w.splice(0));
    expect([...fromA!, ...fromB!].filter((d) => d.key.startsWith('i:'))).toEqual([]);
    deliver(stores[0]!, fromB!);
    deliver(stores[1]!, fromA!);
    const resolved = a!.process([link(4000, 'up')], 4000);
    expect(resolved.map((c) => [c.kind, c.incident.eventCount, c.incident.lastSeenMs])).toEqual([
      ['resolved', 4, 4000],
    ]);
    deliver(stores[1]!, wire[0]!.splice(0));
    expect(b!.book.get(key)!.incident).toMatchObject({ status: 'resolved', eventCount: 4, resolvedAtMs: 4000 });
  });
});

describe("an open incident's last seen mark", () => {
  /** A store that notes every read of a last seen mark (`ls:`). */
  class MarkReadingStore extends MemoryStateStore {
    readonly marksRead: string[] = [];
    override readMax(key: string): number | undefined {
      if (key.startsWith('ls:')) this.marksRead.push(key);
      return super.readMax(key);
    }
  }

  it('is read once per step when both the record and the mark changed since the last, and raises its last seen', () => {
    const store = new MarkReadingStore('agent-a');
    const engine = engineFrom(diskRules(1), store);
    engine.process([disk(1000)], 1000);
    // An escalating repeat rewrites the record and raises the mark; another agent's later repeat raises the mark too.
    const escalates = engine.process([ev(2000, { ...disk(2000), severityNumber: 21, severityText: 'FATAL' })], 2000);
    expect(escalates.map((c) => c.kind)).toEqual(['escalated']);
    store.merge({ kind: 'max', key: 'ls:' + DISK_KEY, value: 2500, expiresAtMs: 1e12 });
    store.marksRead.length = 0;
    engine.tick(3000);
    expect(store.marksRead).toEqual(['ls:' + DISK_KEY]);
    expect(engine.book.get(DISK_KEY)!.incident.lastSeenMs).toBe(2500);
  });

  it('is not looked at again before each step of a sole writer (a partition, one agent alone): its own attaches raise it', () => {
    const store = new MarkReadingStore('agent-a');
    const engine = engineFrom(diskRules(1), store, { soleWriter: true });
    engine.process([disk(1000)], 1000);
    engine.process([ev(2000, { ...disk(2000), severityNumber: 21, severityText: 'FATAL' })], 2000);
    store.marksRead.length = 0;
    expect(engine.process([disk(2500)], 2500)).toEqual([]);
    engine.tick(3000);
    // The repeat's attach raised it as it went: no step looked at it again.
    expect(store.marksRead).toEqual([]);
    expect(engine.book.get(DISK_KEY)!.incident.lastSeenMs).toBe(2500);
    const resolved = engine.tick(200_000).filter((ch) => ch.kind === 'resolved');
    expect(resolved.map((ch) => ch.incident.lastSeenMs)).toEqual([2500]);
  });

  it("of a sole writer's store restored after its engine was made (a durable store's log) raises its record's last seen at the first step", () => {
    const before = new MemoryStateStore('agent-a');
    // What a durable store's log keeps: each write as it was made.
    const log: StateDelta[] = [];
    before.onDelta((d) => log.push(structuredClone(d)));
    const first = engineFrom(diskRules(1), before, { soleWriter: true });
    first.process([disk(1000)], 1000);
    // A repeat raises the mark, and the record in memory; the record as written still says 1000.
    first.process([disk(4000)], 4000);
    const store = new MemoryStateStore('agent-a');
    const engine = engineFrom(diskRules(1), store, { soleWriter: true });
    for (const d of log) store.merge(d);
    expect((store.read('i:' + DISK_KEY)!.value as unknown as IncidentRecord).incident.lastSeenMs).toBe(1000);
    engine.tick(5000);
    expect(engine.book.get(DISK_KEY)!.incident.lastSeenMs).toBe(4000);
  });
});
