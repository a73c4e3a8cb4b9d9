import type {
  Register,
  RegisterJoin,
  RegisterWatch,
  StateDelta,
  StateStore,
  StateValue,
} from '../correlation/stateStore.ts';

/**
 * On an entry: the number of the change list (`trackChanges`) that holds its key, so that a busy
 * key's next writes skip the list (a counter gets a write per event; a hash insert for each made
 * an engine whose changes were noted a fifth dearer, docs/benchmarks.md). Made with the entry, so
 * that noting it changes no shape; a symbol, so that no encoding of an entry (JSON, structuredClone)
 * carries it.
 */
const NOTED: unique symbol = Symbol('noted');
/** Change lists are numbered across stores, so an entry's mark can only match the list it is in. */
let changeLists = 0;

interface CounterEntry {
  kind: 'count';
  [NOTED]?: number;
  /** Parallel arrays, buckets ascending: windows hold few buckets, and arrays cost less than a Map each. */
  buckets: number[];
  counts: number[];
  /** Per bucket, so a window's old buckets go while its key lives on. */
  expires: number[];
  /** The latest of `expires`: the whole entry goes then. */
  expiresAtMs: number;
}

interface MaxEntry {
  kind: 'max';
  [NOTED]?: number;
  value: number;
  expiresAtMs: number;
}

interface RegisterEntry {
  kind: 'register';
  [NOTED]?: number;
  register: Register;
  /** A deleted register stays as a tombstone until it expires, so an older write cannot revive it. */
  deleted: boolean;
  expiresAtMs: number;
}

interface SetEntry {
  kind: 'set';
  [NOTED]?: number;
  /** Ascending, at most `limit`: replaced (never changed in place) when the set changes, so readers can tell. */
  members: string[];
  /** The greatest limit any write gave it: limits merge by maximum, as in Redis, so merges in any order agree. */
  limit: number;
  expiresAtMs: number;
}

type Entry = CounterEntry | MaxEntry | RegisterEntry | SetEntry;

/**
 * `members` and `more` (both ascending) in one ascending list without repeats, keeping the
 * `limit` greatest; `members` itself when `more` adds nothing.
 */
function unite(members: readonly string[], more: readonly string[], limit: number): readonly string[] {
  let out: string[] | undefined;
  for (const m of more) {
    const list = out ?? members;
    let lo = 0;
    let hi = list.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (list[mid]! < m) lo = mid + 1;
      else hi = mid;
    }
    if (list[lo] === m) continue;
    if (list.length >= limit && lo === 0) continue;
    out ??= members.slice();
    out.splice(lo, 0, m);
    if (out.length > limit) out.splice(0, out.length - limit);
  }
  return out ?? members;
}

/** One entry as `exportEntries()` gives it and `load()` takes it back: plain data, so it serialises. */
export type StoredEntry = Entry;

/**
 * Orders two writes to one register: later version wins, then the greater writer id. A writer's
 * own rewrite at the same version wins too: one agent's writes reach others in the order made.
 */
export function isNewer(version: number, writer: string, than: Register): boolean {
  return version > than.version || (version === than.version && writer >= than.writer);
}

/**
 * Sweeps look at entries by the second they next need a look, so a sweep costs what is due rather
 * than the whole store (the engine sweeps every 30 s, in the tick that blocks the event loop).
 */
const SLOT_MS = 1000;

/** When an entry next needs a sweep: its expiry, or a counter's earliest bucket expiry. */
function dueOf(entry: Entry): number {
  if (entry.kind !== 'count') return entry.expiresAtMs;
  let due = entry.expiresAtMs;
  for (const e of entry.expires) if (e < due) due = e;
  return due;
}

function heapPush(heap: number[], value: number): void {
  let i = heap.push(value) - 1;
  while (i > 0) {
    const parent = (i - 1) >> 1;
    if (heap[parent]! <= value) break;
    heap[i] = heap[parent]!;
    i = parent;
  }
  heap[i] = value;
}

function heapPop(heap: number[]): number {
  const top = heap[0]!;
  const last = heap.pop()!;
  if (heap.length === 0) return top;
  let i = 0;
  for (;;) {
    const left = 2 * i + 1;
    if (left >= heap.length) break;
    const child = left + 1 < heap.length && heap[left + 1]! < heap[left]! ? left + 1 : left;
    if (heap[child]! >= last) break;
    heap[i] = heap[child]!;
    i = child;
  }
  heap[i] = last;
  return top;
}

