import { mkdir, open, readFile, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { IncidentChange } from '../../model/incident.ts';
import { replaceFile } from './atomicFile.ts';
import type { Timers } from './delivery.ts';
import {
  flushDueAtMs,
  flushGroup,
  groupOf,
  joinGroup,
  type GroupState,
  type QueuedChange,
} from './notificationGroups.ts';
import type { RouteGrouping } from './routeGrouping.ts';

/** A group's own timers as a grouping (all joinGroup reads of it once the group exists). */
function timersOf(g: GroupState): RouteGrouping {
  return { routeKey: '', by: [], waitMs: g.waitMs, intervalMs: g.intervalMs, repeatMs: g.repeatMs };
}

/** Longest single timer wait (Node's setTimeout takes at most 2^31-1 ms). */
const MAX_TIMER_MS = 86_400_000;

/** Rewrite the file once it holds this many superseded lines. */
const COMPACT_AFTER = 1000;

/** After a flush whose notifications could not be queued (disk full), try again this much later. */
const FLUSH_RETRY_MS = 1000;

export interface GroupStageOptions {
  /** The NDJSON file the groups live in (under the exporter's data dir, next to its outbox). */
  path: string;
  fsync: boolean;
  timers: Timers;
  /** Queues the groups' notifications durably (the exporter's outbox); keyed by group key. */
  emit(items: { key: string; payload: QueuedChange }[]): Promise<void>;
  onError(err: unknown): void;
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
  private handle: FileHandle | undefined;
  private superseded = 0;
  private chain: Promise<void> = Promise.resolve();
  private timer: unknown;
  private timerAt = Infinity;
  private running = false;

  constructor(opts: GroupStageOptions) {
    this.opts = opts;
  }

  /** Loads the groups a previous run left; a file that does not exist is no group. */
  async open(): Promise<void> {
    let text = '';
    try {
      text = await readFile(this.opts.path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    for (const line of text.split('\n')) {
      if (!line) continue;
      try {
        const rec = JSON.parse(line) as { k: string; v: GroupState | null };
        if (rec.v) this.groups.set(rec.k, rec.v);
        else this.groups.delete(rec.k);
      } catch {
        // a torn last line from a crash mid-write: that add() never resolved
      }
    }
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

  /** Resolves once every change and flush started so far is done. */
  settled(): Promise<void> {
    return this.chain;
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
  add(items: readonly { grouping?: RouteGrouping; change: IncidentChange }[]): Promise<void> {
    if (items.length === 0) return Promise.resolve();
    return this.serially(async () => {
      const now = this.opts.timers.now();
      const changed = new Map<string, GroupState | undefined>();
      const join = (key: string, grouping: RouteGrouping, change: IncidentChange) => {
        const current = this.groups.get(key);
        const next = joinGroup(current, grouping, change, now);
        if (next === current) return;
        changed.set(key, next);
        if (next) this.groups.set(key, next);
      };
      for (const { grouping, change } of items) {
        const key = grouping && groupOf(grouping, change.incident).key;
        if (grouping) join(key!, grouping, change);
        if (change.kind !== 'resolved') continue;
        for (const g of this.groups.values())
          if (g.key !== key && g.members[change.incident.key]?.firing) join(g.key, timersOf(g), change);
      }
      await this.write(changed);
      this.schedule();
    });
  }

  async close(): Promise<void> {
    this.running = false;
    this.clearTimer();
    await this.chain;
    await this.handle?.close();
    this.handle = undefined;
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
      const changed = new Map<string, GroupState | undefined>();
      for (const g of this.groups.values()) {
        if (flushDueAtMs(g) > now) continue;
        const f = flushGroup(g, now);
        if (f.send) sends.push({ key: g.key, payload: f.send });
        changed.set(g.key, f.next);
      }
      try {
        await this.opts.emit(sends);
      } catch (err) {
        this.opts.onError(err);
        this.retryLater(now + FLUSH_RETRY_MS);
        return;
      }
      for (const [key, g] of changed) {
        if (g) this.groups.set(key, g);
        else this.groups.delete(key);
      }
      try {
        await this.write(changed);
      } catch (err) {
        // Queued already: a restart before the next write flushes these groups again (one notification more).
        this.opts.onError(err);
      }
      this.schedule();
    });
  }

  private retryLater(at: number): void {
    this.clearTimer();
    this.arm(at);
  }

  private schedule(): void {
    if (!this.running) return;
    let earliest = Infinity;
    for (const g of this.groups.values()) earliest = Math.min(earliest, flushDueAtMs(g));
    if (earliest === this.timerAt) return;
    this.clearTimer();
    if (earliest < Infinity) this.arm(earliest);
  }

  private arm(at: number): void {
    if (!this.running) return;
    this.timerAt = at;
    this.timer = this.opts.timers.setTimeout(
      () => {
        this.timer = undefined;
        this.timerAt = Infinity;
        void this.flushDue().catch((err: unknown) => this.opts.onError(err));
      },
      // Node fires a longer timeout at once; a wake-up before `at` flushes nothing and re-arms.
      Math.min(MAX_TIMER_MS, Math.max(0, at - this.opts.timers.now())),
    );
  }

  private clearTimer(): void {
    if (this.timer !== undefined) this.opts.timers.clearTimeout(this.timer);
    this.timer = undefined;
    this.timerAt = Infinity;
  }

  /** Appends the groups' new states (null: forgotten) in one write. */
  private async write(changed: ReadonlyMap<string, GroupState | undefined>): Promise<void> {
    if (changed.size === 0) return;
    if (!this.handle) {
      await mkdir(dirname(this.opts.path), { recursive: true });
      this.handle = await open(this.opts.path, 'a', 0o600);
    }
    let text = '';
    for (const [k, v] of changed) text += JSON.stringify({ k, v: v ?? null }) + '\n';
    await this.handle.write(text);
    if (this.opts.fsync) await this.handle.sync();
    this.superseded += changed.size;
    if (this.superseded >= COMPACT_AFTER) await this.compact();
  }

  private async compact(): Promise<void> {
    await this.handle?.close();
    let text = '';
    for (const [k, v] of this.groups) text += JSON.stringify({ k, v }) + '\n';
    await mkdir(dirname(this.opts.path), { recursive: true });
    await replaceFile(this.opts.path, text);
    this.handle = await open(this.opts.path, 'a', 0o600);
    this.superseded = 0;
  }
}
