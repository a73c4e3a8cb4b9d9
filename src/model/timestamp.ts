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
  if (/^\d+(\.\d+)?$/.test(s)) {
    if (!s.includes('.') && s.length >= 16) return BigInt(s.length >= 18 ? s : s + '000'); // µs or ns as text: keep every digit
    return epochNumberToNs(Number(s));
  }
  return parseIsoNs(s);
}

function epochNumberToNs(n: number): bigint | undefined {
  if (!Number.isFinite(n) || n < 0) return undefined;
  if (n < 1e11) return BigInt(Math.round(n * 1e6)) * 1000n; // seconds (with µs precision)
  if (n < 1e14) return BigInt(Math.round(n * 1e3)) * 1000n; // milliseconds
  if (n < 1e17) return BigInt(Math.round(n)) * 1000n; // microseconds
  return BigInt(Math.round(n)); // nanoseconds (beyond 2^53 already rounded by JSON)
}

const ISO = /^(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2}(?::\d{2})?)(?:[.,](\d+))?(Z|z|[+-]\d{2}:?\d{2})?$/;

export function parseIsoNs(s: string): bigint | undefined {
  const m = ISO.exec(s);
  if (!m) return undefined;
  let zone = m[4] ?? 'Z';
  if (/^[+-]\d{4}$/.test(zone)) zone = `${zone.slice(0, 3)}:${zone.slice(3)}`;
  const ms = Date.parse(`${m[1]}T${m[2]!.length === 5 ? m[2] + ':00' : m[2]}${zone.toUpperCase()}`);
  if (Number.isNaN(ms)) return undefined;
  const frac = (m[3] ?? '').slice(0, 9).padEnd(9, '0');
  return BigInt(ms) * 1_000_000n + BigInt(frac);
}
