import protobuf from 'protobufjs/minimal.js';
import { InvalidInputError } from '../../errors.ts';
import { sliceString, type FastSliceBuffer } from '../../byteStrings.ts';

/**
 * Helpers around protobufjs's Reader for the hand-written OTLP decoders. The decoders walk
 * the wire format straight into Vigil's model (no intermediate message objects): 1.4–2.5×
 * faster than protobufjs's reflection decode alone, before the mapping pass it would still need
 * (docs/benchmarks.md, OTLP). Every length is checked against its enclosing message, so a
 * truncated or lying payload fails as invalid input instead of reading a neighbour's bytes.
 */
export type Reader = protobuf.Reader & {
  buf: Buffer;
  /**
   * The same bytes for 64-bit fields: V8 compiles DataView's 64-bit reads inline, ~3× faster
   * than Buffer's readBigUInt64LE, which builds its bigint from two halves.
   */
  view: DataView;
};

export function createReader(buf: Buffer): Reader {
  const r = protobuf.Reader.create(buf) as Reader;
  r.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  return r;
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

/** The string caches of `sliceString`: values, and keys apart (see readKey). */
const VALUE_SLOTS = 4096;
const KEY_SLOTS = 1024;
const valueStrings: string[] = new Array<string>(VALUE_SLOTS).fill('');
const keyStrings: string[] = new Array<string>(KEY_SLOTS).fill('');

/** Moves the reader past a length-delimited string and returns where its bytes start. */
function passString(r: Reader): number {
  const len = r.uint32();
  const start = r.pos;
  const end = start + len;
  if (end > r.len)
    throw new MalformedProtobufError(`string of ${len} bytes at offset ${start} runs past the end of the message`);
  r.pos = end;
  return start;
}

/** A string field (see sliceString). */
export function readString(r: Reader): string {
  const start = passString(r);
  return sliceString(r.buf as FastSliceBuffer, start, r.pos, valueStrings);
}

/**
 * An attribute key. Keys have a cache of their own, so that values never push them out: V8
 * then sees the same (internalised) key string in every record, which keeps attribute objects
 * on one shape.
 */
export function readKey(r: Reader): string {
  const start = passString(r);
  return sliceString(r.buf as FastSliceBuffer, start, r.pos, keyStrings);
}

/** fixed64 times in ns need all 64 bits, so they come back as bigint. */
export function fixed64(r: Reader): bigint {
  const p = r.pos;
  if (p + 8 > r.len) throw new MalformedProtobufError('fixed64 runs past the end of the message');
  r.pos = p + 8;
  return r.view.getBigUint64(p, true);
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
  return int64Value(r.view.getBigInt64(p, true));
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
