/**
 * Timestamp readers for syslog headers, written with charCodeAt rather than regular
 * expressions: they run once per message on the receiver's hot path.
 */
import { zoneFormatter } from '../../model/timeZone.ts';

/** Where the last successful read ended (an index into the line). */
export let readEnd = 0;

function digits(s: string, at: number, n: number): number {
  let v = 0;
  for (let i = at; i < at + n; i++) {
    const c = s.charCodeAt(i) - 48;
    if (!(c >= 0 && c <= 9)) return -1; // NaN past the end too
    v = v * 10 + c;
  }
  return v;
}

export interface WallTime {
  year: number;
  month: number; // 1–12
  day: number;
  hour: number;
  minute: number;
  second: number;
  /** Fraction of a second in ns. */
  fracNs: number;
}

/** Scratch result, reused between calls to avoid an allocation per message. */
export const wall: WallTime = { year: 0, month: 0, day: 0, hour: 0, minute: 0, second: 0, fracNs: 0 };

/** Whether two wall times name the same instant of a year: every field but the year. */
export function sameInYear(a: WallTime, b: WallTime): boolean {
  return (
    a.second === b.second &&
    a.fracNs === b.fracNs &&
    a.minute === b.minute &&
    a.hour === b.hour &&
    a.day === b.day &&
    a.month === b.month
  );
}

/** Sentinel for "no zone in the text": the caller applies its configured location. */
export const NO_ZONE = 1e9;

/**
 * Reads an RFC 3339 timestamp (`2003-10-11T22:14:15.003Z`, `…+02:00`) at `at`. With
 * `zoneOptional`, a missing zone (as in ISO timestamps some RFC 3164 senders write) returns
 * NO_ZONE; a space instead of `T` is accepted then too. Fills `wall` and returns the zone offset
 * in minutes, or -1e9 when the text is not such a timestamp. `readEnd` is set past it.
 */
export function readRfc3339(s: string, at: number, zoneOptional: boolean): number {
  const year = digits(s, at, 4);
  if (year < 0 || s.charCodeAt(at + 4) !== 45 /* - */) return -1e9;
  const month = digits(s, at + 5, 2);
  if (month < 1 || month > 12 || s.charCodeAt(at + 7) !== 45) return -1e9;
  const day = digits(s, at + 8, 2);
  const t = s.charCodeAt(at + 10);
  if (day < 1 || day > 31 || !(t === 84 /* T */ || t === 116 /* t */ || (zoneOptional && t === 32))) return -1e9;
  if (!readClock(s, at + 11)) return -1e9;
  wall.year = year;
  wall.month = month;
  wall.day = day;
  let i = readEnd;
  const z = s.charCodeAt(i);
  if (z === 90 /* Z */ || z === 122 /* z */) {
    readEnd = i + 1;
    return 0;
  }
  if (z === 43 /* + */ || z === 45 /* - */) {
    const hh = digits(s, i + 1, 2);
    let mm: number;
    if (s.charCodeAt(i + 3) === 58 /* : */) {
      mm = digits(s, i + 4, 2);
      i += 6;
    } else {
      mm = digits(s, i + 3, 2);
      i += 5;
    }
    if (hh < 0 || hh > 23 || mm < 0 || mm > 59) return -1e9;
    readEnd = i;
    return z === 43 ? hh * 60 + mm : -(hh * 60 + mm);
  }
  return zoneOptional ? NO_ZONE : -1e9;
}

/** Reads `hh:mm:ss[.fraction]` into `wall`; sets readEnd. */
export function readClock(s: string, at: number): boolean {
  const hour = digits(s, at, 2);
  const minute = digits(s, at + 3, 2);
  const second = digits(s, at + 6, 2);
  if (hour < 0 || hour > 23 || minute < 0 || minute > 59 || second < 0 || second > 60) return false;
  if (s.charCodeAt(at + 2) !== 58 || s.charCodeAt(at + 5) !== 58) return false;
  wall.hour = hour;
  wall.minute = minute;
  wall.second = second;
  let i = at + 8;
  let frac = 0;
  if (s.charCodeAt(i) === 46 /* . */ || s.charCodeAt(i) === 44 /* , */) {
    let scale = 100_000_000;
    let n = 0;
    i++;
    for (;;) {
      const c = s.charCodeAt(i) - 48;
      if (!(c >= 0 && c <= 9)) break;
      if (scale >= 1) frac += c * scale;
      scale /= 10;
      n++;
      i++;
    }
    if (n === 0) return false;
    frac = Math.round(frac);
  }
  wall.fracNs = frac;
  readEnd = i;
  return true;
}

/** `digits` of bytes `at` to `at + n` of `b`, none at or past `to`. */
function byteDigits(b: Uint8Array, at: number, n: number, to: number): number {
  if (at + n > to) return -1;
  let v = 0;
  for (let i = at; i < at + n; i++) {
    const c = b[i]! - 48;
    if (!(c >= 0 && c <= 9)) return -1;
    v = v * 10 + c;
  }
  return v;
}

/**
 * `readRfc3339(text, 0, false)` of bytes `at` to `to` of `b`, the whole of them a timestamp:
 * fills `wall` and returns the zone offset in minutes, or -1e9 (the same reading, pinned by
 * test/receivers/syslog/rfc5424Bytes.test.ts). For messages read from their bytes, which
 * would otherwise make the timestamp's text only to read it.
 */
