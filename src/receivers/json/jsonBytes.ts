/**
 * Byte-level reading of JSON text for `JsonBodyReader`: whitespace, numbers JSON.stringify
 * writes as they came, keys an object keeps in place, and values skipped over, all on the
 * body's bytes without making strings.
 */

/**
 * What short values mean (a severity word's number, a type word's type), by their bytes: the
 * last few met, so that the words a stream repeats are read without their text.
 */
export class WordCache<T> {
  private readonly words: Uint8Array[] = [];
  private readonly meanings: T[] = [];
  private next = 0;

  get(b: Uint8Array, from: number, to: number): T | undefined {
    const words = this.words;
    const n = to - from;
    for (let w = 0; w < words.length; w++) {
      const word = words[w]!;
      if (word.length !== n) continue;
      let i = 0;
      while (i < n && word[i] === b[from + i]) i++;
      if (i === n) return this.meanings[w];
    }
    return undefined;
  }

  set(b: Uint8Array, from: number, to: number, meaning: T): void {
    if (to - from > 32) return;
    const at = this.next;
    this.next = (at + 1) % 8;
    this.words[at] = Uint8Array.prototype.slice.call(b, from, to);
    this.meanings[at] = meaning;
  }
}

/** What a byte in a string is to a string scan: nothing (0), its end, a byte past ASCII, or one it cannot copy (escape, control). */
export const QUOTE_STOP = 1;
export const WIDE_STOP = 2;
export const BAD_STOP = 3;
export const STRING_STOPS = new Uint8Array(256).map((_, c) =>
  c === 0x22 ? QUOTE_STOP : c === 0x5c || c < 0x20 ? BAD_STOP : c > 0x7f ? WIDE_STOP : 0,
);

/** Whether `b` holds `bytes` at `at`. */
export function sameBytes(b: Uint8Array, at: number, bytes: Uint8Array): boolean {
  const n = bytes.length;
  for (let i = 0; i < n; i++) if (b[at + i] !== bytes[i]) return false;
  return true;
}

/** Whether `b` holds the same `n` bytes at `a` and at `c`. */
export function sameSpan(b: Uint8Array, a: number, c: number, n: number): boolean {
  for (let i = 0; i < n; i++) if (b[a + i] !== b[c + i]) return false;
  return true;
}

/** Whether the key from `from` to `to` is one an object keeps in place: not all digits (an index, or near one), not `__proto__`. */
export function plainKey(b: Uint8Array, from: number, to: number): boolean {
  let digits = true;
  for (let i = from; i < to && digits; i++) digits = b[i]! >= 0x30 && b[i]! <= 0x39;
  if (digits && to > from) return false;
  return !(to - from === 9 && sameBytes(b, from, PROTO));
}

const PROTO = Buffer.from('__proto__', 'latin1');

/** Past JSON's whitespace at `p`; most often there is none, which one comparison tells. */
export function skipSpace(b: Uint8Array, p: number): number {
  let c = b[p];
  while (c !== undefined && c <= 0x20 && (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09)) c = b[++p];
  return p;
}

/**
 * Where the number at `p` ends, when JSON.stringify writes the number it reads as the same
 * bytes: an integer of at most 15 digits (below 2^53, so exact), or a fraction of at most 15
 * digits in all, its last not 0, at least 0.000001 (smaller ones JavaScript writes with an
 * exponent); not -0, no exponent. -1 for any other (and for what is not a number).
 */
export function canonicalNumber(b: Uint8Array, p: number): number {
  const start = p;
  if (b[p] === 0x2d /* - */) p++;
  const intFrom = p;
  if (b[p] === 0x30) p++;
  else if (isDigit(b[p])) while (isDigit(b[p])) p++;
  else return -1;
  let digits = p - intFrom;
  const zeroInt = b[intFrom] === 0x30;
  if (b[p] === 0x2e /* . */) {
    p++;
    const fracFrom = p;
    while (isDigit(b[p])) p++;
    const frac = p - fracFrom;
    if (frac === 0 || b[p - 1] === 0x30) return -1;
    if (zeroInt) {
      let zeros = 0;
      while (b[fracFrom + zeros] === 0x30) zeros++;
      if (zeros > 5) return -1;
    }
    digits += frac;
  } else if (zeroInt && b[start] === 0x2d) return -1;
  if (digits > 15) return -1;
  const c = b[p];
  if (c === 0x65 || c === 0x45 || isDigit(c)) return -1;
  return p;
}

export function isDigit(c: number | undefined): boolean {
  return c !== undefined && c >= 0x30 && c <= 0x39;
}

/**
 * Where the JSON value at `p` ends, its strings and nesting followed but not checked (the parse
 * that follows checks it): -1 when it does not end in the body.
 */
export function skipValue(b: Uint8Array, p: number): number {
  const end = b.length;
  let depth = 0;
  for (; p < end; p++) {
    const c = b[p]!;
    if (c === 0x22) {
      for (p++; p < end && b[p] !== 0x22; p++) if (b[p] === 0x5c) p++;
      if (p >= end) return -1;
    } else if (c === 0x7b || c === 0x5b) depth++;
    else if (c === 0x7d || c === 0x5d) {
      if (--depth === 0) return p + 1;
      if (depth < 0) return -1;
    }
  }
  return -1;
}