/** The kind tag of a key, up to and including its first `:`; undefined for a key without one. */
function tagOf(key: string): string | undefined {
  const colon = key.indexOf(':');
  return colon === -1 ? undefined : key.slice(0, colon + 1);
}

/** The state of one agent, in its own memory. Also the local half of a shared store. */
export class MemoryStateStore implements StateStore {
  readonly writer: string;
  private readonly entries = new Map<string, Entry>();
  /**
   * The live keys (tombstones left out) of each kind tag (`a:`, `i:`, ...): the engine's timer
   * lists one kind per tick, and a scan of every entry would cost it the whole store instead.
   */
  private readonly byTag = new Map<string, Set<string>>();
  /**
   * Keys by the slot (second) of a time at or before their entry's next due time. Filing is lazy:
   * a write that only postpones an entry leaves its filing, and the sweep that finds it early files
   * it again, so the write path seldom touches this. A key may sit in several slots; all but its
   * latest are stale and cost one look.
   */
  private readonly dueSlots = new Map<number, Set<string>>();
  /** The slots of `dueSlots`, each once, earliest on top. */
  private readonly slotHeap: number[] = [];
  private listeners: ((delta: StateDelta) => void)[] = [];
  /** Kind tag → how its registers merge when another agent wrote them too. */
  private readonly joins = new Map<string, RegisterJoin>();
  /** Kind tag → who hears of counters another agent changed. */
  private readonly countWatchers = new Map<string, (key: string) => void>();
  /** Kind tag → the keys each reader of `watchRegisters` has yet to take. */
  private readonly registerWatchers = new Map<string, Set<string>[]>();
  /**
   * Every key changed (written, expired, deleted) since `takeChanged()` last ran, with the entry it
   * holds now (null: gone), kept so as every write that makes a new entry or removes one goes by
   * it: the take reads no entry from the store (at 100,000 groups, a lookup each in a map of
   * hundreds of thousands took a fifth of a checkpoint's time). Undefined until `trackChanges()`.
   * Each entry noted in it carries the list's number (`NOTED`).
   */
  private changed: Map<string, Entry | null> | undefined;
  private changeList = 0;

  constructor(writer = 'local') {
    this.writer = writer;
  }

  addCount(key: string, bucket: number, delta: number, expiresAtMs: number): number {
    const value = this.applyCount(key, bucket, delta, expiresAtMs);
    if (this.listeners.length > 0) this.emit({ kind: 'count', key, bucket, delta, expiresAtMs });
    return value;
  }

  sumCounts(key: string, fromBucket: number, toBucket: number): number {
    const entry = this.entries.get(key);
    if (entry?.kind !== 'count') return 0;
    let sum = 0;
    const { buckets, counts } = entry;
    for (let i = 0; i < buckets.length; i++) {
      const b = buckets[i]!;
      if (b >= fromBucket && b <= toBucket) sum += counts[i]!;
    }
    return sum;
  }

  counterCells(key: string): [bucket: number, value: number][] {
    const entry = this.entries.get(key);
    if (entry?.kind !== 'count') return [];
    return entry.buckets.map((b, i) => [b, entry.counts[i]!]);
  }

  raise(key: string, value: number, expiresAtMs: number): number {
    const mark = this.applyMax(key, value, expiresAtMs);
    if (this.listeners.length > 0) this.emit({ kind: 'max', key, value, expiresAtMs });
    return mark;
  }

  readMax(key: string): number | undefined {
    const entry = this.entries.get(key);
    return entry?.kind === 'max' ? entry.value : undefined;
  }

  addToSet(key: string, member: string, limit: number, expiresAtMs: number): void {
    if (this.applySet(key, [member], limit, expiresAtMs) && this.listeners.length > 0)
      this.emit({ kind: 'set', key, members: [member], limit, expiresAtMs });
  }

  readSet(key: string): readonly string[] | undefined {
    const entry = this.entries.get(key);
    return entry?.kind === 'set' ? entry.members : undefined;
  }

  /** How many members set `key` keeps: the greatest limit it was given (what a write-back to a shared store carries). */
  setLimit(key: string): number | undefined {
    const entry = this.entries.get(key);
    return entry?.kind === 'set' ? entry.limit : undefined;
  }

