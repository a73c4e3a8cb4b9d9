import { afterEach, describe, expect, it, vi } from 'vitest';
import { GlpiDriver } from '../../src/exporters/glpi/driver.ts';
import type { GlpiExporterConfig } from '../../src/exporters/glpi/config.ts';
import type { IncidentExporter } from '../../src/exporters/tickets/incidentExporter.ts';
import type { FlushClaim } from '../../src/exporters/tickets/sharedGroups.ts';
import type { RedisStateStore } from '../../src/state/redisStateStore.ts';
import { RedisTicketLedger } from '../../src/state/redisTicketLedger.ts';
import type { FakeGlpi } from '../support/fakes/glpi.ts';
import { ManualTimers } from '../support/fakes/timers.ts';
import { startTcpProxy } from '../support/tcpProxy.ts';
import { waitFor } from '../support/waitFor.ts';
import {
  advanceGroups,
  assetDown,
  compileTree,
  GROUPED_BY_SITE as ROUTING,
  fakeGlpiExporter,
  startIncidentExporter,
  type IncidentStory,
} from '../exporters/incidentFixtures.ts';
import { freshPrefix, openStore, redisAndClients } from './redisHelpers.ts';

const S = 1000;
const M = 60 * S;
const N = 6;

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

/**
 * A grouped route (group_by site) on agents that share Redis and its ticket ledger: the grouped
 * tickets must be those one agent makes, whichever agent each incident of the group reached.
 */
