import { InvalidInputError } from '../../errors.ts';

/**
 * Snappy, as the OpenTelemetry Collector sends it: the block format (Content-Encoding
 * `snappy`, the Collector's default since v0.125) and the framing format
 * (`x-snappy-framed`; also what `snappy` meant before, and what gRPC's `snappy` is). Both
 * from google/snappy's format_description.txt and framing_format.txt.
 *
 * The block decoder is Vigil's own rather than snappyjs's: snappyjs does not hold the output
 * to the length the block states (bytes past it are dropped while decoding goes on, a short
 * stream is zero-padded), so a corrupt body would pass as data and a hostile one would cost
 * CPU past the body limit. Here the stated length is checked against the limit before anything
 * is allocated, and every tag against what remains.
 */

export class SnappyCorruptError extends InvalidInputError {
  constructor(detail: string) {
    super(`snappy body is corrupt: ${detail}`);
  }
}

/** The largest uncompressed chunk of the framing format. */
const FRAME_MAX_DATA = 65_536;

/** Stream identifier chunk: type 0xff, length 6, "sNaPpY". */
const STREAM_ID = Buffer.from([0xff, 0x06, 0x00, 0x00, 0x73, 0x4e, 0x61, 0x50, 0x70, 0x59]);

/** Whether a body starts as a framed stream must: with the stream identifier. */
export function isFramedSnappy(body: Uint8Array): boolean {
  if (body.length < STREAM_ID.length) return false;
  for (let i = 0; i < STREAM_ID.length; i++) if (body[i] !== STREAM_ID[i]) return false;
  return true;
}

/** The uncompressed length a block states up front (a little-endian base-128 varint, at most 2^32 - 1). */
function blockLength(src: Uint8Array, start: number, end: number): { length: number; next: number } {
  let length = 0;
  for (let i = 0, p = start; i < 5; i++, p++) {
    if (p >= end) throw new SnappyCorruptError('the block ends inside its length');
    const b = src[p]!;
    length += (b & 0x7f) * 2 ** (7 * i);
    if (b < 0x80) {
      if (length > 0xffff_ffff) break;
      return { length, next: p + 1 };
    }
  }
  throw new SnappyCorruptError('the block length is not a valid varint');
}

/**
 * Decodes one block of `src[start, end)`. A block stating more than `max` bytes is refused by
 * `tooLarge()` before any is decoded.
 */
export function decodeSnappyBlock(
  src: Buffer,
  max: number,
  tooLarge: (stated: number) => Error,
  start = 0,
  end = src.length,
): Buffer {
  const { length, next } = blockLength(src, start, end);
  if (length > max) throw tooLarge(length);
  const out = Buffer.allocUnsafe(length);
  let o = 0;
  let p = next;
  while (p < end) {
    const tag = src[p++]!;
    const kind = tag & 3;
    if (kind === 0) {
      let n = tag >>> 2;
      if (n >= 60) {
        const bytes = n - 59;
        if (p + bytes > end) throw new SnappyCorruptError('a literal length runs past the end');
        n = src.readUIntLE(p, bytes);
        p += bytes;
      }
      n += 1;
      if (n > end - p) throw new SnappyCorruptError('a literal runs past the end of the body');
      if (n > length - o) throw new SnappyCorruptError(`the data runs past the ${length} bytes the block states`);
      src.copy(out, o, p, p + n);
      p += n;
      o += n;
      continue;
    }
    let n: number;
    let offset: number;
    if (kind === 1) {
      if (p >= end) throw new SnappyCorruptError('a copy runs past the end of the body');
      n = ((tag >>> 2) & 7) + 4;
      offset = ((tag >>> 5) << 8) | src[p++]!;
    } else if (kind === 2) {
      if (p + 2 > end) throw new SnappyCorruptError('a copy runs past the end of the body');
      n = (tag >>> 2) + 1;
      offset = src.readUInt16LE(p);
      p += 2;
    } else {
      if (p + 4 > end) throw new SnappyCorruptError('a copy runs past the end of the body');
      n = (tag >>> 2) + 1;
      offset = src.readUInt32LE(p);
      p += 4;
    }
    if (offset === 0 || offset > o) throw new SnappyCorruptError('a copy refers before the start of the data');
    if (n > length - o) throw new SnappyCorruptError(`the data runs past the ${length} bytes the block states`);
    if (offset >= n) out.copyWithin(o, o - offset, o - offset + n);
    // An overlapping copy repeats the bytes it is writing (run-length), byte by byte.
    else for (let i = 0; i < n; i++) out[o + i] = out[o + i - offset]!;
    o += n;
  }
  if (o !== length) throw new SnappyCorruptError(`the block states ${length} bytes but holds ${o}`);
  return out;
}

