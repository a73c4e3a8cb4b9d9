import { describe, expect, it } from 'vitest';
import { encodeEntry } from '../../src/state/durableStore.ts';
import { MemoryStateStore } from '../../src/state/memoryStore.ts';
import { RedisKeys } from '../../src/state/redisKeys.ts';
import { runScript } from '../../src/state/redisConnection.ts';
import { PartitionOwnership, partitionOf } from '../../src/state/redisPartitions.ts';
import { CHECKPOINT_FIELD, CheckpointChangeTracker, restoreCheckpoint } from '../../src/state/stateCheckpoint.ts';
import { attachReplica, startRedis, waitFor } from '../support/redis.ts';
import { freshPrefix, inspector, redisAndClients } from './redisHelpers.ts';

const PARTITIONS = 12;

describe('partitions of the owners design, held as terms in Redis', () => {
  const { server, client } = redisAndClients();

  /**
   * Waits until the server at `url` has been up `ms`: on a younger one, the round that makes the
   * table takes no free partition for that long from the server's start (it may have come back
   * without its data, and the agents that held partitions on it may be reconnecting).
   */
  async function upFor(ms: number, url?: string): Promise<void> {
    const c = await client(url);
    const uptimeMs = async () => Number(/uptime_in_seconds:(\d+)/.exec(await c.info('server'))?.[1]) * 1000;
    await waitFor(async () => (await uptimeMs()) >= ms, `the server up ${ms} ms`, ms + 5_000);
  }

  async function agents(names: string[], termMs: number, settleMs = 1_000) {
    await upFor(settleMs);
    const keys = new RedisKeys(freshPrefix()).partitionKeys();
    const made: PartitionOwnership[] = [];
    for (const agent of names)
      made.push(
        new PartitionOwnership({
          client: await client(),
          table: keys.table,
          agent,
          partitions: PARTITIONS,
          termMs,
          settleMs,
        }),
      );
    return { keys, agents: made };
  }

  /** No partition held by two agents at once, as each of them counts its own. */
  function expectDisjoint(all: PartitionOwnership[]): void {
    const seen = new Map<number, string>();
    for (const a of all)
      for (const { partition } of a.owned()) {
        expect(seen.get(partition), `partition ${partition}`).toBeUndefined();
        seen.set(partition, a.agent);
      }
  }

  /** Rounds of every agent in turn, each giving its surplus back, until each holds its share of all of them. */
  async function settle(all: PartitionOwnership[]): Promise<void> {
    for (let round = 0; round < 10; round++) {
      let settled = true;
      for (const a of all) {
        const r = await a.step();
        expectDisjoint(all);
        for (const p of r.surplus) expect(await a.release(p)).toBe(true);
        settled &&= r.agents === all.length && r.surplus.length === 0 && a.owned().length === r.share;
      }
      if (settled) return;
    }
    throw new Error(`not settled: ${all.map((a) => `${a.agent}=${a.owned().length}`).join(' ')}`);
  }

  /**
   * One agent on a fresh table with 2 s terms whose clock stands still unless the test moves it
   * (`frozen.at`): it goes on believing in its term after it ran out in Redis, as a paused process would.
   */
  async function pausedAgent(partitions: number) {
    const keys = new RedisKeys(freshPrefix()).partitionKeys();
    const connection = await client();
    const frozen = { at: Date.now(), now: () => frozen.at };
    const a = new PartitionOwnership({
      client: connection,
      table: keys.table,
      agent: 'agent-a',
      partitions,
      termMs: 2_000,
      // Alone and back past its term, it would wait a while before taking partitions again: not here.
      settleMs: 0,
      timers: frozen,
    });
    return { keys, connection, frozen, a };
  }

  it('shares the partitions fairly between live agents, never one partition to two', async () => {
    const { agents: all } = await agents(['agent-a', 'agent-b', 'agent-c'], 10_000);
    // The first agent alone takes everything; the others get theirs as it gives its surplus back.
    const first = await all[0]!.step();
    expect(first.gained).toHaveLength(PARTITIONS);
    expect(first.agents).toBe(1);
    await settle(all);
    expect(all.map((a) => a.owned().length)).toEqual([4, 4, 4]);
    const union = new Set(all.flatMap((a) => a.owned().map((t) => t.partition)));
    expect(union.size).toBe(PARTITIONS);

    // A fourth joins: 3 each, and the 12 still held once each.
    const fourth = new PartitionOwnership({
      client: await client(),
      table: all[0]!.table,
      agent: 'agent-d',
      partitions: PARTITIONS,
      termMs: 10_000,
    });
    await settle([...all, fourth]);
    expect([...all, fourth].map((a) => a.owned().length)).toEqual([3, 3, 3, 3]);
  });

  it("hands a dead agent's partitions to the others under new fences, and refuses its stale writes", async () => {
    // The dead agent's clock stands still, as a process paused past its term would see it.
    const frozen = { at: Date.now(), now: () => frozen.at };
    const { keys, agents: live } = await agents(['agent-a', 'agent-b'], 1_500);
    const dead = new PartitionOwnership({
      client: await client(),
      table: keys.table,
      agent: 'agent-c',
      partitions: PARTITIONS,
      termMs: 1_500,
      timers: frozen,
    });
    for (let i = 0; i < 5; i++) {
      for (const a of [...live, dead]) {
        const r = await a.step();
        for (const p of r.surplus) await a.release(p);
      }
      if ([...live, dead].every((a) => a.owned().length === 4)) break;
      frozen.at = Date.now();
    }
    expect(dead.owned()).toHaveLength(4);
    const stale = dead.owned();
    const checkpoint = (p: number) => keys.held(`checkpoint:${p}`);
    expect(
      await dead.writeUnderTerm(stale[0]!.partition, checkpoint(stale[0]!.partition), { set: { by: 'agent-c' } }),
    ).toBe(true);

    // agent-c stops renewing.
    // Within a term's length the others hold all twelve.
    await waitFor(
      async () => {
        for (const a of live) await a.step();
        return live.reduce((n, a) => n + a.owned().length, 0) === PARTITIONS;
      },
      "the live agents to take the dead one's partitions",
      10_000,
    );
    expect(live.map((a) => a.owned().length)).toEqual([6, 6]);
    for (const { partition, fence } of stale) {
      const taker = live.find((a) => a.fenceOf(partition) !== undefined)!;
      expect(taker.fenceOf(partition)).toBe(fence + 1);
    }
    // agent-c still believes in its terms; Redis does not take its writes.
    const p = stale[0]!.partition;
    expect(dead.fenceOf(p)).toBe(stale[0]!.fence);
    const taker = live.find((a) => a.fenceOf(p) !== undefined)!;
    expect(await taker.writeUnderTerm(p, checkpoint(p), { set: { by: taker.agent }, replace: true })).toBe(true);
    expect(await dead.writeUnderTerm(p, checkpoint(p), { set: { by: 'agent-c' } })).toBe(false);
    expect(await dead.release(p)).toBe(false);
    const look = inspector(server().url);
    try {
      expect(await look.hgetall(checkpoint(p))).toEqual({ by: taker.agent });
    } finally {
      look.disconnect();
    }

    // Back again, it is told what it lost, and gets a fair share anew.
    frozen.at = Date.now();
    const back = await dead.step();
    // Less the one it gave back itself (refused, but no longer its own either way).
    expect(new Set(back.lost)).toEqual(new Set(stale.map((t) => t.partition).filter((q) => q !== p)));
    await settle([...live, dead]);
    expect([...live, dead].map((a) => a.owned().length)).toEqual([4, 4, 4]);
  });

  it('refuses work under a term that ran out, or under an older fence, from the same agent too', async () => {
    const { keys, connection, frozen, a } = await pausedAgent(2);
    const cp = keys.held('checkpoint:0');
    await a.step();
    const old = a.fenceOf(0)!;
    expect(await a.writeUnderTerm(0, cp, { set: { by: 'first term' } })).toBe(true);
    // Once the term has run out in Redis, a write under it is refused though no one took it.
    await waitFor(
      async () => !(await a.writeUnderTerm(0, cp, { set: { by: 'while held' } })),
      'the term to run out',
      10_000,
    );
    expect(await a.writeUnderTerm(0, cp, { set: { by: 'after' } })).toBe(false);
    expect(await connection.hget(cp, 'by')).toBe('while held');
    // Taken again, by the same agent: a new fence, and the old one's work is refused.
    frozen.at = Date.now();
    expect((await a.step()).gained).toContainEqual({ partition: 0, fence: old + 1 });
    const write = (fence: number) =>
      runScript(
        connection,
        'vigilPartitionFenced',
        [keys.table, cp],
        ['agent-a', 0, fence, 'write', 0, 0, '0', 'by', String(fence)],
      );
    expect(await write(old)).toBe(0);
    expect(await write(old + 1)).toBe(1);
    expect(await connection.hget(cp, 'by')).toBe(String(old + 1));
  });

  it('writes a checkpoint of a store under the term: thousands of entries, removals and a stream trim at once', async () => {
    const keys = new RedisKeys(freshPrefix()).partitionKeys();
    const connection = await client();
    const a = new PartitionOwnership({
      client: connection,
      table: keys.table,
      agent: 'agent-a',
      partitions: 1,
      termMs: 10_000,
      // On a server just started, its first round would wait before taking the partition.
      settleMs: 0,
    });
    await a.step();
    const cp = keys.held('checkpoint:0');
    const stream = keys.held('events:0');
    for (let i = 1; i <= 5; i++) await connection.xadd(stream, `${i}-0`, 'e', String(i));
    const store = new MemoryStateStore();
    const tracker = new CheckpointChangeTracker(store);
    for (let i = 0; i < 5_000; i++) store.addCount(`c:errors{service="s${i}"}`, 1, i + 1, i < 100 ? 1_000 : 60_000);
    const position = `${CHECKPOINT_FIELD}position`;
    const first = tracker.take();
    expect(await a.writeUnderTerm(0, cp, { set: [...first.set, position, '3-0'], trim: [[stream, '3-0']] })).toBe(true);
    expect(await connection.hlen(cp)).toBe(5_001);
    expect((await connection.xrange(stream, '-', '+')).map(([id]) => id)).toEqual(['3-0', '4-0', '5-0']);
    // The first hundred expire and are swept: the next checkpoint removes them.
    store.sweep(30_000);
    const second = tracker.take();
    expect(second.remove).toHaveLength(100);
    expect(await a.writeUnderTerm(0, cp, { set: [position, '5-0'], remove: second.remove })).toBe(true);
    const restored = restoreCheckpoint(await connection.hgetall(cp));
    expect(restored.entries).toBe(4_900);
    expect(restored.fields.get(position)).toBe('5-0');
    const byKey = (m: MemoryStateStore) => new Map([...m.exportEntries()].map(([k, e]) => [k, encodeEntry(k, e)]));
    expect(byKey(restored.store)).toEqual(byKey(store));
  });

  it("lets owners take events up to the least of the live agents' sent times, and not wait for a dead one", async () => {
    const {
      keys,
      agents: [a, b, c],
    } = await agents(['agent-a', 'agent-b', 'agent-c'], 2_000);
    for (const x of [a!, b!, c!]) await x.step();
    expect(await a!.watermark()).toBe(-Infinity);
    await a!.markSent(100);
    await b!.markSent(50);
    // agent-c has sent nothing yet: it holds no one back.
    expect(await a!.watermark()).toBe(50);
    await c!.markSent(70);
    await b!.markSent(200);
    expect(await b!.watermark()).toBe(70);
    // agent-c stops: once its mark has run out, it holds no one back, and the next round drops its time.
    await waitFor(
      async () => {
        await a!.step();
        await b!.step();
        return (await a!.watermark()) === 100;
      },
      "agent-c's mark to run out",
      10_000,
    );
    // The rounds above may have run just before its mark ran out (by Redis's clock): the next one drops its time.
    await a!.step();
    const look = inspector(server().url);
    try {
      expect(await look.hget(keys.table, 't|agent-c')).toBeNull();
      // A late word from it changes nothing.
      await c!.markSent(10);
      expect(await a!.watermark()).toBe(100);
    } finally {
      look.disconnect();
    }
  });

  it('writes a checkpoint too large for one call by staging it, still all or nothing under the term', async () => {
    const { keys, connection, a } = await pausedAgent(1);
    await a.step();
    const cp = keys.held('checkpoint:0');
    const set: string[] = [];
    for (let i = 0; i < 60_000; i++) set.push(`k${i}`, `v${i}`);
    expect(await a.writeUnderTerm(0, cp, { set })).toBe(true);
    expect(await connection.hlen(cp)).toBe(60_000);
    const remove = Array.from({ length: 30_000 }, (_, i) => `k${2 * i}`);
    expect(await a.writeUnderTerm(0, cp, { set: ['k0', 'again'], remove })).toBe(true);
    expect(await connection.hlen(cp)).toBe(30_001);
    expect(await connection.hget(cp, 'k0')).toBe('again');
    expect(await connection.hget(cp, 'k1')).toBe('v1');
    expect(await connection.keys(`${cp}:staged*`)).toEqual([]);
    // Once the term has run out, a staged write is refused whole, and its staging expires.
    await waitFor(async () => !(await a.writeUnderTerm(0, cp, { set: ['probe', '1'] })), 'the term to run out', 10_000);
    const before = await connection.hgetall(cp);
    expect(await a.writeUnderTerm(0, cp, { set, replace: true })).toBe(false);
    expect(await connection.hgetall(cp)).toEqual(before);
    const left = await connection.keys(`${cp}:staged*`);
    expect(left).toHaveLength(1);
    expect(await connection.pttl(left[0]!)).toBeGreaterThan(0);
  });

  it('stops counting partitions its own when its term runs out by its clock while Redis does not answer', async () => {
    const clock = { at: 1_000_000, now: () => clock.at };
    const connection = await client();
    const a = new PartitionOwnership({
      client: connection,
      table: new RedisKeys(freshPrefix()).partitionKeys().table,
      agent: 'agent-a',
      partitions: PARTITIONS,
      termMs: 1_000,
      settleMs: 0,
      timers: clock,
    });
    expect((await a.step()).gained).toHaveLength(PARTITIONS);
    connection.disconnect();
    clock.at += 500;
    expect(await a.step()).toEqual({ gained: [], lost: [], surplus: [], agents: 0, share: 0, dataLost: false });
    expect(a.owned()).toHaveLength(PARTITIONS);
    // The term counted from before the request, less a tenth for clock drift.
    clock.at = 1_000_000 + 900;
    expect(a.owned()).toEqual([]);
    expect(a.fenceOf(0)).toBeUndefined();
    expect((await a.step()).lost).toHaveLength(PARTITIONS);
  });

  it('takes no free partition for a while once Redis is another dataset (a promoted replica), then takes them all', async () => {
    // The table written on one server, copied to a second by replication, which is then promoted:
    // its replication id changes, as a Sentinel's or a Cluster's failover changes it.
    const replica = await startRedis();
    try {
      const keys = new RedisKeys(freshPrefix()).partitionKeys();
      const termMs = 300;
      const gone = new PartitionOwnership({
        client: await client(),
        table: keys.table,
        agent: 'agent-a',
        partitions: PARTITIONS,
        termMs,
        // On a server just started, its first round would wait before taking the partitions.
        settleMs: 0,
      });
      expect((await gone.step()).gained).toHaveLength(PARTITIONS);
      const promoted = await client(replica.url);
      await attachReplica(server(), replica);
      await promoted.replicaof('NO', 'ONE');
      const settleMs = 1_500;
      const next = new PartitionOwnership({
        client: promoted,
        table: keys.table,
        agent: 'agent-b',
        partitions: PARTITIONS,
        termMs,
        settleMs,
      });
      // agent-a's terms run out; agent-b alone is live, and its share is every partition.
      await waitFor(async () => (await next.step()).agents === 1, "agent-a's mark to run out", 10_000);
      const firstAt = Date.now();
      expect(next.owned()).toEqual([]);
      await waitFor(
        async () => (await next.step(), next.owned().length === PARTITIONS),
        'agent-b to take them',
        10_000,
      );
      expect(Date.now() - firstAt).toBeGreaterThanOrEqual(settleMs - termMs - 100);
      // A dataset it knows: a partition that falls free now is taken at once.
      await next.release(0);
      expect((await next.step()).gained.map((t) => t.partition)).toEqual([0]);
    } finally {
      await replica.stop();
    }
  });

  it('takes no free partition for a while when the agents come back from being cut off past their terms, then shares them', async () => {
    const settleMs = 1_500;
    const {
      keys,
      agents: [a, b],
    } = await agents(['agent-a', 'agent-b'], 300, settleMs);
    await settle([a!, b!]);
    // Both cut off from Redis past their terms: every mark and term runs out, by Redis's clock.
    const look = await client();
    await waitFor(async () => {
      const [seconds, micros] = await look.time();
      const now = Number(seconds) * 1000 + Number(micros) / 1000;
      const marks = await look.hmget(keys.table, 'm|agent-a', 'm|agent-b');
      return marks.every((m) => Number(m) < now);
    }, 'the marks to run out');
    // The first back finds itself alone, its own mark run out: it takes nothing yet, nor does the
    // second, back a little later; so the second's marks hold the owners back before its backlog.
    const first = await a!.step();
    expect(first).toMatchObject({ agents: 1, gained: [] });
    expect(a!.owned()).toEqual([]);
    expect(await b!.step()).toMatchObject({ agents: 2, gained: [] });
    const backAt = Date.now();
    await waitFor(
      async () => {
        for (const x of [a!, b!]) for (const p of (await x.step()).surplus) await x.release(p);
        return a!.owned().length === PARTITIONS / 2 && b!.owned().length === PARTITIONS / 2;
      },
      'each to take its share',
      10_000,
    );
    expect(Date.now() - backAt).toBeGreaterThanOrEqual(settleMs - 200);
  });

  it('writes the live agents’ terms back when Redis loses the table (FLUSHALL): each keeps its partitions', async () => {
    const { agents: all } = await agents(['agent-a', 'agent-b', 'agent-c'], 10_000);
    await settle(all);
    const before = all.map((a) => a.owned());
    for (const a of all) expect((await a.step()).dataLost).toBe(false);
    await (await client()).flushall();
    // One after the other, as their rounds come: the first finds every partition free and, alone
    // live, a share of all of them, but takes none of the others' while they may still come back.
    for (const a of all) {
      const r = await a.step();
      expect(r).toMatchObject({ dataLost: true, gained: [], lost: [], surplus: [] });
      expectDisjoint(all);
    }
    expect(all.map((a) => a.owned())).toEqual(before);
    // Noticed once: the next rounds go on as usual.
    for (const a of all) expect(await a.step()).toMatchObject({ dataLost: false, gained: [], lost: [], agents: 3 });
  });

  it('keeps a brand-new agent from taking the partitions of live agents that marked after Redis lost the table', async () => {
    const { keys, agents: all } = await agents(['agent-a', 'agent-b'], 10_000);
    await settle(all);
    const before = all.map((a) => a.owned());
    await (await client()).flushall();
    // The live agents go on sending (a mark every flush_interval) before their next round.
    for (const a of all) await a.markSent(1_000);
    const fresh = new PartitionOwnership({
      client: await client(),
      table: keys.table,
      agent: 'agent-new',
      partitions: PARTITIONS,
      termMs: 10_000,
    });
    // Its first round makes the table anew, alone live: it takes nothing while the others may come back.
    expect(await fresh.step()).toMatchObject({ dataLost: false, gained: [], agents: 1 });
    for (const a of all) expect(await a.step()).toMatchObject({ dataLost: true, gained: [], lost: [] });
    expectDisjoint([...all, fresh]);
    expect(all.map((a) => a.owned())).toEqual(before);
  });

  it('keeps a brand-new agent from taking the live agents’ partitions when Redis restarted without its data, before they are back', async () => {
    // A server of its own without persistence: a restart brings it back empty.
    const own = await startRedis(['--save', '', '--appendonly', 'no']);
    try {
      const keys = new RedisKeys(freshPrefix()).partitionKeys();
      const make = async (agent: string, settleMs: number) =>
        new PartitionOwnership({
          client: await client(own.url),
          table: keys.table,
          agent,
          partitions: PARTITIONS,
          termMs: 10_000,
          settleMs,
        });
      await upFor(1_000, own.url);
      const live = [await make('agent-a', 1_000), await make('agent-b', 1_000)];
      await settle(live);
      const before = live.map((a) => a.owned());
      await own.restart();
      // An agent started with the server (the node they share came back) connects first, before
      // the live agents' reconnects: its first round makes the table anew, alone live.
      // Its wait as a daemon's (`lease_ttl`, at least 4 s): however slow the restart, the server is younger.
      const fresh = await make('agent-new', 10_000);
      expect(await fresh.step()).toMatchObject({ dataLost: false, gained: [], agents: 1 });
      // The live agents back find the data lost: each keeps the partitions it held, state and all.
      for (const a of live) await waitFor(async () => (await a.step()).dataLost, `${a.agent} back`, 10_000);
      expectDisjoint([...live, fresh]);
      expect(live.map((a) => a.owned())).toEqual(before);
      expect(fresh.owned()).toEqual([]);
    } finally {
      await own.stop();
    }
  });

  it('lets the first agent on an empty Redis up longer than its wait take every partition at once', async () => {
    const { agents: all } = await agents(['agent-a'], 10_000);
    expect((await all[0]!.step()).gained).toHaveLength(PARTITIONS);
  });

  it('places a group key in a partition by FNV-1a, spread over all of them', () => {
    expect(partitionOf('a', 2 ** 32 - 1)).toBe(0xe40c292c % (2 ** 32 - 1));
    const counts = new Array<number>(PARTITIONS).fill(0);
    for (let i = 0; i < 2_000; i++) counts[partitionOf(`errors{service="svc-${i}"}`, PARTITIONS)]!++;
    for (const n of counts) expect(n).toBeGreaterThan(2_000 / PARTITIONS / 2);
  });
});
