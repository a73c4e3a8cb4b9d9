/**
 * Parses a timestamp as senders write them: epoch numbers in s, ms, µs or ns (told apart by
 * magnitude, as log shippers commonly do), numeric strings, or ISO-8601 / RFC 3339 text with
 * any number of fractional digits. Returns ns since the epoch, or undefined.
 */
export function parseTimestampNs(v: unknown): bigint | undefined {
  if (typeof v === 'bigint') return v >= 0n ? v : undefined;
  if (typeof v === 'number') return epochNumberToNs(v);
  if (typeof v !== 'string') return undefined;
  const s = v.trim();
  const numeric = decimalText(s);
  if (numeric !== NOT_DECIMAL) {
    if (numeric === INTEGER && s.length >= 16) return BigInt(s.length >= 18 ? s : s + '000'); // µs or ns as text: keep every digit
    return epochNumberToNs(Number(s));
  }
  return parseIsoNs(s);
}

const NOT_DECIMAL = 0;
const INTEGER = 1;
const FRACTION = 2;

/**
 * Whether `s` is ASCII digits (INTEGER) or digits, a dot and digits (FRACTION), by a scan that
 * stops where an ISO time does, at its fifth character. The regular expression it replaces,
 * tried on every JSON event's time, took 8 % of the daemon's CPU profile under JSON load,
 * though 35 ns a call in a microbenchmark.
 */
function decimalText(s: string): number {
  const n = s.length;
  let i = 0;
  while (i < n && isDigit(s.charCodeAt(i))) i++;
  if (i === 0) return NOT_DECIMAL;
  if (i === n) return INTEGER;
  if (s.charCodeAt(i) !== 46 /* . */ || i + 1 === n) return NOT_DECIMAL;
  for (i++; i < n; i++) if (!isDigit(s.charCodeAt(i))) return NOT_DECIMAL;
  return FRACTION;
}

const isDigit = (c: number) => c >= 48 && c <= 57;

function epochNumberToNs(n: number): bigint | undefined {
  if (!Number.isFinite(n) || n < 0) return undefined;
  if (n < 1e11) return BigInt(Math.round(n * 1e6)) * 1000n; // seconds (with µs precision)
  if (n < 1e14) return BigInt(Math.round(n * 1e3)) * 1000n; // milliseconds
  if (n < 1e17) return BigInt(Math.round(n)) * 1000n; // microseconds
  return BigInt(Math.round(n)); // nanoseconds (beyond 2^53 already rounded by JSON)
}

const ISO = /^(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2}(?::\d{2})?)(?:[.,](\d+))?(Z|z|[+-]\d{2}:?\d{2})?$/;

/** The characters of a string `parseIsoUtcFast` reads, as bytes for `parseIsoUtcBytes`. */
let isoScratch = new Uint8Array(40);

/**
 * The shape nearly every sender uses, `YYYY-MM-DDTHH:MM:SS[.fff…]Z`, without regex or Date.parse:
 * read by `parseIsoUtcBytes` from the string's characters, every one of which that shape has
 * in ASCII.
 */
function parseIsoUtcFast(s: string): bigint | undefined {
  const n = s.length;
  if (n < 20 || s.charCodeAt(n - 1) !== 90 /* Z */) return undefined;
  if (n > isoScratch.length) isoScratch = new Uint8Array(n);
  const b = isoScratch;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c > 0x7f) return undefined;
    b[i] = c;
  }
  return parseIsoUtcBytes(b, 0, n);
}

/** 400 Gregorian years: 146,097 days. */
const GREGORIAN_CYCLE_MS = 146_097 * 86_400_000;

/** The time of UTC fields read from an ISO time, in ns; undefined for a field out of its range (or NaN: not digits). */
function utcNs(year: number, mo: number, day: number, h: number, mi: number, sec: number, frac: number) {
  // Date.UTC rolls 2026-13-01 over into 2027; out-of-range fields go to the strict path instead.
  if (!(mo >= 1 && mo <= 12 && day >= 1 && day <= 31 && h <= 23 && mi <= 59 && sec <= 60)) return undefined;
  // Date.UTC reads years 0–99 as 1900–1999; 400 Gregorian years later the calendar repeats.
  const ms =
    year < 100
      ? Date.UTC(year + 400, mo - 1, day, h, mi, sec) - GREGORIAN_CYCLE_MS
      : Date.UTC(year, mo - 1, day, h, mi, sec);
  if (Number.isNaN(ms)) return undefined;
  return BigInt(ms) * 1_000_000n + BigInt(frac);
}

/**
 * `parseTimestampNs` of the string whose UTF-8 bytes are `b` from `from` to `to`, when they are
 * the shape `parseIsoUtcFast` reads (`YYYY-MM-DDTHH:MM:SS[.fff…]Z`, nothing around it), read
 * from the bytes without the string; undefined for any other, which the string then decides.
 */
export function parseIsoUtcBytes(b: Uint8Array, from: number, to: number): bigint | undefined {
  const n = to - from;
  if (
    n < 20 ||
    b[to - 1] !== 90 /* Z */ ||
    b[from + 4] !== 45 /* - */ ||
    b[from + 7] !== 45 ||
    b[from + 10] !== 84 /* T */ ||
    b[from + 13] !== 58 /* : */ ||
    b[from + 16] !== 58
  )
    return undefined;
  let frac = 0;
  let digits = 0;
  if (n > 20) {
    if (b[from + 19] !== 46 /* . */) return undefined;
    for (let i = from + 20; i < to - 1; i++) {
      const c = b[i]! - 48;
      if (c < 0 || c > 9) return undefined;
      if (digits < 9) {
        frac = frac * 10 + c;
        digits++;
      }
    }
    for (; digits < 9; digits++) frac *= 10;
  }
  const num = (i: number, len: number) => {
    let v = 0;
    for (let k = from + i; k < from + i + len; k++) {
      const c = b[k]! - 48;
      if (c < 0 || c > 9) return NaN;
      v = v * 10 + c;
    }
    return v;
  };
  return utcNs(num(0, 4), num(5, 2), num(8, 2), num(11, 2), num(14, 2), num(17, 2), frac);
}

export function parseIsoNs(s: string): bigint | undefined {
  const fast = parseIsoUtcFast(s);
  if (fast !== undefined) return fast;
  const m = ISO.exec(s);
  if (!m) return undefined;
  let zone = m[4] ?? 'Z';
  if (/^[+-]\d{4}$/.test(zone)) zone = `${zone.slice(0, 3)}:${zone.slice(3)}`;
  let time = m[2]!.length === 5 ? m[2] + ':00' : m[2]!;
  // RFC 3339 allows a leap second, which Date.parse refuses: the next minute's first, as the
  // fast path and syslog's times read it.
  const leap = time.endsWith(':60');
  if (leap) time = time.slice(0, 6) + '59';
  const ms = Date.parse(`${m[1]}T${time}${zone.toUpperCase()}`) + (leap ? 1000 : 0);
  if (Number.isNaN(ms)) return undefined;
  const frac = (m[3] ?? '').slice(0, 9).padEnd(9, '0');
  return BigInt(ms) * 1_000_000n + BigInt(frac);
}
