import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CorrelationEngine } from '../../src/correlation/engine.ts';
import type { VigilEvent } from '../../src/model/event.ts';
import type { IncidentChange } from '../../src/model/incident.ts';
import { LeaderElection, RedisLease, type ElectionTimers } from '../../src/state/redisLease.ts';
import type { RedisStateStore } from '../../src/state/redisStateStore.ts';
import { RedisTicketLedger } from '../../src/state/redisTicketLedger.ts';
import { brief, engineFrom, ev, Timeline } from '../support/correlation.ts';
import { startRedis, waitFor, type RedisServer } from '../support/redis.ts';
import { freshPrefix, openStore, type TestStore } from './redisHelpers.ts';

const RULES = `
defaults: { group_wait: 0s, allowed_lateness: 5s, reopen_window: 0s }
rules:
  - { kind: threshold, name: errors, match: severity_text == "ERROR", group_by: [service], window: 60s, bucket: 1s, threshold: 6 }
  - { kind: pair, name: link, match: 'attributes["check"] == "link"', group_by: [asset] }
  - { kind: absence, name: heartbeat, match: 'attributes["check"] == "heartbeat"', group_by: [asset], interval: 1m }
`;

const NODES = ['node-1', 'node-2', 'node-3'];

/**
 * Five minutes of a small estate, in time order: errors of two services spread over three nodes
 * (only the fleet-wide count crosses the threshold), links that go down on one node and come
 * back, and heartbeats of which db-2's stop for two minutes. Each event carries the node that
 * saw it: in a DaemonSet each agent gets only its node's events.
 */
function stream(): { t: number; node: number; events: VigilEvent[] }[] {
  const out: { t: number; node: number; events: VigilEvent[] }[] = [];
  let n = 0;
  const at = (t: number, e: Partial<VigilEvent>) => out.push({ t, node: n++ % 3, events: [ev(t, e)] });
  for (let t = 0; t <= 300_000; t += 2_000) {
    if (t % 30_000 === 0)
      for (const db of ['db-1', 'db-2', 'db-3'])
        if (db !== 'db-2' || t < 100_000 || t > 220_000) at(t, { asset: db, attributes: { check: 'heartbeat' } });
    if ((t >= 10_000 && t < 30_000) || (t >= 200_000 && t < 216_000))
      at(t, { service: 'billing', severityText: 'ERROR', severityNumber: 17 });
    if (t % 20_000 === 0) at(t, { service: 'web', severityText: 'ERROR', severityNumber: 17 });
    if (t === 40_000 || t === 130_000)
      at(t, { asset: 'sw-1', type: 'down', title: 'sw-1 link down', attributes: { check: 'link' } });
    if (t === 90_000 || t === 150_000)
      at(t, { asset: 'sw-1', type: 'up', title: 'sw-1 link up', attributes: { check: 'link' } });
    if (t === 60_000) at(t, { asset: 'sw-2', type: 'down', title: 'sw-2 link down', attributes: { check: 'link' } });
  }
  return out;
}

const staticClock: ElectionTimers = { now: () => 0, setTimeout: () => undefined, clearTimeout: () => undefined };

/**
 * What an agent's view holds, key by key: equal views mean the agents have converged. An
 * incident's audit trail and sample are their sets' (`au:`, `sm:`), which reads fill the
 * record's copies from; an open incident's last seen is its mark's (`ls:`) and, when it counts
 * its group's events, its count and what is pending of it are the shared count's (`n:`): an
 * attach that moves only those raises the mark and the count and leaves the record unwritten,
 * though the agent's own copy holds what its reads made of them.
 */
