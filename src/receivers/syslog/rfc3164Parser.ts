import { priLength, readPriOrFail, type ParseResult, type SyslogMessage } from './message.ts';
import {
  NO_ZONE,
  readClock,
  readEnd,
  readRfc3339,
  sameInYear,
  wall,
  wallToNs,
  type WallTime,
  type ZoneClock,
} from './timestamps.ts';

/** What a 3164 timestamp without year or zone is read against. */
export interface LegacyTimeContext {
  clock: ZoneClock;
  /** The receiver's current time (ms since the epoch): infers the missing year. */
  nowMs: number;
}

const MONTHS = 'JanFebMarAprMayJunJulAugSepOctNovDec';
const DAY_MS = 86_400_000;

function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}

function monthAt(s: string, at: number): number {
  if (s.charCodeAt(at + 3) !== 32) return -1;
  const idx = MONTHS.indexOf(s.slice(at, at + 3));
  return idx === -1 || idx % 3 !== 0 ? -1 : idx / 3 + 1;
}

function fourDigitsAt(s: string, at: number): number {
  let v = 0;
  for (let i = at; i < at + 4; i++) {
    const c = s.charCodeAt(i);
    if (!isDigit(c)) return -1;
    v = v * 10 + c - 48;
  }
  return v;
}

/** Where the last readLegacyTimestamp ended; -1 when it found none. */
let tsEnd = -1;

/**
 * `Mmm dd hh:mm:ss` as RFC 3164 has it, plus what devices add: a space-padded or one-digit day,
 * fractions (`.345`), a year before the clock (Cisco ASA, `Jan 05 2026 10:00:00`) or after it
 * (HPE Comware), and a trailing zone name followed by a colon (Cisco `show-timezone`:
 * `00:01:02.345 UTC:`). Returns ns since the epoch, or -1n with tsEnd = -1.
 */
function readLegacyTimestamp(s: string, at: number, ctx: LegacyTimeContext): bigint {
  tsEnd = -1;
  const month = monthAt(s, at);
  if (month < 0) return -1n;
  let i = at + 4;
  if (s.charCodeAt(i) === 32) i++;
  const d1 = s.charCodeAt(i);
  if (!isDigit(d1)) return -1n;
  let day = d1 - 48;
  i++;
  if (isDigit(s.charCodeAt(i))) {
    day = day * 10 + s.charCodeAt(i) - 48;
    i++;
  }
  if (day < 1 || day > 31 || s.charCodeAt(i) !== 32) return -1n;
  i++;
  let year = -1;
  if (s.charCodeAt(i + 4) === 32) {
    year = fourDigitsAt(s, i);
    if (year >= 0) i += 5;
  }
  if (!readClock(s, i)) return -1n;
  i = readEnd;
  if (year < 0 && s.charCodeAt(i) === 32) {
    const y = fourDigitsAt(s, i + 1);
    const after = s.charCodeAt(i + 5);
    if (y >= 0 && (after === 32 || after === 58 || Number.isNaN(after))) {
      year = y;
      i += 5;
    }
  }
  let utcZone = false;
  if (s.charCodeAt(i) === 32) {
    // A zone name is only taken when a colon ends it, so an upper-case hostname is never eaten.
    let j = i + 1;
    while (j < i + 7 && s.charCodeAt(j) >= 65 && s.charCodeAt(j) <= 90) j++;
    if (j > i + 1 && s.charCodeAt(j) === 58) {
      const zone = s.slice(i + 1, j);
      utcZone = zone === 'UTC' || zone === 'GMT' || zone === 'Z';
      i = j;
    }
  }
  wall.month = month;
  wall.day = day;
  tsEnd = i;
  const last = lastLegacy;
  if (
    last.clock === ctx.clock &&
    last.nowMs === ctx.nowMs &&
    last.givenYear === year &&
    last.utc === utcZone &&
    sameInYear(last.at, wall)
  ) {
    wall.year = last.at.year;
    return last.ns;
  }
  const ns = legacyNs(ctx, year, utcZone);
  last.clock = ctx.clock;
  last.nowMs = ctx.nowMs;
  last.givenYear = year;
  last.utc = utcZone;
  Object.assign(last.at, wall);
  last.ns = ns;
  return ns;
}

