import protobuf from 'protobufjs/minimal.js';
import { InvalidInputError } from '../../errors.ts';

/**
 * Helpers around protobufjs's Reader for the hand-written OTLP decoders. The decoders walk
 * the wire format straight into Vigil's model (no intermediate message objects): 1.4–2.5×
 * faster than protobufjs's reflection decode alone, before the mapping pass it would still need
 * (docs/benchmarks.md, OTLP). Every length is checked against its enclosing message, so a
 * truncated or lying payload fails as invalid input instead of reading a neighbour's bytes.
 */
export type Reader = protobuf.Reader & { buf: Buffer };

export function createReader(buf: Buffer): Reader {
  return protobuf.Reader.create(buf) as Reader;
}

export class MalformedProtobufError extends InvalidInputError {
  constructor(detail: string) {
    super(`request body is not a valid protobuf message: ${detail}`);
  }
}

/** Reads a length prefix and returns where the embedded message or bytes end. */
export function subEnd(r: Reader, parentEnd: number): number {
  const len = r.uint32();
  const end = r.pos + len;
  if (end > parentEnd)
    throw new MalformedProtobufError(`field length ${len} at offset ${r.pos} runs past its enclosing message`);
  return end;
}

export function checkEnd(r: Reader, end: number): void {
  if (r.pos !== end) throw new MalformedProtobufError(`message ends at offset ${r.pos}, expected ${end}`);
}

/**
 * Walks the fields of a message up to `end`: each length-delimited field whose tag `wanted`
 * accepts goes to `each` with its end (where `each` must leave the reader), the others are
 * skipped; then checks the message ended where its length said.
 */
export function eachField(
  r: Reader,
  end: number,
  wanted: (tag: number) => boolean,
  each: (fieldEnd: number) => void,
): void {
  while (r.pos < end) {
    const tag = r.uint32();
    if (wanted(tag)) each(subEnd(r, end));
    else skip(r, tag);
  }
  checkEnd(r, end);
}

/** Skips a field of an unknown number, as proto3 requires; rejects invalid wire types. */
export function skip(r: Reader, tag: number): void {
  const wireType = tag & 7;
  if (tag >>> 3 === 0 || wireType > 5 || wireType === 4)
    throw new MalformedProtobufError(`invalid tag ${tag} at offset ${r.pos}`);
  r.skipType(wireType);
}

/** Node's Buffer slice methods that skip toString's argument handling (long-standing, untyped). */
type FastSliceBuffer = Buffer & {
  utf8Slice(start: number, end: number): string;
  latin1Slice(start: number, end: number): string;
  hexSlice(start: number, end: number): string;
};

/**
 * A string field. ASCII strings (attribute keys, most values) are read with latin1Slice after
 * a byte scan: measured about 1.8× faster per call than UTF-8 decoding for short strings.
 */
export function readString(r: Reader): string {
  const len = r.uint32();
  const start = r.pos;
  const end = start + len;
  if (end > r.len)
    throw new MalformedProtobufError(`string of ${len} bytes at offset ${start} runs past the end of the message`);
  r.pos = end;
  const b = r.buf as FastSliceBuffer;
  if (len > 64) return b.utf8Slice(start, end);
  for (let i = start; i < end; i++) if (b[i]! > 0x7f) return b.utf8Slice(start, end);
  return b.latin1Slice(start, end);
}

const KEY_SLOTS = 1024;
const keyBytes: (Uint8Array | undefined)[] = new Array<Uint8Array | undefined>(KEY_SLOTS);
const keyStrings: string[] = new Array<string>(KEY_SLOTS).fill('');

/**
 * An attribute key. Keys repeat in every record of a batch, so the last string made for each
 * byte sequence is kept and handed out again: no new string per record, and V8 sees the same
 * (internalised) key string every time, which keeps attribute objects on one shape.
 */
export function readKey(r: Reader): string {
  const len = r.uint32();
  const start = r.pos;
  const end = start + len;
  if (end > r.len)
    throw new MalformedProtobufError(`string of ${len} bytes at offset ${start} runs past the end of the message`);
  r.pos = end;
  const b = r.buf as FastSliceBuffer;
  if (len > 64) return b.utf8Slice(start, end);
  let h = len;
  for (let i = start; i < end; i++) {
    const c = b[i]!;
    if (c > 0x7f) return b.utf8Slice(start, end);
    h = (Math.imul(h, 31) + c) | 0;
  }
  const slot = h & (KEY_SLOTS - 1);
  const known = keyBytes[slot];
  if (known !== undefined && known.length === len) {
    let same = true;
    for (let i = 0; i < len; i++) {
      if (known[i] !== b[start + i]) {
        same = false;
        break;
      }
    }
    if (same) return keyStrings[slot]!;
  }
  const s = b.latin1Slice(start, end);
  keyBytes[slot] = b.slice(start, end);
  keyStrings[slot] = s;
  return s;
}

