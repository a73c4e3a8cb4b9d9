import { describe, expect, it } from 'vitest';
import { encodeEntry } from '../../src/state/durableStore.ts';
import { MemoryStateStore } from '../../src/state/memoryStore.ts';
import { CHECKPOINT_FIELD, CheckpointChangeTracker, restoreCheckpoint } from '../../src/state/stateCheckpoint.ts';

/** The store's entries as the durable snapshot encodes them, by key. */
function entries(store: MemoryStateStore): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, entry] of store.exportEntries()) out[key] = JSON.stringify(encodeEntry(key, entry));
  return out;
}

/** One checkpoint: the tracker's changes applied to a hash, as a write of them would. */
function apply(hash: Record<string, string>, tracker: CheckpointChangeTracker): { set: string[]; removed: string[] } {
  const { set, remove } = tracker.take();
  for (const key of remove) delete hash[key];
  for (let i = 0; i < set.length; i += 2) hash[set[i]!] = set[i + 1]!;
  return { set: set.filter((_, i) => i % 2 === 0).sort(), removed: remove };
}

const COUNT = 'c:errors{service="a"}';
const MARK = 'm:link{asset="sw1"}';
const OTHER_MARK = 'm:link{asset="sw2"}';
const RECORD = 'i:errors{service="a"}';

describe('checkpoints of a memory store, written a little at a time', () => {
  it('writes what changed since the last one, removes what is gone, and restores to the same entries', () => {
    const store = new MemoryStateStore();
    const tracker = new CheckpointChangeTracker(store, { fullPassEvery: 5 });
    const hash: Record<string, string> = {};
    store.addCount(COUNT, 1, 1, 60_000);
    store.raise(MARK, 5, 10_000);
    store.raise(OTHER_MARK, 5, 10_000);
    store.write(RECORD, { status: 'open' }, 1, 60_000);
    expect(apply(hash, tracker)).toEqual({ set: [COUNT, RECORD, MARK, OTHER_MARK].sort(), removed: [] });
    // Nothing written since: nothing to write.
    expect(apply(hash, tracker)).toEqual({ set: [], removed: [] });

    store.addCount(COUNT, 1, 2, 60_000);
    store.delete(RECORD, 2);
    expect(apply(hash, tracker).set).toEqual([COUNT, RECORD].sort());
    expect(hash).toEqual(entries(store));

    // A sweep tells no one. A key written since the last checkpoint is found gone at the next;
    // one not written, at the next full pass (every fifth checkpoint here).
    store.raise(MARK, 6, 12_000);
    store.sweep(20_000);
    expect(store.entryOf(MARK)).toBeUndefined();
    expect(store.entryOf(OTHER_MARK)).toBeUndefined();
    expect(apply(hash, tracker)).toEqual({ set: [], removed: [MARK] });
    expect(apply(hash, tracker)).toEqual({ set: [], removed: [OTHER_MARK] });
    expect(hash).toEqual(entries(store));

    const restored = restoreCheckpoint({ ...hash, [`${CHECKPOINT_FIELD}position`]: '17-0' });
    expect(entries(restored.store)).toEqual(entries(store));
    expect(restored.entries).toBe(Object.keys(hash).length);
    expect(restored.fields).toEqual(new Map([[`${CHECKPOINT_FIELD}position`, '17-0']]));

    // A tracker on the restored store counts what it holds as written: a key swept later is removed.
    const next = new CheckpointChangeTracker(restored.store, { fullPassEvery: 1 });
    restored.store.sweep(120_000);
    expect(next.take().remove.sort()).toEqual(
      Object.keys(hash)
        .filter((k) => !restored.store.entryOf(k))
        .sort(),
    );
    expect(next.take().remove).toEqual([]);
  });
});
