import { readRfc3339Bytes, wallToNs } from './timestamps.ts';

const SP = 32;
const QUOTE = 34;
const DASH = 45;
const DOT = 46;
const EQ = 61;
const LT = 60;
const GT = 62;
const LB = 91;
const BACKSLASH = 92;
const RB = 93;

/** Offsets kept per structured-data parameter: SD-ID, name (-1 for an element without any) and value, from and to each. */
export const PARAM = 6;

/** A printable ASCII byte other than space, '"' and '\\'. */
function isWordByte(c: number): boolean {
  return c > SP && c < 0x7f && c !== QUOTE && c !== BACKSLASH;
}

/** Whether bytes `a`–`a + n` and `b`–`b + n` of `s` are the same. */
function same(s: Uint8Array, a: number, b: number, n: number): boolean {
  for (let i = 0; i < n; i++) if (s[a + i] !== s[b + i]) return false;
  return true;
}

/**
 * An RFC 5424 message read where it lies, in the bytes it came in, for the line writer
 * (`SyslogLineEncoder.encodeBytes`): the offsets of its fields instead of their text, and no
 * structured-data maps. It takes the plain messages senders write, and leaves to the parser
 * (`parseRfc5424`) every line it does not read exactly as that does, or whose line it does not
 * write as the event's: anything that is not printable ASCII in the header or the structured
 * data, a backslash there (escapes), a '"' in the header, a header or element the parser
 * refuses, an SD-ID twice, a parameter twice in one element, an SD-ID holding a dot, and an
 * SD-ID or parameter name that begins with a digit (an object lists integer keys first, so the
 * event's attributes would come in another order). What `scan` accepts, the parser reads as
 * the same message (test/receivers/syslog/rfc5424Bytes.test.ts holds the two together).
 */
export class Rfc5424Fields {
  priority = 0;
  timeNs = 0n;
  /** Each header field from and to; equal when it is NILVALUE or absent. */
  hostFrom = 0;
  hostTo = 0;
  appFrom = 0;
  appTo = 0;
  procFrom = 0;
  procTo = 0;
  msgIdFrom = 0;
  msgIdTo = 0;
  /** Whether the message has structured data (not NILVALUE), and its parameters in order. */
  hasSd = false;
  params = 0;
  sd: Int32Array = new Int32Array(PARAM * 8);
  /** The message: from here to the end of the line. */
  messageFrom = 0;

  /** Reads the message in `b` from `from` to `to`; false when it is left to the parser. */
  scan(b: Buffer, from: number, to: number): boolean {
    if (b[from] !== LT) return false;
    let i = from + 1;
    let pri = 0;
    for (; i < to && i - from <= 3; i++) {
      const c = b[i]!;
      if (c === GT) break;
      if (c < 48 || c > 57) return false;
      pri = pri * 10 + c - 48;
    }
    const digits = i - from - 1;
    if (digits === 0 || i >= to || b[i] !== GT || (digits > 1 && b[from + 1] === 48) || pri > 191) return false;
    if (i + 2 >= to || b[i + 1] !== 49 || b[i + 2] !== SP) return false;
    this.priority = pri;
    i += 3;

    if (i + 1 < to && b[i] === DASH && b[i + 1] === SP) {
      this.timeNs = 0n;
      i += 2;
    } else {
      let e = i;
      while (e < to && b[e] !== SP) e++;
      if (e >= to || e - i > 40) return false;
      const offset = readRfc3339Bytes(b, i, e);
      if (offset === -1e9) return false;
      this.timeNs = wallToNs(offset);
      i = e + 1;
    }

    // HOSTNAME APP-NAME PROCID MSGID: each ended by a space, but MSGID may end the line.
    let e = this.word(b, i, to);
    if (e <= i || e >= to) return false;
    this.hostFrom = i;
    this.hostTo = this.nil(b, i, e);
    i = e + 1;
    e = this.word(b, i, to);
    if (e <= i || e >= to) return false;
    this.appFrom = i;
    this.appTo = this.nil(b, i, e);
    i = e + 1;
    e = this.word(b, i, to);
    if (e <= i || e >= to) return false;
    this.procFrom = i;
    this.procTo = this.nil(b, i, e);
    i = e + 1;
    e = this.word(b, i, to);
    if (e <= i) return false;
    this.msgIdFrom = i;
    this.msgIdTo = this.nil(b, i, e);
    i = e + 1;

    this.hasSd = false;
    this.params = 0;
    if (i < to) {
      const c = b[i]!;
      if (c === DASH && (i + 1 === to || b[i + 1] === SP)) i += 2;
      else if (c === LB) {
        i = this.structuredData(b, i, to);
        if (i < 0) return false;
        this.hasSd = true;
        if (i < to) {
          if (b[i] !== SP) return false;
          i++;
        }
      }
    }
    this.messageFrom = Math.min(i, to);
    return true;
  }

