import { randomBytes } from 'node:crypto';
import { mkdir, open, readdir, readFile, rename, rm, stat, truncate, utimes, type FileHandle } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { choosePrune, type PruneLimits, type PruneOutcome } from '../helper/prune.ts';

/** One batch on disk: the rows of one table, in JSONEachRow, waiting for ClickHouse. */
export interface Segment {
  readonly seq: number;
  readonly table: string;
  /** Sent as insert_deduplication_token on every attempt, across restarts too. */
  readonly token: string;
  bytes: number;
  rows: number;
  /** When its first row was written (for one a previous run left, its file's last change): how long rows have waited. */
  readonly createdAtMs: number;
}

interface OpenSegment extends Segment {
  handle: FileHandle;
  /** Whether rows were appended since the last sync. */
  unsynced: boolean;
}

const NAME = /^(\d{12})\.([A-Za-z0-9_]+)\.([0-9a-f]+)\.(jsonl|open)$/;

/** Newlines in a JSONEachRow buffer: its rows. */
export function countLines(b: Buffer): number {
  let n = 0;
  for (let i = b.indexOf(0x0a); i !== -1; i = b.indexOf(0x0a, i + 1)) n++;
  return n;
}

/**
 * The exporter's ordered on-disk log of accepted rows. A batch is appended to an `.open` file
 * as it arrives (so an acknowledged row survives a crash), renamed `.jsonl` when sealed, and
 * deleted once ClickHouse has it. Segment numbers give the replay order; the token in the
 * name lets a replay after a crash be deduplicated by ClickHouse if the insert had landed.
 */
export class Spool {
  readonly dir: string;
  /** Acknowledged rows are synced to disk (the `fsync` option), not only written. */
  readonly fsync: boolean;
  private readonly now: () => number;
  private nextSeq = 1;
  private total = 0;

  constructor(dir: string, fsync: boolean, now: () => number = Date.now) {
    this.dir = dir;
    this.fsync = fsync;
    this.now = now;
  }

  /** Bytes on disk, open and sealed segments alike. */
  get bytes(): number {
    return this.total;
  }

  /**
   * Opens the directory and returns what a previous run left, oldest first, all sealed. An
   * `.open` file is cut back to its last complete line: a crash mid-write leaves at most one
   * partial row, which was never acknowledged.
   */
  async recover(): Promise<Segment[]> {
    await mkdir(join(this.dir, 'rejected'), { recursive: true });
    const found: Segment[] = [];
    for (const name of (await readdir(this.dir)).sort()) {
      if (name.endsWith('.tmp')) {
        // A half of a split that was never renamed into place: its batch is still whole.
        await rm(join(this.dir, name), { force: true });
        continue;
      }
      const m = NAME.exec(name);
      if (!m) continue;
      let file = join(this.dir, name);
      const st = await stat(file);
      let size = st.size;
      if (m[4] === 'open') {
        const text = await readFile(file);
        size = text.lastIndexOf(0x0a) + 1;
        await truncate(file, size);
        const sealed = file.replace(/\.open$/, '.jsonl');
        await rename(file, sealed);
        file = sealed;
      }
      const seg: Segment = {
        seq: Number(m[1]),
        table: m[2]!,
        token: m[3]!,
        bytes: size,
        rows: -1,
        createdAtMs: st.mtimeMs,
      };
      this.nextSeq = Math.max(this.nextSeq, seg.seq + 1);
      if (size === 0) {
        await rm(file, { force: true });
        continue;
      }
      this.total += size;
      found.push(seg);
    }
    return this.settleSplits(found);
  }

  /**
   * A crash during split() leaves the batch and one or both halves (tokens `<token>a`,
   * `<token>b`): with both halves the split was done and the batch goes; with one, the batch
   * stays and the half goes.
   */
  private async settleSplits(found: Segment[]): Promise<Segment[]> {
    const byToken = new Map(found.map((s) => [s.token, s]));
    const drop = new Set<Segment>();
    for (const seg of found) {
      const a = byToken.get(`${seg.token}a`);
      if (!a) continue;
      const b = byToken.get(`${seg.token}b`);
      drop.add(b ? seg : a);
    }
    for (const seg of drop) {
      await rm(this.path(seg, 'jsonl'), { force: true });
      this.total -= seg.bytes;
    }
    return found.filter((s) => !drop.has(s));
  }

  private path(seg: Segment, state: 'open' | 'jsonl'): string {
    return join(this.dir, `${String(seg.seq).padStart(12, '0')}.${seg.table}.${seg.token}.${state}`);
  }

  async create(table: string): Promise<OpenSegment> {
    const seg = {
      seq: this.nextSeq++,
      table,
      token: randomBytes(12).toString('hex'),
      bytes: 0,
      rows: 0,
      createdAtMs: Date.now(),
      unsynced: false,
    } as OpenSegment;
    seg.handle = await open(this.path(seg, 'open'), 'a', 0o600);
    return seg;
  }

  /** Writes rows to the open segment; sync() (or seal()) makes them survive a power loss. */
  async append(seg: OpenSegment, data: Buffer, rows: number): Promise<void> {
    await seg.handle.write(data);
    seg.unsynced = true;
    seg.bytes += data.length;
    seg.rows += rows;
    this.total += data.length;
  }