/**
 * The last time `readLegacyTimestamp` worked out, by what it read and the batch's clock: a
 * device's consecutive lines mostly share their second, and the year inference, the zone and
 * the conversion took half of an RFC 3164 parse (`node --cpu-prof`, the bench's lines). The
 * result depends on nothing else, so a line that reads the same in the same batch gets it again.
 */
const lastLegacy = {
  clock: undefined as ZoneClock | undefined,
  nowMs: -1,
  /** The year the line gave, or -1. */
  givenYear: -1,
  utc: false,
  /** What the line read, with the year taken for it; and the time. */
  at: { year: 0, month: 0, day: 0, hour: 0, minute: 0, second: 0, fracNs: 0 } as WallTime,
  ns: 0n,
};

/** The time of `wall` (month, day and clock read; `year` given, or -1 for the one nearest now). */
function legacyNs(ctx: LegacyTimeContext, year: number, utcZone: boolean): bigint {
  if (year >= 0) {
    wall.year = year;
    return toNs(ctx, utcZone);
  }
  // No year: the one that puts the message closest to now, so December lines read on
  // 1 January (or a device clock slightly ahead at New Year) land in the right year.
  wall.year = ctx.clock.yearAt(ctx.nowMs);
  let ns = toNs(ctx, utcZone);
  const ms = Number(ns / 1_000_000n);
  if (ms - ctx.nowMs > 7 * DAY_MS) {
    wall.year--;
    ns = toNs(ctx, utcZone);
  } else if (ctx.nowMs - ms > 358 * DAY_MS) {
    wall.year++;
    ns = toNs(ctx, utcZone);
  }
  return ns;
}

function toNs(ctx: LegacyTimeContext, utc: boolean): bigint {
  if (utc) return wallToNs(0);
  const wallMs = Date.UTC(wall.year, wall.month - 1, wall.day, wall.hour, wall.minute, wall.second);
  if (!Number.isFinite(wallMs)) return 0n;
  const ms = ctx.clock.toUtcMs(wallMs);
  return ms < 0 ? 0n : BigInt(ms) * 1_000_000n + BigInt(wall.fracNs);
}

/** An RFC 3339 / ISO timestamp where 3164 expects its own (rsyslog's RSYSLOG_ForwardFormat, many appliances). */
function readIsoTimestamp(s: string, at: number, ctx: LegacyTimeContext): bigint {
  tsEnd = -1;
  const c = s.charCodeAt(at);
  if (!isDigit(c) || s.charCodeAt(at + 4) !== 45) return -1n;
  const offset = readRfc3339(s, at, true);
  if (offset === -1e9) return -1n;
  tsEnd = readEnd;
  if (offset !== NO_ZONE) return wallToNs(offset);
  return toNs(ctx, false);
}

/** End of a `tag:` / `tag[pid]:` / `tag[pid]` token at `at`, or -1; sets tagName/tagPid. */
let tagName = '';
let tagPid = '';
function readTag(s: string, at: number): number {
  let i = at;
  const limit = Math.min(s.length, at + 128);
  for (; i < limit; i++) {
    const c = s.charCodeAt(i);
    if (c === 32 || c === 58 /* : */ || c === 91 /* [ */) break;
  }
  if (i === at || i === limit) return -1;
  const name = s.slice(at, i);
  let pid = '';
  if (s.charCodeAt(i) === 91) {
    const close = s.indexOf(']', i + 1);
    if (close === -1 || close - i > 64) return -1;
    pid = s.slice(i + 1, close);
    i = close + 1;
    const c = s.charCodeAt(i);
    if (c === 58) i++;
    else if (c !== 32 && !Number.isNaN(c)) return -1;
  } else if (s.charCodeAt(i) === 58) i++;
  else return -1;
  const after = s.charCodeAt(i);
  if (after !== 32 && !Number.isNaN(after)) return -1;
  tagName = name;
  tagPid = pid;
  return i;
}

