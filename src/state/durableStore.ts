import { mkdirSync, readdirSync, readFileSync, renameSync, unlinkSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { Counter, type Registry } from 'prom-client';
import { VigilError } from '../errors.ts';
import type { IncidentChange } from '../model/incident.ts';
import type { Logger } from '../telemetry/logger.ts';
import { MemoryStateStore, type StoredEntry } from './memoryStore.ts';
import { FILE_MODE, forEachRecord, frame, fsyncDir, writeFileAtomic } from './stateLog.ts';
import type { Register, StateDelta, StateValue } from '../correlation/stateStore.ts';

/** The log is folded into a new snapshot once it grows past this. */
export const DEFAULT_COMPACT_BYTES = 64 * 1024 * 1024;
/** Entries per snapshot record: a damaged record costs this many entries, not the whole snapshot. */
const ENTRIES_PER_RECORD = 2048;
const FORMAT = 1;
const SNAPSHOT = 'snapshot';
const LOG_NAME = /^log-(\d+)$/;
const RESOLVED: Promise<void> = Promise.resolve();
/** At an orderly stop the log is folded into a snapshot once it is this fraction of the snapshot or more. */
const STOP_SNAPSHOT_RATIO = 0.25;

export interface DurableStoreOptions {
  /** The directory holding the snapshot and the log (created 0700 if missing). */
  dir: string;
  logger: Logger;
  registry: Registry;
  writer?: string;
  compactBytes?: number;
}

/** What `open()` found on disk, for the "restored" log line. */
export interface RestoreReport {
  entries: number;
  bytes: number;
  ms: number;
  /** Incident changes journaled but never accepted by the incidents pipelines: delivered again. */
  undelivered: number;
  tornRecords: number;
  /** Files moved aside as damaged, and where. */
  setAside: { file: string; movedTo: string; corruptRecords: number }[];
}

type EncodedNumber = number | string;
type EncodedDelta =
  | [0, string, EncodedNumber, EncodedNumber, EncodedNumber]
  | [1, string, EncodedNumber, EncodedNumber]
  | [2, string, StateValue, EncodedNumber, string, EncodedNumber]
  | [3, string, EncodedNumber, string]
  | [4, string, string[], number, EncodedNumber];
export type EncodedEntry =
  | [0, string, number[], number[], number[], EncodedNumber]
  | [1, string, EncodedNumber, EncodedNumber]
  | [2, string, StateValue, EncodedNumber, string, 0 | 1, EncodedNumber]
  | [3, string, string[], number, EncodedNumber];

/** Log record: deltas, newly journaled outgoing changes (seq, change), and seqs the incidents pipelines accepted. */
interface LogRecord {
  d?: EncodedDelta[];
  o?: [number, IncidentChange][];
  a?: number[];
}

interface SnapshotRecord {
  e?: EncodedEntry[];
  o?: [number, IncidentChange][];
}

interface FileHeader {
  v: number;
  kind: 'snapshot' | 'log';
  gen: number;
  /** The next outbox sequence number (snapshots). */
  seq?: number;
}

/** JSON has no NaN or Infinity; times may be either (a window without end), so they travel as strings. */
const enc = (n: number): EncodedNumber => (Number.isFinite(n) ? n : String(n));
const dec = (n: EncodedNumber): number => (typeof n === 'number' ? n : Number(n));

function encodeDelta(d: StateDelta): EncodedDelta {
  switch (d.kind) {
    case 'count':
      return [0, d.key, enc(d.bucket), enc(d.delta), enc(d.expiresAtMs)];
    case 'max':
      return [1, d.key, enc(d.value), enc(d.expiresAtMs)];
    case 'register':
      return [2, d.key, d.register.value, enc(d.register.version), d.register.writer, enc(d.expiresAtMs)];
    case 'delete':
      return [3, d.key, enc(d.version), d.writer];
    case 'set':
      return [4, d.key, d.members, d.limit, enc(d.expiresAtMs)];
  }
}

/** JSON of a number as `enc` gives it. */
const num = (n: number): string => (Number.isFinite(n) ? String(n) : `"${n}"`);

/**
 * The JSON of `encodeDelta(d)`, built as a string: the log's hot path (one delta per counted
 * event), where this measured about twice as fast as `JSON.stringify` of the array.
 */
function deltaJson(d: StateDelta): string {
  switch (d.kind) {
    case 'count':
      return `[0,${JSON.stringify(d.key)},${num(d.bucket)},${num(d.delta)},${num(d.expiresAtMs)}]`;
    case 'max':
      return `[1,${JSON.stringify(d.key)},${num(d.value)},${num(d.expiresAtMs)}]`;
    default:
      return JSON.stringify(encodeDelta(d));
  }
}

function decodeDelta(e: EncodedDelta): StateDelta {
  switch (e[0]) {
    case 0:
      return { kind: 'count', key: e[1], bucket: dec(e[2]), delta: dec(e[3]), expiresAtMs: dec(e[4]) };
    case 1:
      return { kind: 'max', key: e[1], value: dec(e[2]), expiresAtMs: dec(e[3]) };
    case 2:
      return {
        kind: 'register',
        key: e[1],
        register: { value: e[2], version: dec(e[3]), writer: e[4] },
        expiresAtMs: dec(e[5]),
      };
    case 3:
      return { kind: 'delete', key: e[1], version: dec(e[2]), writer: e[3] };
    case 4:
      return { kind: 'set', key: e[1], members: e[2], limit: e[3], expiresAtMs: dec(e[4]) };
  }
}

/** An entry as a snapshot record holds it: JSON-ready, infinite times included (a checkpoint elsewhere can use it too). */
export function encodeEntry(key: string, e: Readonly<StoredEntry>): EncodedEntry {
  switch (e.kind) {
    case 'count':
      return [0, key, e.buckets, e.counts, e.expires, enc(e.expiresAtMs)];
    case 'max':
      return [1, key, enc(e.value), enc(e.expiresAtMs)];
    case 'register':
      return [
        2,
        key,
        e.register.value,
        enc(e.register.version),
        e.register.writer,
        e.deleted ? 1 : 0,
        enc(e.expiresAtMs),
      ];
    case 'set':
      return [3, key, e.members, e.limit, enc(e.expiresAtMs)];
  }
}

/** The entry of an `encodeEntry` record. */
export function decodeEntry(e: EncodedEntry): StoredEntry {
  switch (e[0]) {
    case 0:
      return { kind: 'count', buckets: e[2], counts: e[3], expires: e[4], expiresAtMs: dec(e[5]) };
    case 1:
      return { kind: 'max', value: dec(e[2]), expiresAtMs: dec(e[3]) };
    case 2: {
      const register: Register = { value: e[2], version: dec(e[3]), writer: e[4] };
      return { kind: 'register', register, deleted: e[5] === 1, expiresAtMs: dec(e[6]) };
    }
    case 3:
      return { kind: 'set', members: e[2], limit: e[3], expiresAtMs: dec(e[4]) };
  }
}

function isHeader(r: unknown, kind: FileHeader['kind']): r is FileHeader {
  const h = r as Partial<FileHeader> | null;
  return typeof h === 'object' && h !== null && h.v === FORMAT && h.kind === kind && typeof h.gen === 'number';
}

/**
 * The in-memory store, made to survive a restart or a crash of the daemon: a snapshot file plus
 * an append-only log of the store's own deltas (and of the incident changes handed to the
 * incidents pipelines, an outbox), folded into a new snapshot when the log passes a size.
 *
 * Fsync policy: nothing is written until `commit()`, which appends everything since the last
 * commit as one record and fdatasyncs it; callers that commit while a sync is in flight share
 * the next one (group commit). The correlation runtime commits before it hands incident changes
 * on and before it acknowledges a batch, so whatever a sender or an exporter was told about is on
 * disk; a crash loses at most the writes of batches not yet acknowledged. Snapshots are written
 * to a temporary file, fsynced, renamed into place and the directory fsynced.
 *
 * Files: `snapshot` (generation G) and `log-G`. Compaction writes the next snapshot and an empty
 * `log-(G+1)` before it renames the snapshot into place, so a crash at any point leaves one
 * snapshot and the log that belongs to it; logs of other generations are stale and removed.
 */
export class DurableStateStore extends MemoryStateStore {
  readonly dir: string;
  private readonly logger: Logger;
  private readonly compactBytes: number;
  private readonly corruptTotal: Counter;
  private readonly tornTotal: Counter;
  /** Deltas since the last commit; a register write that a later one of the same key supersedes is left undefined. */
  private pending: (StateDelta | undefined)[] = [];
  /** Key → index in `pending` of its last register write, while no deletion of the key followed it. */
  private pendingRegisters = new Map<string, number>();
  private pendingOutbox: [number, IncidentChange][] = [];
  private pendingAcks: number[] = [];
  /** Journaled changes not yet accepted downstream, by sequence number. */
  private readonly outbox = new Map<number, IncidentChange>();
  private readonly seqOf = new WeakMap<IncidentChange, number>();
  private nextSeq = 1;
  private gen = 0;
  private log: FileHandle | undefined;
  private logBytes = 0;
  /** Bytes of the log's header: a log no longer than this holds nothing since the snapshot. */
  private logHeadBytes = 0;
  private snapshotBytes = 0;
  /** A write failed part-way: the next commit writes a whole snapshot rather than trust the log's end. */
  private needsSnapshot = false;
  private inFlight: Promise<void> | undefined;
  private queued: Promise<void> | undefined;
  private unsubscribe: (() => void) | undefined;

  constructor(opts: DurableStoreOptions) {
    super(opts.writer);
    this.dir = opts.dir;
    this.logger = opts.logger;
    this.compactBytes = opts.compactBytes ?? DEFAULT_COMPACT_BYTES;
    const counter = (name: string, help: string) =>
      (opts.registry.getSingleMetric(name) as Counter | undefined) ??
      new Counter({ name, help, registers: [opts.registry] });
    this.corruptTotal = counter(
      'vigil_correlation_state_corrupt_total',
      'Correlation state files found damaged at start and moved aside (see the log for where).',
    );
    this.tornTotal = counter(
      'vigil_correlation_state_torn_records_total',
      'Incomplete last log records (a crash mid-write) cut off at start.',
    );
  }

  /** Loads the snapshot and replays the log, then journals from there. Call once, before any write. */
  async open(): Promise<RestoreReport> {
    const started = performance.now();
    const report: RestoreReport = { entries: 0, bytes: 0, ms: 0, undelivered: 0, tornRecords: 0, setAside: [] };
    try {
      mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    } catch (err) {
      throw this.refusal(this.dir, err);
    }
    const damaged: { file: string; corruptRecords: number }[] = [];

    const snapPath = join(this.dir, SNAPSHOT);
    const snap = this.readFile(snapPath);
    let gen = -1;
    if (snap) {
      report.bytes += snap.length;
      this.snapshotBytes = snap.length;
      const r = forEachRecord(snap, (rec, i) => {
        if (i === 0 && isHeader(rec, 'snapshot')) {
          gen = rec.gen;
          this.nextSeq = Math.max(this.nextSeq, rec.seq ?? 1);
        } else {
          this.applySnapshotRecord(rec as SnapshotRecord);
        }
      });
      // A snapshot is written whole and renamed into place: any flaw in it is damage, not a crash.
      if (r.corrupt || r.tornTail || gen < 0)
        damaged.push({ file: SNAPSHOT, corruptRecords: r.corrupt + (r.tornTail ? 1 : 0) + (gen < 0 ? 1 : 0) });
    }

    const logs = this.listLogs();
    // Without a readable snapshot header, the newest log is the best that is left.
    if (gen < 0) gen = logs.length ? Math.max(...logs) : 0;
    for (const g of logs) if (g !== gen) unlinkSync(join(this.dir, `log-${g}`));
    const logPath = join(this.dir, `log-${gen}`);
    const logBuf = logs.includes(gen) ? this.readFile(logPath) : undefined;
    let keepLogBytes = 0;
    if (logBuf) {
      report.bytes += logBuf.length;
      let headed = false;
      const r = forEachRecord(logBuf, (rec, i) => {
        if (i === 0 && isHeader(rec, 'log')) headed = true;
        else this.applyLogRecord(rec as LogRecord);
      });
      if (r.tornTail) {
        report.tornRecords++;
        this.tornTotal.inc();
      }
      if (r.corrupt || !headed) damaged.push({ file: `log-${gen}`, corruptRecords: r.corrupt + (headed ? 0 : 1) });
      else keepLogBytes = r.validBytes;
    }
    this.gen = gen;
    report.entries = this.size();
    report.undelivered = this.outbox.size;

    if (damaged.length) {
      const aside = join(this.dir, `corrupt-${new Date().toISOString().replace(/[:.]/g, '-')}`);
      mkdirSync(aside, { recursive: true, mode: 0o700 });
      for (const d of damaged) {
        renameSync(join(this.dir, d.file), join(aside, d.file));
        this.corruptTotal.inc();
        report.setAside.push({
          file: join(this.dir, d.file),
          movedTo: join(aside, d.file),
          corruptRecords: d.corruptRecords,
        });
      }
      fsyncDir(this.dir);
      this.logger.warn(
        { setAside: report.setAside, keptEntries: report.entries },
        'damaged correlation state files moved aside; starting from what could be read',
      );
      // What was read becomes the new snapshot, so the next start does not meet the damage again.
      await this.compact();
    } else {
      await this.openLog(gen, keepLogBytes);
    }
    if (report.tornRecords)
      this.logger.info(
        { file: logPath, keptBytes: keepLogBytes },
        'cut off an incomplete last record of the correlation state log (a crash mid-write)',
      );
    this.unsubscribe = this.onDelta((d) => this.note(d));
    report.ms = Math.round(performance.now() - started);
    return report;
  }

  /**
   * Records incident changes about to go to the incidents pipelines; the next `commit()` makes
   * them durable, and `delivered()` marks them done. Changes not marked are delivered again
   * after a crash (at least once: downstream ledgers dedupe by incident id and version).
   */
  journal(changes: readonly IncidentChange[]): void {
    for (const c of changes) {
      const seq = this.nextSeq++;
      this.seqOf.set(c, seq);
      this.outbox.set(seq, c);
      this.pendingOutbox.push([seq, c]);
    }
  }

  /** Marks journaled changes as accepted downstream (or given up on); written with the next commit. */
  delivered(changes: readonly IncidentChange[]): void {
    for (const c of changes) {
      const seq = this.seqOf.get(c);
      if (seq !== undefined && this.outbox.delete(seq)) this.pendingAcks.push(seq);
    }
  }

  /** Journaled changes not yet accepted downstream, oldest first: what to deliver after a restart. */
  undelivered(): IncidentChange[] {
    return [...this.outbox.keys()].sort((a, b) => a - b).map((seq) => this.outbox.get(seq)!);
  }

  /** Appends and fdatasyncs everything written since the last commit; concurrent callers share one sync. */
  commit(): Promise<void> {
    if (this.queued) return this.queued;
    if (!this.hasPending() || !this.log) return this.inFlight ?? RESOLVED;
    const before = this.inFlight ?? RESOLVED;
    const next = before
      .catch(() => undefined)
      .then(() => {
        this.queued = undefined;
        return this.flush();
      });
    this.queued = next;
    this.inFlight = next;
    void next.then(
      () => this.settle(next),
      () => this.settle(next),
    );
    return next;
  }

  /** Folds the log into a new snapshot now, with the next commit: restarts then read one file. */
  snapshotNow(): Promise<void> {
    this.needsSnapshot = true;
    return this.commit();
  }

  /**
   * For an orderly stop, before `close()`: folds the log into a new snapshot when the log has grown
   * to a quarter of the snapshot or more, so the next start reads one file rather than replaying a
   * long log (a log replays at about the snapshot's cost per byte, and holds many writes per key).
   */
  snapshotIfWorthIt(): Promise<void> {
    const logged = this.logBytes - this.logHeadBytes;
    if (!this.log || (logged <= 0 && !this.hasPending()) || logged < this.snapshotBytes * STOP_SNAPSHOT_RATIO)
      return this.commit();
    return this.snapshotNow();
  }

  /** Commits what is left and closes the log. */
  async close(): Promise<void> {
    try {
      await this.commit();
    } finally {
      this.unsubscribe?.();
      await this.log?.close();
      this.log = undefined;
    }
  }

  /** Bytes on disk now: the snapshot and the log. */
  diskBytes(): number {
    let bytes = this.logBytes;
    try {
      bytes += readFileSync(join(this.dir, SNAPSHOT)).length;
    } catch {
      /* no snapshot yet */
    }
    return bytes;
  }

  private settle(p: Promise<void>): void {
    if (this.inFlight === p) this.inFlight = undefined;
  }

  /**
   * Keeps a local write for the next commit. Only the last write of a register between two commits
   * is kept: it wins over the earlier ones on replay as it did live (each won when made), and the
   * incident register is rewritten, audit trail and all, on every event attached to it. A
   * deletion ends the run, so a tombstone is replayed after the write it followed.
   */
  private note(d: StateDelta): void {
    if (d.kind === 'register') {
      const at = this.pendingRegisters.get(d.key);
      if (at !== undefined) this.pending[at] = undefined;
      this.pendingRegisters.set(d.key, this.pending.length);
    } else if (d.kind === 'delete') {
      this.pendingRegisters.delete(d.key);
    }
    this.pending.push(d);
  }

  private clearPending(): void {
    this.pending = [];
    this.pendingRegisters = new Map();
    this.pendingOutbox = [];
    this.pendingAcks = [];
  }

  private hasPending(): boolean {
    return (
      this.needsSnapshot || this.pending.length > 0 || this.pendingOutbox.length > 0 || this.pendingAcks.length > 0
    );
  }

  private async flush(): Promise<void> {
    if (this.needsSnapshot || this.logBytes >= this.compactBytes) return this.compact();
    if (!this.hasPending()) return;
    // A LogRecord: {"d":[deltas],"o":[[seq, change]],"a":[seqs]}.
    const parts: string[] = [];
    if (this.pending.length) {
      const deltas = this.pending;
      let d = '"d":[';
      let first = true;
      for (const delta of deltas) {
        if (delta === undefined) continue;
        d += (first ? '' : ',') + deltaJson(delta);
        first = false;
      }
      parts.push(d + ']');
    }
    if (this.pendingOutbox.length) parts.push(`"o":${JSON.stringify(this.pendingOutbox)}`);
    if (this.pendingAcks.length) parts.push(`"a":${JSON.stringify(this.pendingAcks)}`);
    this.clearPending();
    const buf = frame(`{${parts.join(',')}}`);
    try {
      await this.log!.write(buf, 0, buf.length, this.logBytes);
      await this.log!.datasync();
      this.logBytes += buf.length;
    } catch (err) {
      // The log's end is unknown now (a partial append would double its counts on replay): the next commit rewrites everything.
      this.needsSnapshot = true;
      throw err;
    }
  }

  /** Writes the whole store as snapshot G+1 with an empty log-(G+1), then drops log-G. */
  private async compact(): Promise<void> {
    // Serialised in one synchronous step, so the snapshot is the store at one instant; every
    // pending delta is in it, and writes made while it is written go to the next log.
    const next = this.gen + 1;
    const chunks = [
      frame(JSON.stringify({ v: FORMAT, kind: 'snapshot', gen: next, seq: this.nextSeq } satisfies FileHeader)),
    ];
    let batch: EncodedEntry[] = [];
    for (const [key, entry] of this.exportEntries()) {
      batch.push(encodeEntry(key, entry));
      if (batch.length === ENTRIES_PER_RECORD) {
        chunks.push(frame(JSON.stringify({ e: batch } satisfies SnapshotRecord)));
        batch = [];
      }
    }
    if (batch.length) chunks.push(frame(JSON.stringify({ e: batch } satisfies SnapshotRecord)));
    if (this.outbox.size) chunks.push(frame(JSON.stringify({ o: [...this.outbox] } satisfies SnapshotRecord)));
    this.clearPending();
    this.needsSnapshot = true;
    const old = this.gen;
    const oldLog = this.log;
    // The empty log-(G+1) exists before snapshot G+1 replaces G (the rename is the commit point),
    // so either pair stands after a crash; a log without its snapshot is stale and removed at open.
    await this.openLog(next, 0);
    this.snapshotBytes = await writeFileAtomic(join(this.dir, SNAPSHOT), chunks);
    this.needsSnapshot = false;
    await oldLog?.close().catch(() => undefined);
    if (old !== next) {
      try {
        unlinkSync(join(this.dir, `log-${old}`));
      } catch {
        /* already gone, or set aside */
      }
    }
  }

  private async openLog(gen: number, keepBytes: number): Promise<void> {
    const path = join(this.dir, `log-${gen}`);
    const fh = await open(path, keepBytes > 0 ? 'r+' : 'w', FILE_MODE);
    if (keepBytes > 0) {
      // Cuts off a torn tail, so the next append follows the last intact record.
      await fh.truncate(keepBytes);
      this.logBytes = keepBytes;
    } else {
      const head = frame(JSON.stringify({ v: FORMAT, kind: 'log', gen } satisfies FileHeader));
      await fh.write(head, 0, head.length, 0);
      await fh.sync();
      fsyncDir(this.dir);
      this.logBytes = head.length;
    }
    this.logHeadBytes = keepBytes > 0 ? 0 : this.logBytes;
    this.log = fh;
    this.gen = gen;
  }

  private readFile(path: string): Buffer | undefined {
    try {
      return readFileSync(path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw this.refusal(path, err);
    }
  }

  /** The one case where the daemon refuses to start over its state: it cannot read or create it at all. */
  private refusal(path: string, err: unknown): VigilError {
    const code = (err as NodeJS.ErrnoException).code ?? String(err);
    return new VigilError(
      'VIGIL_STATE_UNREADABLE',
      `cannot open correlation state ${path} (${code}): give the daemon's user read and write access to ${this.dir}, or move it aside to start with empty correlation state (mv ${path} ${path}.aside)`,
      { cause: err },
    );
  }

  private listLogs(): number[] {
    const gens: number[] = [];
    let names: string[];
    try {
      names = readdirSync(this.dir);
    } catch (err) {
      throw this.refusal(this.dir, err);
    }
    for (const name of names) {
      const m = LOG_NAME.exec(name);
      if (m) gens.push(Number(m[1]));
    }
    return gens;
  }

  private applySnapshotRecord(rec: SnapshotRecord): void {
    // Decoded entries are fresh objects that nothing else holds: adopted without load()'s copy.
    for (const e of rec.e ?? []) this.adopt(e[1], decodeEntry(e));
    for (const [seq, change] of rec.o ?? []) this.noteJournaled(seq, change);
  }

  private applyLogRecord(rec: LogRecord): void {
    for (const d of rec.d ?? []) this.replay(decodeDelta(d));
    for (const [seq, change] of rec.o ?? []) this.noteJournaled(seq, change);
    for (const seq of rec.a ?? []) this.outbox.delete(seq);
  }

  private noteJournaled(seq: number, change: IncidentChange): void {
    this.outbox.set(seq, change);
    this.seqOf.set(change, seq);
    if (seq >= this.nextSeq) this.nextSeq = seq + 1;
  }
}