  /** A register's value as it travels to other agents and into checkpoints (see `RegisterJoin.bare`). */
  bareRegister(key: string, value: StateValue): StateValue {
    const tag = this.joins.size === 0 ? undefined : tagOf(key);
    const bare = tag === undefined ? undefined : this.joins.get(tag)?.bare;
    return bare ? bare(value) : value;
  }

  /** The JSON of a register's value as it travels to other agents. */
  encodeRegister(key: string, value: StateValue): string {
    return JSON.stringify(this.bareRegister(key, value));
  }

  write(key: string, value: StateValue, version: number, expiresAtMs: number): boolean {
    const register: Register = { value, version, writer: this.writer };
    const won = this.applyRegister(key, register, false, expiresAtMs);
    if (won && this.listeners.length > 0) this.emit({ kind: 'register', key, register, expiresAtMs });
    return won;
  }

  read(key: string): Register | undefined {
    const entry = this.entries.get(key);
    return entry?.kind === 'register' && !entry.deleted ? entry.register : undefined;
  }

  delete(key: string, version: number): void {
    if (this.applyDelete(key, version, this.writer) && this.listeners.length > 0) {
      this.emit({ kind: 'delete', key, version, writer: this.writer });
    }
  }

  *keys(prefix: string): IterableIterator<string> {
    const tag = tagOf(prefix);
    if (tag !== undefined) {
      // Every key that starts with the prefix shares its tag, so only that tag's keys can match.
      const live = this.byTag.get(tag);
      if (live === undefined) return;
      if (tag.length === prefix.length) yield* live;
      else for (const key of live) if (key.startsWith(prefix)) yield key;
      return;
    }
    for (const [key, entry] of this.entries) {
      if (key.startsWith(prefix) && !(entry.kind === 'register' && entry.deleted)) yield key;
    }
  }

  sweep(nowMs: number): number {
    const nowSlot = Math.floor(nowMs / SLOT_MS);
    const heap = this.slotHeap;
    // Slots that still hold keys due later in their second, put back once this sweep is done.
    const partial: number[] = [];
    let removed = 0;
    while (heap.length > 0 && heap[0]! <= nowSlot) {
      const slot = heapPop(heap);
      const keys = this.dueSlots.get(slot)!;
      for (const key of keys) {
        const entry = this.entries.get(key);
        if (entry === undefined) {
          keys.delete(key);
        } else if (entry.expiresAtMs <= nowMs) {
          this.forget(key);
          keys.delete(key);
          removed++;
        } else {
          if (entry.kind === 'count') removed += this.dropExpiredBuckets(entry, nowMs);
          const due = dueOf(entry);
          if (Math.floor(due / SLOT_MS) !== slot) {
            keys.delete(key);
            this.file(key, due);
          }
        }
      }
      if (keys.size === 0) this.dueSlots.delete(slot);
      else partial.push(slot);
    }
    for (const slot of partial) heapPush(heap, slot);
    return removed;
  }

  merge(delta: StateDelta): void {
    this.mergeDelta(delta, true);
  }

  /**
   * Applies a delta this store itself wrote earlier (a log replayed at start): exactly as it was
   * applied then, the last writer winning, with no join (which would rewrite what it merges).
   */
  protected replay(delta: StateDelta): void {
    this.mergeDelta(delta, false);
  }

  private mergeDelta(delta: StateDelta, join: boolean): void {
    switch (delta.kind) {
      case 'count':
        if (join) this.mergeCount(delta.key, delta.bucket, delta.delta, delta.expiresAtMs);
        else this.applyCount(delta.key, delta.bucket, delta.delta, delta.expiresAtMs);
        return;
      case 'max':
        this.applyMax(delta.key, delta.value, delta.expiresAtMs);
        return;
      case 'set':
        this.applySet(delta.key, [...delta.members].sort(), delta.limit, delta.expiresAtMs);
        return;
      case 'register':
        if (!join || !this.joinRegister(delta.key, delta.register, delta.expiresAtMs))
          this.applyRegister(delta.key, delta.register, false, delta.expiresAtMs);
        return;
      case 'delete':
        this.applyDelete(delta.key, delta.version, delta.writer);
        return;
    }
  }

  /** `merge` of another agent's count, without the delta: a replicating store makes one for every counter cell it hears of. */
  mergeCount(key: string, bucket: number, delta: number, expiresAtMs: number): void {
    this.applyCount(key, bucket, delta, expiresAtMs);
    if (delta > 0 && this.countWatchers.size > 0) {
      const tag = tagOf(key);
      if (tag !== undefined) this.countWatchers.get(tag)?.(key);
    }
  }