describe('grouped tickets of agents sharing Redis', () => {
  const redis = redisAndClients();

  /** `n` agents on one prefix; `stops` shut each down (once). */
  async function agents(
    config: GlpiExporterConfig,
    timers: ManualTimers,
    n: number,
    claimTtlMs = 10_000,
    urls: string[] = [],
  ) {
    const prefix = freshPrefix();
    const made: IncidentExporter[] = [];
    const stops: (() => Promise<void>)[] = [];
    const stores: RedisStateStore[] = [];
    const ledgers: RedisTicketLedger[] = [];
    for (let i = 0; i < n; i++) {
      const owner = `node-${i}`;
      const { store } = await openStore(urls[i] ?? redis.server().url, prefix, owner, { flushIntervalMs: 20 });
      cleanup.push(() => store.close());
      const ledger = new RedisTicketLedger({
        client: store.redis,
        keys: store.redisKeys,
        owner,
        exporter: 'glpi',
        claimTtlMs,
        recordTtlMs: 3_600_000,
      });
      const tree = compileTree(ROUTING, ['glpi']);
      const { exp, stop } = await startIncidentExporter(
        'glpi',
        config,
        new GlpiDriver(config),
        { timers, ledger, tree },
        cleanup,
      );
      made.push(exp);
      stops.push(stop);
      stores.push(store);
      ledgers.push(ledger);
    }
    return { exps: made, stops, stores, ledgers };
  }

  async function exporters(config: GlpiExporterConfig, timers: ManualTimers, n: number): Promise<IncidentExporter[]> {
    return (await agents(config, timers, n)).exps;
  }

  /** What the tracker shows of the site's group: its tickets' titles and the members each lists, then the follow-ups. */
  function shown(glpi: FakeGlpi): { tickets: string[]; followups: string[] } {
    const tickets = [...glpi.tickets.values()].map((t) => {
      const members = [...t.content.matchAll(/firing · (\w+) down/g)].map((m) => m[1]).sort();
      return `${t.name} [${members.join(',')}]`;
    });
    return { tickets, followups: glpi.followups.map((f) => f.content) };
  }

  /** Moves the clock, then lets every agent flush what fell due and deliver what its groups queued. */
  async function deliverAll(exps: IncidentExporter[], timers: ManualTimers, ms: number) {
    timers.advance(ms);
    for (const e of exps) await e.groups.settled();
    // An agent whose change waits on another's claim of the group's ticket tries again a second later.
    await waitFor(() => {
      if (exps.every((e) => e.outbox.depth === 0)) return true;
      timers.advance(S);
      return false;
    }, 'every agent to deliver what its groups queued');
    for (const e of exps) await advanceGroups(e, timers, 0);
  }

  /** Moves the clock a second at a time, each agent flushing what fell due, until `done`. */
  async function tickUntil(exps: IncidentExporter[], timers: ManualTimers, done: () => boolean, what: string) {
    await waitFor(async () => {
      timers.advance(S);
      for (const e of exps) await e.groups.settled();
      return done();
    }, what);
  }

  /** Moves the clock as tickUntil does until the changes `exp` kept on disk have joined the shared groups. */
  function tickUntilJoined(exps: IncidentExporter[], timers: ManualTimers, exp: IncidentExporter, what: string) {
    return tickUntil(exps, timers, () => exp.groups.waiting === 0, what);
  }

  /** Once a ticket is made and delivered, and a group_interval later: one ticket listing all N members, no follow-up. */
  async function expectOneTicketOfAll(glpi: FakeGlpi, exps: IncidentExporter[], timers: ManualTimers, what: string) {
    const delivered = () => glpi.tickets.size > 0 && exps.every((e) => e.outbox.depth === 0);
    await tickUntil(exps, timers, delivered, what);
    await deliverAll(exps, timers, 5 * M);
    expect(shown(glpi)).toEqual({ tickets: [`[ERROR] site=paris: ${N} firing [${paris6()}]`], followups: [] });
  }

  /** N incidents of one site, handed out round-robin; then half of them resolve. */
  async function play(exps: IncidentExporter[], timers: ManualTimers) {
    const advance = (ms: number) => deliverAll(exps, timers, ms);
    const paris: IncidentStory[] = Array.from({ length: N }, (_, i) => assetDown(`p${i + 1}`, 'paris'));
    for (const [i, s] of paris.entries()) await exps[i % exps.length]!.consumeIncidents([s.next('opened')]);
    await advance(30 * S);
    for (const [i, s] of paris.entries())
      if (i % 2 === 0) await exps[i % exps.length]!.consumeIncidents([s.next('resolved')]);
    await advance(5 * M);
  }

  /** One agent's grouped tickets: one ticket listing every member, one follow-up when half resolve. */
  async function oneAgent() {
    const one = await fakeGlpiExporter(cleanup);
    const timers = new ManualTimers();
    await play(await exporters(one.config, timers, 1), timers);
    return shown(one.glpi);
  }

  it('are, on one agent, one ticket listing every member and one follow-up per group_interval', async () => {
    const alone = await oneAgent();
    expect(alone.tickets).toEqual([`[ERROR] site=paris: ${N} firing [${paris(N)}]`]);
    expect(alone.followups).toHaveLength(1);
    expect(alone.followups[0]).toContain(`updated: ${N / 2} resolved; ${N / 2} firing, ${N / 2} resolved`);
  });

  it('are those of one agent when the incidents of one group are spread over three agents', async () => {
    const alone = await oneAgent();
    const three = await fakeGlpiExporter(cleanup);
    const timers = new ManualTimers();
    await play(await exporters(three.config, timers, 3), timers);
    expect(shown(three.glpi)).toEqual(alone);
  });

  it('are made by another agent once the claim of an agent that died while flushing the group lapses', async () => {
    // Redis keeps real time: a short claim, so the test waits for its end in under a second.
    const claimTtlMs = 400;
    const { glpi, config } = await fakeGlpiExporter(cleanup);
    const timers = new ManualTimers();
    const { exps, stores } = await agents(config, timers, 3, claimTtlMs);
    const paris = Array.from({ length: N }, (_, i) => assetDown(`p${i + 1}`, 'paris'));
    for (const [i, s] of paris.entries()) await exps[i % exps.length]!.consumeIncidents([s.next('opened')]);
    const [group] = exps[0]!.groups.list();
    // An agent claims the group's first flush, reads it, and dies before it notifies.
    const dead = new RedisTicketLedger({
      client: stores[0]!.redis,
      keys: stores[0]!.redisKeys,
      owner: 'node-dead',
      exporter: 'glpi',
      claimTtlMs,
      recordTtlMs: 3_600_000,
    });
    const claimedAt = Date.now();
    const claim = await dead.groups.claimFlush(group!.key);
    expect(claim).not.toBe('held');

    timers.advance(30 * S);
    for (const e of exps) await e.groups.settled();
    // While the claim lasts, no agent flushes: the dead one might be notifying.
    if (Date.now() - claimedAt < claimTtlMs) expect(glpi.tickets.size).toBe(0);
    await expectOneTicketOfAll(glpi, exps, timers, 'a live agent to flush the group once the dead claim lapsed');
    // The dead agent's flush, had it come back, is refused: another agent flushed since.
    await expect((claim as FlushClaim).commit(timers.now(), undefined, true)).rejects.toThrow(/lapsed/);
  });

  it('are made by an agent that never heard of the group when the only agent that knew it is gone', async () => {
    const { glpi, config } = await fakeGlpiExporter(cleanup);
    const timers = new ManualTimers();
    const { exps, stops } = await agents(config, timers, 3);
    const paris = Array.from({ length: N }, (_, i) => assetDown(`p${i + 1}`, 'paris'));
    for (const s of paris) await exps[0]!.consumeIncidents([s.next('opened')]);
    await stops[0]!();
    const live = exps.slice(1);
    expect(live.map((e) => e.groups.size)).toEqual([0, 0]);
    // The others find it among the groups due in Redis at their next look (every claim time to live).
    await deliverAll(live, timers, 30 * S);
    await deliverAll(live, timers, 10 * S);
    expect(shown(glpi)).toEqual({ tickets: [`[ERROR] site=paris: ${N} firing [${paris6()}]`], followups: [] });
  });

  it('keep what agents added while Redis was down, and notify it as one group once it is back', async () => {
    const { glpi, config } = await fakeGlpiExporter(cleanup);
    const timers = new ManualTimers();
    const { exps, stores } = await agents(config, timers, 3);
    const paris = Array.from({ length: N }, (_, i) => assetDown(`p${i + 1}`, 'paris'));
    await redis.server().kill();
    try {
      for (const [i, s] of paris.entries()) await exps[i % exps.length]!.consumeIncidents([s.next('opened')]);
      // Each agent holds its part on disk, and notifies nothing while the shared groups are away.
      expect(exps.map((e) => e.groups.list().map((g) => Object.keys(g.members).length))).toEqual([[2], [2], [2]]);
      expect(exps[0]!.health()).toMatchObject({
        status: 'degraded',
        reason: expect.stringContaining('wait on disk for the shared groups'),
      });
      timers.advance(30 * S);
      for (const e of exps) await e.groups.settled();
      expect(glpi.tickets.size).toBe(0);
    } finally {
      await redis.server().restart();
    }
    // The clock moves a second per look from here: an agent whose connection came back more
    // than group_wait of those looks after another's would find the group notified without its
    // part, which is a slow reconnect, not what this test is about.
    await waitFor(() => stores.every((st) => st.connected), 'every agent to reconnect to Redis');
    await expectOneTicketOfAll(
      glpi,
      exps,
      timers,
      'the held changes to join the shared group, and the group to be notified',
    );
    expect(exps.map((e) => e.health().status)).toEqual(['ok', 'ok', 'ok']);
  });

  it('are tried in Redis once while it is down: the changes that follow go to disk until it answers again', async () => {
    const { glpi, config } = await fakeGlpiExporter(cleanup);
    const timers = new ManualTimers();
    const { exps, ledgers } = await agents(config, timers, 1);
    const shared = ledgers[0]!.groups;
    const spies = (['generation', 'join', 'restore', 'claimFlush', 'due'] as const).map((m) => vi.spyOn(shared, m));
    const calls = () => spies.reduce((n, s) => n + s.mock.calls.length, 0);
    const sites = ['paris', 'lyon', 'lille'];
    await redis.server().kill();
    try {
      // Three groups in one batch, then one change per batch.
      await exps[0]!.consumeIncidents(sites.map((site) => assetDown(`${site}1`, site).next('opened')));
      for (const site of sites) await exps[0]!.consumeIncidents([assetDown(`${site}2`, site).next('opened')]);
      expect(calls()).toBe(1);
      expect(exps[0]!.groups.list().map((g) => Object.keys(g.members).length)).toEqual([2, 2, 2]);
    } finally {
      await redis.server().restart();
    }
    await tickUntilJoined(exps, timers, exps[0]!, 'the changes on disk to join the shared groups once Redis answers');
    await deliverAll(exps, timers, 30 * S);
    expect(shown(glpi).tickets.sort()).toEqual(
      sites.sort().map((site) => `[ERROR] site=${site}: 2 firing [${site}1,${site}2]`),
    );
  });

  it('keep the members agents added when Redis loses its data before the group is notified', async () => {
    const { glpi, config } = await fakeGlpiExporter(cleanup);
    const timers = new ManualTimers();
    const exps = await exporters(config, timers, 3);
    const paris = Array.from({ length: N }, (_, i) => assetDown(`p${i + 1}`, 'paris'));
    for (const [i, s] of paris.entries()) await exps[i % exps.length]!.consumeIncidents([s.next('opened')]);
    // A restart without persistence, a failover to a replica that missed the writes, a FLUSHALL.
    await (await redis.client()).flushall();
    await expectOneTicketOfAll(glpi, exps, timers, 'the group to be notified with what every agent had added');
  });

  /**
   * N incidents spread over three agents are notified; Redis may lose its data then (`lose`);
   * one more joins and half resolve, each at another agent than the one that opened it; then
   * the rest resolve. What the tracker shows, and the solutions it got.
   */
  async function notifiedThenMore(lose: boolean) {
    const { glpi, config } = await fakeGlpiExporter(cleanup);
    const timers = new ManualTimers();
    const exps = await exporters(config, timers, 3);
    const on = (i: number) => exps[i % exps.length]!;
    const paris = Array.from({ length: N + 1 }, (_, i) => assetDown(`p${i + 1}`, 'paris'));
    for (const [i, s] of paris.slice(0, N).entries()) await on(i).consumeIncidents([s.next('opened')]);
    await deliverAll(exps, timers, 30 * S);
    if (lose) await (await redis.client()).flushall();
    await on(1).consumeIncidents([paris[N]!.next('opened')]);
    for (const [i, s] of paris.entries())
      if (i % 2 === 0 && i < N) await on(i + 1).consumeIncidents([s.next('resolved')]);
    // A second passes: each agent looks at the groups' generation.
    await deliverAll(exps, timers, S);
    await deliverAll(exps, timers, 5 * M - S);
    for (const [i, s] of paris.entries())
      if (i % 2 === 1 || i === N) await on(i + 2).consumeIncidents([s.next('resolved')]);
    await deliverAll(exps, timers, 5 * M);
    const { tickets, followups } = shown(glpi);
    // Each follow-up's lines, as a set: members written back are listed in the order agents wrote them back.
    return { tickets, followups: followups.map((f) => f.split('&#60;/p&#62;').sort()), solved: glpi.solutions.length };
  }

  it('notify a group Redis lost after its first notification as if it had kept it: not anew, and to its end', async () => {
    const kept = await notifiedThenMore(false);
    expect(kept).toMatchObject({ tickets: [expect.stringContaining(`${N} firing`)], solved: 1 });
    expect(kept.followups).toHaveLength(1);
    expect(await notifiedThenMore(true)).toEqual(kept);
  });

  it('are notified again, not stuck, when a flush went out but Redis could not record it', async () => {
    const { glpi, config } = await fakeGlpiExporter(cleanup);
    const timers = new ManualTimers();
    const proxy = await startTcpProxy(redis.server());
    cleanup.push(() => proxy.close());
    const { exps } = await agents(config, timers, 1, 10_000, [proxy.url]);
    const exp = exps[0]!;
    const append = exp.outbox.append.bind(exp.outbox);
    let cut = false;
    vi.spyOn(exp.outbox, 'append').mockImplementation(async (items) => {
      await append(items);
      // The group's notification is queued; Redis goes out of reach before the flush is recorded.
      if (!cut && items.some((i) => i.payload.group)) {
        cut = true;
        proxy.cut();
      }
    });
    await exp.consumeIncidents([assetDown('p1', 'paris').next('opened')]);
    timers.advance(30 * S);
    await exp.groups.settled();
    expect(cut).toBe(true);
    proxy.heal();
    await tickUntil(exps, timers, () => glpi.tickets.size === 1 && exp.outbox.depth === 0, 'the ticket to be made');
    await deliverAll(exps, timers, 5 * M);
    await exp.consumeIncidents([assetDown('p2', 'paris').next('opened')]);
    await deliverAll(exps, timers, 5 * M);
    const { tickets, followups } = shown(glpi);
    expect(tickets).toEqual(['[ERROR] site=paris: 1 firing [p1]']);
    // The unrecorded flush is told once more at most, and the group goes on.
    expect(followups.length).toBeLessThanOrEqual(2);
    expect(followups.at(-1)).toContain('updated: 1 joined; 2 firing');
  });

  it('tell the group a resolution an agent heard while cut off from Redis, of a member another agent added', async () => {
    const { glpi, config } = await fakeGlpiExporter(cleanup);
    const timers = new ManualTimers();
    const proxy = await startTcpProxy(redis.server());
    cleanup.push(() => proxy.close());
    const { exps } = await agents(config, timers, 2, 10_000, [redis.server().url, proxy.url]);
    const [p1, p2] = [assetDown('p1', 'paris'), assetDown('p2', 'paris')];
    const p1Key = 'asset_down{asset="p1"}';
    await exps[0]!.consumeIncidents([p1.next('opened'), p2.next('opened')]);
    await deliverAll(exps, timers, 30 * S);
    proxy.cut();
    try {
      // The second agent never had p1: it keeps the resolution on disk for the group all the same.
      await exps[1]!.consumeIncidents([p1.next('resolved')]);
      expect(exps[1]!.groups.list().map((g) => Object.keys(g.members))).toEqual([[p1Key]]);
    } finally {
      proxy.heal();
    }
    await tickUntilJoined(exps, timers, exps[1]!, 'the held resolution to join the shared group');
    await deliverAll(exps, timers, 5 * M);
    expect(shown(glpi)).toEqual({
      tickets: ['[ERROR] site=paris: 2 firing [p1,p2]'],
      followups: [expect.stringContaining('updated: 1 resolved; 1 firing, 1 resolved')],
    });
  });
});

const paris6 = () => paris(N);

const paris = (n: number) =>
  Array.from({ length: n }, (_, i) => `p${i + 1}`)
    .sort()
    .join(',');
