import { createRequire } from 'node:module';
import type * as Lz4Napi from 'lz4-napi';
import { InvalidInputError } from '../../errors.ts';

/**
 * LZ4, as the OpenTelemetry Collector's confighttp sends it under `compression: lz4`: the LZ4
 * frame format (lz4's doc/lz4_Frame_format.md), one frame or several, skippable frames among
 * them. The blocks are decoded by the optional `lz4-napi` package; the frame around them is
 * read here rather than by its `decompressFrame`, which has no bound on what it inflates (a
 * small body of long matches would fill memory before Vigil could count it) and takes a frame
 * cut short of its end mark as whole. Here each block is decoded into at most what is left of
 * the limit, a content size stated past the limit is refused before anything is decoded, and
 * every checksum the frame carries is checked.
 */

export class Lz4CorruptError extends InvalidInputError {
  constructor(detail: string) {
    super(`lz4 body is corrupt: ${detail}`);
  }
}

type Lz4Module = Pick<typeof Lz4Napi, 'uncompressSync'>;

let loaded: Lz4Module | null | undefined;

/**
 * `lz4-napi`, loaded on the first lz4 body (it is an optional dependency: a native build that
 * an install may have skipped); null when it is not installed.
 */
export function lz4Module(): Lz4Module | null {
  if (loaded === undefined) {
    try {
      loaded = createRequire(import.meta.url)('lz4-napi') as Lz4Module;
    } catch {
      loaded = null;
    }
  }
  return loaded;
}

const FRAME_MAGIC = 0x184d2204;
const LEGACY_MAGIC = 0x184c2102;
/** Skippable frames: 0x184D2A50 to 0x184D2A5F. */
const isSkippable = (magic: number) => magic >>> 4 === 0x184d2a5;
/** How far back a match of a linked block may reach into the blocks before it. */
const WINDOW = 65_536;
const BLOCK_MAX: Record<number, number> = { 4: 65_536, 5: 262_144, 6: 1_048_576, 7: 4_194_304 };

const P1 = 0x9e3779b1;
const P2 = 0x85ebca77;
const P3 = 0xc2b2ae3d;
const P4 = 0x27d4eb2f;
const P5 = 0x165667b1;
const rotl = (x: number, r: number) => (x << r) | (x >>> (32 - r));
const round = (acc: number, lane: number) => Math.imul(rotl((acc + Math.imul(lane, P2)) | 0, 13), P1);

/** xxHash32 (seed 0), the checksum of every part of an LZ4 frame, over data given in pieces. */
export class Xxh32 {
  private v1 = (P1 + P2) | 0;
  private v2 = P2;
  private v3 = 0;
  private v4 = -P1 | 0;
  private readonly stripe = new Uint8Array(16);
  private held = 0;
  private length = 0;

  update(data: Uint8Array, start = 0, end = data.length): this {
    this.length += end - start;
    let p = start;
    if (this.held > 0) {
      const take = Math.min(16 - this.held, end - p);
      this.stripe.set(data.subarray(p, p + take), this.held);
      this.held += take;
      p += take;
      if (this.held < 16) return this;
      this.lanes(new DataView(this.stripe.buffer), 0, 16);
      this.held = 0;
    }
    const stripes = p + ((end - p) & ~15);
    this.lanes(new DataView(data.buffer, data.byteOffset, data.byteLength), p, stripes);
    this.stripe.set(data.subarray(stripes, end));
    this.held = end - stripes;
    return this;
  }

  digest(): number {
    let acc =
      this.length >= 16 ? (rotl(this.v1, 1) + rotl(this.v2, 7) + rotl(this.v3, 12) + rotl(this.v4, 18)) | 0 : P5 | 0;
    acc = (acc + this.length) | 0;
    const view = new DataView(this.stripe.buffer);
    let p = 0;
    for (; p + 4 <= this.held; p += 4)
      acc = Math.imul(rotl((acc + Math.imul(view.getUint32(p, true), P3)) | 0, 17), P4);
    for (; p < this.held; p++) acc = Math.imul(rotl((acc + Math.imul(this.stripe[p]!, P5)) | 0, 11), P1);
    acc = Math.imul(acc ^ (acc >>> 15), P2);
    acc = Math.imul(acc ^ (acc >>> 13), P3);
    return (acc ^ (acc >>> 16)) >>> 0;
  }

  private lanes(view: DataView, start: number, end: number): void {
    let { v1, v2, v3, v4 } = this;
    for (let p = start; p < end; p += 16) {
      v1 = round(v1, view.getUint32(p, true));
      v2 = round(v2, view.getUint32(p + 4, true));
      v3 = round(v3, view.getUint32(p + 8, true));
      v4 = round(v4, view.getUint32(p + 12, true));
    }
    this.v1 = v1;
    this.v2 = v2;
    this.v3 = v3;
    this.v4 = v4;
  }
}

export const xxh32 = (data: Uint8Array, start = 0, end = data.length) => new Xxh32().update(data, start, end).digest();

/** What lz4_flex says when a block holds more than the room it was given. */
const OUTPUT_TOO_SMALL = /output is too small/i;

class FrameReader {
  private readonly out: Buffer[] = [];
  private total = 0;
  private p = 0;

  private readonly src: Buffer;
  private readonly lz4: Lz4Module;
  private readonly max: number;
  private readonly tooLarge: (stated: number) => Error;

  constructor(src: Buffer, lz4: Lz4Module, max: number, tooLarge: (stated: number) => Error) {
    this.src = src;
    this.lz4 = lz4;
    this.max = max;
    this.tooLarge = tooLarge;
  }