function view(store: RedisStateStore): string {
  const keys = [...store.keys('')].sort();
  const value = (k: string) => {
    const r = store.read(k);
    const rec = r?.value as { incident?: { audit?: unknown; status: string }; baseline?: number } | undefined;
    const inc = rec?.incident;
    if (inc?.audit === undefined) return r;
    const open = inc.status !== 'resolved';
    const counted = open && rec!.baseline !== undefined;
    return {
      ...r,
      value: {
        ...rec,
        ...(counted ? { pending: 0 } : {}),
        incident: {
          ...inc,
          audit: [],
          sampleEventIds: [],
          ...(open ? { lastSeenMs: 0 } : {}),
          ...(counted ? { eventCount: 0 } : {}),
        },
      },
    };
  };
  return JSON.stringify(
    keys.map((k) => [k, value(k), store.readMax(k), store.sumCounts(k, -Infinity, Infinity), store.readSet(k)]),
  );
}

describe('three agents sharing one Redis', () => {
  let redis: RedisServer;
  beforeAll(async () => {
    redis = await startRedis();
  });
  afterAll(async () => {
    await redis.stop();
  });

  it('produce the incidents of one agent fed the whole stream, one ticket claim each, across a leader failover', async () => {
    const events = stream();

    const single = new Timeline(engineFrom(RULES));
    for (const step of events) single.send(step.events, step.t);
    single.advance(400_000);

    const prefix = freshPrefix();
    const agents: TestStore[] = [];
    let nowMs = 0;
    // The stores read the engine's (virtual) clock, as the daemon gives them its own.
    for (const node of NODES) agents.push(await openStore(redis.url, prefix, node, { now: () => nowMs }));
    const stores = agents.map((a) => a.store);
    const engines: CorrelationEngine[] = stores.map((s) => engineFrom(RULES, s as never));
    const elections = stores.map(
      (s, i) =>
        new LeaderElection({
          lease: new RedisLease(
            s.redis,
            [`${prefix}:lease:{leader}`, `${prefix}:lease:{leader}#fence`],
            NODES[i]!,
            300,
          ),
          timers: staticClock,
        }),
    );
    const ledgers = stores.map(
      (s, i) =>
        new RedisTicketLedger({
          client: s.redis,
          keys: s.redisKeys,
          owner: NODES[i]!,
          exporter: 'glpi',
          claimTtlMs: 10_000,
          recordTtlMs: 3_600_000,
        }),
    );
    const emitted: IncidentChange[] = [];
    const claimsWon = new Map<string, number>();

    /** After one agent acted: ship its writes, wait until every agent sees the same state. */
    const settle = async (acting: number) => {
      if (stores[acting]!.pendingKeys() === 0) return;
      await stores[acting]!.flush();
      await waitFor(() => new Set(stores.map(view)).size === 1, 'the agents to converge');
    };
    /** Each opened incident goes to every agent's ticket exporter at once, as duplicates would. */
    const ticket = async (changes: IncidentChange[]) => {
      emitted.push(...changes);
      for (const c of changes) {
        const { key, id } = c.incident;
        if (c.kind === 'resolved') {
          const rec = await ledgers[0]!.get(key);
          if (rec) await ledgers[0]!.put(key, { ...rec, resolved: true });
        }
        if (c.kind !== 'opened') continue;
        const wins = await Promise.all(ledgers.map((l) => l.claim(key)));
        const winner = wins.indexOf(true);
        claimsWon.set(id, (claimsWon.get(id) ?? 0) + wins.filter(Boolean).length);
        if (winner >= 0) await ledgers[winner]!.put(key, { ref: `T-${id}`, incidentId: id, resolved: false });
      }
    };
    const dead = new Set<LeaderElection>();
    const leader = async () => {
      for (const e of elections) if (!dead.has(e)) await e.step();
      const leaders = elections.filter((e) => !dead.has(e) && e.isLeader);
      expect(leaders).toHaveLength(1);
      return elections.indexOf(leaders[0]!);
    };

    let failedOver = false;
    const advance = async (ms: number) => {
      for (let next = Math.floor(nowMs / 1000) * 1000 + 1000; next <= ms; next += 1000) {
        if (!failedOver && next >= 100_000) {
          // The leader's timer loop dies without a word; another agent takes over once the lease lapses.
          const old = await leader();
          await elections[old]!.stop(false);
          dead.add(elections[old]!);
          await waitFor(async () => {
            for (const e of elections) if (!dead.has(e)) await e.step();
            return elections.some((e) => !dead.has(e) && e.isLeader);
          }, 'a new leader');
          expect(await leader()).not.toBe(old);
          failedOver = true;
        }
        const l = await leader();
        await ticket(engines[l]!.tick(next));
        for (const s of stores) s.sweep(next);
        await settle(l);
      }
      nowMs = Math.max(nowMs, ms);
    };

    for (const step of events) {
      await advance(step.t);
      await ticket(engines[step.node]!.process(step.events, nowMs));
      await settle(step.node);
    }
    await advance(400_000);

    expect(brief(single.changes).length).toBeGreaterThan(5);
    expect(brief(emitted)).toEqual(brief(single.changes));
    expect(emitted.map((c) => c.incident)).toEqual(single.changes.map((c) => c.incident));
    const incidents = (e: CorrelationEngine) =>
      e
        .incidents()
        .map((r) => r.incident)
        .sort((a, b) => a.key.localeCompare(b.key));
    for (const e of engines) expect(incidents(e)).toEqual(incidents(single.engine));
    // sw-1 and billing open twice: two incidents each, so two tickets each.
    const opened = single.changes.filter((c) => c.kind === 'opened').map((c) => c.incident.id);
    expect(opened).toHaveLength(new Set(opened).size);
    expect([...claimsWon.keys()].sort()).toEqual([...opened].sort());
    for (const n of claimsWon.values()) expect(n).toBe(1);
    expect(brief(single.changes)).toContain('opened! heartbeat{asset="db-2"}');

    await Promise.all(ledgers.map((l) => l.close()));
    await Promise.all(elections.map((e) => e.stop()));
    await Promise.all(stores.map((s) => s.close()));
  }, 60_000);

  it('share silences: one made on one agent silences the incidents another opens, and its expiry there releases them', async () => {
    const prefix = freshPrefix();
    let nowMs = 10_000;
    const [a, b] = [
      await openStore(redis.url, prefix, 'node-1', { now: () => nowMs }),
      await openStore(redis.url, prefix, 'node-2', { now: () => nowMs }),
    ];
    const rules =
      'defaults: { group_wait: 0s, allowed_lateness: 5s }\nrules:\n  - { kind: pair, name: link, group_by: [asset] }';
    const [ea, eb] = [engineFrom(rules, a!.store as never), engineFrom(rules, b!.store as never)];
    const silence = {
      id: 's1',
      matchers: [{ name: 'asset', value: 'sw-1', isRegex: false, isEqual: true }],
      startsAtMs: nowMs,
      endsAtMs: nowMs + 3_600_000,
      createdBy: 'ann',
      comment: 'swap',
      tenant: '',
      updatedAtMs: nowMs,
    };
    ea.putSilence(silence, nowMs);
    await a!.store.flush();
    await waitFor(() => eb.silences.get('s1') !== undefined, 'the silence on the other agent');
    // The other agent reads the shared silences at its next tick.
    eb.settle(nowMs);
    const opened = eb.process([ev(nowMs, { asset: 'sw-1', type: 'down' })], nowMs);
    expect(opened.map((c) => [c.kind, c.notify, c.incident.suppressedBy])).toEqual([['opened', false, 'silence:s1']]);
    await b!.store.flush();
    await waitFor(() => ea.openIncidents().length === 1, 'the incident on the first agent');
    nowMs += 1000;
    const released = ea.putSilence({ ...silence, endsAtMs: nowMs, updatedAtMs: nowMs }, nowMs);
    expect(released.map((c) => [c.kind, c.notify])).toEqual([
      ['unsuppressed', false],
      ['opened', true],
    ]);
    await Promise.all([a!.store.close(), b!.store.close()]);
  }, 60_000);
});
