import { decodeEntry, type EncodedEntry } from './durableStore.ts';
import type { StateValue } from '../correlation/stateStore.ts';
import { MemoryStateStore, type StoredEntry } from './memoryStore.ts';

/** Fields of a checkpoint that are not state entries start with a NUL, which no state key does. */
export const CHECKPOINT_FIELD = '\0';

/** What changed in the state since the last checkpoint, ready for a hash write. */
export interface CheckpointChanges {
  /** Key, the entry's checkpoint encoding (`encodeCheckpointEntry`), pairs in a flat list. */
  set: string[];
  /** Keys the state no longer holds (some perhaps never written: a key made and gone in between). */
  remove: string[];
}

/** JSON has no NaN or Infinity; a time may be either (a window without end), so it travels as a string. */
const enc = (n: number): number | string => (Number.isFinite(n) ? n : String(n));
const num = (n: number): string => (Number.isFinite(n) ? String(n) : `"${n}"`);

function allFinite(list: readonly number[]): boolean {
  for (let i = 0; i < list.length; i++) if (!Number.isFinite(list[i])) return false;
  return true;
}

const fromJson = (n: number | string): number => (typeof n === 'number' ? n : Number(n));

/**
 * An entry as a checkpoint's hash holds it under its key: JSON of an array led by its kind's
 * letter (`c` counter, `m` mark, `r` register, `s` set), the key left out (the hash field is the
 * key). A checkpoint writes every entry changed in the last interval, at 100,000 groups about four
 * an event (bench/checkpoint.ts): `JSON.stringify` of an array, which makes the string flat (a
 * socket write copies it once), but for a mark, where two numbers are cheaper joined by hand.
 * A register's value is `value` when given: as its store has it travel (an incident record
 * without its audit trail and sample, which travel in their sets; `bareRegister`).
 * Older checkpoints hold the durable snapshot's encoding (`encodeEntry`, the key inside), which
 * `decodeCheckpointEntry` reads too.
 */
export function encodeCheckpointEntry(e: Readonly<StoredEntry>, value?: StateValue): string {
  switch (e.kind) {
    case 'count': {
      const { buckets, counts, expires } = e;
      return allFinite(buckets) && allFinite(counts) && allFinite(expires)
        ? JSON.stringify(['c', buckets, counts, expires, enc(e.expiresAtMs)])
        : JSON.stringify(['c', buckets.map(enc), counts.map(enc), expires.map(enc), enc(e.expiresAtMs)]);
    }
    case 'max':
      return `["m",${num(e.value)},${num(e.expiresAtMs)}]`;
    case 'register':
      return JSON.stringify([
        'r',
        value ?? e.register.value,
        enc(e.register.version),
        e.register.writer,
        e.deleted ? 1 : 0,
        enc(e.expiresAtMs),
      ]);
    case 'set':
      return JSON.stringify(['s', e.members, e.limit, enc(e.expiresAtMs)]);
  }
}

/** The kind letters of `encodeCheckpointEntry`, as the durable snapshot's encoding numbers them. */
const KIND_OF_LETTER = { c: 0, m: 1, r: 2, s: 3 } as const;

/**
 * The entry `encodeCheckpointEntry` wrote, or one in the durable snapshot's encoding: the new form
 * is the older one less its key, but for a counter's times without end (strings in its arrays).
 */
export function decodeCheckpointEntry(json: string): StoredEntry {
  const e = JSON.parse(json) as unknown[];
  const kind = typeof e[0] === 'string' ? KIND_OF_LETTER[e[0] as keyof typeof KIND_OF_LETTER] : undefined;
  if (kind === undefined) return decodeEntry(e as EncodedEntry);
  const old: unknown[] = [kind, '', ...e.slice(1)];
  if (kind === 0) for (let i = 2; i <= 4; i++) old[i] = (old[i] as (number | string)[]).map(fromJson);
  return decodeEntry(old as EncodedEntry);
}

/**
 * The correlation state of one engine, its memory store's entries, as a value kept in a hash and
 * written a little at a time (the owners design's checkpoints): `take()` gives the entries
 * changed since the last call, in their checkpoint encoding, and the keys gone, as the store
 * itself notes them (`trackChanges`), its sweep of expired keys included.
 */
export class CheckpointChangeTracker {
  private readonly store: MemoryStateStore;

  /** The store as given is what the checkpoint holds: empty, or just restored from it. */
  constructor(store: MemoryStateStore) {
    this.store = store;
    store.trackChanges();
    store.takeChanged();
  }

  /** The changes since the last call; from then on, it counts them as written. */
  take(): CheckpointChanges {
    const set: string[] = [];
    const remove: string[] = [];
    for (const [key, entry] of this.store.takeChanged()) {
      if (entry === undefined) remove.push(key);
      else set.push(key, this.encode(key, entry));
    }
    return { set, remove };
  }

  /**
   * An entry in its checkpoint encoding, a register's value as its store has it travel: an
   * incident record leaves its audit trail and sample to their sets, which the checkpoint holds
   * too. Written whole, a flapping incident's record carried its hundred trail entries on every
   * change, half the bytes of a checkpoint at 2,000 groups (docs/benchmarks.md).
   */
  private encode(key: string, entry: Readonly<StoredEntry>): string {
    return entry.kind === 'register' && !entry.deleted && entry.register.value !== null
      ? encodeCheckpointEntry(entry, this.store.bareRegister(key, entry.register.value))
      : encodeCheckpointEntry(entry);
  }

  /**
   * Every entry, for a checkpoint written anew (its hash emptied first: Redis lost what it held);
   * from then on, it counts them as written.
   */
  takeAll(): CheckpointChanges {
    const set: string[] = [];
    for (const [key, entry] of this.store.exportEntries()) set.push(key, this.encode(key, entry));
    this.store.takeChanged();
    return { set, remove: [] };
  }

  /** Stops noting changes: the store is left behind. */
  close(): void {
    this.store.trackChanges(false);
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
    store.load(key, decodeCheckpointEntry(value));
    entries++;
  }
  return { store, entries, fields };
}
