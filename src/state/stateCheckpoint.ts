import { decodeEntry, type EncodedEntry } from './durableStore.ts';
import type { StateValue } from '../correlation/stateStore.ts';
import { MemoryStateStore, type StoredEntry } from './memoryStore.ts';
import {
  incidentRecordFromRows,
  incidentRecordToRows,
  isIncidentRecord,
  type IncidentRecordRows,
} from '../correlation/incidentRecordRows.ts';

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
 * without its audit trail and sample, which travel in their sets; `bareRegister`). A register
 * holding an incident record goes as `i` with the record as rows (`incidentRecordToRows`: the
 * field names were more than half its bytes, and incident records half a checkpoint's at 100,000
 * groups).
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
    case 'register': {
      const v = value ?? e.register.value;
      const rows = isIncidentRecord(v) ? incidentRecordToRows(v) : undefined;
      return JSON.stringify([
        rows === undefined ? 'r' : 'i',
        rows ?? v,
        enc(e.register.version),
        e.register.writer,
        e.deleted ? 1 : 0,
        enc(e.expiresAtMs),
      ]);
    }
    case 'set':
      return JSON.stringify(['s', e.members, e.limit, enc(e.expiresAtMs)]);
  }
}

/** The kind letters of `encodeCheckpointEntry`, as the durable snapshot's encoding numbers them (`i`: a register). */
const KIND_OF_LETTER = { c: 0, m: 1, r: 2, s: 3, i: 2 } as const;

/**
 * The entry `encodeCheckpointEntry` wrote, or one in the durable snapshot's encoding: the new form
 * is the older one less its key, but for a counter's times without end (strings in its arrays)
 * and an incident record's rows. Checkpoints that hold records whole (`r`, written before rows)
 * are read too.
 */
export function decodeCheckpointEntry(json: string): StoredEntry {
  const e = JSON.parse(json) as unknown[];
  const kind = typeof e[0] === 'string' ? KIND_OF_LETTER[e[0] as keyof typeof KIND_OF_LETTER] : undefined;
  if (kind === undefined) return decodeEntry(e as EncodedEntry);
  const old: unknown[] = [kind, '', ...e.slice(1)];
  if (e[0] === 'i') old[2] = incidentRecordFromRows(e[1] as IncidentRecordRows);
  if (kind === 0) for (let i = 2; i <= 4; i++) old[i] = (old[i] as (number | string)[]).map(fromJson);
  return decodeEntry(old as EncodedEntry);
}

/**
 * A long set is written as what it gained since the checkpoint last had it, under fields of its
 * own beside the set's (`setFieldNames`), up to this many; the next change writes it whole again
 * and removes them. A flapping incident's trail of a hundred entries gained one or two at each
 * checkpoint and was written whole every time: 60 % of a checkpoint's bytes at 2,000 groups
 * (docs/benchmarks.md).
 */
const SET_DELTAS = 4;
/** Sets shorter than this are written whole: a delta would save little. */
const SET_DELTA_FROM = 8;
/** The fields of a set's deltas: `CHECKPOINT_FIELD`, `+`, its number, `CHECKPOINT_FIELD`, the set's key. */
const DELTA_FIELD = `${CHECKPOINT_FIELD}+`;

function deltaField(key: string, n: number): string {
  return `${DELTA_FIELD}${n}${CHECKPOINT_FIELD}${key}`;
}

/**
 * Every field a checkpoint may hold a set `key` under: the set's own, then its deltas'. A reader
 * of one set (HMGET) folds what it finds (`foldSetFields`).
 */
export function setFieldNames(key: string): string[] {
  const names = [key];
  for (let n = 1; n <= SET_DELTAS; n++) names.push(deltaField(key, n));
  return names;
}

/**
 * The sets of one read of `setFieldNames`' fields for several sets, in a row (null for a field the
 * checkpoint lacks): each set's members, undefined where the checkpoint has no such set.
 */
export function foldSetFields(values: readonly (string | null | undefined)[]): (readonly string[] | undefined)[] {
  const per = SET_DELTAS + 1;
  const store = new MemoryStateStore();
  const out: (readonly string[] | undefined)[] = [];
  for (let at = 0; at * per < values.length; at++) {
    const key = String(at);
    for (let i = at * per; i < (at + 1) * per && i < values.length; i++) {
      const value = values[i];
      if (value === null || value === undefined) continue;
      const entry = decodeCheckpointEntry(value);
      if (entry.kind === 'set') foldSet(store, key, entry);
    }
    out.push(store.readSet(key));
  }
  return out;
}

/** Adds a set's delta (or the set itself) to what `store` holds of `key`: sets only grow, so in any order. */
function foldSet(store: MemoryStateStore, key: string, entry: Extract<StoredEntry, { kind: 'set' }>): void {
  store.merge({ kind: 'set', key, members: entry.members, limit: entry.limit, expiresAtMs: entry.expiresAtMs });
}

