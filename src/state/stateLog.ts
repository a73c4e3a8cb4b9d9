import { closeSync, fsyncSync, openSync } from 'node:fs';
import { open, rename, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import { crc32 } from 'node:zlib';

/**
 * The framing of Vigil's state files: a sequence of records, each `[u32 length][u32 crc32]`
 * (little-endian) then `length` bytes of UTF-8 JSON. A length and a checksum per record tell a
 * write cut short by a crash (the last record is incomplete: cut off) from damage in the middle
 * (a record whose bytes do not match its checksum: set aside).
 */
const HEADER_BYTES = 8;
/** A length beyond this is damage, not a record: no record the store writes comes near it. */
const MAX_RECORD_BYTES = 1 << 30;

export function frame(payload: string): Buffer {
  const body = Buffer.from(payload, 'utf8');
  const out = Buffer.allocUnsafe(HEADER_BYTES + body.length);
  out.writeUInt32LE(body.length, 0);
  out.writeUInt32LE(crc32(body), 4);
  body.copy(out, HEADER_BYTES);
  return out;
}

/** What a read of a state file found besides its records. */
export interface ReadResult {
  /** Where the last intact record ends: a torn tail starts here. */
  validBytes: number;
  /** The last record was cut short (a crash mid-append): nothing after it was lost. */
  tornTail: boolean;
  /** Records that failed their checksum or did not parse, with intact ones after them. */
  corrupt: number;
  /** Bytes after a damaged length field, which framing cannot resynchronise past. */
  unreadableBytes: number;
}

/**
 * Hands each intact record of `buf` to `onRecord` as it is parsed, rather than keeping them all:
 * a restore then holds one record's parse at a time, which measured about a third less garbage
 * collection on a 90 MB snapshot. A record that fails its checksum is skipped and reading goes on
 * after it (its length said where the next begins; the next checksum vouches for that); an
 * incomplete record at the very end is a torn tail.
 */
export function forEachRecord(buf: Buffer, onRecord: (record: unknown, index: number) => void): ReadResult {
  let offset = 0;
  let validBytes = 0;
  let corrupt = 0;
  let tornTail = false;
  let unreadableBytes = 0;
  let index = 0;
  while (offset < buf.length) {
    if (buf.length - offset < HEADER_BYTES) {
      tornTail = true;
      break;
    }
    const length = buf.readUInt32LE(offset);
    const end = offset + HEADER_BYTES + length;
    if (length > MAX_RECORD_BYTES) {
      corrupt++;
      unreadableBytes = buf.length - offset;
      break;
    }
    if (end > buf.length) {
      tornTail = true;
      break;
    }
    const body = buf.subarray(offset + HEADER_BYTES, end);
    let parsed: unknown;
    let ok = crc32(body) === buf.readUInt32LE(offset + 4);
    if (ok) {
      try {
        parsed = JSON.parse(body.toString('utf8'));
      } catch {
        ok = false;
      }
    }
    if (ok) {
      onRecord(parsed, index++);
      validBytes = end;
    } else if (end === buf.length) {
      // A bad last record is what a crash mid-write leaves when the file's size got ahead of its data.
      tornTail = true;
      break;
    } else {
      corrupt++;
    }
    offset = end;
  }
  return { validBytes, tornTail, corrupt, unreadableBytes };
}

/** Files the store creates are readable by the daemon's user alone: incidents name hosts and services. */
export const FILE_MODE = 0o600;

/** Makes a rename or unlink in `dir` durable. */
export function fsyncDir(dir: string): void {
  let fd: number | undefined;
  try {
    fd = openSync(dir, 'r');
    fsyncSync(fd);
  } catch {
    // Some file systems refuse to sync a directory; the rename is still atomic there.
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/** Writes `chunks` to `path` atomically: a temporary file, fsynced, renamed over `path`, directory fsynced. */
export async function writeFileAtomic(path: string, chunks: readonly Buffer[]): Promise<number> {
  const tmp = `${path}.tmp`;
  const fh = await open(tmp, 'w', FILE_MODE);
  let bytes = 0;
  try {
    for (const c of chunks) {
      await fh.write(c);
      bytes += c.length;
    }
    await fh.sync();
  } catch (err) {
    await fh.close();
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
  await fh.close();
  await rename(tmp, path);
  fsyncDir(dirname(path));
  return bytes;
}