const CRC32C_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0x82f63b78 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

/** CRC-32C (Castagnoli), the checksum of the framing format. */
export function crc32c(data: Uint8Array, start = 0, end = data.length): number {
  let c = 0xffffffff;
  for (let i = start; i < end; i++) c = CRC32C_TABLE[(c ^ data[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** The framing format stores the CRC rotated and offset, so a CRC of data holding CRCs stays useful. */
function maskedCrc(data: Uint8Array, start: number, end: number): number {
  const c = crc32c(data, start, end);
  return ((((c >>> 15) | (c << 17)) >>> 0) + 0xa282ead8) >>> 0;
}

/**
 * Decodes a framed stream into its chunks' data. Checksums are checked, as the reference
 * reader does: a framed body is what a proxy or a buggy sender might have cut or mangled,
 * and the CRC is what tells that from data. Past `max` bytes in all, `tooLarge()` is thrown
 * before the chunk that would pass it is decoded.
 */
export function decodeSnappyFramed(src: Buffer, max: number, tooLarge: (stated: number) => Error): Buffer[] {
  if (!isFramedSnappy(src))
    throw new SnappyCorruptError('a framed stream must start with the stream identifier "sNaPpY"');
  const out: Buffer[] = [];
  let total = 0;
  let p = 0;
  while (p < src.length) {
    if (p + 4 > src.length) throw new SnappyCorruptError('the stream ends inside a chunk header');
    const type = src[p]!;
    const len = src.readUIntLE(p + 1, 3);
    const start = p + 4;
    const end = start + len;
    if (end > src.length) throw new SnappyCorruptError(`a chunk of ${len} bytes runs past the end of the body`);
    p = end;
    if (type === 0xff) {
      if (!src.subarray(start - 4, end).equals(STREAM_ID))
        throw new SnappyCorruptError('a bad stream identifier chunk');
      continue;
    }
    if (type >= 0x80) continue; // skippable: reserved (0x80-0xfd) and padding (0xfe)
    if (type > 0x01) throw new SnappyCorruptError(`unskippable reserved chunk type 0x${type.toString(16)}`);
    if (len < 4) throw new SnappyCorruptError('a data chunk without its checksum');
    const crc = src.readUInt32LE(start);
    let data: Buffer;
    if (type === 0x00) {
      data = decodeSnappyBlock(
        src,
        Math.min(FRAME_MAX_DATA, max - total),
        (stated) =>
          stated > FRAME_MAX_DATA
            ? new SnappyCorruptError(`a chunk states ${stated} bytes, over the ${FRAME_MAX_DATA} the format allows`)
            : tooLarge(total + stated),
        start + 4,
        end,
      );
    } else {
      if (len - 4 > FRAME_MAX_DATA)
        throw new SnappyCorruptError(
          `an uncompressed chunk of ${len - 4} bytes, over the ${FRAME_MAX_DATA} the format allows`,
        );
      if (total + len - 4 > max) throw tooLarge(total + len - 4);
      data = src.subarray(start + 4, end);
    }
    if (maskedCrc(data, 0, data.length) !== crc) throw new SnappyCorruptError('a chunk fails its CRC-32C checksum');
    total += data.length;
    out.push(data);
  }
  return out;
}

/**
 * A snappy body's data: `snappy` is the block format, or the framing format when the body
 * starts with its stream identifier (the Collector sent framed data under `snappy` until
 * v0.125, and reads both so itself); `x-snappy-framed` is the framing format only. A block
 * never starts with the identifier in practice: its first byte would make it a block of 895
 * bytes whose data starts with a zero byte, which no OTLP or JSON body does.
 */
export function decodeSnappy(
  body: Buffer,
  encoding: 'snappy' | 'x-snappy-framed',
  max: number,
  tooLarge: (stated: number) => Error,
): Buffer[] {
  if (encoding === 'x-snappy-framed' || isFramedSnappy(body)) return decodeSnappyFramed(body, max, tooLarge);
  return [decodeSnappyBlock(body, max, tooLarge)];
}
