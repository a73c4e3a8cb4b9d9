/**
 * A protobuf writer for the OTLP encoders: one growing buffer, fields written in place. A
 * nested message reserves one byte for its length and is shifted right in the rare case its
 * length needs more, so no message is built twice and no per-field objects are allocated (the
 * writer side of the receiver's wireReader).
 */
import { GrowableBytes } from '../../growableBytes.ts';

export const WireType = { VARINT: 0, I64: 1, LEN: 2, I32: 5 } as const;

export class ProtoWriter extends GrowableBytes {
  constructor(initialBytes = 64 * 1024) {
    super(initialBytes);
  }

  /** A varint below 2^32. */
  uint32(v: number): void {
    this.ensure(5);
    const b = this.buf;
    let p = this.pos;
    v >>>= 0;
    while (v > 0x7f) {
      b[p++] = (v & 0x7f) | 0x80;
      v >>>= 7;
    }
    b[p++] = v;
    this.pos = p;
  }

  /** An int64 varint: negative values take ten bytes, as protobuf writes them. */
  int64(v: number | bigint): void {
    if (typeof v === 'number' && v >= 0 && v <= 0xffffffff) return this.uint32(v);
    let u = BigInt.asUintN(64, BigInt(v));
    this.ensure(10);
    const b = this.buf;
    let p = this.pos;
    while (u > 0x7fn) {
      b[p++] = Number(u & 0x7fn) | 0x80;
      u >>= 7n;
    }
    b[p++] = Number(u);
    this.pos = p;
  }

  tag(field: number, wireType: number): void {
    this.uint32((field << 3) | wireType);
  }

  varintField(field: number, v: number): void {
    this.tag(field, WireType.VARINT);
    if (v < 0) this.int64(v);
    else this.uint32(v);
  }

  int64Field(field: number, v: number | bigint): void {
    this.tag(field, WireType.VARINT);
    this.int64(v);
  }

  sint32Field(field: number, v: number): void {
    this.tag(field, WireType.VARINT);
    this.uint32(((v << 1) ^ (v >> 31)) >>> 0);
  }

  boolField(field: number, v: boolean): void {
    this.tag(field, WireType.VARINT);
    this.uint32(v ? 1 : 0);
  }

  fixed32Field(field: number, v: number): void {
    this.tag(field, WireType.I32);
    this.ensure(4);
    this.buf.writeUInt32LE(v >>> 0, this.pos);
    this.pos += 4;
  }

  /** fixed64 from a bigint (ns times). */
  fixed64Field(field: number, v: bigint): void {
    this.tag(field, WireType.I64);
    this.ensure(8);
    this.buf.writeBigUInt64LE(BigInt.asUintN(64, v), this.pos);
    this.pos += 8;
  }

  /** fixed64 from a number (counts), exact below 2^53. */
  fixed64NumberField(field: number, v: number): void {
    this.tag(field, WireType.I64);
    this.fixed64Number(v);
  }

  fixed64Number(v: number): void {
    this.ensure(8);
    this.buf.writeUInt32LE((v % 0x100000000) >>> 0, this.pos);
    this.buf.writeUInt32LE(Math.floor(v / 0x100000000) >>> 0, this.pos + 4);
    this.pos += 8;
  }

  sfixed64Field(field: number, v: number | bigint): void {
    this.tag(field, WireType.I64);
    this.ensure(8);
    this.buf.writeBigInt64LE(BigInt(v), this.pos);
    this.pos += 8;
  }

  doubleField(field: number, v: number): void {
    this.tag(field, WireType.I64);
    this.double(v);
  }

  double(v: number): void {
    this.ensure(8);
    this.buf.writeDoubleLE(v, this.pos);
    this.pos += 8;
  }

  stringField(field: number, s: string): void {
    this.tag(field, WireType.LEN);
    // UTF-8 takes at most 3 bytes per UTF-16 unit; the length prefix is fixed up by end().
    this.ensure(s.length * 3 + 1);
    const start = this.begin();
    this.pos += this.buf.utf8Write(s, this.pos);
    this.end(start);
  }

  bytesField(field: number, bytes: Uint8Array): void {
    this.tag(field, WireType.LEN);
    this.uint32(bytes.length);
    this.ensure(bytes.length);
    this.buf.set(bytes, this.pos);
    this.pos += bytes.length;
  }

  /** A bytes field from lowercase hex (trace and span ids). */
  hexField(field: number, hex: string): void {
    const n = hex.length >>> 1;
    this.tag(field, WireType.LEN);
    this.uint32(n);
    this.ensure(n);
    this.pos += this.buf.write(hex, this.pos, n, 'hex');
  }

  /** Starts a length-delimited field whose tag was written; returns the mark end() takes. */
  begin(): number {
    this.ensure(1);
    return this.pos++;
  }

  /** Ends a field begun at `mark`, writing its length (shifting the body when it needs more than one byte). */
  end(mark: number): void {
    const len = this.pos - mark - 1;
    if (len < 0x80) {
      this.buf[mark] = len;
      return;
    }
    let extra = 0;
    for (let v = len >>> 7; v > 0; v >>>= 7) extra++;
    this.ensure(extra);
    this.buf.copy(this.buf, mark + 1 + extra, mark + 1, this.pos);
    let p = mark;
    let v = len;
    while (v > 0x7f) {
      this.buf[p++] = (v & 0x7f) | 0x80;
      v >>>= 7;
    }
    this.buf[p] = v;
    this.pos += extra;
  }

  /** A packed repeated double field. */
  packedDoubles(field: number, values: readonly number[]): void {
    if (values.length === 0) return;
    this.tag(field, WireType.LEN);
    this.uint32(values.length * 8);
    for (const v of values) this.double(v);
  }

  packedFixed64(field: number, values: readonly number[]): void {
    if (values.length === 0) return;
    this.tag(field, WireType.LEN);
    this.uint32(values.length * 8);
    for (const v of values) this.fixed64Number(v);
  }

  packedUint64(field: number, values: readonly number[]): void {
    if (values.length === 0) return;
    this.tag(field, WireType.LEN);
    const mark = this.begin();
    for (const v of values) this.int64(v);
    this.end(mark);
  }

  /** The bytes written so far, copied out; the writer can be reset and reused. */
  finish(): Buffer {
    return Buffer.from(this.buf.subarray(0, this.pos));
  }

  reset(): void {
    this.pos = 0;
  }
}