export function readRfc3339Bytes(b: Uint8Array, at: number, to: number): number {
  const year = byteDigits(b, at, 4, to);
  const month = byteDigits(b, at + 5, 2, to);
  const day = byteDigits(b, at + 8, 2, to);
  const hour = byteDigits(b, at + 11, 2, to);
  const minute = byteDigits(b, at + 14, 2, to);
  const second = byteDigits(b, at + 17, 2, to);
  const t = b[at + 10];
  if (year < 0 || b[at + 4] !== 45 || month < 1 || month > 12 || b[at + 7] !== 45 || day < 1 || day > 31) return -1e9;
  if (!(t === 84 || t === 116) || b[at + 13] !== 58 || b[at + 16] !== 58) return -1e9;
  if (hour < 0 || hour > 23 || minute < 0 || minute > 59 || second < 0 || second > 60) return -1e9;
  let i = at + 19;
  let frac = 0;
  if (i < to && (b[i] === 46 || b[i] === 44)) {
    let scale = 100_000_000;
    let n = 0;
    i++;
    for (; i < to; i++) {
      const c = b[i]! - 48;
      if (!(c >= 0 && c <= 9)) break;
      if (scale >= 1) frac += c * scale;
      scale /= 10;
      n++;
    }
    if (n === 0) return -1e9;
    frac = Math.round(frac);
  }
  const z = i < to ? b[i]! : -1;
  let offset: number;
  if ((z === 90 || z === 122) && i + 1 === to) offset = 0;
  else if (z === 43 || z === 45) {
    const colon = b[i + 3] === 58;
    const hh = byteDigits(b, i + 1, 2, to);
    const mm = byteDigits(b, colon ? i + 4 : i + 3, 2, to);
    if (hh < 0 || hh > 23 || mm < 0 || mm > 59 || (colon ? i + 6 : i + 5) !== to) return -1e9;
    offset = z === 43 ? hh * 60 + mm : -(hh * 60 + mm);
  } else return -1e9;
  wall.year = year;
  wall.month = month;
  wall.day = day;
  wall.hour = hour;
  wall.minute = minute;
  wall.second = second;
  wall.fracNs = frac;
  return offset;
}

/** The fields and offset wallToNs was last given, and what it made of them. */
const lastWall: WallTime = { year: -1, month: 0, day: 0, hour: 0, minute: 0, second: 0, fracNs: 0 };
let lastOffset = 0;
let lastNs = 0n;

/**
 * `wall` read with an explicit UTC offset (minutes), as ns since the epoch; 0n if out of range.
 * The time of the message before is given again when the fields are the same: RFC 3164 times
 * name the second, and a sender writing RFC 5424 times to the millisecond repeats them under
 * load, while each new one costs a Date.UTC and three BigInt operations.
 */
export function wallToNs(offsetMinutes: number): bigint {
  const w = wall;
  const l = lastWall;
  if (sameInYear(w, l) && w.year === l.year && offsetMinutes === lastOffset) return lastNs;
  const ms = Date.UTC(w.year, w.month - 1, w.day, w.hour, w.minute, w.second) - offsetMinutes * 60_000;
  Object.assign(l, w);
  lastOffset = offsetMinutes;
  lastNs = !Number.isFinite(ms) || ms < 0 ? 0n : BigInt(ms) * 1_000_000n + BigInt(w.fracNs);
  return lastNs;
}

const HOUR = 3_600_000;

/**
 * Turns wall-clock times of one time zone into UTC. Offsets come from Intl (DST-aware) and are
 * cached per wall-clock hour, since Intl costs microseconds and a busy receiver sees the same
 * hour millions of times.
 */
export class ZoneClock {
  readonly zone: string;
  private readonly format: Intl.DateTimeFormat | undefined;
  private readonly cache = new Map<number, number>();
  private yearKey = -1;
  private year = 0;

  constructor(zone: string) {
    this.zone = zone;
    const utc = zone === 'UTC' || zone === 'Etc/UTC' || zone === 'GMT';
    this.format = utc
      ? undefined
      : zoneFormatter(zone === 'Local' ? new Intl.DateTimeFormat().resolvedOptions().timeZone : zone);
  }

  /** Offset (ms) of this zone at the UTC instant `utcMs`. */
  private offsetAt(utcMs: number): number {
    const parts = this.format!.formatToParts(new Date(utcMs));
    const get = (type: string) => Number(parts.find((p) => p.type === type)!.value);
    const asUtc = Date.UTC(get('year'), get('month') - 1, get('day'), get('hour'), get('minute'), get('second'));
    return asUtc - Math.floor(utcMs / 1000) * 1000;
  }

  /** UTC ms for a wall-clock time in this zone given as if it were UTC. */
  toUtcMs(wallAsUtcMs: number): number {
    if (!this.format) return wallAsUtcMs;
    const key = Math.floor(wallAsUtcMs / HOUR);
    let offset = this.cache.get(key);
    if (offset === undefined) {
      // Two steps settle the offset across a DST change.
      offset = this.offsetAt(wallAsUtcMs);
      offset = this.offsetAt(wallAsUtcMs - offset);
      if (this.cache.size > 10_000) this.cache.clear();
      this.cache.set(key, offset);
    }
    return wallAsUtcMs - offset;
  }

  /** The year as seen on a wall clock in this zone at `utcMs`. */
  yearAt(utcMs: number): number {
    if (!this.format) return new Date(utcMs).getUTCFullYear();
    const key = Math.floor(utcMs / HOUR);
    if (key !== this.yearKey) {
      this.yearKey = key;
      this.year = Number(this.format.formatToParts(new Date(utcMs)).find((p) => p.type === 'year')!.value);
    }
    return this.year;
  }
}
