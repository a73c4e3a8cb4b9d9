import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runScript } from '../../src/state/redisConnection.ts';
import { startRedis, waitFor, type RedisServer } from '../support/redis.ts';
import { freshPrefix } from './redisHelpers.ts';

interface Reply {
  r: number;
  /** A list, or `{}` when empty (Lua cannot tell an empty list from an empty table). */
  s: Record<string, unknown>[] & Record<string, never>;
}

describe('state merge scripts', () => {
  let redis: RedisServer;
  let client: Redis;

  beforeAll(async () => {
    redis = await startRedis();
    client = new Redis(redis.url);
  });
  afterAll(async () => {
    client.disconnect();
    await redis.stop();
  });

  /** Runs one apply call for the rule `r` of `prefix`, as incarnation `me`, at engine time `now`. */
  async function apply(
    prefix: string,
    me: string,
    ops: Record<string, unknown>[],
    opts: { now?: number; channel?: string } = {},
  ): Promise<Reply> {
    const keys = ops.map((op) => `${prefix}:{=r}${String(op.k).slice(1)}`);
    // A register write's value travels as an argument of its own, named by its index.
    const values: string[] = [];
    const sent = ops.map((op) => {
      if (op.t !== 'r') return op;
      const { v, ...rest } = op;
      values.push(v as string);
      return { ...rest, a: values.length };
    });
    const reply = await runScript(
      client,
      'vigilStateApply',
      [`${prefix}:{=r}#seq`, ...keys],
      [String(opts.now ?? 0), opts.channel ?? '', me, JSON.stringify(sent), '60000', ...values],
    );
    // Nothing to tell: the bare sequence number.
    return typeof reply === 'number' ? ({ r: reply, s: {} } as Reply) : (JSON.parse(reply as string) as Reply);
  }

  it('sums counter cells over incarnations, and a repeated write counts once', async () => {
    const p = freshPrefix();
    const op = (total: number) => ({ t: 'c', k: 'r:c', c: [['5', String(total), '1000']], ttl: '60000' });
    const read = async () => (await apply(p, 'r#1', [{ t: 's', k: 'r:c' }])).s[0];
    // A counter write's reply tells nothing: others' shares reach the writer as their messages.
    expect((await apply(p, 'a#1', [op(3)])).s).toEqual({});
    await apply(p, 'a#1', [op(3)]); // the same flush again, after a lost reply
    expect((await apply(p, 'b#1', [op(4)])).s).toEqual({});
    expect(await read()).toEqual({ k: 'r:c', t: 'c', c: { '5': { e: '1000', w: { 'a#1': '3', 'b#1': '4' } } } });
    // A's total grows: it writes its new total, not an increment.
    await apply(p, 'a#1', [op(10)]);
    expect(((await read()) as { c: Record<string, { w: Record<string, string> }> }).c['5']!.w).toEqual({
      'a#1': '10',
      'b#1': '4',
    });
  });

  it('drops buckets whose window has passed when a new bucket arrives', async () => {
    const p = freshPrefix();
    await apply(p, 'a#1', [
      {
        t: 'c',
        k: 'r:c',
        c: [
          ['1', '2', '100'],
          ['2', '2', '200'],
        ],
        ttl: '60000',
      },
    ]);
    await apply(p, 'b#1', [{ t: 'c', k: 'r:c', c: [['3', '1', '300']], ttl: '60000' }], { now: 150 });
    const read = await apply(p, 'r#1', [{ t: 's', k: 'r:c' }]);
    expect(Object.keys((read.s[0] as { c: Record<string, unknown> }).c).sort()).toEqual(['2', '3']);
    expect(await client.hlen(`${p}:{=r}:c`)).toBe(4);
  });

  it('keeps the highest mark', async () => {
    const p = freshPrefix();
    await apply(p, 'a#1', [{ t: 'm', k: 'r:m', v: '7', x: '100', ttl: '60000' }]);
    expect((await apply(p, 'b#1', [{ t: 'm', k: 'r:m', v: '5', x: '200', ttl: '60000' }])).s).toEqual({});
    expect((await apply(p, 'c#1', [{ t: 's', k: 'r:m' }])).s[0]).toEqual({ k: 'r:m', t: 'm', v: '7', x: '200' });
    await apply(p, 'b#1', [{ t: 'm', k: 'r:m', v: '9', x: '200', ttl: '60000' }]);
    const read = await apply(p, 'c#1', [{ t: 's', k: 'r:m' }]);
    expect(read.s[0]).toEqual({ k: 'r:m', t: 'm', v: '9', x: '200' });
  });

  it('orders register writes by version, then writer bytes, with tombstones among them', async () => {
    const p = freshPrefix();
    const write = (v: string, ver: number, w: string) => ({
      t: 'r',
      k: 'r:x',
      v: JSON.stringify(v),
      ver: String(ver),
      w,
      x: '1000',
      ttl: '60000',
    });
    const read = async () => (await apply(p, 'r#1', [{ t: 's', k: 'r:x' }])).s[0];
    await apply(p, 'a#1', [write('down', 10, 'agent-a')]);
    expect((await apply(p, 'b#1', [write('up', 10, 'agent-b')])).s).toEqual({}); // won: nothing to tell
    expect(await read()).toMatchObject({ v: 'up', w: 'agent-b', d: '0' });
    let reply = await apply(p, 'a#1', [write('down', 10, 'agent-a')]); // loses the tie, and is told
    expect(reply.s[0]).toMatchObject({ v: 'up', w: 'agent-b' });
    reply = await apply(p, 'a#1', [write('older', 9, 'zzz')]);
    expect(reply.s[0]).toMatchObject({ v: 'up' });
    await apply(p, 'a#1', [{ t: 'd', k: 'r:x', ver: '11', w: 'agent-a', x: '0', ttl: '60000' }]);
    expect(await read()).toMatchObject({ t: 'r', v: null, d: '1', ver: '11' });
    reply = await apply(p, 'b#1', [write('revived?', 10, 'agent-z')]);
    expect(reply.s[0]).toMatchObject({ d: '1', ver: '11' });
    await apply(p, 'b#1', [write('reopened', 12, 'agent-b')]);
    expect(await read()).toMatchObject({ v: 'reopened', d: '0' });
    // Multi-byte writer ids compare by bytes, as JS compares these strings.
    await apply(p, 'b#1', [write('é', 12, 'agent-é')]);
    expect(await read()).toMatchObject({ v: 'é' });
  });

  it('a deletion forgets a counter, and a later write starts it from scratch', async () => {
    const p = freshPrefix();
    await apply(p, 'a#1', [{ t: 'c', k: 'r:c', c: [['1', '5', '1000']], ttl: '60000' }]);
    const reply = await apply(p, 'a#1', [
      { t: 'd', k: 'r:c', ver: '0', w: 'a', x: '0', ttl: '60000' },
      { t: 'c', k: 'r:c', c: [['1', '2', '1000']], ttl: '60000' },
    ]);
    // The deletion is news to nobody who made it; the fresh counter has only a's share.
    expect(reply.s).toEqual({});
    expect(await client.hget(`${p}:{=r}:c`, '1|a#1')).toBe('2');
  });

  it("publishes a counter write as the cells it changed, with the writer's own totals", async () => {
    const p = freshPrefix();
    const sub = new Redis(redis.url);
    const got: { f: string; s: unknown[] }[] = [];
    sub.on('message', (_c: string, m: string) => {
      const nl = m.indexOf('\n');
      got.push({ f: m.slice(0, nl), s: (JSON.parse(m.slice(nl + 1)) as { s: unknown[] }).s });
    });
    await sub.subscribe(`${p}:state`);
    const channel = { channel: `${p}:state` };
    const write = (me: string, cells: [string, string, string][]) =>
      apply(p, me, [{ t: 'c', k: 'r:c', c: cells, ttl: '60000' }], channel);
    await write('a#1', [
      ['5', '3', '1000'],
      ['6', '2', '1000'],
    ]);
    await write('b#1', [['5', '4', '1000']]);
    // Bucket 5 is sent again unchanged (a retried flush): only bucket 6 is news.
    await write('a#1', [
      ['5', '3', '1000'],
      ['6', '7', '1000'],
    ]);
    await write('a#1', [['6', '7', '1000']]); // nothing new: no message
    await apply(p, 'a#1', [{ t: 'm', k: 'r:m', v: '1', x: '100', ttl: '60000' }], channel);
    await waitFor(() => got.length === 4, 'four messages');
    sub.disconnect();
    expect(got.slice(0, 3)).toEqual([
      {
        f: 'a#1',
        s: [
          {
            k: 'r:c',
            t: 'w',
            c: [
              ['5', '3', '1000'],
              ['6', '2', '1000'],
            ],
          },
        ],
      },
      { f: 'b#1', s: [{ k: 'r:c', t: 'w', c: [['5', '4', '1000']] }] },
      { f: 'a#1', s: [{ k: 'r:c', t: 'w', c: [['6', '7', '1000']] }] },
    ]);
    // A read still gives the whole counter.
    expect((await apply(p, 'r#1', [{ t: 's', k: 'r:c' }])).s[0]).toEqual({
      k: 'r:c',
      t: 'c',
      c: { '5': { e: '1000', w: { 'a#1': '3', 'b#1': '4' } }, '6': { e: '1000', w: { 'a#1': '7' } } },
    });
  });

  it('publishes only what changed, numbered by the rule sequence', async () => {
    const p = freshPrefix();
    const sub = new Redis(redis.url);
    const got: { r: number; f: string; s: { k: string }[] }[] = [];
    sub.on('message', (_c: string, m: string) => {
      const nl = m.indexOf('\n');
      got.push({ f: m.slice(0, nl), ...(JSON.parse(m.slice(nl + 1)) as { r: number; s: { k: string }[] }) });
    });
    await sub.subscribe(`${p}:state`);
    const channel = { channel: `${p}:state` };
    const first = await apply(p, 'a#1', [{ t: 'm', k: 'r:m', v: '7', x: '100', ttl: '60000' }], channel);
    const unchanged = await apply(p, 'a#1', [{ t: 'm', k: 'r:m', v: '3', x: '100', ttl: '60000' }], channel);
    const second = await apply(
      p,
      'b#1',
      [
        { t: 'm', k: 'r:m', v: '3', x: '100', ttl: '60000' },
        { t: 'm', k: 'r:n', v: '1', x: '100', ttl: '60000' },
      ],
      channel,
    );
    await waitFor(() => got.length === 2, 'two messages');
    sub.disconnect();
    expect([first.r, unchanged.r, second.r]).toEqual([1, 1, 2]);
    expect(got.map((m) => [m.r, m.f, m.s.map((s) => s.k)])).toEqual([
      [1, 'a#1', ['r:m']],
      [2, 'b#1', ['r:n']],
    ]);
  });
});
