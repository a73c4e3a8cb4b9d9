/**
 * The correlation core's port for its state: declared here, implemented in `src/state/` (memory,
 * Redis), so the engine never knows which. State is kept as values that merge without
 * coordination, so that several agents can share it: counters merge by addition, high-water marks by maximum, registers by last writer
 * (ordered by version, then writer). The correlation core is pure and synchronous, so the store
 * is too: a store that shares state with other agents records each local write as a delta that a
 * replicator drains and ships, and applies what other agents wrote between engine steps.
 *
 * Times are milliseconds on the engine's clock. Every entry carries the time after which it may
 * be forgotten, derived by the caller from its window, so no store grows without bound.
 */
export type StateValue = string | number | boolean | null | StateValue[] | { [key: string]: StateValue };

export interface Register {
  value: StateValue;
  /** Orders concurrent writes: usually the event time of the write. */
  version: number;
  /** Breaks version ties; the agent that wrote it. */
  writer: string;
}

export type StateDelta =
  | { kind: 'count'; key: string; bucket: number; delta: number; expiresAtMs: number }
  | { kind: 'max'; key: string; value: number; expiresAtMs: number }
  | { kind: 'register'; key: string; register: Register; expiresAtMs: number }
  /** Members added to a grow-only set that keeps its `limit` greatest members (see `addToSet`). */
  | { kind: 'set'; key: string; members: string[]; limit: number; expiresAtMs: number }
  /** A deletion is a register write of a tombstone, so it orders with writes. */
  | { kind: 'delete'; key: string; version: number; writer: string };

/**
 * How two values of one register written concurrently merge, where last-writer-wins would lose
 * one of them (an incident two agents each updated). It must be a join: the same result in any
 * order, and joining a value with itself changes nothing. `version` is the version the result is
 * written at, for values that carry their own.
 */
export interface RegisterJoin {
  join(mine: StateValue, theirs: StateValue, version: number): StateValue;
  /** Whether two values hold the same (version and derived fields aside). */
  same(a: StateValue, b: StateValue): boolean;
  /** When a merged value may be forgotten. */
  expiresAt(value: StateValue): number;
  /**
   * The value as it travels to other agents and into checkpoints: a shallow view without the parts
   * that travel by deltas of their own (an incident's audit trail, in a set), which receivers put
   * back. Default: all of it.
   */
  bare?(value: StateValue): StateValue;
}

/** A reader of `StateStore.watchRegisters`. */
export interface RegisterWatch {
  /** The keys noted since the last call. */
  take(): Set<string>;
  /** Stops noting: a store with no reader left notes nothing on its writes. */
  close(): void;
}

export interface StateStore {
  /** The agent id that this store stamps on register writes. */
  readonly writer: string;

  /** Adds `delta` to the counter cell (key, bucket) and returns the cell's value as this agent sees it. */
  addCount(key: string, bucket: number, delta: number, expiresAtMs: number): number;
  /** Sum of the counter cells of `key` from `fromBucket` to `toBucket`, both included. */
  sumCounts(key: string, fromBucket: number, toBucket: number): number;

  /** Every cell of counter `key` with its value, buckets ascending: [bucket, value] pairs. */
  counterCells(key: string): [bucket: number, value: number][];

  /** Raises the high-water mark `key` to `value` if greater; returns the mark. */
  raise(key: string, value: number, expiresAtMs: number): number;
  readMax(key: string): number | undefined;

  /**
   * Adds `member` to the grow-only set `key`, which keeps its `limit` greatest members (in string
   * order): sets merge by union, in any order and any number of times, so agents can add to one
   * concurrently. Expiry and limit only grow: a set keeps as many as the greatest limit it was given.
   */
  addToSet(key: string, member: string, limit: number, expiresAtMs: number): void;
  /** The members of set `key`, ascending: the same array until the set changes. */
  readSet(key: string): readonly string[] | undefined;

  /** Writes a register if (version, writer) is not older than the current one; returns whether it won. */
  write(key: string, value: StateValue, version: number, expiresAtMs: number): boolean;
  read(key: string): Register | undefined;
  /** Removes a register, counter or mark; ordered with register writes by `version`. */
  delete(key: string, version: number): void;

  /** Keys (of every kind) that start with `prefix`: how timers find the groups of one rule. */
  keys(prefix: string): IterableIterator<string>;

  /** Forgets every entry whose expiry is at or before `nowMs`; returns how many went. */
  sweep(nowMs: number): number;

  /**
   * Applies a write made by another agent. A register under a prefix given to `joinRegisters`
   * merges with the local value instead; when the result holds something the other agent's
   * lacks, the store writes it as a local write (so it travels back) at a higher version.
   */
  merge(delta: StateDelta): void;

  /** Registers whose keys start with `tag` (a kind tag such as `i:`) merge by `join` instead of the last writer winning. */
  joinRegisters(tag: string, join: RegisterJoin): void;

  /**
   * Calls `listener` with the key of every counter under `tag` that another agent's write
   * changed: a window that no agent's own events brought to its threshold may reach it so.
   */
  onMergedCount(tag: string, listener: (key: string) => void): void;

  /** Subscribes to local writes (a replicator ships them); returns the unsubscribe function. */
  onDelta(listener: (delta: StateDelta) => void): () => void;

  /** Entries held, for /metrics and the memory benchmark. */
  size(): number;

  /**
   * Starts noting the keys under `tag` whose register (or mark, or set) changes, whoever changed
   * it (a local write, another agent's merge, a deletion, a sweep): `take` hands over the keys
   * noted since its last call, so a reader can keep an index of those entries without scanning
   * them all. Each call makes a reader of its own; `close` ends it.
   */
  watchRegisters(tag: string): RegisterWatch;
}