  decode(): Buffer[] {
    if (this.src.length === 0)
      throw new Lz4CorruptError('the body is empty; an LZ4 frame starts with its magic number');
    while (this.p < this.src.length) {
      const magic = this.u32('a frame magic number');
      if (magic === FRAME_MAGIC) this.frame();
      else if (isSkippable(magic)) this.skip();
      else if (magic === LEGACY_MAGIC)
        throw new Lz4CorruptError(
          'the legacy LZ4 format is not taken; send the frame format (lz4 -l is the legacy one)',
        );
      else throw new Lz4CorruptError(`0x${magic.toString(16)} is not an LZ4 frame magic number`);
    }
    return this.out;
  }

  private need(n: number, what: string): void {
    if (this.p + n > this.src.length) throw new Lz4CorruptError(`the body ends inside ${what}`);
  }

  private skip(): void {
    const size = this.u32('a skippable frame size');
    this.need(size, 'a skippable frame');
    this.p += size;
  }

  private u32(what: string): number {
    this.need(4, what);
    const v = this.src.readUInt32LE(this.p);
    this.p += 4;
    return v;
  }

  private frame(): void {
    const src = this.src;
    const descriptor = this.p;
    this.need(2, 'the frame descriptor');
    const flg = src[this.p]!;
    const bd = src[this.p + 1]!;
    if (flg >>> 6 !== 1) throw new Lz4CorruptError(`frame version ${flg >>> 6}; only version 1 exists`);
    if (flg & 0x02 || bd & 0x8f) throw new Lz4CorruptError('reserved bits of the frame descriptor are set');
    const linked = (flg & 0x20) === 0;
    const blockChecksums = (flg & 0x10) !== 0;
    const hasSize = (flg & 0x08) !== 0;
    const contentChecksum = (flg & 0x04) !== 0;
    const blockMax = BLOCK_MAX[(bd >>> 4) & 7];
    if (blockMax === undefined) throw new Lz4CorruptError(`block maximum size code ${(bd >>> 4) & 7} is not 4 to 7`);
    this.p += 2;
    let stated: number | undefined;
    if (hasSize) {
      this.need(8, 'the frame descriptor');
      stated = Number(src.readBigUInt64LE(this.p));
      this.p += 8;
    }
    if (flg & 0x01) {
      this.need(4, 'the frame descriptor');
      throw new Lz4CorruptError('the frame names a dictionary (dictID), which Vigil does not have');
    }
    this.need(1, 'the frame descriptor');
    if (((xxh32(src, descriptor, this.p) >>> 8) & 0xff) !== src[this.p])
      throw new Lz4CorruptError('the frame descriptor fails its header checksum');
    this.p++;
    if (stated !== undefined && this.total + stated > this.max) throw this.tooLarge(this.total + stated);

    const start = this.out.length;
    const startTotal = this.total;
    const content = contentChecksum ? new Xxh32() : undefined;
    for (;;) {
      const word = this.u32('a block size (is the end mark missing?)');
      if (word === 0) break;
      const size = word & 0x7fffffff;
      if (size > blockMax)
        throw new Lz4CorruptError(`a block of ${size} bytes, over the ${blockMax} the frame descriptor allows`);
      this.need(size + (blockChecksums ? 4 : 0), 'a block');
      const at = this.p;
      this.p += size;
      if (blockChecksums && xxh32(src, at, this.p) !== this.u32('a block checksum'))
        throw new Lz4CorruptError('a block fails its checksum');
      let data: Buffer;
      if (word & 0x80000000) {
        if (this.total + size > this.max) throw this.tooLarge(this.total + size);
        data = src.subarray(at, at + size);
      } else {
        data = this.block(at, size, blockMax, linked ? this.window(start) : undefined);
      }
      this.total += data.length;
      this.out.push(data);
      content?.update(data);
    }
    if (stated !== undefined && this.total - startTotal !== stated)
      throw new Lz4CorruptError(`the frame states ${stated} bytes of content but holds ${this.total - startTotal}`);
    if (content && content.digest() !== this.u32('the content checksum'))
      throw new Lz4CorruptError('the content fails its checksum');
  }

  /** Decodes a compressed block into at most the block maximum or what is left of the limit. */
  private block(at: number, size: number, blockMax: number, dict: Buffer | undefined): Buffer {
    const room = Math.min(blockMax, this.max - this.total);
    // lz4-napi's block decoder takes the room it may fill as a little-endian length up front.
    const input = Buffer.allocUnsafe(4 + size);
    input.writeUInt32LE(room, 0);
    this.src.copy(input, 4, at, at + size);
    try {
      return this.lz4.uncompressSync(input, dict);
    } catch (err) {
      const message = (err as Error).message;
      if (room < blockMax && OUTPUT_TOO_SMALL.test(message)) throw this.tooLarge(this.total + room + 1);
      throw new Lz4CorruptError(`a block does not decode (${message})`);
    }
  }

  /** The last 64 KiB this frame decoded: what a linked block's matches may refer to. */
  private window(start: number): Buffer | undefined {
    const parts: Buffer[] = [];
    let n = 0;
    for (let i = this.out.length - 1; i >= start && n < WINDOW; i--) {
      const b = this.out[i]!;
      const take = Math.min(b.length, WINDOW - n);
      parts.unshift(b.subarray(b.length - take));
      n += take;
    }
    if (n === 0) return undefined;
    return parts.length === 1 ? parts[0] : Buffer.concat(parts, n);
  }
}

/**
 * An lz4 body's data, block by block. Past `max` bytes in all, `tooLarge()` is thrown before the
 * block that would pass it is kept (and before any block when a frame states its size).
 */
export function decodeLz4(body: Buffer, lz4: Lz4Module, max: number, tooLarge: (stated: number) => Error): Buffer[] {
  return new FrameReader(body, lz4, max, tooLarge).decode();
}
