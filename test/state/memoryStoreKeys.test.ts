import { describe, expect, it } from 'vitest';
import { MemoryStateStore } from '../../src/state/memoryStore.ts';

const sorted = (keys: Iterable<string>) => [...keys].sort();

/** What `keys(prefix)` must return: every live key (tombstones excluded) that starts with the prefix. */
function expected(live: Map<string, 'live' | 'tombstone'>, prefix: string): string[] {
  return [...live]
    .filter(([k, state]) => state === 'live' && k.startsWith(prefix))
    .map(([k]) => k)
    .sort();
}

describe('MemoryStateStore keys and sweep', () => {
  it('lists the keys of a kind tag, of a rule inside it, and keys without a tag', () => {
    const store = new MemoryStateStore();
    store.addCount('c:t1{asset="a"}', 1, 1, 1_000);
    store.addCount('c:t10{asset="b"}', 1, 1, 1_000);
    store.raise('a:a1{asset="a"}', 5, 1_000);
    store.raise('ms:m1{}', 5, 1_000);
    store.write('i:t1{asset="a"}', 'open', 1, 1_000);
    store.addCount('plain', 1, 1, 1_000);
    store.raise('m', 1, 1_000);
    expect(sorted(store.keys('c:'))).toEqual(['c:t10{asset="b"}', 'c:t1{asset="a"}']);
    expect(sorted(store.keys('c:t1{'))).toEqual(['c:t1{asset="a"}']);
    expect(sorted(store.keys('c:t1'))).toEqual(['c:t10{asset="b"}', 'c:t1{asset="a"}']);
    expect(sorted(store.keys('a:'))).toEqual(['a:a1{asset="a"}']);
    expect(sorted(store.keys('i:'))).toEqual(['i:t1{asset="a"}']);
    expect(sorted(store.keys('m'))).toEqual(['m', 'ms:m1{}']);
    expect(sorted(store.keys('pl'))).toEqual(['plain']);
    expect(sorted(store.keys('x:'))).toEqual([]);
    expect(sorted(store.keys(''))).toHaveLength(7);
  });

  it('leaves tombstones out until a newer write revives the key, and forgets swept and deleted keys', () => {
    const a = new MemoryStateStore('a');
    const b = new MemoryStateStore('b');
    a.onDelta((d) => b.merge(d));
    a.write('i:r{}', 'open', 1, 100);
    a.addCount('c:r{}', 1, 1, 50);
    a.raise('a:r{}', 1, 200);
    expect(sorted(b.keys('i:'))).toEqual(['i:r{}']);
    a.delete('i:r{}', 2);
    expect(sorted(a.keys('i:'))).toEqual([]);
    expect(sorted(b.keys('i:'))).toEqual([]);
    expect(b.size()).toBe(3);
    // An older write loses to the tombstone; a newer one brings the key back.
    b.merge({
      kind: 'register',
      key: 'i:r{}',
      register: { value: 'stale', version: 1, writer: 'z' },
      expiresAtMs: 100,
    });
    expect(sorted(b.keys('i:'))).toEqual([]);
    b.merge({
      kind: 'register',
      key: 'i:r{}',
      register: { value: 'again', version: 3, writer: 'z' },
      expiresAtMs: 100,
    });
    expect(sorted(b.keys('i:'))).toEqual(['i:r{}']);
    a.delete('a:r{}', 3);
    expect(sorted(b.keys('a:'))).toEqual([]);
    b.sweep(50);
    expect(sorted(b.keys('c:'))).toEqual([]);
    expect(sorted(b.keys(''))).toEqual(['i:r{}']);
    b.sweep(100);
    expect(sorted(b.keys('i:'))).toEqual([]);
    expect(b.size()).toBe(0);
  });

  it('sweeps a counter bucket that expires before the ones written earlier', () => {
    const store = new MemoryStateStore();
    store.addCount('c:r{}', 5, 2, 10_000);
    store.addCount('c:r{}', 4, 1, 3_000);
    expect(store.sweep(2_999)).toBe(0);
    expect(store.sweep(3_000)).toBe(1);
    expect(store.sumCounts('c:r{}', 0, 9)).toBe(2);
    expect(store.sweep(10_000)).toBe(1);
    expect(store.size()).toBe(0);
  });

  it('keeps keys(), sweep() and counters exact over a long random mix of writes, merges, deletions and sweeps', () => {
    const names = [
      'c:t1{asset="a"}',
      'c:t1{asset="b"}',
      'c:t2{}',
      'a:t1{asset="a"}',
      'i:t1{asset="a"}',
      'i:t2{}',
      'ms:x{}',
      'm',
      'plain',
      'i:',
      'c:t1',
    ];
    const prefixes = ['', 'c:', 'c:t1', 'c:t1{', 'a:', 'i:', 'i:t1{asset="a"}', 'm', 'ms:', 'p', 'x:', 'i'];
    const store = new MemoryStateStore('self');
    // The reference: what each key is, by the same rules, without the store's index.
    type Cells = Map<number, { count: number; expiresAtMs: number }>;
    const model = new Map<
      string,
      { state: 'live' | 'tombstone'; kind: string; expiresAtMs: number; version: number; writer: string; cells?: Cells }
    >();
    let seed = 42;
    const rand = (n: number) => {
      seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648;
      // The high bits: the low bits of this generator repeat with short periods.
      return Math.floor((seed / 2_147_483_648) * n);
    };
    let now = 0;
    for (let step = 0; step < 2_000; step++) {
      const key = names[rand(names.length)]!;
      // Expiries spread over seconds, so entries fall due in different sweeps.
      const expiresAtMs = now + 1 + rand(20_000);
      const cur = model.get(key);
      const op = rand(7);
      if (op === 0) {
        const bucket = rand(4);
        store.addCount(key, bucket, 1, expiresAtMs);
        let counter = cur;
        if (counter?.kind === 'count') counter.expiresAtMs = Math.max(counter.expiresAtMs, expiresAtMs);
        else
          model.set(
            key,
            (counter = { state: 'live', kind: 'count', expiresAtMs, version: 0, writer: '', cells: new Map() }),
          );
        const cell = counter.cells!.get(bucket);
        if (cell) Object.assign(cell, { count: cell.count + 1, expiresAtMs: Math.max(cell.expiresAtMs, expiresAtMs) });
        else counter.cells!.set(bucket, { count: 1, expiresAtMs });
      } else if (op === 1) {
        store.raise(key, rand(10), expiresAtMs);
        if (cur?.kind === 'max') cur.expiresAtMs = Math.max(cur.expiresAtMs, expiresAtMs);
        else model.set(key, { state: 'live', kind: 'max', expiresAtMs, version: 0, writer: '' });
      } else if (op === 2 || op === 3) {
        const version = rand(20);
        const writer = op === 2 ? 'self' : 'other';
        if (op === 2) store.write(key, step, version, expiresAtMs);
        else store.merge({ kind: 'register', key, register: { value: step, version, writer }, expiresAtMs });
        if (cur?.kind !== 'register' || version > cur.version || (version === cur.version && writer >= cur.writer)) {
          model.set(key, { state: 'live', kind: 'register', expiresAtMs, version, writer });
        }
      } else if (op === 4 || op === 5) {
        const version = rand(20);
        const writer = op === 4 ? 'self' : 'other';
        if (op === 4) store.delete(key, version);
        else store.merge({ kind: 'delete', key, version, writer });
        if (cur?.kind === 'register') {
          if (version > cur.version || (version === cur.version && writer >= cur.writer))
            Object.assign(cur, { state: 'tombstone', version, writer });
        } else if (cur) model.delete(key);
      } else {
        // Mostly forward, sometimes an earlier clock reading: a sweep must still be exact.
        const at = rand(8) === 0 ? now - rand(2_000) : (now += rand(800));
        let removed = 0;
        for (const [k, v] of model) {
          if (v.expiresAtMs <= at) {
            model.delete(k);
            removed++;
          } else if (v.cells) {
            for (const [b, c] of v.cells) {
              if (c.expiresAtMs <= at) {
                v.cells.delete(b);
                removed++;
              }
            }
          }
        }
        expect(store.sweep(at), `sweep at step ${step}`).toBe(removed);
      }
      for (const [k, v] of model) {
        if (v.cells)
          expect(store.sumCounts(k, 0, 3), `counter ${k} at step ${step}`).toBe(
            [...v.cells.values()].reduce((sum, c) => sum + c.count, 0),
          );
      }
      const states = new Map([...model].map(([k, v]) => [k, v.state]));
      for (const prefix of prefixes)
        expect(sorted(store.keys(prefix)), `step ${step}, prefix "${prefix}"`).toEqual(expected(states, prefix));
      expect(store.size()).toBe(model.size);
    }
  });
});
