import { mkdir, open, readFile, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { IncidentChange } from '../../model/incident.ts';
import { replaceFile } from './atomicFile.ts';
import type { Timers } from './delivery.ts';
import { GroupCommit } from './groupCommit.ts';
import {
  flushDueAtMs,
  flushGroup,
  groupOf,
  joinGroup,
  routeKeyOf,
  type GroupMember,
  type GroupState,
  type QueuedChange,
} from './notificationGroups.ts';
import type { RouteGrouping } from './routeGrouping.ts';

/** A group's own timers as a grouping (all joinGroup reads of it once the group exists). */
function timersOf(g: GroupState): RouteGrouping {
  return { routeKey: '', by: [], waitMs: g.waitMs, intervalMs: g.intervalMs, repeatMs: g.repeatMs };
}

/**
 * One line of groups.ndjson: a group's header (everything but its members; null: forgotten,
 * members and all), or one member (null: gone). A change to a group of many incidents writes
 * its header and the one member that changed, not the whole group.
 */
type GroupLine = { k: string; h: Omit<GroupState, 'members'> | null } | { k: string; m: string; v: GroupMember | null };

/**
 * Groups changed by one operation: as they were before it, and after (undefined: forgotten);
 * `touched`, when known, are the only members that may differ.
 */
type Changes = Map<string, { before: GroupState | undefined; after: GroupState | undefined; touched?: string[] }>;

/**
 * The lines that take a group from `before` to `after`: its header, then each member that
 * changed (compared by identity: joinGroup replaces only the one it changes), among `touched`
 * when given, and each member that left.
 */
function groupLines(
  k: string,
  before: GroupState | undefined,
  after: GroupState | undefined,
  touched?: readonly string[],
): GroupLine[] {
  if (!after) return [{ k, h: null }];
  const { members, ...header } = after;
  const out: GroupLine[] = [{ k, h: header }];
  for (const m of new Set(touched ?? Object.keys(members)))
    if (m in members && before?.members[m] !== members[m]) out.push({ k, m, v: members[m]! });
  if (!touched) for (const m of Object.keys(before?.members ?? {})) if (!(m in members)) out.push({ k, m, v: null });
  return out;
}

/** Longest single timer wait (Node's setTimeout takes at most 2^31-1 ms). */
const MAX_TIMER_MS = 86_400_000;

/** One timer for the earliest moment a stage must wake; re-armed only when that moment changes. */
export class WakeTimer {
  private readonly timers: Timers;
  private readonly wake: () => void;
  private handle: unknown;
  private at = Infinity;

  constructor(timers: Timers, wake: () => void) {
    this.timers = timers;
    this.wake = wake;
  }

  /** Wakes at `at` (Infinity: never); a timer already set for that moment stays. */
  set(at: number): void {
    if (at === this.at) return;
    this.clear();
    if (at === Infinity) return;
    this.at = at;
    this.handle = this.timers.setTimeout(
      () => {
        this.handle = undefined;
        this.at = Infinity;
        this.wake();
      },
      // Node fires a longer timeout at once; a wake-up before `at` flushes nothing and re-arms.
      Math.min(MAX_TIMER_MS, Math.max(0, at - this.timers.now())),
    );
  }

  clear(): void {
    if (this.handle !== undefined) this.timers.clearTimeout(this.handle);
    this.handle = undefined;
    this.at = Infinity;
  }
}

const NO_GROUPS: ReadonlySet<string> = new Set();

/** Incident key → keys of the groups it is a member of: a resolution finds them without a scan. */
export class MemberIndex {
  private readonly byMember = new Map<string, Set<string>>();

  of(member: string): ReadonlySet<string> {
    return this.byMember.get(member) ?? NO_GROUPS;
  }

  add(group: string, members: Iterable<string>): void {
    for (const member of members) {
      let held = this.byMember.get(member);
      if (!held) this.byMember.set(member, (held = new Set()));
      held.add(group);
    }
  }

  remove(group: string, members: Iterable<string>): void {
    for (const member of members) {
      const held = this.byMember.get(member);
      held?.delete(group);
      if (held?.size === 0) this.byMember.delete(member);
    }
  }
}

/** How many groups formed under one route, and their members. */
export interface RouteGroupCounts {
  groups: number;
  firing: number;
  resolved: number;
}

/** Adds `groups` and their members to `out`, by the route key each formed under. */
export function countByRoute(
  groups: Iterable<GroupState>,
  out = new Map<string, RouteGroupCounts>(),
): Map<string, RouteGroupCounts> {
  for (const g of groups) {
    const route = routeKeyOf(g);
    let c = out.get(route);
    if (!c) out.set(route, (c = { groups: 0, firing: 0, resolved: 0 }));
    c.groups++;
    for (const m of Object.values(g.members)) {
      if (m.firing) c.firing++;
      else c.resolved++;
    }
  }
  return out;
}

/** Rewrite the file once it holds this many superseded lines. */
const COMPACT_AFTER = 1000;

/** After a flush whose notifications could not be queued (disk full), try again this much later. */
const FLUSH_RETRY_MS = 1000;

/** Where a stage's notifications go, and what runs its timers. */
export interface GroupOutlet {
  timers: Timers;
  /** Queues the groups' notifications durably (the exporter's outbox); keyed by group key. */
  emit(items: { key: string; payload: QueuedChange }[]): Promise<void>;
  onError(err: unknown): void;
}

export interface GroupStageOptions extends GroupOutlet {
  /** The NDJSON file the groups live in (under the exporter's data dir, next to its outbox). */
  path: string;
  fsync: boolean;
  /**
   * The groups are held for shared ones (SharedGroupStage, while Redis is unreachable): a lone
   * resolution forms a group too, as another agent's group may hold the incident. Such a stage
   * is never started, so it never flushes.
   */
  holding?: boolean;
}

/**
 * The imperative shell around notificationGroups.ts: the groups of one exporter, kept in a file
 * so that a restart finds every group with its members, its timers and what it last notified
 * (each change is written, and fsynced when configured, before add() resolves). A flush queues
 * its notifications in the outbox first and records the groups after, so a crash in between
 * sends one notification again, never none; the ticket ledger, keyed by group key, keeps that to
 * one ticket per group. Operations run one at a time.
 */
export class GroupStage {
  private readonly opts: GroupStageOptions;
  private readonly groups = new Map<string, GroupState>();
  /** Incident key → keys of the groups it is a member of: a resolution finds them without a scan. */
  private readonly holding = new MemberIndex();
  private handle: FileHandle | undefined;
  private superseded = 0;
  private damaged = false;
  private chain: Promise<void> = Promise.resolve();
  /** fsyncs of the file since open (group commit makes this far fewer than the operations). */
  fsyncs = 0;
  /** Writes to the file, in the order the operations made them; those waiting on one fsync go together. */
  private readonly commit = new GroupCommit<{ text: string; lines: number }>((ops) => this.writeBatch(ops));
  private readonly timer: WakeTimer;
  private running = false;

  constructor(opts: GroupStageOptions) {
    this.opts = opts;
    this.timer = new WakeTimer(opts.timers, () => {
      void this.flushDue().catch((err: unknown) => this.opts.onError(err));
    });
  }

  /** Loads the groups a previous run left; a file that does not exist is no group. */
  async open(): Promise<void> {
    let text = '';
    try {
      text = await readFile(this.opts.path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    const loaded = new Map<string, GroupState>();
    for (const line of text.split('\n')) {
      if (!line) continue;
      let rec: GroupLine;
      try {
        rec = JSON.parse(line) as GroupLine;
      } catch {
        // a torn last line from a crash mid-write: that add() never resolved
        continue;
      }
      const g = loaded.get(rec.k);
      if ('h' in rec) {
        if (rec.h) loaded.set(rec.k, { ...rec.h, members: g?.members ?? {} });
        else loaded.delete(rec.k);
      } else if (g) {
        if (rec.v) g.members[rec.m] = rec.v;
        else delete g.members[rec.m];
      }
    }
    for (const [k, g] of loaded) this.put(k, g, Object.keys(g.members));
    if (text) await this.compact();
  }

  /** Starts the flush timers; groups that fell due while the process was down flush at once. */
  start(): void {
    this.running = true;
    this.schedule();
  }

  get size(): number {
    return this.groups.size;
  }

  /** Groups whose changes wait for the shared groups: all of a stage that holds them for Redis, none of one that notifies. */
  get waiting(): number {
    return this.opts.holding ? this.groups.size : 0;
  }

  /** Resolves once every change and flush started so far is done (and written). */
  async settled(): Promise<void> {
    await this.chain;
    await this.commit.settled();
  }

  /** Keys of the groups that hold this incident (this occurrence of it) as a member. */
  groupsHolding(incident: { key: string; id: string }): string[] {
    return [...this.holding.of(incident.key)].filter(
      (k) => this.groups.get(k)?.members[incident.key]?.incident.id === incident.id,
    );
  }

  /** Groups and their members now, by the route key they formed under. */
  countsByRoute(): Map<string, RouteGroupCounts> {
    return countByRoute(this.groups.values());
  }

  /** The groups now. */
  list(): GroupState[] {
    return [...this.groups.values()];
  }

  /**
   * Adds each change to its route's group; resolves once the groups are on disk. A resolution
   * also reaches every other group holding the incident (`grouping` undefined: only those), so
   * a group formed under an earlier config, whose key the incident no longer maps to, still
   * sees its members resolve.
   */
  async add(items: readonly { grouping?: RouteGrouping; change: IncidentChange }[]): Promise<void> {
    if (items.length === 0) return;
    // The groups change one operation at a time; the writes of several operations share an fsync.
    let written: Promise<void> | undefined;
    await this.serially(async () => {
      const now = this.opts.timers.now();
      const changed: Changes = new Map();
      const join = (key: string, grouping: RouteGrouping, change: IncidentChange) => {
        const current = this.groups.get(key);
        const next = joinGroup(current, grouping, change, now, this.opts.holding);
        if (next === current) return;
        const seen = changed.get(key);
        if (seen) {
          seen.after = next;
          seen.touched!.push(change.incident.key);
        } else changed.set(key, { before: current, after: next, touched: [change.incident.key] });
        this.put(key, next, [change.incident.key]);
      };
      for (const { grouping, change } of items) {
        const key = grouping && groupOf(grouping, change.incident).key;
        if (grouping) join(key!, grouping, change);
        if (change.kind !== 'resolved') continue;
        for (const other of [...this.holding.of(change.incident.key)])
          if (other !== key) join(other, timersOf(this.groups.get(other)!), change);
      }
      written = this.write(changed);
      this.schedule();
    });
    await written;
  }

  /** Forgets the groups, once their members went elsewhere (into shared groups); resolves once on disk. */
  async forget(keys: readonly string[]): Promise<void> {
    let written: Promise<void> | undefined;
    await this.serially(async () => {
      const changed: Changes = new Map();
      for (const key of keys) {
        const before = this.groups.get(key);
        if (!before) continue;
        changed.set(key, { before, after: undefined });
        this.put(key, undefined);
      }
      written = this.write(changed);
    });
    await written;
  }

  async close(): Promise<void> {
    this.running = false;
    this.timer.clear();
    await this.chain;
    await this.commit.settled();
    await this.handle?.close();
    this.handle = undefined;
  }

  /**
   * Sets (or, with undefined, forgets) a group; `joined` are the members it may have gained
   * (the index learns of them), and a flush's dropped members leave the index in unindex().
   */
  private put(key: string, g: GroupState | undefined, joined: readonly string[] = []): void {
    if (!g) {
      this.unindex(key, Object.keys(this.groups.get(key)?.members ?? {}));
      this.groups.delete(key);
      return;
    }
    this.groups.set(key, g);
    this.holding.add(key, joined);
  }

  private unindex(key: string, members: readonly string[]): void {
    this.holding.remove(key, members);
  }

  private serially(op: () => Promise<void>): Promise<void> {
    const next = this.chain.then(op);
    this.chain = next.catch(() => undefined);
    return next;
  }

  private flushDue(): Promise<void> {
    return this.serially(async () => {
      const now = this.opts.timers.now();
      const sends: { key: string; payload: QueuedChange }[] = [];
      const changed: Changes = new Map();
      for (const g of this.groups.values()) {
        if (flushDueAtMs(g) > now) continue;
        const f = flushGroup(g, now);
        if (f.send) sends.push({ key: g.key, payload: f.send });
        changed.set(g.key, { before: g, after: f.next });
      }
      try {
        await this.opts.emit(sends);
      } catch (err) {
        this.opts.onError(err);
        this.retryLater(now + FLUSH_RETRY_MS);
        return;
      }
      for (const [key, { before, after }] of changed) {
        if (after)
          this.unindex(
            key,
            Object.keys(before!.members).filter((m) => !(m in after.members)),
          );
        this.put(key, after);
      }
      // Queued already: a restart before this write is on disk flushes these groups again (one notification more).
      this.write(changed)?.catch((err: unknown) => this.opts.onError(err));
      this.schedule();
    });
  }

  private retryLater(at: number): void {
    if (this.running) this.timer.set(at);
  }

  private schedule(): void {
    if (!this.running) return;
    let earliest = Infinity;
    for (const g of this.groups.values()) earliest = Math.min(earliest, flushDueAtMs(g));
    this.timer.set(earliest);
  }

  /**
   * Queues what changed in the groups (their headers and the members that changed) for the
   * file; resolves once it is there. Called in the operation's turn, so lines reach the file in
   * the order the operations ran.
   */
  private write(changed: Changes): Promise<void> | undefined {
    if (changed.size === 0) return undefined;
    let text = '';
    let lines = 0;
    for (const [k, { before, after, touched }] of changed)
      for (const line of groupLines(k, before, after, touched)) {
        text += JSON.stringify(line) + '\n';
        lines++;
      }
    return this.commit.add({ text, lines });
  }

  /** Appends the batch in one write and at most one fsync. */
  private async writeBatch(ops: { text: string; lines: number }[]): Promise<void> {
    // After a failed write the file may miss changes memory has, or end in a torn line: rewrite it
    // whole (memory holds these operations, and any queued after them, whose lines set state again).
    if (this.damaged) {
      await this.compact();
      this.damaged = false;
      return;
    }
    try {
      await this.append(
        ops.map((o) => o.text).join(''),
        ops.reduce((n, o) => n + o.lines, 0),
      );
    } catch (err) {
      this.damaged = true;
      throw err;
    }
  }

  private async append(text: string, lines: number): Promise<void> {
    if (!this.handle) {
      await mkdir(dirname(this.opts.path), { recursive: true });
      this.handle = await open(this.opts.path, 'a', 0o600);
    }
    await this.handle.write(text);
    if (this.opts.fsync) {
      await this.handle.sync();
      this.fsyncs++;
    }
    this.superseded += lines;
    if (this.superseded >= COMPACT_AFTER) await this.compact();
  }

  private async compact(): Promise<void> {
    await this.handle?.close();
    this.handle = undefined;
    let text = '';
    for (const [k, g] of this.groups)
      for (const line of groupLines(k, undefined, g)) text += JSON.stringify(line) + '\n';
    await mkdir(dirname(this.opts.path), { recursive: true });
    await replaceFile(this.opts.path, text);
    this.handle = await open(this.opts.path, 'a', 0o600);
    this.superseded = 0;
  }
}