/** fixed64 times in ns need all 64 bits, so they come back as bigint. */
export function fixed64(r: Reader): bigint {
  const p = r.pos;
  if (p + 8 > r.len) throw new MalformedProtobufError('fixed64 runs past the end of the message');
  r.pos = p + 8;
  return r.buf.readBigUInt64LE(p);
}

/** fixed64 counts (histogram counts, bucket counts) as a number: exact below 2^53. */
export function fixed64Number(r: Reader): number {
  const p = r.pos;
  if (p + 8 > r.len) throw new MalformedProtobufError('fixed64 runs past the end of the message');
  r.pos = p + 8;
  const b = r.buf;
  return b.readUInt32LE(p) + b.readUInt32LE(p + 4) * 0x100000000;
}

export function int64Value(v: bigint): number | bigint {
  return v >= -9007199254740991n && v <= 9007199254740991n ? Number(v) : v;
}

/** sfixed64 as a number when it fits 2^53 exactly, otherwise a bigint, as the model stores int64. */
export function sfixed64(r: Reader): number | bigint {
  const p = r.pos;
  if (p + 8 > r.len) throw new MalformedProtobufError('sfixed64 runs past the end of the message');
  r.pos = p + 8;
  return int64Value(r.buf.readBigInt64LE(p));
}

/** A varint int64 (AnyValue.int_value, uint64 bucket counts): a number when exact, else a bigint. */
export function varint64(r: Reader, signed: boolean): number | bigint {
  const b = r.buf;
  let p = r.pos;
  let n = 0;
  let mul = 1;
  for (let i = 0; i < 7; i++) {
    if (p >= r.len) throw new MalformedProtobufError('varint runs past the end of the message');
    const byte = b[p++]!;
    n += (byte & 0x7f) * mul;
    if (byte < 0x80) {
      r.pos = p;
      return n;
    }
    mul *= 128;
  }
  // Beyond 49 bits (and every negative int64, which takes 10 bytes): exact with bigint.
  p = r.pos;
  let v = 0n;
  let shift = 0n;
  for (let i = 0; i < 10; i++) {
    if (p >= r.len) throw new MalformedProtobufError('varint runs past the end of the message');
    const byte = b[p++]!;
    v |= BigInt(byte & 0x7f) << shift;
    if (byte < 0x80) {
      r.pos = p;
      return int64Value(signed ? BigInt.asIntN(64, v) : BigInt.asUintN(64, v));
    }
    shift += 7n;
  }
  throw new MalformedProtobufError('varint longer than 10 bytes');
}

/**
 * A bytes field (trace/span id) as lowercase hex. Native hexSlice gives a flat string: building
 * it in JS makes a rope that every later comparison or serialisation must flatten, which
 * measured 2–3× slower in total.
 */
export function hexBytes(r: Reader, parentEnd: number): string {
  const end = subEnd(r, parentEnd);
  const s = (r.buf as FastSliceBuffer).hexSlice(r.pos, end);
  r.pos = end;
  return s;
}

export function bytesCopy(r: Reader, parentEnd: number): Uint8Array {
  const end = subEnd(r, parentEnd);
  const out = new Uint8Array(r.buf.subarray(r.pos, end));
  r.pos = end;
  return out;
}

/** A packed (or, as proto3 parsers must also accept, unpacked) repeated double. */
export function packedDoubles(r: Reader, tag: number, parentEnd: number, out: number[]): void {
  if ((tag & 7) === 1) {
    out.push(r.double());
    return;
  }
  const end = subEnd(r, parentEnd);
  while (r.pos < end) out.push(r.double());
  checkEnd(r, end);
}

export function packedFixed64(r: Reader, tag: number, parentEnd: number, out: number[]): void {
  if ((tag & 7) === 1) {
    out.push(fixed64Number(r));
    return;
  }
  const end = subEnd(r, parentEnd);
  while (r.pos < end) out.push(fixed64Number(r));
  checkEnd(r, end);
}

export function packedUint64(r: Reader, tag: number, parentEnd: number, out: number[]): void {
  if ((tag & 7) === 0) {
    out.push(Number(varint64(r, false)));
    return;
  }
  const end = subEnd(r, parentEnd);
  while (r.pos < end) out.push(Number(varint64(r, false)));
  checkEnd(r, end);
}
