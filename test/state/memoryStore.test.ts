import { describe, expect, it } from 'vitest';
import { MemoryStateStore } from '../../src/state/memoryStore.ts';
import type { StateDelta } from '../../src/correlation/stateStore.ts';

describe('MemoryStateStore', () => {
  it('sums counter buckets inside a window and forgets expired buckets', () => {
    const store = new MemoryStateStore();
    store.addCount('errors', 10, 2, 1_000);
    store.addCount('errors', 12, 3, 1_200);
    expect(store.addCount('errors', 11, 1, 1_100)).toBe(1);
    expect(store.sumCounts('errors', 10, 12)).toBe(6);
    expect(store.sumCounts('errors', 11, 12)).toBe(4);
    expect(store.sumCounts('other', 0, 100)).toBe(0);
    store.sweep(1_100);
    expect(store.sumCounts('errors', 0, 100)).toBe(3);
    store.sweep(1_200);
    expect(store.size()).toBe(0);
  });

  it('tells each reader of a kind the keys changed since it last took them, until it closes', () => {
    const store = new MemoryStateStore();
    const first = store.watchRegisters('i:');
    const second = store.watchRegisters('i:');
    store.write('i:a', 1, 1, 10_000);
    store.raise('i:b', 5, 10_000);
    store.write('x:c', 1, 1, 10_000);
    expect([...first.take()].sort()).toEqual(['i:a', 'i:b']);
    store.write('i:a', 2, 2, 10_000);
    first.close();
    store.delete('i:b', 3);
    expect([...first.take()]).toEqual(['i:a']);
    expect([...first.take()]).toEqual([]);
    expect([...second.take()].sort()).toEqual(['i:a', 'i:b']);
    second.close();
    store.write('i:d', 1, 1, 10_000);
    expect([...second.take()]).toEqual([]);
    // A reader made after every other closed hears of what changes from then on.
    const third = store.watchRegisters('i:');
    store.write('i:e', 1, 1, 10_000);
    expect([...third.take()]).toEqual(['i:e']);
  });

  it('keeps the highest mark', () => {
    const store = new MemoryStateStore();
    store.raise('seen', 5, 100);
    expect(store.raise('seen', 3, 100)).toBe(5);
    expect(store.readMax('seen')).toBe(5);
  });

  it('orders register writes by version then writer, and deletions with them', () => {
    const a = new MemoryStateStore('agent-a');
    const b = new MemoryStateStore('agent-b');
    const shipped: StateDelta[] = [];
    a.onDelta((d) => shipped.push(d));
    b.onDelta((d) => shipped.push(d));
    expect(a.write('pair', 'down', 10, 1_000)).toBe(true);
    expect(b.write('pair', 'up', 10, 1_000)).toBe(true);
    for (const d of shipped.splice(0)) {
      a.merge(d);
      b.merge(d);
    }
    // Same version: the greater writer id wins on both sides, so the agents agree.
    expect(a.read('pair')?.value).toBe('up');
    expect(b.read('pair')?.value).toBe('up');
    a.delete('pair', 11);
    expect(a.read('pair')).toBeUndefined();
    expect(a.write('pair', 'down', 10, 1_000)).toBe(false);
    expect(a.write('pair', 'down', 12, 1_000)).toBe(true);
    a.delete('pair', 12);
    for (const d of shipped.splice(0)) b.merge(d);
    expect(b.read('pair')).toBeUndefined();
    expect([...b.keys('pa')]).toEqual([]);
  });

  it('converges whatever order deltas arrive in', () => {
    const source = new MemoryStateStore('src');
    const deltas: StateDelta[] = [];
    source.onDelta((d) => deltas.push(d));
    for (let i = 0; i < 50; i++) {
      source.addCount(`c${i % 3}`, i % 5, 1, 10_000);
      source.raise(`m${i % 4}`, (i * 7) % 13, 10_000);
      source.write(`r${i % 2}`, i, i, 10_000);
    }
    const forward = new MemoryStateStore('x');
    const backward = new MemoryStateStore('y');
    for (const d of deltas) forward.merge(d);
    for (const d of [...deltas].reverse()) backward.merge(d);
    for (const key of ['c0', 'c1', 'c2']) expect(backward.sumCounts(key, 0, 4)).toBe(forward.sumCounts(key, 0, 4));
    for (const key of ['m0', 'm1', 'm2', 'm3']) expect(backward.readMax(key)).toBe(forward.readMax(key));
    for (const key of ['r0', 'r1']) expect(backward.read(key)).toEqual(forward.read(key));
    expect(forward.sumCounts('c0', 0, 4)).toBe(17);
  });

  it('unites set members in any order and any number of times, keeping the greatest up to the limit', () => {
    const source = new MemoryStateStore('src');
    const deltas: StateDelta[] = [];
    source.onDelta((d) => deltas.push(structuredClone(d)));
    for (let i = 0; i < 12; i++) source.addToSet('s:a', `m${String(i % 9).padStart(2, '0')}`, 5, 1000);
    // A member already held, or below a full set's least, with no later expiry, tells nothing.
    expect(deltas.map((d) => (d.kind === 'set' ? d.members : []))).toEqual(
      [0, 1, 2, 3, 4, 5, 6, 7, 8].map((i) => [`m0${i}`]),
    );
    expect(source.readSet('s:a')).toEqual(['m04', 'm05', 'm06', 'm07', 'm08']);
    const forward = new MemoryStateStore('x');
    const twiceBackward = new MemoryStateStore('y');
    for (const d of deltas) forward.merge(structuredClone(d));
    for (const d of [...deltas.slice().reverse(), ...deltas]) twiceBackward.merge(structuredClone(d));
    expect(forward.readSet('s:a')).toEqual(source.readSet('s:a'));
    expect(twiceBackward.readSet('s:a')).toEqual(source.readSet('s:a'));
    // The same array until the set changes, so readers can tell a change by identity.
    const before = forward.readSet('s:a');
    forward.merge({ kind: 'set', key: 's:a', members: ['m05'], limit: 5, expiresAtMs: 0 });
    expect(forward.readSet('s:a')).toBe(before);
    forward.merge({ kind: 'set', key: 's:a', members: ['m99'], limit: 5, expiresAtMs: 0 });
    expect(forward.readSet('s:a')).toEqual(['m05', 'm06', 'm07', 'm08', 'm99']);
    expect(forward.sweep(2000)).toBe(1);
    expect(forward.readSet('s:a')).toBeUndefined();
  });

  it('keeps the greatest limit a set was given, so merges in any order agree', () => {
    const deltas: StateDelta[] = [
      { kind: 'set', key: 's:b', members: ['a'], limit: 3, expiresAtMs: 1000 },
      { kind: 'set', key: 's:b', members: ['b', 'c', 'd', 'e'], limit: 5, expiresAtMs: 1000 },
      { kind: 'set', key: 's:b', members: ['f'], limit: 3, expiresAtMs: 1000 },
    ];
    const forward = new MemoryStateStore('x');
    const backward = new MemoryStateStore('y');
    for (const d of deltas) forward.merge(structuredClone(d));
    for (const d of [...deltas].reverse()) backward.merge(structuredClone(d));
    expect(forward.readSet('s:b')).toEqual(['b', 'c', 'd', 'e', 'f']);
    expect(backward.readSet('s:b')).toEqual(forward.readSet('s:b'));
    expect(forward.setLimit('s:b')).toBe(5);
    expect(backward.setLimit('s:b')).toBe(5);
  });
});