  joinRegisters(tag: string, join: RegisterJoin): void {
    this.joins.set(tag, join);
  }

  onMergedCount(tag: string, listener: (key: string) => void): void {
    this.countWatchers.set(tag, listener);
  }

  /**
   * Merges another agent's write into a live local register of a joined kind; false when the key
   * is not one (then the last writer wins). Taking theirs as it is when it holds all of ours keeps
   * two agents from answering each other's merges for ever.
   */
  private joinRegister(key: string, theirs: Register, expiresAtMs: number): boolean {
    if (this.joins.size === 0) return false;
    const tag = tagOf(key);
    const join = tag === undefined ? undefined : this.joins.get(tag);
    const entry = this.entries.get(key);
    if (join === undefined || entry?.kind !== 'register' || entry.deleted || theirs.value === null) return false;
    const mine = entry.register;
    if (mine.value === null) return false;
    const version = Math.max(mine.version, theirs.version) + 1;
    const joined = join.join(mine.value, theirs.value, version);
    const holdsTheirs = join.same(joined, theirs.value);
    if (holdsTheirs && join.same(joined, mine.value)) {
      // Nothing new either way; a higher version of the same content is still worth keeping, so our next write goes above it.
      if (isNewer(theirs.version, theirs.writer, mine))
        this.applyRegister(key, theirs, false, Math.max(expiresAtMs, entry.expiresAtMs));
      return true;
    }
    if (holdsTheirs && isNewer(theirs.version, theirs.writer, mine)) {
      this.applyRegister(key, theirs, false, expiresAtMs);
      return true;
    }
    this.write(key, joined, version, join.expiresAt(joined));
    return true;
  }

  onDelta(listener: (delta: StateDelta) => void): () => void {
    this.listeners.push(listener);
    return () => {
      this.listeners = this.listeners.filter((l) => l !== listener);
    };
  }

  size(): number {
    return this.entries.size;
  }

  /**
   * Every entry, tombstones included, as stored: what a snapshot needs to give `load()` the same
   * store back. The entries are live; a caller serialises them before the store changes again.
   */
  exportEntries(): IterableIterator<[string, Readonly<StoredEntry>]> {
    return this.entries.entries();
  }

  /**
   * One entry as stored, live as `exportEntries()` gives them: its expiry (a counter's latest
   * bucket, the greatest a mark or a set was given, a register's winning write's) for a write-back
   * to a shared store, or the whole entry for a checkpoint of the keys changed since the last.
   */
  entryOf(key: string): Readonly<StoredEntry> | undefined {
    return this.entries.get(key);
  }

  /** Puts back an entry that `exportEntries()` gave, replacing what the key held; emits no delta. */
  load(key: string, entry: StoredEntry): void {
    const copy: Entry =
      entry.kind === 'count'
        ? {
            kind: 'count',
            buckets: entry.buckets.slice(),
            counts: entry.counts.slice(),
            expires: entry.expires.slice(),
            expiresAtMs: entry.expiresAtMs,
            [NOTED]: 0,
          }
        : entry.kind === 'max'
          ? { kind: 'max', value: entry.value, expiresAtMs: entry.expiresAtMs, [NOTED]: 0 }
          : entry.kind === 'set'
            ? {
                kind: 'set',
                members: entry.members.slice(),
                limit: entry.limit,
                expiresAtMs: entry.expiresAtMs,
                [NOTED]: 0,
              }
            : {
                kind: 'register',
                register: { ...entry.register },
                deleted: entry.deleted,
                expiresAtMs: entry.expiresAtMs,
                [NOTED]: 0,
              };
    this.forget(key);
    this.put(key, copy);
  }

  /**
   * `load()` for an entry that nothing else holds (freshly decoded from a snapshot): kept as is,
   * without the copy, and without the tidy-up of a key the store does not hold yet.
   */
  protected adopt(key: string, entry: StoredEntry): void {
    if (this.entries.has(key)) this.forget(key);
    this.put(key, entry);
  }

  private file(key: string, dueMs: number): void {
    const slot = Math.floor(dueMs / SLOT_MS);
    // Nothing is due at NaN (the full scan never swept it either), and it would block the heap.
    if (Number.isNaN(slot)) return;
    let keys = this.dueSlots.get(slot);
    if (keys === undefined) {
      this.dueSlots.set(slot, (keys = new Set()));
      heapPush(this.slotHeap, slot);
    }
    keys.add(key);
  }