/**
 * Of a set's `members` now, those it lacked when it held `was` (both ascending); undefined when
 * it did not grow from `was` (it was swept and made anew in between): a member of `was` is gone
 * though the set is under its `limit`, or though the set keeps smaller ones.
 */
function gained(was: readonly string[], members: readonly string[], limit: number): string[] | undefined {
  const out: string[] = [];
  let i = 0;
  for (const m of members) {
    for (; i < was.length && was[i]! < m; i++) if (members.length < limit || was[i]! > members[0]!) return undefined;
    if (i < was.length && was[i] === m) i++;
    else out.push(m);
  }
  return i < was.length ? undefined : out;
}

/** What a checkpoint holds of a set: its members there (base and deltas folded) and its deltas. */
interface WrittenSet {
  members: readonly string[];
  expiresAtMs: number;
  deltas: number;
}

/**
 * The correlation state of one engine, its memory store's entries, as a value kept in a hash and
 * written a little at a time (the owners design's checkpoints): `take()` gives the entries
 * changed since the last call, in their checkpoint encoding, and the keys gone, as the store
 * itself notes them (`trackChanges`), its sweep of expired keys included. A long set goes as what
 * it gained (`SET_DELTAS`).
 */
export class CheckpointChangeTracker {
  private readonly store: MemoryStateStore;
  /** What the checkpoint holds of each set, as last written (a set's members are replaced, never changed in place). */
  private readonly sets = new Map<string, WrittenSet>();

  /**
   * The store as given is what the checkpoint holds: empty, or just restored from it, with the
   * deltas it held of each set (`RestoredState.sets`).
   */
  constructor(store: MemoryStateStore, deltas?: ReadonlyMap<string, number>) {
    this.store = store;
    store.trackChanges();
    store.takeChanged();
    for (const [key, entry] of store.exportEntries())
      if (entry.kind === 'set')
        this.sets.set(key, { members: entry.members, expiresAtMs: entry.expiresAtMs, deltas: deltas?.get(key) ?? 0 });
  }

  /** The changes since the last call; from then on, it counts them as written. */
  take(): CheckpointChanges {
    const set: string[] = [];
    const remove: string[] = [];
    for (const [key, noted] of this.store.takeChanged()) {
      const entry = noted ?? undefined;
      const written = this.sets.get(key);
      if (entry?.kind === 'set') {
        const more =
          written === undefined || entry.expiresAtMs < written.expiresAtMs
            ? undefined
            : gained(written.members, entry.members, entry.limit);
        if (
          written !== undefined &&
          more !== undefined &&
          written.deltas < SET_DELTAS &&
          entry.members.length >= SET_DELTA_FROM &&
          more.length * 2 < entry.members.length
        ) {
          written.deltas++;
          written.members = entry.members;
          written.expiresAtMs = entry.expiresAtMs;
          set.push(deltaField(key, written.deltas), encodeCheckpointEntry({ ...entry, members: more }));
          continue;
        }
        this.sets.set(key, { members: entry.members, expiresAtMs: entry.expiresAtMs, deltas: 0 });
      } else if (written !== undefined) {
        this.sets.delete(key);
      }
      if (written !== undefined) for (let n = 1; n <= written.deltas; n++) remove.push(deltaField(key, n));
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
    this.sets.clear();
    for (const [key, entry] of this.store.exportEntries()) {
      set.push(key, this.encode(key, entry));
      if (entry.kind === 'set')
        this.sets.set(key, { members: entry.members, expiresAtMs: entry.expiresAtMs, deltas: 0 });
    }
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
  /** The deltas the checkpoint holds of each set that has some (the highest number), for its next tracker. */
  sets: Map<string, number>;
}

/** Builds a memory store back from the fields of a checkpoint (HGETALL of its hash). */
export function restoreCheckpoint(saved: Record<string, string>): RestoredState {
  const store = new MemoryStateStore();
  const fields = new Map<string, string>();
  const sets = new Map<string, number>();
  const deltas: [key: string, value: string][] = [];
  let entries = 0;
  for (const key in saved) {
    const value = saved[key]!;
    if (key.startsWith(DELTA_FIELD)) {
      const end = key.indexOf(CHECKPOINT_FIELD, DELTA_FIELD.length);
      const of = key.slice(end + 1);
      const n = Number(key.slice(DELTA_FIELD.length, end));
      if (end < 0 || !(n >= 1)) continue;
      sets.set(of, Math.max(sets.get(of) ?? 0, n));
      deltas.push([of, value]);
      continue;
    }
    if (key.startsWith(CHECKPOINT_FIELD)) {
      fields.set(key, value);
      continue;
    }
    store.load(key, decodeCheckpointEntry(value));
    entries++;
  }
  // After the sets themselves: a delta adds to its set, which `load` would replace.
  for (const [key, value] of deltas) {
    const entry = decodeCheckpointEntry(value);
    if (entry.kind === 'set') foldSet(store, key, entry);
  }
  return { store, entries, fields, sets };
}
