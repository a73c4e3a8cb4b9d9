import { mkdir, open, rename, rm, stat, type FileHandle } from 'node:fs/promises';
import { dirname, isAbsolute, join } from 'node:path';
import { ComponentShutDownError } from '../../errors.ts';
import { toJson } from '../../model/attributes.ts';
import type { VigilEvent } from '../../model/event.ts';
import { eventToJson } from '../../model/eventJson.ts';
import type { CreateSettings, Exporter } from '../../pipeline/component.ts';
import type { Signal } from '../../pipeline/signals.ts';
import type { FileExporterConfig } from './config.ts';

/** Bytes of the buffers lines are encoded into; a line longer than this gets a buffer of its own. */
const CHUNK_BYTES = 1 << 20;

const eventLine = (rec: unknown): string => eventToJson(rec as VigilEvent);
const recordLine = (rec: unknown): string => toJson(rec as object);

/**
 * The records as UTF-8 lines, each ended by LF, in buffers of at most CHUNK_BYTES (a longer
 * line gets one of its own) written by one writev. Encoding each line straight into a buffer
 * skips the batch-sized string that joining them made (one more copy of every byte: about
 * 0.5 µs a syslog event in the daemon's profile), and each line is garbage as soon as it is
 * encoded. A UTF-16 code unit takes at most 3 bytes, so `3 × length + 1` always holds a line;
 * a new buffer is sized for the records left as if they were as long as the current one, so a
 * small batch takes a small buffer. A record that is already its line's bytes (see
 * `takesLogLines`) is written from where it is, next ones in one piece while they follow each
 * other in one buffer, as a receiver's lines do.
 */
function encodeLines(batch: unknown[], line: (rec: unknown) => string): Buffer[] {
  const chunks: Buffer[] = [];
  let buf = Buffer.allocUnsafe(0);
  /** Encoded text in buf from `start` to `used` is not in chunks yet. */
  let start = 0;
  let used = 0;
  /** Byte records met in a row that follow each other in one buffer, not in chunks yet. */
  let run: ArrayBufferLike | undefined;
  let runStart = 0;
  let runEnd = 0;
  for (let i = 0; i < batch.length; i++) {
    const rec = batch[i];
    if (rec instanceof Uint8Array) {
      // A line joined into the one before it (see `Consumer.consumeLines`).
      if (rec.byteLength === 0) continue;
      if (used > start) chunks.push(buf.subarray(start, used));
      start = used;
      if (rec.buffer === run && rec.byteOffset === runEnd) runEnd += rec.byteLength;
      else {
        if (run !== undefined) chunks.push(Buffer.from(run, runStart, runEnd - runStart));
        run = rec.buffer;
        runStart = rec.byteOffset;
        runEnd = runStart + rec.byteLength;
      }
      continue;
    }
    if (run !== undefined) {
      chunks.push(Buffer.from(run, runStart, runEnd - runStart));
      run = undefined;
    }
    const text = line(rec);
    const most = text.length * 3 + 1;
    if (buf.length - used < most) {
      if (used > start) chunks.push(buf.subarray(start, used));
      buf = Buffer.allocUnsafe(Math.max(most, Math.min(CHUNK_BYTES, most * (batch.length - i))));
      start = used = 0;
    }
    used += buf.write(text, used);
    buf[used++] = 10;
  }
  if (run !== undefined) chunks.push(Buffer.from(run, runStart, runEnd - runStart));
  if (used > start) chunks.push(buf.subarray(start, used));
  return chunks;
}

/** How far back cutTornLine reads at a time, looking for the last line's end. */
const TAIL_READ = 64 * 1024;

/**
 * A process killed inside a write (kill -9, the OOM killer, a power loss) can leave the file
 * ending in part of a line. The batch it belonged to was not written whole, so (under
 * `acknowledge: exported`, the default) it was never acknowledged and its records come again;
 * appending after the fragment would glue it to the next line and leave one line no JSON reader
 * takes. Cuts the file back to just after its last newline and returns the bytes
 * cut (0 when it ends with a whole line, is empty or does not exist).
 */