  /**
   * From now on, notes every key whose entry changes in any way (a local write, a merge, a
   * deletion, the sweep's removal of an expired key; not the sweep's dropping of a counter's
   * expired buckets, which any later read or restore drops too), for `takeChanged()`; `false` stops it. What a
   * checkpoint written a little at a time needs, without a delta made for every write.
   */
  trackChanges(on = true): void {
    if (!on) this.changed = undefined;
    else if (this.changed === undefined) this.newChangeList();
  }

  private newChangeList(): void {
    this.changed = new Map();
    this.changeList = ++changeLists;
  }

  /**
   * Notes that `key`'s entry changed, unless the entry is in the list already. Each kind's writes
   * call their own copy: one call site for all of them would see too many shapes of entry to stay fast.
   */
  private noteCount(key: string, entry: CounterEntry): void {
    if (this.changed === undefined || entry[NOTED] === this.changeList) return;
    entry[NOTED] = this.changeList;
    this.changed.set(key, entry);
  }

  private noteMax(key: string, entry: MaxEntry): void {
    if (this.changed === undefined || entry[NOTED] === this.changeList) return;
    entry[NOTED] = this.changeList;
    this.changed.set(key, entry);
  }

  private noteSet(key: string, entry: SetEntry): void {
    if (this.changed === undefined || entry[NOTED] === this.changeList) return;
    entry[NOTED] = this.changeList;
    this.changed.set(key, entry);
  }

  /**
   * The keys changed since the last call (or since `trackChanges()`), each with what it holds now
   * (live: serialise it before the store changes again), null for a key gone. The store starts a
   * new list.
   */
  takeChanged(): ReadonlyMap<string, Readonly<StoredEntry> | null> {
    const taken = this.changed ?? new Map<string, Entry | null>();
    if (this.changed !== undefined) this.newChangeList();
    return taken;
  }

  watchRegisters(tag: string): RegisterWatch {
    let noted = new Set<string>();
    let readers = this.registerWatchers.get(tag);
    if (!readers) this.registerWatchers.set(tag, (readers = []));
    readers.push(noted);
    const all = readers;
    return {
      take: () => {
        const taken = noted;
        noted = new Set();
        const i = all.indexOf(taken);
        if (i !== -1) all[i] = noted;
        return taken;
      },
      close: () => {
        const i = all.indexOf(noted);
        if (i === -1) return;
        all.splice(i, 1);
        // The tag's list is this one until it empties: a later reader starts a new one.
        if (all.length === 0) this.registerWatchers.delete(tag);
      },
    };
  }

  private noteChange(key: string): void {
    if (this.registerWatchers.size === 0) return;
    const tag = tagOf(key);
    const readers = tag === undefined ? undefined : this.registerWatchers.get(tag);
    if (readers) for (const noted of readers) noted.add(key);
  }

  private put(key: string, entry: Entry): void {
    const previous = this.entries.get(key);
    this.entries.set(key, entry);
    // A new entry (every put is one) goes on the list in place of what the key held.
    if (this.changed !== undefined) {
      entry[NOTED] = this.changeList;
      this.changed.set(key, entry);
    }
    if (entry.kind !== 'count') this.noteChange(key);
    // A rewrite that does not bring the due time forward keeps the filing it has: refiling every
    // write of a busy register would leave a stale filing per second until its old due time.
    const due = dueOf(entry);
    if (previous === undefined || due < dueOf(previous)) this.file(key, due);
    const deleted = entry.kind === 'register' && entry.deleted;
    // A key that was live and stays live is in its tag's set already (every entry put is a new
    // object, so `previous` says what the key was): most puts are such rewrites.
    if (!deleted && previous !== undefined && !(previous.kind === 'register' && previous.deleted)) return;
    const tag = tagOf(key);
    if (tag === undefined) return;
    let live = this.byTag.get(tag);
    if (deleted) {
      live?.delete(key);
      if (live?.size === 0) this.byTag.delete(tag);
      return;
    }
    if (live === undefined) this.byTag.set(tag, (live = new Set()));
    live.add(key);
  }

  private forget(key: string): void {
    const kind = this.entries.get(key)?.kind;
    if (kind !== undefined && kind !== 'count') this.noteChange(key);
    if (this.entries.delete(key)) this.changed?.set(key, null);
    const tag = tagOf(key);
    if (tag === undefined) return;
    const live = this.byTag.get(tag);
    if (live?.delete(key) && live.size === 0) this.byTag.delete(tag);
  }