  /** With `fsync`, syncs what was appended to the open segment since its last sync. */
  async sync(seg: OpenSegment): Promise<void> {
    if (!this.fsync || !seg.unsynced) return;
    // Cleared first: whatever is appended while the sync runs waits for the next one.
    seg.unsynced = false;
    await seg.handle.datasync();
  }

  async seal(seg: OpenSegment): Promise<Segment> {
    await this.sync(seg);
    await seg.handle.close();
    await rename(this.path(seg, 'open'), this.path(seg, 'jsonl'));
    return {
      seq: seg.seq,
      table: seg.table,
      token: seg.token,
      bytes: seg.bytes,
      rows: seg.rows,
      createdAtMs: seg.createdAtMs,
    };
  }

  read(seg: Segment): Promise<Buffer> {
    return readFile(this.path(seg, 'jsonl'));
  }

  /** A sealed batch's file, absolute: its rows as JSONEachRow, for a backend that reads it itself. */
  sealedFile(seg: Segment): string {
    return resolve(this.path(seg, 'jsonl'));
  }

  /**
   * A batch's rows read into `into` when it is large enough (else into a new buffer, returned
   * for the next read): a view of the bytes read, valid until the next read into that buffer.
   */
  async readInto(seg: Segment, into: Buffer | undefined): Promise<{ data: Buffer; buffer: Buffer }> {
    const handle = await open(this.path(seg, 'jsonl'), 'r');
    try {
      const size = (await handle.stat()).size;
      const buffer = into && into.length >= size ? into : Buffer.allocUnsafeSlow(size);
      let n = 0;
      while (n < size) {
        const { bytesRead } = await handle.read(buffer, n, size - n, n);
        if (bytesRead === 0) break;
        n += bytesRead;
      }
      return { data: buffer.subarray(0, n), buffer };
    } finally {
      await handle.close();
    }
  }

  async remove(seg: Segment): Promise<void> {
    await rm(this.path(seg, 'jsonl'), { force: true });
    this.total -= seg.bytes;
  }

  /**
   * Replaces a sealed batch by its two halves, for a server that refused it for its size. The
   * halves keep its place in the replay order and get tokens of their own (`<token>a`,
   * `<token>b`): each is a new insert for deduplication. Undefined for a batch of one row.
   */
  async split(seg: Segment): Promise<[Segment, Segment] | undefined> {
    const data = await this.read(seg);
    const rows = countLines(data);
    if (rows < 2) return undefined;
    let cut = -1;
    for (let i = 0; i < rows >> 1; i++) cut = data.indexOf(0x0a, cut + 1);
    const parts = [data.subarray(0, cut + 1), data.subarray(cut + 1)];
    const halves = parts.map((buf, i) => ({
      seq: seg.seq,
      table: seg.table,
      token: seg.token + (i === 0 ? 'a' : 'b'),
      bytes: buf.length,
      rows: countLines(buf),
      createdAtMs: seg.createdAtMs,
    })) as [Segment, Segment];
    for (const [i, half] of halves.entries()) {
      const to = this.path(half, 'jsonl');
      const handle = await open(`${to}.tmp`, 'w', 0o600);
      try {
        await handle.writeFile(parts[i]!);
        if (this.fsync) await handle.datasync();
      } finally {
        await handle.close();
      }
      await rename(`${to}.tmp`, to);
    }
    await rm(this.path(seg, 'jsonl'), { force: true });
    return halves;
  }

  /** Moves a batch ClickHouse can never take out of the replay order, keeping it for inspection. */
  async setAside(seg: Segment): Promise<string> {
    const to = join(this.dir, 'rejected', `${String(seg.seq).padStart(12, '0')}.${seg.table}.${seg.token}.jsonl`);
    await rename(this.path(seg, 'jsonl'), to);
    this.total -= seg.bytes;
    // Its age in `rejected/` counts from now, not from when its rows were written.
    const at = this.now() / 1000;
    await utimes(to, at, at).catch(() => undefined);
    return to;
  }

  /**
   * Deletes batches set aside longer ago than maxAgeMs, and the oldest of the rest while
   * `rejected/` holds more than maxBytes, so inspection copies never fill the disk.
   */
  async pruneRejected(limits: PruneLimits): Promise<PruneOutcome> {
    const dir = join(this.dir, 'rejected');
    const files: { name: string; bytes: number; atMs: number }[] = [];
    for (const name of await readdir(dir).catch(() => [] as string[])) {
      const st = await stat(join(dir, name)).catch(() => undefined);
      if (st?.isFile()) files.push({ name, bytes: st.size, atMs: st.mtimeMs });
    }
    const { remove, byAge } = choosePrune(files, limits, this.now());
    let bytes = 0;
    for (const f of remove) {
      await rm(join(dir, f.name), { force: true });
      bytes += f.bytes;
    }
    let keptBytes = 0;
    for (const f of files) keptBytes += f.bytes;
    return { removed: remove.length, bytes, byAge, kept: files.length - remove.length, keptBytes: keptBytes - bytes };
  }
}
