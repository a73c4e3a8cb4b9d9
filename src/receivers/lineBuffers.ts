/**
 * Lines of JSON for a receiver that hands its pipeline lines instead of events
 * (`Consumer.consumeLines`; the syslog receiver's, see syslog/eventLine.ts): written into
 * shared chunks outside V8's heap, joined into one view per batch, and the chunks reused once
 * the exporters wrote them.
 */
import type { FastWriteBuffer } from '../growableBytes.ts';
import { writeEventId } from '../model/event.ts';

/** Bytes of the buffers lines are encoded into; a line longer than this gets one of its own. */
const CHUNK_BYTES = 64 * 1024;

/**
 * Written chunks kept for new lines, at most: 20 MiB, what the lines of a full pipeline queue
 * of the default size (20,000 records) take, at a kilobyte a line.
 */
const FREE_CHUNKS = 320;

/**
 * What a line holds whose bytes the first line of its run holds: none (see
 * `LineBuffers.finishBatch`); also what a line stands as until its batch is finished.
 */
export const JOINED: Buffer = Buffer.alloc(0);

/**
 * Lines encoded as UTF-8, each ended by LF, into shared buffers as soon as they are made, and
 * handed on in batches: the lines of a batch that follow each other in a chunk as one view,
 * held by the first of them (`finishBatch`). A line held as a string until the file exporter
 * wrote it (a tree of some forty pieces, which the queue kept long enough to be moved to the
 * old generation) took twice the garbage collector's time of the events it replaced; as bytes
 * outside the heap it was one small object, and as part of its batch's view it is none. A line
 * is written piece by piece (`piece`, `text`, `again`, `raw`) and ended by `end`, or whole by
 * `add`; one that outgrows its chunk while being written moves, with what it has so far, to
 * the next.
 *
 * A chunk whose every byte the exporters have written (`written`) takes new lines. Left to the
 * garbage collector, chunks were freed only when V8 collected the views that promoted on their
 * way through the queue, which it does at a full collection, pushed by some 64 MiB of external
 * memory: at 150,000 lines a second, a syslog TCP daemon writing to a file held 50–90 MiB of
 * written chunks, and the C heap they were allocated in kept that size after the load.
 */
export class LineBuffers {
  private chunk = Buffer.allocUnsafe(0) as FastWriteBuffer;
  /** Where the line being written begins in `chunk`, and where it is up to. */
  private start = 0;
  private used = 0;
  /** Bytes of `chunk` the exporters wrote. */
  private done = 0;
  /**
   * Bytes not yet written of the chunks before `chunk`, by their memory; weakly, since lines
   * that are dropped (refused past retrying, an exporter failing) are never written.
   */
  private readonly owed = new WeakMap<ArrayBufferLike, number>();
  private readonly free: Buffer[] = [];
  /** Lines ended since the last batch was finished. */
  private lines = 0;
  /** The batch's first line in `chunk` (-1: none yet), and where it begins. */
  private runLine = -1;
  private runFrom = 0;
  /** The batch's runs in chunks before `chunk`: the first line of each, and the run's bytes. */
  private readonly runLines: number[] = [];
  private readonly runViews: Buffer[] = [];
  /** The chunk the batch began in, and where. */
  private batchChunk: Buffer = this.chunk;
  private batchFrom = 0;

  /**
   * `text` and an LF; with `idAt` ≥ 0, a new event id carrying the time `idMs` written over the
   * 26 characters there.
   */
  add(text: string, idAt: number, idMs = Date.now()): void {
    // A UTF-16 code unit takes at most 3 bytes.
    this.ensure(text.length * 3 + 1);
    this.used += this.chunk.utf8Write(text, this.used);
    this.end(idAt, idMs);
  }

  /** Bytes that need no escaping, at the end of the line being written. */
  piece(bytes: Uint8Array): void {
    this.ensure(bytes.length);
    this.chunk.set(bytes, this.used);
    this.used += bytes.length;
  }

