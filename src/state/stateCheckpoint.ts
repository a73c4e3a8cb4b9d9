import { decodeEntry, encodeEntry, type EncodedEntry } from './durableStore.ts';
import { MemoryStateStore } from './memoryStore.ts';

/** Fields of a checkpoint that are not state entries start with a NUL, which no state key does. */
export const CHECKPOINT_FIELD = '\0';

/** What changed in the state since the last checkpoint, ready for a hash write. */
export interface CheckpointChanges {
  /** Key, JSON of the entry in the durable snapshot's encoding, pairs in a flat list. */
  set: string[];
  /** Keys the state no longer holds. */
  remove: string[];
}

/**
 * The correlation state of one engine, its memory store's entries, as a value kept in a hash and
 * written a little at a time (the owners design's checkpoints): `take()` gives the entries written
 * since the last call, in the durable snapshot's encoding, and the keys gone. The store's sweep of
 * expired keys tells no one, so every `fullPassEvery` calls the keys written before are looked up
 * again, and those swept away are removed too; a hash of a long-running owner then holds its
 * live state, not all it ever held.
 */
export class CheckpointChangeTracker {
  private readonly store: MemoryStateStore;
  private readonly changed = new Set<string>();
  /** Keys the checkpoint holds, as far as this tracker wrote it. */
  private readonly saved = new Set<string>();
  private readonly fullPassEvery: number;
  private takes = 0;
  private readonly unsubscribe: () => void;

  /** The store as given is what the checkpoint holds: empty, or just restored from it. */
  constructor(store: MemoryStateStore, opts: { fullPassEvery?: number } = {}) {
    this.store = store;
    this.fullPassEvery = opts.fullPassEvery ?? 60;
    for (const [key] of store.exportEntries()) this.saved.add(key);
    this.unsubscribe = store.onDelta((d) => this.changed.add(d.key));
  }

  /** The changes since the last call; from then on, it counts them as written. */
  take(): CheckpointChanges {
    const set: string[] = [];
    const remove: string[] = [];
    for (const key of this.changed) {
      const entry = this.store.entryOf(key);
      if (entry === undefined) {
        if (this.saved.delete(key)) remove.push(key);
      } else {
        set.push(key, JSON.stringify(encodeEntry(key, entry)));
        this.saved.add(key);
      }
    }
    this.changed.clear();
    if (++this.takes % this.fullPassEvery === 0)
      for (const key of this.saved)
        if (this.store.entryOf(key) === undefined) {
          this.saved.delete(key);
          remove.push(key);
        }
    return { set, remove };
  }

  /**
   * Every entry, for a checkpoint written anew (its hash emptied first: Redis lost what it held);
   * from then on, it counts them as written.
   */
  takeAll(): CheckpointChanges {
    const set: string[] = [];
    this.saved.clear();
    for (const [key, entry] of this.store.exportEntries()) {
      set.push(key, JSON.stringify(encodeEntry(key, entry)));
      this.saved.add(key);
    }
    this.changed.clear();
    return { set, remove: [] };
  }

  /** Stops listening to the store. */
  close(): void {
    this.unsubscribe();
  }
}

/** A state brought back from a checkpoint's hash: the store, and the checkpoint's own fields. */
export interface RestoredState {
  store: MemoryStateStore;
  /** Entries loaded. */
  entries: number;
  /** The fields that are not state entries (`CHECKPOINT_FIELD` first), by name. */
  fields: Map<string, string>;
}

/** Builds a memory store back from the fields of a checkpoint (HGETALL of its hash). */
export function restoreCheckpoint(saved: Record<string, string>): RestoredState {
  const store = new MemoryStateStore();
  const fields = new Map<string, string>();
  let entries = 0;
  for (const key in saved) {
    const value = saved[key]!;
    if (key.startsWith(CHECKPOINT_FIELD)) {
      fields.set(key, value);
      continue;
    }
    store.load(key, decodeEntry(JSON.parse(value) as EncodedEntry));
    entries++;
  }
  return { store, entries, fields };
}
