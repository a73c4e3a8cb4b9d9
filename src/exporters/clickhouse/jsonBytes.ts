/**
 * JSON written straight into bytes, the same bytes JSON.stringify and a UTF-8 encode of its
 * text would give. Building a row as a string of pieces and encoding it afterwards makes V8
 * join the pieces into a flat string and then encode that (for a ClickHouse log row of
 * telemetrygen's records about 0.7 µs of its 1.7, docs/benchmarks.md, "Log rows written as
 * bytes"); writing the bytes at once does neither. Strings of printable ASCII, what a record's
 * fields almost always are, are copied code unit by code unit; any other string is escaped by
 * JSON.stringify and encoded by the Buffer, so escapes, lone surrogates and non-ASCII text come
 * out exactly as before.
 */
import { GrowableBytes } from '../../growableBytes.ts';

/** The bytes of a piece of JSON known to need no escaping (keys with their quotes, punctuation). */
export const jsonPiece = (text: string): Uint8Array => Buffer.from(text, 'latin1');

export class JsonBytes extends GrowableBytes {
  constructor(capacity: number) {
    super(Math.max(64, capacity));
  }

  /** What was written: a view of the writer's buffer. */
  bytes(): Buffer {
    return this.buf.subarray(0, this.pos);
  }

  piece(p: Uint8Array): void {
    const n = p.length;
    this.ensure(n);
    const b = this.buf;
    let o = this.pos;
    for (let i = 0; i < n; i++) b[o++] = p[i]!;
    this.pos = o;
  }

  /** Text made only of ASCII characters that JSON writes as they are: digits, a number's signs. */
  ascii(s: string): void {
    const n = s.length;
    this.ensure(n);
    const b = this.buf;
    let o = this.pos;
    for (let i = 0; i < n; i++) b[o++] = s.charCodeAt(i);
    this.pos = o;
  }

  /** A JSON number as JSON.stringify writes it (`null` for NaN and infinities). */
  number(v: number): void {
    this.ascii(Number.isFinite(v) ? String(v) : 'null');
  }

  /** A string as a quoted JSON string. */
  string(s: string): void {
    const n = s.length;
    this.ensure(n + 2);
    const b = this.buf;
    const start = this.pos;
    let o = start;
    b[o++] = 0x22;
    for (let i = 0; i < n; i++) {
      const c = s.charCodeAt(i);
      // Control characters, '"', '\\' and anything past ASCII: JSON.stringify's own escaping.
      if (c < 0x20 || c > 0x7e || c === 0x22 || c === 0x5c) return this.escaped(s, start);
      b[o++] = c;
    }
    b[o++] = 0x22;
    this.pos = o;
  }

  private escaped(s: string, start: number): void {
    const text = JSON.stringify(s);
    this.pos = start;
    // A UTF-16 code unit takes at most 3 bytes of UTF-8.
    this.ensure(text.length * 3);
    this.pos += this.buf.utf8Write(text, this.pos);
  }

  /** Copies bytes written earlier (from `start` to `end`) to the end: a repeated value. */
  repeat(start: number, end: number): void {
    const n = end - start;
    this.ensure(n);
    this.buf.copyWithin(this.pos, start, end);
    this.pos += n;
  }

  byte(c: number): void {
    this.ensure(1);
    this.buf[this.pos++] = c;
  }
}
