import { describe, expect, it } from 'vitest';
import { choosePrune } from '../../../src/exporters/helper/prune.ts';

const DAY = 86_400_000;
const item = (name: string, atMs: number, bytes = 10) => ({ name, atMs, bytes });

describe('choosePrune', () => {
  const now = 100 * DAY;

  it('removes what is older than max_age, oldest first, and keeps the rest', () => {
    const items = [item('c', now - 1 * DAY), item('a', now - 9 * DAY), item('b', now - 8 * DAY)];
    const { remove, byAge } = choosePrune(items, { maxAgeMs: 7 * DAY, maxBytes: 0 }, now);
    expect(remove.map((i) => i.name)).toEqual(['a', 'b']);
    expect(byAge).toBe(2);
  });

  it('removes the oldest until the total fits max_bytes, counting what may not be removed', () => {
    const items = [item('new', now - 1, 40), item('old', now - 3, 40), item('mid', now - 2, 40)];
    expect(choosePrune(items, { maxAgeMs: 0, maxBytes: 100 }, now).remove.map((i) => i.name)).toEqual(['old']);
    // 50 bytes that must stay leave room for one item of 40.
    const c = choosePrune(items, { maxAgeMs: 0, maxBytes: 100 }, now, 50);
    expect(c.remove.map((i) => i.name)).toEqual(['old', 'mid']);
    expect(c.byAge).toBe(0);
  });

  it('removes nothing with both limits at 0, or within them', () => {
    const items = [item('a', 0, 1e9)];
    expect(choosePrune(items, { maxAgeMs: 0, maxBytes: 0 }, now).remove).toEqual([]);
    expect(choosePrune(items, { maxAgeMs: 200 * DAY, maxBytes: 2e9 }, now).remove).toEqual([]);
  });
});