  /**
   * `s` as JSON writes it between quotes (escaped where it must be), at the end of the line;
   * whether it is printable ASCII, written as it is.
   */
  text(s: string): boolean {
    const n = s.length;
    this.ensure(n);
    const chunk = this.chunk;
    let o = this.used;
    for (let i = 0; i < n; i++) {
      const c = s.charCodeAt(i);
      // Control characters, '"', '\\' and anything past ASCII: JSON.stringify's own escaping.
      if (c < 0x20 || c > 0x7e || c === 0x22 || c === 0x5c) {
        this.escaped(s);
        return false;
      }
      chunk[o++] = c;
    }
    this.used = o;
    return true;
  }

  /**
   * Bytes `from` to `to` of `src` at the end of the line, when each is printable ASCII that JSON
   * writes as it is (not '"' or '\\'); false, nothing written, when one is not. A copy from
   * the bytes a message came in takes half the time of reading its text (`text`).
   */
  bytes(src: Uint8Array, from: number, to: number): boolean {
    this.ensure(to - from);
    const chunk = this.chunk;
    let o = this.used;
    for (let i = from; i < to; i++) {
      const c = src[i]!;
      if (c < 0x20 || c > 0x7e || c === 0x22 || c === 0x5c) return false;
      chunk[o++] = c;
    }
    this.used = o;
    return true;
  }

  /**
   * Bytes `from` to `to` of `src` at the end of the line as they are: JSON text that needs no
   * escaping (a JSON receiver's values, copied from the body they came in).
   */
  copy(src: Uint8Array, from: number, to: number): void {
    const n = to - from;
    this.ensure(n);
    const chunk = this.chunk;
    const o = this.used;
    // A short piece is copied faster by a loop than by a view and set.
    if (n > 48) chunk.set(src.subarray(from, to), o);
    else for (let i = 0; i < n; i++) chunk[o + i] = src[from + i]!;
    this.used = o + n;
  }

  /** Drops what was written of the line being written. */
  abandon(): void {
    this.used = this.start;
  }

  /** Bytes of the line being written so far: where the next value begins, for `again`. */
  get at(): number {
    return this.used - this.start;
  }

  /**
   * The line's own bytes `from` to `to` (positions `at` gave) written again at its end: a value
   * the line holds more than once (a message and its title, a host name in three places) is
   * copied byte by byte rather than read from its string again, which takes more than twice as
   * long (a string's characters are read one call at a time).
   */
  again(from: number, to: number): void {
    this.ensure(to - from);
    const chunk = this.chunk;
    const end = this.start + to;
    let o = this.used;
    for (let i = this.start + from; i < end; i++) chunk[o++] = chunk[i]!;
    this.used = o;
  }

  /** Text already as JSON writes it (an escaped value, a whole JSON value), at the end of the line. */
  raw(s: string): void {
    this.ensure(s.length * 3);
    this.used += this.chunk.utf8Write(s, this.used);
  }

  private escaped(s: string): void {
    const text = JSON.stringify(s);
    this.ensure(text.length * 3);
    this.used += this.chunk.utf8Write(text.slice(1, -1), this.used);
  }

  /**
   * Ends the line being written with an LF and, with `idAt` ≥ 0, a new event id carrying the
   * time `idMs` over the 26 bytes `idAt` bytes into it. The line is the batch's next: its place
   * in the batch `finishBatch` is given is this call's place among those since the last.
   */
  end(idAt: number, idMs = Date.now()): void {
    this.ensure(1);
    const chunk = this.chunk;
    const start = this.start;
    chunk[this.used++] = 10;
    this.start = this.used;
    if (idAt >= 0) writeEventId(chunk, start + idAt, idMs);
    if (this.runLine < 0) {
      this.runLine = this.lines;
      this.runFrom = start;
    }
    this.lines++;
  }