/** `%FAC-SEV-MNEMONIC` (Cisco, ASA) or `%%10MOD/5/NAME` (HPE): a message id, not an application. */
function isMnemonic(tag: string): boolean {
  return tag.charCodeAt(0) === 37; /* % */
}

/**
 * RFC 3164 as devices really send it: `<PRI>TIMESTAMP HOSTNAME TAG[PID]: MSG`, where the
 * timestamp may be ISO, carry a year or a zone, the hostname may be missing, and Cisco IOS may
 * prefix a sequence number (`<189>123: *Mar  1 00:01:02.345 UTC: %SYS-5-CONFIG_I: ...`).
 * Only the PRI is required: as RFC 3164 §4.3.3 says, what has no valid header is all message.
 */
export function parseRfc3164(line: string, ctx: LegacyTimeContext): ParseResult {
  const pri = readPriOrFail(line);
  if (typeof pri === 'string') return pri;
  let i = priLength(pri);
  const msg: SyslogMessage = {
    format: 'rfc3164',
    priority: pri,
    version: 0,
    timeNs: 0n,
    hostname: '',
    appname: '',
    procId: '',
    msgId: '',
    structuredData: undefined,
    message: '',
    sequence: '',
  };

  // Cisco `service sequence-numbers`: "123: " before the timestamp.
  let j = i;
  while (j < i + 10 && isDigit(line.charCodeAt(j))) j++;
  if (j > i && line.charCodeAt(j) === 58 && line.charCodeAt(j + 1) === 32) {
    msg.sequence = line.slice(i, j);
    i = j + 2;
    // `logging origin-id hostname` puts "host: " between the sequence and the timestamp.
    const sp = line.indexOf(' ', i);
    if (sp > i + 1 && line.charCodeAt(sp - 1) === 58) {
      const next = line.charCodeAt(sp + 1);
      if (next === 42 || next === 46 || monthAt(line, sp + 1) > 0) {
        msg.hostname = line.slice(i, sp - 1);
        i = sp + 1;
      }
    }
  }
  // Cisco clock-state markers: `*` not synchronised, `.` synchronised once but not now.
  const mark = line.charCodeAt(i);
  if ((mark === 42 || mark === 46) && monthAt(line, i + 1) > 0) i++;

  let ts = readLegacyTimestamp(line, i, ctx);
  if (tsEnd < 0) ts = readIsoTimestamp(line, i, ctx);
  const hasHeader = tsEnd >= 0;
  if (hasHeader) {
    msg.timeNs = ts;
    i = tsEnd;
    if (line.charCodeAt(i) === 58) i++;
    while (line.charCodeAt(i) === 32) i++;
    if (!msg.hostname && i < line.length && readTag(line, i) === -1) {
      const sp = line.indexOf(' ', i);
      const end = sp === -1 ? line.length : sp;
      msg.hostname = line.slice(i, end);
      i = end;
      while (line.charCodeAt(i) === 32) i++;
      // Cisco ASA with `logging device-id`: "asa01 : %ASA-6-...".
      if (line.charCodeAt(i) === 58 && line.charCodeAt(i + 1) === 32) i += 2;
    }
  }
  const tagEnd = readTag(line, i);
  if (tagEnd !== -1) {
    if (isMnemonic(tagName)) {
      let k = 0;
      while (tagName.charCodeAt(k) === 37) k++;
      msg.msgId = tagName.slice(k);
    } else {
      msg.appname = tagName;
      msg.procId = tagPid;
    }
    i = tagEnd;
    if (line.charCodeAt(i) === 32) i++;
  }
  msg.message = line.slice(i);
  return msg;
}
