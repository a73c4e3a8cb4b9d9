import type { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { RedisKeys } from '../../src/state/redisKeys.ts';
import type { RedisStateStore } from '../../src/state/redisStateStore.ts';
import { startRedis, waitFor, type RedisServer } from '../support/redis.ts';
import { freshPrefix, gauge, inspector, openStore, type TestStore } from './redisHelpers.ts';

const HOUR = 3_600_000;

describe('RedisStateStore', () => {
  let redis: RedisServer;
  let look: Redis;
  const open: TestStore[] = [];

  beforeAll(async () => {
    redis = await startRedis();
    look = inspector(redis.url);
  });
  afterEach(async () => {
    await Promise.all(open.splice(0).map((s) => s.store.close()));
  });
  afterAll(async () => {
    look.disconnect();
    await redis.stop();
  });

  async function agents(n: number, prefix = freshPrefix()): Promise<RedisStateStore[]> {
    const made = await Promise.all(
      Array.from({ length: n }, (_, i) => openStore(redis.url, prefix, `agent-${String.fromCharCode(97 + i)}`)),
    );
    open.push(...made);
    return made.map((m) => m.store);
  }

  it('converges counters, marks and registers written concurrently by three agents', async () => {
    const [a, b, c] = await agents(3);
    const exp = Date.now() + HOUR;
    for (let i = 0; i < 30; i++) {
      const s = [a, b, c][i % 3]!;
      s.addCount('errors:svc-x', 7, 1, exp);
      s.addCount('errors:svc-x', 8, 2, exp);
      s.raise('seen:svc-x', i, exp);
    }
    expect(a!.sumCounts('errors:svc-x', 7, 8)).toBe(30);
    a!.write('pair:host-1', 'down', 10, exp);
    b!.write('pair:host-1', 'up', 10, exp);
    c!.write('pair:host-1', 'flap', 9, exp);
    await Promise.all([a, b, c].map((s) => s!.flush()));

    await waitFor(() => [a, b, c].every((s) => s!.sumCounts('errors:svc-x', 7, 8) === 90), 'counters to converge');
    for (const s of [a, b, c]) {
      expect(s!.sumCounts('errors:svc-x', 7, 7)).toBe(30);
      expect(s!.sumCounts('errors:svc-x', 8, 8)).toBe(60);
      expect(s!.readMax('seen:svc-x')).toBe(29);
    }
    // Version 10 twice: the greater writer id wins everywhere; version 9 loses.
    await waitFor(() => [a, b, c].every((s) => s!.read('pair:host-1')?.value === 'up'), 'registers to converge');
    expect(c!.read('pair:host-1')).toEqual({ value: 'up', version: 10, writer: 'agent-b' });
    // Adding after convergence returns the cell's shared value.
    expect(c!.addCount('errors:svc-x', 8, 1, exp)).toBe(61);
  });

  it('unites set members three agents add concurrently, in Redis and in every view, and gives them to a late joiner', async () => {
    const prefix = freshPrefix();
    const [a, b, c] = await agents(3, prefix);
    const exp = Date.now() + HOUR;
    for (let i = 0; i < 30; i++) [a, b, c][i % 3]!.addToSet('au:svc-x#1', `e${String(i).padStart(2, '0')}`, 20, exp);
    // Each member once more, by another agent: a repeat changes nothing.
    for (let i = 0; i < 30; i++)
      [a, b, c][(i + 1) % 3]!.addToSet('au:svc-x#1', `e${String(i).padStart(2, '0')}`, 20, exp);
    await Promise.all([a, b, c].map((s) => s!.flush()));
    const latest = Array.from({ length: 20 }, (_, i) => `e${i + 10}`);
    await waitFor(
      () => [a, b, c].every((s) => JSON.stringify(s!.readSet('au:svc-x#1')) === JSON.stringify(latest)),
      'sets to converge',
    );
    const fields = await look.hkeys(new RedisKeys(prefix).stateKey('au:svc-x#1'));
    expect(fields.filter((f) => f.startsWith('s|')).sort()).toEqual(latest.map((m) => `s|${m}`));
    const [late] = await agents(1, prefix);
    expect(late!.readSet('au:svc-x#1')).toEqual(latest);
  });

  it('writes a set back to Redis with the greatest limit it was given', async () => {
    const prefix = freshPrefix();
    const [a] = await agents(1, prefix);
    const exp = Date.now() + HOUR;
    for (const m of ['m1', 'm2', 'm3', 'm4', 'm5']) a!.addToSet('sm:k#1', m, 5, exp);
    a!.addToSet('sm:k#1', 'm6', 3, exp);
    await a!.flush();
    const held = ['m2', 'm3', 'm4', 'm5', 'm6'];
    expect(a!.readSet('sm:k#1')).toEqual(held);
    // Redis lost the key: reconciling writes it back from this agent's view.
    await look.del(new RedisKeys(prefix).stateKey('sm:k#1'));
    await a!.resync();
    const fields = await look.hkeys(new RedisKeys(prefix).stateKey('sm:k#1'));
    expect(fields.filter((f) => f.startsWith('s|')).sort()).toEqual(held.map((m) => `s|${m}`));
    const [late] = await agents(1, prefix);
    expect(late!.readSet('sm:k#1')).toEqual(held);
  });

  it('writes marks, sets and registers back after Redis lost them with the expiry each has here, its own or learnt from others', async () => {
    const prefix = freshPrefix();
    const keys = new RedisKeys(prefix);
    const [a, b] = await agents(2, prefix);
    const now = Date.now();
    a!.raise('seen:back', 1, now + 10 * 60_000);
    a!.addToSet('sm:back#1', 'm1', 5, now + 20 * 60_000);
    a!.write('pair:back', 'down', 1, now + 30 * 60_000);
    await a!.flush();
    // Another agent's later writes carry later expiries, which this agent learns from its messages.
    b!.raise('seen:back', 2, now + 40 * 60_000);
    b!.write('pair:back', 'up', 2, now + 50 * 60_000);
    await b!.flush();
    await waitFor(
      () => a!.readMax('seen:back') === 2 && a!.read('pair:back')?.value === 'up',
      'the writes of b to reach a',
    );
    await b!.close();
    open.splice(
      open.findIndex((o) => o.store === b),
      1,
    );

    await look.flushall();
    await a!.resync();
    // Expiry plus one minute of grace, less the time the test took.
    const ttlMinutes = async (key: string) => (await look.pttl(keys.stateKey(key))) / 60_000;
    expect(await ttlMinutes('seen:back')).toBeCloseTo(41, 0);
    expect(await ttlMinutes('sm:back#1')).toBeCloseTo(21, 0);
    expect(await ttlMinutes('pair:back')).toBeCloseTo(51, 0);
    const [late] = await agents(1, prefix);
    expect(late!.read('pair:back')?.value).toBe('up');
    expect(late!.readSet('sm:back#1')).toEqual(['m1']);
  });

  it('gives a late joiner the state written before it started', async () => {
    const prefix = freshPrefix();
    const [a] = await agents(1, prefix);
    const exp = Date.now() + HOUR;
    a!.addCount('errors:svc-y', 1, 5, exp);
    a!.raise('seen:svc-y', 42, exp);
    a!.write('incident:svc-y', { id: 'inc-1', state: 'open' }, 3, exp);
    await a!.flush();
    const [late] = await agents(1, prefix);
    expect(late!.sumCounts('errors:svc-y', 0, 10)).toBe(5);
    expect(late!.readMax('seen:svc-y')).toBe(42);
    expect(late!.read('incident:svc-y')?.value).toEqual({ id: 'inc-1', state: 'open' });
    expect([...late!.keys('errors:')]).toEqual(['errors:svc-y']);
  });

  it('propagates deletions: a register tombstone beats older writes, a counter starts over', async () => {
    const [a, b] = await agents(2);
    const exp = Date.now() + HOUR;
    a!.write('incident:k', 'open', 5, exp);
    a!.addCount('errors:k', 1, 4, exp);
    await a!.flush();
    await waitFor(
      () => b!.read('incident:k')?.value === 'open' && b!.sumCounts('errors:k', 1, 1) === 4,
      'writes to reach b',
    );
    b!.delete('incident:k', 6);
    b!.delete('errors:k', 6);
    await b!.flush();
    await waitFor(
      () => a!.read('incident:k') === undefined && a!.sumCounts('errors:k', 1, 1) === 0,
      'deletions to reach a',
    );
    // A write older than the deletion, made by an agent that had not heard of it, stays dead.
    a!.write('incident:k', 'stale', 5, exp);
    await a!.flush();
    expect(a!.read('incident:k')).toBeUndefined();
    a!.addCount('errors:k', 1, 1, exp);
    await a!.flush();
    await waitFor(() => b!.sumCounts('errors:k', 1, 1) === 1, 'the restarted counter to reach b');
  });

  it('adds up counter messages of changed cells to the totals a whole read gives, under concurrent agents', async () => {
    const prefix = freshPrefix();
    const [a, b, c] = await agents(3, prefix);
    const exp = Date.now() + HOUR;
    const expected = new Map<string, Map<number, number>>();
    // A fixed pseudo-random interleaving: which agent, which key, which bucket, and how much
    // (some negative, as the open-incident count goes down on a resolution).
    let seed = 7;
    const next = (n: number) => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return (seed >>> 8) % n;
    };
    const flushes: Promise<void>[] = [];
    for (let i = 0; i < 3_000; i++) {
      const s = [a, b, c][next(3)]!;
      const key = `c:mix{g="${next(5)}"}`;
      const bucket = next(12);
      const delta = next(10) === 0 ? -1 : 1 + next(3);
      s.addCount(key, bucket, delta, exp);
      const cells = expected.get(key) ?? new Map<number, number>();
      expected.set(key, cells.set(bucket, (cells.get(bucket) ?? 0) + delta));
      // Flushes overlap with writes and with each other's messages.
      if (i % 97 === 0) flushes.push(s.flush());
    }
    await Promise.all(flushes);
    for (const s of [a, b, c]) while (s!.pendingKeys() > 0) await s!.flush();
    const want = [...expected]
      .sort(([x], [y]) => (x < y ? -1 : 1))
      .map(([key, cells]) => [key, [...cells].filter(([, n]) => n !== 0).sort(([x], [y]) => x - y)]);
    const view = (s: RedisStateStore) =>
      [...s.keys('c:mix')].sort().map((key) => [key, s.counterCells(key).filter(([, n]) => n !== 0)]);
    await waitFor(
      () => [a, b, c].every((s) => JSON.stringify(view(s!)) === JSON.stringify(want)),
      'every agent to hold every cell',
    );
    // An agent started now reads whole counters: the same cells.
    const [late] = await agents(1, prefix);
    expect(view(late!)).toEqual(want);
  });

  it('orders counter messages of changed cells and whole states by the rule sequence, per agent and cell', async () => {
    const prefix = freshPrefix();
    const [a] = await agents(1, prefix);
    const channel = `${prefix}:state`;
    const exp = String(Date.now() + HOUR);
    const send = (s: unknown) => look.publish(channel, `x#1\n${JSON.stringify(s)}`);
    const cells = () => a!.counterCells('c:r');
    // x counts 5 in bucket 1 as of sequence 10.
    await send({ r: 10, s: [{ k: 'c:r', t: 'w', c: [['1', '5', exp]] }] });
    await waitFor(() => cells()[0]?.[1] === 5, 'the first message');
    // A whole state from before it (sequence 9, published by an agent of an earlier version)
    // still tells y's share, and does not take x back to 3.
    await send({ r: 9, s: [{ k: 'c:r', t: 'c', c: { '1': { e: exp, w: { 'x#1': '3', 'y#1': '2' } } } }] });
    await waitFor(() => cells()[0]?.[1] === 7, 'y to be added');
    // A late message from before both changes nothing.
    await send({ r: 8, s: [{ k: 'c:r', t: 'w', c: [['1', '1', exp]] }] });
    // A later whole state without y (Redis pruned or lost it) and x at 6.
    await send({ r: 11, s: [{ k: 'c:r', t: 'c', c: { '1': { e: exp, w: { 'x#1': '6' } } } }] });
    await waitFor(() => cells()[0]?.[1] === 6, 'the later whole state');
    // Nothing older than that whole state counts any more, for any agent.
    await send({ r: 10, s: [{ k: 'c:r', t: 'w', c: [['2', '4', exp]] }] });
    await send({ r: 12, s: [{ k: 'c:r', t: 'w', c: [['1', '8', exp]] }] });
    await waitFor(() => cells()[0]?.[1] === 8, 'a later message');
    expect(cells()).toEqual([[1, 8]]);
  });

  it('pre-aggregates: many writes between flushes become one update per key', async () => {
    const [a] = await agents(1);
    const exp = Date.now() + HOUR;
    await look.config('RESETSTAT');
    for (let i = 0; i < 1_000; i++) a!.addCount(`c:rule{g="${i % 10}"}`, 1, 1, exp);
    expect(a!.pendingKeys()).toBe(10);
    await a!.flush();
    const stats = await look.info('commandstats');
    const evalsha = /cmdstat_evalsha:calls=(\d+)/.exec(stats);
    // One script call per rule, whatever the number of writes.
    expect(Number(evalsha?.[1] ?? 0) + Number(/cmdstat_eval:calls=(\d+)/.exec(stats)?.[1] ?? 0)).toBe(1);
    expect(a!.pendingKeys()).toBe(0);
  });

  it('ignores malformed messages and entries under its prefix, and keeps replicating', async () => {
    const prefix = freshPrefix();
    const [a, b] = await agents(2, prefix);
    await look.publish(`${prefix}:state`, 'not json at all');
    await look.publish(
      `${prefix}:state`,
      'x#1\n{"r":1,"s":[{"k":"i:r","t":"r","v":{broken,"ver":"1","w":"x","d":"0","x":"0"},{"t":"c"}]}',
    );
    await look.publish(`${prefix}:state`, 'x#1\n{"r":1,"s":[{"t":"c"},{"k":"c:r","t":"c","c":{"1":{"e":"x"}}}]}');
    await look.hset(`${prefix}:{=r}:i:r{a="1"}`, '#v', '{broken', '#ver', '1', '#w', 'x', '#d', '0', '#x', '0');
    const [late] = await agents(1, prefix); // reads the broken entry at start
    a!.addCount('c:r{a="1"}', 1, 2, Date.now() + HOUR);
    await a!.flush();
    await waitFor(
      () => b!.sumCounts('c:r{a="1"}', 1, 1) === 2 && late!.sumCounts('c:r{a="1"}', 1, 1) === 2,
      'replication after the garbage',
    );
    expect(b!.read('i:r')).toBeUndefined();
    expect(late!.read('i:r{a="1"}')).toBeUndefined();
  });

  it("sets each key's time-to-live from its expiry plus the grace period", async () => {
    const prefix = freshPrefix();
    const [a] = await agents(1, prefix);
    const now = Date.now();
    a!.addCount('errors:ttl', 1, 1, now + 120_000);
    a!.write('incident:ttl', 'open', 1, now + 10_000);
    await a!.flush();
    const counterTtl = await look.pttl(`${prefix}:{=ttl}:errors:ttl`);
    const registerTtl = await look.pttl(`${prefix}:{=ttl}:incident:ttl`);
    // 2 min of window + 1 min of grace; 10 s + 1 min (less the time the test took).
    expect(counterTtl).toBeGreaterThan(170_000);
    expect(counterTtl).toBeLessThanOrEqual(180_000);
    expect(registerTtl).toBeGreaterThan(60_000);
    expect(registerTtl).toBeLessThanOrEqual(70_000);
  });

  it('keeps correlating through a Redis outage and converges after a restart with nothing lost', async () => {
    const prefix = freshPrefix();
    const stores = await Promise.all(
      ['agent-a', 'agent-b', 'agent-c'].map((w) => openStore(redis.url, prefix, w, { flushIntervalMs: 20 })),
    );
    open.push(...stores);
    const [a, b, c] = stores.map((s) => s.store);
    const exp = Date.now() + HOUR;
    let written = 0;
    const writeSome = (n: number) => {
      for (let i = 0; i < n; i++) {
        const s = [a, b, c][written % 3]!;
        s.addCount('errors:outage', written % 4, 1, exp);
        s.raise('seen:outage', written, exp);
        s.write(`last:${written % 3}`, written, written, exp);
        written++;
      }
    };
    writeSome(300);
    await waitFor(() => [a, b, c].every((s) => s!.sumCounts('errors:outage', 0, 3) === 300), 'first part to converge');

    await redis.kill();
    await waitFor(
      async () => (await gauge(stores[0]!.metrics, 'vigil_state_store_degraded')) === 1,
      'the degraded gauge',
    );
    writeSome(300); // ingestion goes on: every write lands locally
    expect(
      a!.sumCounts('errors:outage', 0, 3) + b!.sumCounts('errors:outage', 0, 3) + c!.sumCounts('errors:outage', 0, 3),
    ).toBe(300 * 3 + 300);

    // A fresh Redis, empty: the agents write their state back and read each other's.
    await redis.restart();
    await waitFor(() => [a, b, c].every((s) => s!.connected), 'reconnect', 15_000);
    writeSome(300);
    await waitFor(
      () => [a, b, c].every((s) => s!.sumCounts('errors:outage', 0, 3) === 900),
      'all 900 counts everywhere',
      15_000,
    );
    for (const s of [a, b, c]) {
      expect(s!.readMax('seen:outage')).toBe(899);
      expect([0, 1, 2].map((i) => s!.read(`last:${i}`)?.value)).toEqual([897, 898, 899]);
    }
    expect(await gauge(stores[1]!.metrics, 'vigil_state_store_degraded')).toBe(0);
    const fresh = inspector(redis.url);
    const cells = await fresh.hgetall(`${prefix}:{=outage}:errors:outage`);
    fresh.disconnect();
    const total = Object.entries(cells)
      .filter(([f]) => !f.startsWith('#'))
      .reduce((n, [, v]) => n + Number(v), 0);
    expect(total).toBe(900);
  });

  it('starts degraded when Redis is down and catches up once it is up', async () => {
    const other = await startRedis();
    await other.kill();
    const { store, metrics } = await openStore(other.url, freshPrefix(), 'agent-a', { flushIntervalMs: 20 });
    open.push({ store, metrics });
    expect(store.connected).toBe(false);
    expect(await gauge(metrics, 'vigil_state_store_degraded')).toBe(1);
    store.addCount('errors:late', 1, 3, Date.now() + HOUR);
    expect(store.sumCounts('errors:late', 1, 1)).toBe(3);
    await other.restart();
    await waitFor(() => store.connected && store.pendingKeys() === 0, 'the pending write to reach redis', 15_000);
    const peek = inspector(other.url);
    const keys = await peek.keys('*');
    const cells = await peek.hgetall(keys.find((k) => k.endsWith(':late'))!);
    peek.disconnect();
    expect(
      Object.entries(cells)
        .filter(([f]) => !f.startsWith('#'))
        .map(([, v]) => v),
    ).toEqual(['3']);
    await store.close();
    open.pop();
    await other.stop();
  });
});
