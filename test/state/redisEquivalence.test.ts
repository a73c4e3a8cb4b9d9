import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { IncidentChange } from '../../src/model/incident.ts';
import { FakeGlpi } from '../support/fakes/glpi.ts';
import { startRedis, type RedisServer } from '../support/redis.ts';
import {
  aloneOnce,
  expectTheSame,
  linkStates,
  notified,
  raceTold,
  runStream,
  stories,
  TIME_TOLERANCE_MS,
} from './equivalenceStream.ts';

/**
 * Three agents sharing Redis against one agent with the memory store, fed the same seeded
 * stream in real time (events round robin to the three): error storms, downs and ups, a flapping
 * link and heartbeats that stop. What a user compares: per incident key, the incidents (opening
 * and resolution times, counts, status), one notification per incident per reason, one ticket
 * per notified incident.
 */
describe('three agents sharing Redis and one agent alone, fed the same stream', () => {
  let redis: RedisServer;
  beforeAll(async () => {
    redis = await startRedis();
  });
  const alone = aloneOnce();
  afterAll(async () => {
    await alone.close();
    await redis.stop();
  });

  const run = (
    agents: number,
    glpi: FakeGlpi,
    fault?: (offsetMs: number) => Promise<void>,
    links?: string[],
    sharing: 'state' | 'partitions' = 'state',
  ) => runStream(redis, agents, glpi, fault, links, sharing);

  it('tell the same incidents, counts, notifications and tickets', async () => {
    const { one, glpi: glpiOne } = await alone.get(redis);
    const glpiThree = await new FakeGlpi().listen();
    try {
      const three = await run(3, glpiThree, undefined, linkStates(stories(one.changes, one.base)));
      expect(one.events).toBeGreaterThan(5000);
      // The stream itself has ups without a down (sw-flap's last): only more of them, or an
      // incident settled on another agent's word, tell of a race.
      expect(one.changes.filter(raceTold)).toEqual([]);
      const raced = three.linkIgnored !== one.linkIgnored || three.changes.some(raceTold);
      // Links raced past the shared state: each ends in the state its latest event says; the
      // number and counts of their incidents are compared only when no transition raced.
      const whole = (s: { key: string }) => !raced || !s.key.startsWith('link{');
      if (raced) {
        console.warn('link transitions outran the shared state: links compared by their state only');
        expect(linkStates(stories(three.changes, three.base))).toEqual(linkStates(stories(one.changes, one.base)));
      }
      const a = stories(one.changes, one.base).filter(whole);
      const b = stories(three.changes, three.base).filter(whole);
      expect(b.map((s) => `${s.key} ${s.status} ${s.count}`)).toEqual(a.map((s) => `${s.key} ${s.status} ${s.count}`));
      for (let i = 0; i < a.length; i++) {
        expect(Math.abs(b[i]!.openedAt - a[i]!.openedAt), `${a[i]!.key} opened`).toBeLessThanOrEqual(TIME_TOLERANCE_MS);
        expect(Math.abs(b[i]!.resolvedAt - a[i]!.resolvedAt), `${a[i]!.key} resolved`).toBeLessThanOrEqual(
          TIME_TOLERANCE_MS,
        );
      }
      const notifiedWhole = (changes: IncidentChange[]) => notified(changes.filter((c) => whole(c.incident)));
      expect(notifiedWhole(three.changes)).toEqual(notifiedWhole(one.changes));
      const tickets = (g: FakeGlpi) =>
        [...g.tickets.values()].filter((t) => !raced || !JSON.stringify(t).includes('link{')).length;
      expect(tickets(glpiThree)).toBe(tickets(glpiOne));
      expect(glpiOne.count('POST', 'Ticket')).toBe(
        new Set(one.changes.filter((c) => c.notify).map((c) => c.incident.id)).size,
      );
    } finally {
      await glpiThree.close();
    }
  }, 150_000);

  it('tell the same incidents, counts, notifications and tickets, links whole, when they share the work by partitions', async () => {
    const { one, glpi: glpiOne } = await alone.get(redis);
    const glpiThree = await new FakeGlpi().listen();
    try {
      const three = await run(3, glpiThree, undefined, linkStates(stories(one.changes, one.base)), 'partitions');
      expectTheSame(one, three, glpiOne, glpiThree);
    } finally {
      await glpiThree.close();
    }
  }, 150_000);

  it('count every error storm and every silence the same when Redis is down for 6 s mid-stream', async () => {
    const { one, glpi: glpiOne } = await alone.get(redis);
    const glpiThree = await new FakeGlpi().listen();
    let phase = 0;
    try {
      const three = await run(3, glpiThree, async (offsetMs) => {
        if (phase === 0 && offsetMs >= 8000) {
          phase = 1;
          await redis.kill();
        } else if (phase === 1 && offsetMs >= 14_000) {
          phase = 2;
          await redis.restart();
        }
      });
      expect(phase).toBe(2);
      // The agents correlated alone during the outage; once Redis is back their storms merge:
      // the same incidents, statuses and counts as one agent, no event lost, no resolution missed.
      // The heartbeats sent while Redis restarted arrive late (within allowed_lateness) and on
      // different agents: no silence comes of it. Links are left out: see the README's limits.
      const storms = (changes: IncidentChange[], base: number) =>
        stories(changes, base).filter((s) => !s.key.startsWith('link{'));
      const a = storms(one.changes, one.base);
      const b = storms(three.changes, three.base);
      expect(b.map((s) => `${s.key} ${s.status} ${s.count}`)).toEqual(a.map((s) => `${s.key} ${s.status} ${s.count}`));
      for (let i = 0; i < a.length; i++)
        expect(Math.abs(b[i]!.resolvedAt - a[i]!.resolvedAt), `${a[i]!.key} resolved`).toBeLessThanOrEqual(
          TIME_TOLERANCE_MS,
        );
      // One ticket per storm: ticket work waited for the shared ledger during the outage.
      const stormTickets = (g: FakeGlpi) =>
        [...g.tickets.values()].filter((t) => JSON.stringify(t).includes('errors{')).length;
      expect(stormTickets(glpiThree)).toBe(stormTickets(glpiOne));
    } finally {
      if (phase === 1) await redis.restart();
      await glpiThree.close();
    }
  }, 200_000);
});