async function cutTornLine(path: string): Promise<number> {
  let fh: FileHandle;
  try {
    fh = await open(path, 'r+');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 0;
    throw err;
  }
  try {
    const { size } = await fh.stat();
    const buf = Buffer.alloc(Math.min(TAIL_READ, size));
    let end = size;
    while (end > 0) {
      const len = Math.min(buf.length, end);
      const { bytesRead } = await fh.read(buf, 0, len, end - len);
      const nl = buf.subarray(0, bytesRead).lastIndexOf(0x0a);
      if (nl !== -1) {
        const keep = end - len + nl + 1;
        if (keep < size) await fh.truncate(keep);
        return size - keep;
      }
      end -= len;
    }
    if (size > 0) await fh.truncate(0);
    return size;
  } finally {
    await fh.close();
  }
}

/** Appends every record as one JSON line; rotates by size. Useful to users and to tests. */
export class FileExporter implements Exporter {
  private readonly settings: CreateSettings;
  private readonly config: FileExporterConfig;
  readonly path: string;
  private handle: FileHandle | undefined;
  private size = 0;
  private chain: Promise<void> = Promise.resolve();
  private shutDown = false;
  /** A log record's line is all it writes of it: given its bytes, it writes those. */
  readonly takesLogLines = true;

  constructor(settings: CreateSettings, config: FileExporterConfig) {
    this.settings = settings;
    this.config = config;
    this.path = isAbsolute(config.path) ? config.path : join(settings.dataDir, config.path);
  }

  async start(): Promise<void> {
    await mkdir(dirname(this.path), { recursive: true });
    const cut = await cutTornLine(this.path);
    if (cut > 0)
      this.settings.logger.warn(
        { exporter: this.settings.id, path: this.path, bytes: cut },
        'file exporter cut a partial last line left by an interrupted write',
      );
    await this.openFile();
  }

  private async openFile(): Promise<void> {
    // 0640: a log shipper's group may read what Vigil writes, nobody else.
    this.handle = await open(this.path, 'a', 0o640);
    this.size = (await stat(this.path)).size;
  }

  consumeLogs = (batch: unknown[]) => this.write('logs', batch);
  consumeMetrics = (batch: unknown[]) => this.write('metrics', batch);
  consumeTraces = (batch: unknown[]) => this.write('traces', batch);
  consumeIncidents = (batch: unknown[]) => this.write('incidents', batch);

  private write(signal: Signal, batch: unknown[]): Promise<void> {
    // Batches from several pipelines may arrive at once; serialise so lines never interleave.
    const next = this.chain.then(() => this.writeNow(signal, batch));
    this.chain = next.catch(() => undefined);
    return next;
  }

  private async writeNow(signal: Signal, batch: unknown[]): Promise<void> {
    if (this.shutDown) throw new ComponentShutDownError('exporter', this.settings.id);
    const chunks = signal === 'logs' ? encodeLines(batch, eventLine) : encodeLines(batch, recordLine);
    let bytes = 0;
    for (const c of chunks) bytes += c.length;
    const maxBytes = this.config.rotation.max_megabytes * 1024 * 1024;
    if (maxBytes > 0 && this.size > 0 && this.size + bytes > maxBytes) await this.rotate();
    if (chunks.length === 1) await this.handle!.write(chunks[0]!);
    else if (chunks.length > 1) await this.handle!.writev(chunks);
    if (this.config.fsync) await this.handle!.sync();
    this.size += bytes;
  }

  private async rotate(): Promise<void> {
    await this.handle!.close();
    const keep = this.config.rotation.max_backups;
    if (keep === 0) await rm(this.path, { force: true });
    else {
      await rm(`${this.path}.${keep}`, { force: true });
      for (let i = keep - 1; i >= 1; i--)
        await rename(`${this.path}.${i}`, `${this.path}.${i + 1}`).catch(() => undefined);
      await rename(this.path, `${this.path}.1`);
    }
    await this.openFile();
  }

  async shutdown(): Promise<void> {
    // What was handed over before this call is written; anything later is refused.
    await this.chain;
    this.shutDown = true;
    await this.handle?.sync().catch(() => undefined);
    await this.handle?.close();
    this.handle = undefined;
  }
}
