import { describe, expect, it } from 'vitest';
import type { IncidentRecord } from '../../src/correlation/incidentBook.ts';
import { canonical, joinIncidentRecords, sameRecord } from '../../src/correlation/incidentJoin.ts';
import type { IncidentAuditEntry, IncidentChange } from '../../src/model/incident.ts';
import { MemoryStateStore } from '../../src/state/memoryStore.ts';
import type { StateDelta } from '../../src/correlation/stateStore.ts';
import { engineFrom, ev } from '../support/correlation.ts';
import { mulberry32 } from '../support/seededRandom.ts';

const rng = mulberry32;

const pick = <T>(r: () => number, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;

/** A plausible record for key k: one of three ids, open or resolved, with a few events, audit entries and notifications. */
function randomRecord(r: () => number): IncidentRecord {
  const id = pick(r, ['x', 'y', 'z']);
  const openedAtMs = { x: 1000, y: 1200, z: 1200 }[id]!;
  const resolved = r() < 0.4;
  const resolvedAtMs = resolved ? openedAtMs + (1 + Math.floor(r() * 4)) * 500 : 0;
  const count = 1 + Math.floor(r() * 5);
  const audit: IncidentAuditEntry[] = [{ atMs: openedAtMs, kind: 'opened', reason: `opened ${id}` }];
  if (r() < 0.5) audit.push({ atMs: openedAtMs + 100, kind: 'opened', reason: 'group_wait elapsed' });
  if (resolved) audit.push({ atMs: resolvedAtMs, kind: 'resolved', reason: 'up event' });
  return {
    incident: {
      key: 'k',
      id,
      rule: 'r',
      ruleKind: 'pair',
      labels: { asset: 'a' },
      title: 't',
      status: resolved ? 'resolved' : 'open',
      severityNumber: pick(r, [17, 18, 21]),
      severityText: 'ERROR',
      suppressed: false,
      suppressedBy: '',
      openedAtMs,
      updatedAtMs: Math.max(openedAtMs, resolvedAtMs) + Math.floor(r() * 100),
      resolvedAtMs,
      firstSeenMs: openedAtMs - Math.floor(r() * 100),
      lastSeenMs: openedAtMs + Math.floor(r() * 2000),
      eventCount: count,
      sampleEventIds: [...new Set(Array.from({ length: count }, () => pick(r, ['e1', 'e2', 'e3', 'e4', 'e5', 'e6'])))],
      lastEventType: 'down',
      tenant: '',
      asset: 'a',
      service: '',
      version: Math.floor(r() * 10),
      audit,
      ...(r() < 0.3 ? { mergedIds: [pick(r, ['w', 'v'])] } : {}),
    },
    notifiedAtMs: r() < 0.5 ? -1 : openedAtMs + 100,
    pending: 0,
    notifiedCount: Math.floor(r() * count),
    statusAtMs: resolved ? resolvedAtMs : openedAtMs,
    parent: '',
    members: { '': resolved ? 'up' : 'down' },
    lastDown: '',
    flapping: false,
    escalated: r() < 0.2,
    mark: 0,
    resolveHeldUntilMs: 0,
  };
}

const j = (a: IncidentRecord, b: IncidentRecord) => joinIncidentRecords(a, b, 99);

describe('joining incident records two agents wrote', () => {
  it('settles: the same whichever agent merges, merging again changes nothing, and agents that merge in any order soon agree (500 seeded cases)', () => {
    for (let seed = 1; seed <= 500; seed++) {
      const r = rng(seed);
      const [a, b, c] = [randomRecord(r), randomRecord(r), randomRecord(r)];
      const ab = j(a, b);
      expect(canonical(ab), `commutative, seed ${seed}`).toBe(canonical(j(b, a)));
      expect(canonical(j(a, a)), `idempotent, seed ${seed}`).toBe(canonical(a));
      expect(canonical(j(ab, a)), `absorbs a, seed ${seed}`).toBe(canonical(ab));
      expect(canonical(j(ab, b)), `absorbs b, seed ${seed}`).toBe(canonical(ab));
      // Five agents holding these, merging pairwise until nothing changes: they stop soon, agreeing.
      const agents = [a, b, c, j(ab, c), j(a, j(b, c))];
      let rounds = 0;
      for (let changed = true; changed; rounds++) {
        expect(rounds, `settles, seed ${seed}`).toBeLessThan(10);
        changed = false;
        for (let x = 0; x < agents.length; x++) {
          for (let y = 0; y < agents.length; y++) {
            const merged = j(agents[x]!, agents[y]!);
            if (canonical(merged) !== canonical(agents[x]!)) {
              agents[x] = merged;
              changed = true;
            }
          }
        }
      }
      for (const x of agents) expect(canonical(x), `agree, seed ${seed}`).toBe(canonical(agents[0]!));
    }
  });

  it('tells two records the same exactly when their canonical texts are equal (500 seeded cases)', () => {
    /** A copy that differs from `x` in what canonical ignores, or in one field it does not. */
    const variant = (r: () => number, x: IncidentRecord): IncidentRecord => {
      const v = structuredClone(x);
      switch (Math.floor(r() * 9)) {
        case 0:
          v.pending += 3;
          v.incident.version += 1;
          break;
        case 1:
          v.incident.sampleEventIds.reverse();
          v.incident.audit.reverse();
          break;
        case 2:
          v.incident.eventCount += 1;
          break;
        case 3:
          v.incident.sampleEventIds.push('e9');
          break;
        case 4:
          v.incident.audit[0] = { ...v.incident.audit[0]!, reason: 'other' };
          break;
        case 5:
          v.members = { ...v.members, b: 'up' };
          break;
        case 6:
          (v as { baseline?: number }).baseline = undefined;
          v.incident.mergedIds = undefined;
          break;
        case 7:
          v.incident.labels = Object.fromEntries(Object.entries(v.incident.labels).reverse());
          break;
        default:
          v.incident.audit[0] = { ...v.incident.audit[0]!, suppressedBy: 'x' } as IncidentAuditEntry;
          break;
      }
      return v;
    };
    for (let seed = 1; seed <= 500; seed++) {
      const r = rng(seed);
      const [a, b] = [randomRecord(r), randomRecord(r)];
      for (const [x, y] of [
        [a, b],
        [a, variant(r, a)],
        [j(a, b), variant(r, j(b, a))],
        [variant(r, b), variant(r, b)],
      ] as const) {
        expect(sameRecord(x, y), `seed ${seed}`).toBe(canonical(x) === canonical(y));
        expect(sameRecord(y, x), `seed ${seed}`).toBe(canonical(x) === canonical(y));
      }
    }
  });

  it('takes the latest status by event time: a down on one agent and an up on another resolve', () => {
    const r = rng(7);
    const open = { ...randomRecord(r) };
    open.incident = { ...open.incident, id: 'x', openedAtMs: 1000, status: 'open', resolvedAtMs: 0 };
    open.statusAtMs = 1000;
    const resolved = structuredClone(open);
    resolved.incident.status = 'resolved';
    resolved.incident.resolvedAtMs = 3000;
    resolved.statusAtMs = 3000;
    // The open one was written later (a higher version): event time decides, not write order.
    open.incident.version = 50;
    resolved.incident.version = 2;
    expect(j(open, resolved).incident).toMatchObject({ id: 'x', status: 'resolved', resolvedAtMs: 3000 });
  });

  it('makes one incident of two that two agents opened each, dated at the earlier opening, the other id named as merged', () => {
    const r = rng(11);
    const early = randomRecord(r);
    early.incident = {
      ...early.incident,
      id: 'early',
      openedAtMs: 1000,
      status: 'open',
      resolvedAtMs: 0,
      eventCount: 3,
    };
    early.statusAtMs = 1000;
    early.notifiedAtMs = -1;
    const told = structuredClone(early);
    told.incident = { ...told.incident, id: 'told', openedAtMs: 1100, eventCount: 4 };
    told.statusAtMs = 1100;
    told.notifiedAtMs = 1100;
    for (const out of [j(early, told), j(told, early)]) {
      // The notification already sent stands (none is sent again), and so does the id it carried.
      expect(out.incident).toMatchObject({ id: 'told', openedAtMs: 1000, mergedIds: ['early'], eventCount: 4 });
      expect(out.notifiedAtMs).toBe(1100);
      expect(out.incident.audit.some((e) => e.reason.startsWith('merged incident early,'))).toBe(true);
    }
  });

  it('keeps the earlier opening a twin brought when the survivor is written again by an agent that had not heard of the twin', () => {
    const r = rng(17);
    const merged = randomRecord(r);
    merged.incident = { ...merged.incident, id: 'told', openedAtMs: 1000, status: 'open', resolvedAtMs: 0 };
    merged.incident.mergedIds = ['early'];
    merged.statusAtMs = 1100;
    merged.incident.version = 5;
    // Another agent attached an event to the survivor as it opened it, at a higher version.
    const attached = structuredClone(merged);
    attached.incident.openedAtMs = 1100;
    delete attached.incident.mergedIds;
    attached.incident.lastSeenMs = merged.incident.lastSeenMs + 500;
    attached.incident.version = 9;
    for (const out of [j(merged, attached), j(attached, merged)])
      expect(out.incident).toMatchObject({ id: 'told', openedAtMs: 1000, mergedIds: ['early'] });
  });

  it('makes one incident of twins that were both resolved, apart, before their records met', () => {
    const r = rng(19);
    const a = randomRecord(r);
    a.incident = { ...a.incident, id: 'a', openedAtMs: 1000, status: 'resolved', resolvedAtMs: 5000, eventCount: 3 };
    delete a.incident.mergedIds;
    a.statusAtMs = 5000;
    const b = structuredClone(a);
    b.incident = { ...b.incident, id: 'b', openedAtMs: 2000, resolvedAtMs: 6000, eventCount: 4 };
    b.statusAtMs = 6000;
    for (const out of [j(a, b), j(b, a)])
      expect(out.incident).toMatchObject({
        id: 'b',
        openedAtMs: 1000,
        resolvedAtMs: 6000,
        mergedIds: ['a'],
        eventCount: 4,
      });
    // A resolved incident opened after the other's resolution is still the next one on the key.
    const next = structuredClone(b);
    next.incident = { ...next.incident, id: 'next', openedAtMs: 5000, resolvedAtMs: 7000 };
    next.statusAtMs = 7000;
    for (const out of [j(a, next), j(next, a)]) {
      expect(out.incident.id).toBe('next');
      expect(out.incident.mergedIds).toBeUndefined();
    }
  });

  it('lets a new incident on the key replace one resolved before it opened', () => {
    const r = rng(13);
    const old = randomRecord(r);
    old.incident = { ...old.incident, id: 'old', openedAtMs: 1000, status: 'resolved', resolvedAtMs: 2000 };
    const next = structuredClone(old);
    next.incident = { ...next.incident, id: 'new', openedAtMs: 2500, status: 'open', resolvedAtMs: 0 };
    next.statusAtMs = 2500;
    for (const out of [j(old, next), j(next, old)]) {
      expect(out.incident.id).toBe('new');
      expect(out.incident.mergedIds).toBeUndefined();
    }
  });
});

/**
 * Agents whose stores exchange writes over a network that delays, reorders and partitions:
 * after the network heals and delivers everything, every agent holds the same incidents, with
 * the counts one agent alone would have.
 */
describe('agents sharing state over an unreliable network', () => {
  const rules = `
defaults: { group_wait: 0s, allowed_lateness: 10m, reopen_window: 0s }
rules:
  - { kind: pair, name: link, group_by: [asset] }
  - { kind: threshold, name: errors, match: 'severity_text == "ERROR"', group_by: [service], window: 1m, threshold: 5 }
  - { kind: dedup, name: disk, match: 'attributes["check"] == "disk"', group_by: [asset], dedup_window: 10m }
`;

  /**
   * What Redis gives agents: the writes of one engine step travel together (one flush, one
   * message), messages arrive late and in any order, and none while partitioned.
   */
  function cluster(n: number, seed: number) {
    const r = rng(seed);
    const stores = Array.from({ length: n }, (_, i) => new MemoryStateStore(`agent-${i}`));
    const engines = stores.map((s) => engineFrom(rules, s));
    const inFlight: { to: number; deltas: StateDelta[] }[] = [];
    const outbox: StateDelta[][] = stores.map(() => []);
    let partitioned = false;
    stores.forEach((s, from) => s.onDelta((d) => outbox[from]!.push(structuredClone(d))));
    /** Ends an engine step on every agent: what each wrote goes out as one message to each other agent. */
    const send = () =>
      outbox.forEach((deltas, from) => {
        if (deltas.length > 0) stores.forEach((_, to) => to !== from && inFlight.push({ to, deltas: deltas.slice() }));
        deltas.length = 0;
      });
    /** Delivers some of what is in flight, in random order; everything when `all`. */
    const deliver = (all = false) => {
      // Merges answer merges only while a value grows: a network that never quiets is a bug.
      for (let round = 0; ; round++) {
        if (round > 100_000) throw new Error("the agents never stopped answering each other's merges");
        send();
        if (inFlight.length === 0 || (!all && (partitioned || r() < 0.3))) return;
        const [m] = inFlight.splice(Math.floor(r() * inFlight.length), 1);
        for (const d of m!.deltas) stores[m!.to]!.merge(d);
      }
    };
    return {
      engines,
      r,
      setPartitioned: (p: boolean) => (partitioned = p),
      deliver,
    };
  }

  /** One seeded stream: error storms, downs and ups, disk alerts, over 10 groups of each. */
  function stream(seed: number, n: number) {
    const r = rng(seed * 31);
    return Array.from({ length: n }, (_, i) => {
      const t = 1000 + i * 200;
      const g = Math.floor(r() * 4);
      const kind = r();
      if (kind < 0.5) return ev(t, { service: `svc-${g}`, severityText: 'ERROR', severityNumber: 17 });
      if (kind < 0.8) return ev(t, { asset: `sw-${g}`, type: r() < 0.55 ? 'down' : 'up' });
      return ev(t, { asset: `host-${g}`, attributes: { check: 'disk' } });
    });
  }

  /**
   * What a user compares: per key, the standing incident's status, and its count for the window
   * and dedup rules. A pair incident's count is left out: an agent that attaches a down to an
   * incident another agent resolved moments before (a flap faster than the agents share state)
   * leaves that event counted on the resolved incident, where one agent would have opened the
   * next incident with it; docs/correlation.md says so.
   */
  function summary(records: IncidentRecord[]) {
    return records
      .map(
        (rec) =>
          `${rec.incident.key} ${rec.incident.status}${rec.incident.rule === 'link' ? '' : ` ${rec.incident.eventCount}`}`,
      )
      .sort();
  }

  for (const seed of [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]) {
    it(`three agents, round robin, one partition, then healed: the same incidents and counts everywhere as one agent (seed ${seed})`, () => {
      const events = stream(seed, 300);
      const alone = engineFrom(rules);
      const aloneChanges: IncidentChange[] = [];
      for (const e of events) aloneChanges.push(...alone.process([e], Number(e.timeUnixNano / 1_000_000n)));

      const c = cluster(3, seed);
      const changes: IncidentChange[] = [];
      events.forEach((e, i) => {
        if (i === 100) c.setPartitioned(true);
        if (i === 160) c.setPartitioned(false);
        const t = Number(e.timeUnixNano / 1_000_000n);
        changes.push(...c.engines[i % 3]!.process([e], t));
        c.deliver();
      });
      c.deliver(true);
      const end = 1000 + events.length * 200;
      // The leader's tick settles what only merged state shows (an up another agent saw); the others tell their merges.
      changes.push(...c.engines[0]!.tick(end), ...c.engines[1]!.settle(end), ...c.engines[2]!.settle(end));
      c.deliver(true);
      alone.tick(end);

      const views = c.engines.map((e) => summary(e.incidents()));
      expect(views[1]).toEqual(views[0]);
      expect(views[2]).toEqual(views[0]);
      expect(views[0]).toEqual(summary(alone.incidents()));
    });
  }
});