  /** Where the header field at `i` ends (a space or the end), or -1 when a byte in it is not for this reader. */
  private word(b: Buffer, i: number, to: number): number {
    for (; i < to; i++) {
      const c = b[i]!;
      if (c === SP) return i;
      if (!isWordByte(c)) return -1;
    }
    return i;
  }

  /** The end of a header field `from`–`to`: `from` for NILVALUE. */
  private nil(b: Buffer, from: number, to: number): number {
    return to - from === 1 && b[from] === DASH ? from : to;
  }

  /** Reads elements `[id name="value" …]…` from `i`; the index after them, or -1. */
  private structuredData(b: Buffer, i: number, to: number): number {
    let sd = this.sd;
    let n = 0;
    while (i < to && b[i] === LB) {
      i++;
      const idFrom = i;
      for (; i < to; i++) {
        const c = b[i]!;
        if (c === SP || c === RB) break;
        if (!isWordByte(c) || c === EQ || c === DOT) return -1;
      }
      const idTo = i;
      if (idTo === idFrom || i >= to || (b[idFrom]! >= 48 && b[idFrom]! <= 57)) return -1;
      for (let k = 0; k < n; k += PARAM)
        if (sd[k + 1]! - sd[k]! === idTo - idFrom && same(b, sd[k]!, idFrom, idTo - idFrom)) return -1;
      const first = n;
      while (i < to && b[i] === SP) {
        i++;
        const nameFrom = i;
        for (; i < to; i++) {
          const c = b[i]!;
          if (c === EQ) break;
          if (!isWordByte(c) || c === RB) return -1;
        }
        const nameTo = i;
        if (nameTo === nameFrom || i + 1 >= to || b[i + 1] !== QUOTE || (b[nameFrom]! >= 48 && b[nameFrom]! <= 57))
          return -1;
        for (let k = first; k < n; k += PARAM)
          if (sd[k + 3]! - sd[k + 2]! === nameTo - nameFrom && same(b, sd[k + 2]!, nameFrom, nameTo - nameFrom))
            return -1;
        i += 2;
        const valueFrom = i;
        for (; i < to; i++) {
          const c = b[i]!;
          if (c === QUOTE) break;
          if (c < SP || c > 0x7e || c === BACKSLASH) return -1;
        }
        if (i >= to) return -1;
        sd = this.add(n, idFrom, idTo, nameFrom, nameTo, valueFrom, i);
        n += PARAM;
        i++;
      }
      if (i >= to || b[i] !== RB) return -1;
      if (n === first) {
        sd = this.add(n, idFrom, idTo, -1, -1, 0, 0);
        n += PARAM;
      }
      i++;
    }
    this.params = n / PARAM;
    return i;
  }

  /** Sets the parameter at `n` in `sd`, grown when full; `sd`. */
  private add(
    n: number,
    idFrom: number,
    idTo: number,
    nameFrom: number,
    nameTo: number,
    valueFrom: number,
    valueTo: number,
  ): Int32Array {
    let sd = this.sd;
    if (n + PARAM > sd.length) {
      const more = new Int32Array(sd.length * 2);
      more.set(sd);
      this.sd = sd = more;
    }
    sd[n] = idFrom;
    sd[n + 1] = idTo;
    sd[n + 2] = nameFrom;
    sd[n + 3] = nameTo;
    sd[n + 4] = valueFrom;
    sd[n + 5] = valueTo;
    return sd;
  }
}
