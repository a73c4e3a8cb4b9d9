import { mkdir, open, readFile, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import { choosePrune, type PruneLimits, type PruneOutcome, type PruneReport } from '../helper/prune.ts';
import { replaceFile } from './atomicFile.ts';
import { GroupCommit } from './groupCommit.ts';
import { mergedRecord, type TicketLedger, type TicketRecord } from './ledger.ts';

/** Rewrite the file once it holds this many superseded lines. */
const COMPACT_AFTER = 1000;

/** How often writes look for resolved tickets past max_age (a size overrun is acted on at once). */
const PRUNE_EVERY_MS = 10 * 60_000;

/** Resolved tickets are forgotten 30 days after their last change, as the shared ledger in Redis forgets its records. */
export const DEFAULT_LEDGER_LIMITS: PruneLimits = { maxAgeMs: 30 * 86_400_000, maxBytes: 16 * 1024 * 1024 };

export interface FileTicketLedgerOptions {
  limits?: PruneLimits;
  /** Wall-clock ms; Date.now by default. */
  now?: () => number;
  /** Counts and logs each prune. */
  report?: PruneReport;
}

interface Entry {
  v: TicketRecord;
  /** When it was last written (wall-clock ms). */
  at: number;
  /** Its line in the file, newline included. */
  bytes: number;
}

type RecordChange = (current: TicketRecord | undefined) => TicketRecord | undefined;

interface LedgerWrite {
  key: string;
  next: RecordChange;
  release: boolean;
}

const lineOf = (k: string, e: { v: TicketRecord; at: number }) => JSON.stringify({ k, v: e.v, at: e.at }) + '\n';

/**
 * A TicketLedger for one instance, in an append-only NDJSON file under the data dir: each
 * put() is written and fsynced before it resolves (puts made meanwhile share one fsync), so a restart finds every ticket id that
 * was stored. Claims live in memory: after a crash nobody else can hold one, and the window
 * between "ticket created" and "id stored" is covered by the exporter's search for its marker.
 *
 * Resolved tickets are pruned, oldest first, once their last change is older than max_age or
 * the records outgrow max_bytes: a change of an incident whose record went opens a new ticket.
 * An open ticket's record is never pruned, or its incident's resolve could not reach it.
 */
export class FileTicketLedger implements TicketLedger {
  private readonly path: string;
  private readonly records = new Map<string, Entry>();
  private readonly claims = new Set<string>();
  private readonly limits: PruneLimits;
  private readonly now: () => number;
  private readonly report: PruneReport | undefined;
  private handle: FileHandle | undefined;
  private writes: Promise<void> = Promise.resolve();
  private readonly commit = new GroupCommit<LedgerWrite>((batch) => this.writeBatch(batch));
  /** fsyncs of the ledger file since open (group commit makes this fewer than the puts). */
  fsyncs = 0;
  private superseded = 0;
  /** Bytes of the live records' lines: the file's size once compacted. */
  private liveBytes = 0;
  private lastPruneAt = 0;

  constructor(path: string, opts: FileTicketLedgerOptions = {}) {
    this.path = path;
    this.limits = opts.limits ?? DEFAULT_LEDGER_LIMITS;
    this.now = opts.now ?? Date.now;
    this.report = opts.report;
  }

  async open(): Promise<void> {
    await mkdir(dirname(this.path), { recursive: true });
    let text = '';
    try {
      text = await readFile(this.path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    const openedAt = this.now();
    for (const line of text.split('\n')) {
      if (!line) continue;
      try {
        const rec = JSON.parse(line) as { k: string; v: TicketRecord; at?: number };
        // A line an older Vigil wrote has no time: its age counts from now.
        this.set(rec.k, rec.v, rec.at ?? openedAt);
      } catch {
        // a torn last line from a crash mid-write: that put() never resolved
      }
    }
    this.report?.record(this.pruneRecords(), 'resolved tickets from the ledger');
    await this.compact();
  }

  async get(key: string): Promise<TicketRecord | undefined> {
    return this.records.get(key)?.v;
  }

  /** Prunes resolved tickets past the limits now, rewriting the file when any went. */
  prune(): Promise<PruneOutcome> {
    const done = this.writes.then(async () => {
      const outcome = this.pruneRecords();
      if (outcome.removed > 0) await this.compact();
      this.report?.record(outcome, 'resolved tickets from the ledger');
      return outcome;
    });
    this.writes = done.then(
      () => undefined,
      () => undefined,
    );
    return done;
  }

  private set(key: string, v: TicketRecord, at: number): void {
    const bytes = Buffer.byteLength(lineOf(key, { v, at }));
    const old = this.records.get(key);
    this.liveBytes += bytes - (old?.bytes ?? 0);
    this.records.set(key, { v, at, bytes });
  }

  private pruneRecords(): PruneOutcome {
    this.lastPruneAt = this.now();
    const resolved: (Entry & { key: string; atMs: number })[] = [];
    let openBytes = 0;
    for (const [key, e] of this.records)
      if (e.v.resolved) resolved.push({ ...e, key, atMs: e.at });
      else openBytes += e.bytes;
    const { remove, byAge } = choosePrune(resolved, this.limits, this.lastPruneAt, openBytes);
    let bytes = 0;
    for (const e of remove) {
      this.records.delete(e.key);
      bytes += e.bytes;
    }
    this.liveBytes -= bytes;
    return { removed: remove.length, bytes, byAge, kept: this.records.size, keptBytes: this.liveBytes };
  }

  private pruneDue(): boolean {
    if (this.limits.maxBytes > 0 && this.liveBytes > this.limits.maxBytes) return true;
    return this.limits.maxAgeMs > 0 && this.now() - this.lastPruneAt >= PRUNE_EVERY_MS;
  }

  async claim(key: string): Promise<boolean> {
    if (this.claims.has(key)) return false;
    this.claims.add(key);
    return true;
  }

  put(key: string, record: TicketRecord): Promise<void> {
    return this.write(key, () => record, true);
  }

  async release(key: string): Promise<void> {
    this.claims.delete(key);
  }

  merge(key: string, lost: string, into: string): Promise<void> {
    return this.write(key, (rec) => rec && mergedRecord(rec, lost, into), false);
  }

  async close(): Promise<void> {
    await this.commit.settled();
    await this.writes;
    await this.handle?.close();
    this.handle = undefined;
  }

  /**
   * Writes what `next` makes of the key's record as it stands once earlier writes are done
   * (nothing when it returns undefined); `release` drops the caller's claim, as put() does.
   * Writes made while one is on its way to disk go together in the next, with one fsync.
   */
  private write(key: string, next: RecordChange, release: boolean): Promise<void> {
    return this.commit.add({ key, next, release });
  }

  private writeBatch(batch: readonly LedgerWrite[]): Promise<void> {
    const done = this.writes.then(async () => {
      const at = this.now();
      // Later writes of the batch see what the earlier ones made of their key.
      const staged = new Map<string, TicketRecord | undefined>();
      const lines: [string, TicketRecord][] = [];
      let text = '';
      for (const w of batch) {
        const record = w.next(staged.has(w.key) ? staged.get(w.key) : this.records.get(w.key)?.v);
        if (record === undefined) continue;
        staged.set(w.key, record);
        lines.push([w.key, record]);
        text += lineOf(w.key, { v: record, at });
      }
      if (text) {
        await this.handle!.write(text);
        await this.handle!.sync();
        this.fsyncs++;
      }
      for (const [key, record] of lines) {
        if (this.records.has(key)) this.superseded++;
        this.set(key, record, at);
      }
      for (const w of batch) if (w.release) this.claims.delete(w.key);
      let pruned: PruneOutcome | undefined;
      if (this.pruneDue()) {
        pruned = this.pruneRecords();
        if (pruned.removed > 0) this.superseded = COMPACT_AFTER;
      }
      if (this.superseded >= COMPACT_AFTER) await this.compact();
      if (pruned) this.report?.record(pruned, 'resolved tickets from the ledger');
    });
    this.writes = done.catch(() => undefined);
    return done;
  }

  private async compact(): Promise<void> {
    await this.handle?.close();
    let text = '';
    for (const [k, e] of this.records) text += lineOf(k, e);
    await replaceFile(this.path, text);
    this.handle = await open(this.path, 'a', 0o600);
    this.superseded = 0;
  }
}