  /** Starts a batch: lines ended before and never finished in one are not part of it. */
  beginBatch(): void {
    this.batchChunk = this.chunk;
    this.batchFrom = this.start;
    this.lines = 0;
    this.runLine = -1;
    this.runLines.length = 0;
    this.runViews.length = 0;
  }

  /**
   * Drops the lines ended since the batch began (and the line being written): they were made
   * in vain, and their room is taken back in the chunk the batch ends in (all of it, when the
   * batch moved there from another: every byte there is the batch's). Chunks the batch filled
   * before are left to the garbage collector, as chunks of lines never written are.
   */
  abandonBatch(): void {
    this.start = this.used = this.chunk === this.batchChunk ? this.batchFrom : 0;
    this.beginBatch();
  }

  /**
   * The lines ended since the batch began, in order, as `lines` holds them: the first line of
   * each run of them in a chunk a view of the whole run's bytes, every other line an empty
   * buffer. Written in order they are the same bytes, and a batch is a few objects instead of
   * one per line, which the garbage collector no longer copies and promotes while the batch
   * waits in a queue. `lines` has a place for each of those lines, and its entries are replaced.
   */
  finishBatch(lines: unknown[]): void {
    if (lines.length !== this.lines)
      throw new Error(`a batch of ${lines.length} lines, but ${this.lines} were made since it began`);
    this.endRun(this.chunk, this.start);
    lines.fill(JOINED);
    const runLines = this.runLines;
    const runViews = this.runViews;
    for (let i = 0; i < runLines.length; i++) lines[runLines[i]!] = runViews[i]!;
    this.beginBatch();
  }

  /** The batch's run in `chunk`, if any, ends at `to`. */
  private endRun(chunk: Buffer, to: number): void {
    if (this.runLine < 0) return;
    this.runLines.push(this.runLine);
    this.runViews.push(chunk.subarray(this.runFrom, to));
    this.runLine = -1;
  }

  /** Room for `n` more bytes of the line being written: moved to a new chunk if this one is short. */
  private ensure(n: number): void {
    if (this.used + n <= this.chunk.length) return;
    const old = this.chunk;
    const from = this.start;
    const begun = this.used - from;
    const most = begun + n;
    this.endRun(old, from);
    if (old.length === CHUNK_BYTES) {
      // Bytes handed out from the old chunk end where the line being written begins.
      if (this.done >= from) this.reuse(old.buffer);
      else this.owed.set(old.buffer, from - this.done);
    }
    this.chunk =
      most > CHUNK_BYTES
        ? (Buffer.allocUnsafe(Math.max(most, 2 * begun)) as FastWriteBuffer)
        : ((this.free.pop() ?? Buffer.allocUnsafe(CHUNK_BYTES)) as FastWriteBuffer);
    if (begun > 0) old.copy(this.chunk, 0, from, from + begun);
    this.start = 0;
    this.used = begun;
    this.done = 0;
  }

  /**
   * The exporters wrote `lines`, batches made here or parts of them, each handed on once, and
   * no longer read them: a chunk all of whose bytes are written takes new lines.
   */
  written(lines: readonly Uint8Array[]): void {
    const current = this.chunk.buffer;
    for (const line of lines) {
      // Most lines: reading a view's memory (`buffer`) is a call into the runtime.
      if (line === JOINED) continue;
      const memory = line.buffer;
      const n = line.byteLength;
      if (memory === current) this.done += n;
      else {
        const owed = this.owed.get(memory);
        // Not a chunk still owed: a line longer than a chunk, which had a buffer of its own
        // for the garbage collector.
        if (owed === undefined) continue;
        if (owed > n) this.owed.set(memory, owed - n);
        else {
          this.owed.delete(memory);
          this.reuse(memory);
        }
      }
    }
  }

  /** Chunks the next lines may take, for tests. */
  get freeChunks(): number {
    return this.free.length;
  }

  private reuse(memory: ArrayBufferLike): void {
    if (this.free.length < FREE_CHUNKS) this.free.push(Buffer.from(memory, 0, CHUNK_BYTES));
  }
}