  private emit(delta: StateDelta): void {
    for (const listener of this.listeners) listener(delta);
  }

  private applyCount(key: string, bucket: number, delta: number, expiresAtMs: number): number {
    let entry = this.entries.get(key);
    if (entry === undefined || entry.kind !== 'count') {
      entry = { kind: 'count', buckets: [bucket], counts: [delta], expires: [expiresAtMs], expiresAtMs, [NOTED]: 0 };
      this.put(key, entry);
      return delta;
    }
    if (expiresAtMs > entry.expiresAtMs) entry.expiresAtMs = expiresAtMs;
    this.noteCount(key, entry);
    const { buckets, counts, expires } = entry;
    // Writes land almost always in the newest bucket, so search from the end.
    let i = buckets.length - 1;
    while (i >= 0 && buckets[i]! > bucket) i--;
    if (i >= 0 && buckets[i] === bucket) {
      counts[i]! += delta;
      if (expiresAtMs > expires[i]!) expires[i] = expiresAtMs;
      return counts[i]!;
    }
    // A new bucket that expires before every other one brings the entry's due time forward.
    if (expiresAtMs < dueOf(entry)) this.file(key, expiresAtMs);
    buckets.splice(i + 1, 0, bucket);
    counts.splice(i + 1, 0, delta);
    expires.splice(i + 1, 0, expiresAtMs);
    return delta;
  }

  private dropExpiredBuckets(entry: CounterEntry, nowMs: number): number {
    const { buckets, counts, expires } = entry;
    let kept = 0;
    for (let i = 0; i < buckets.length; i++) {
      if (expires[i]! > nowMs) {
        buckets[kept] = buckets[i]!;
        counts[kept] = counts[i]!;
        expires[kept] = expires[i]!;
        kept++;
      }
    }
    const removed = buckets.length - kept;
    buckets.length = kept;
    counts.length = kept;
    expires.length = kept;
    return removed;
  }

  private applyMax(key: string, value: number, expiresAtMs: number): number {
    const entry = this.entries.get(key);
    if (entry === undefined || entry.kind !== 'max') {
      this.put(key, { kind: 'max', value, expiresAtMs, [NOTED]: 0 });
      return value;
    }
    if (expiresAtMs > entry.expiresAtMs) {
      entry.expiresAtMs = expiresAtMs;
      this.noteMax(key, entry);
    }
    if (value > entry.value) {
      entry.value = value;
      this.noteMax(key, entry);
      this.noteChange(key);
    }
    return entry.value;
  }

  /** Adds `more` (ascending) to set `key`; whether its members, its limit or its expiry changed. */
  private applySet(key: string, more: readonly string[], limit: number, expiresAtMs: number): boolean {
    const entry = this.entries.get(key);
    if (entry === undefined || entry.kind !== 'set') {
      this.put(key, { kind: 'set', members: unite([], more, limit) as string[], limit, expiresAtMs, [NOTED]: 0 });
      return true;
    }
    let changed = false;
    if (expiresAtMs > entry.expiresAtMs) {
      entry.expiresAtMs = expiresAtMs;
      changed = true;
    }
    if (limit > entry.limit) {
      entry.limit = limit;
      changed = true;
    }
    const members = unite(entry.members, more, entry.limit);
    if (members === entry.members) {
      if (changed) this.noteSet(key, entry);
      return changed;
    }
    entry.members = members as string[];
    this.noteSet(key, entry);
    this.noteChange(key);
    return true;
  }

  private applyRegister(key: string, register: Register, deleted: boolean, expiresAtMs: number): boolean {
    const entry = this.entries.get(key);
    if (entry?.kind === 'register' && !isNewer(register.version, register.writer, entry.register)) return false;
    this.put(key, { kind: 'register', register, deleted, expiresAtMs, [NOTED]: 0 });
    return true;
  }

  private applyDelete(key: string, version: number, writer: string): boolean {
    const entry = this.entries.get(key);
    if (entry === undefined) return false;
    if (entry.kind === 'register') {
      return this.applyRegister(key, { value: null, version, writer }, true, entry.expiresAtMs);
    }
    // Counters and marks merge without order, so a deletion of one simply forgets it.
    this.forget(key);
    return true;
  }
}
