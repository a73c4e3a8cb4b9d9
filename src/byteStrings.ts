/**
 * Strings made from bytes, for the decoders that read them where they lie (the OTLP protobuf
 * reader, the JSON receiver's body reader).
 */

/** Node's Buffer slice methods that skip toString's argument handling (long-standing, untyped). */
export type FastSliceBuffer = Buffer & {
  utf8Slice(start: number, end: number): string;
  latin1Slice(start: number, end: number): string;
  hexSlice(start: number, end: number): string;
};

/** Strings up to this many bytes are scanned for ASCII and looked up in a cache; longer ones are decoded as UTF-8. */
const SHORT_STRING = 64;

/**
 * Bytes [start, end) of `b` as a string. A short ASCII string is looked up in `cache` (a
 * power-of-two array of strings, '' at first) by a hash of its bytes, and the string already
 * made for the same bytes is handed out again: severity texts, attribute keys and most
 * attribute values repeat from record to record, and a string made from bytes costs a call into
 * Node's C++ side (latin1Slice, ~70 ns) plus a new object for the garbage collector, where the
 * lookup costs ~25 ns and allocates nothing. A miss (a unique value) costs one hash, a length or
 * first-character comparison and a store. Non-ASCII and long strings are decoded as UTF-8.
 */
export function sliceString(b: FastSliceBuffer, start: number, end: number, cache: string[]): string {
  const len = end - start;
  if (len > SHORT_STRING) return b.utf8Slice(start, end);
  let h = len;
  for (let i = start; i < end; i++) {
    const c = b[i]!;
    if (c > 0x7f) return b.utf8Slice(start, end);
    h = (Math.imul(h, 31) + c) | 0;
  }
  const slot = (h ^ (h >>> 15)) & (cache.length - 1);
  const known = cache[slot]!;
  if (known.length === len) {
    let i = 0;
    while (i < len && known.charCodeAt(i) === b[start + i]) i++;
    if (i === len) return known;
  }
  const s = b.latin1Slice(start, end);
  cache[slot] = s;
  return s;
}
