/** What an SNMPv3 message says about its sender before any key is used (RFC 3412 and 3414). */
export interface UsmHeader {
  /** msgAuthoritativeEngineID, lowercase hex. */
  engineId: string;
  /** msgUserName. */
  user: string;
}

const SEQUENCE = 0x30;
const INTEGER = 0x02;
const OCTET_STRING = 0x04;

/** A bounds-checked BER reader over one buffer; every read returns undefined past the end or on a tag it did not expect. */
class BerCursor {
  private readonly b: Buffer;
  private pos: number;
  private readonly end: number;

  constructor(b: Buffer, start = 0, end = b.length) {
    this.b = b;
    this.pos = start;
    this.end = end;
  }

  /** Reads a TLV of tag `tag` and returns its value's bounds. */
  read(tag: number): { start: number; end: number } | undefined {
    const { b } = this;
    if (this.pos + 2 > this.end || b[this.pos] !== tag) return undefined;
    let length = b[this.pos + 1]!;
    let at = this.pos + 2;
    if (length & 0x80) {
      const octets = length & 0x7f;
      // Four length octets already say 4 GiB: more is not a datagram.
      if (octets === 0 || octets > 4 || at + octets > this.end) return undefined;
      length = 0;
      for (let i = 0; i < octets; i++) length = length * 256 + b[at++]!;
    }
    if (at + length > this.end) return undefined;
    this.pos = at + length;
    return { start: at, end: at + length };
  }

  inside(v: { start: number; end: number }): BerCursor {
    return new BerCursor(this.b, v.start, v.end);
  }

  small(v: { start: number; end: number }): number | undefined {
    if (v.end - v.start !== 1) return undefined;
    return this.b[v.start];
  }
}

/**
 * Reads the engine ID and user name of an SNMPv3 message, enough to refuse a sender before the
 * library localizes a key for it (hashing a megabyte per new engine ID); undefined for anything
 * that is not a well-formed v3 header, which the library then judges.
 */
export function readUsmHeader(b: Buffer): UsmHeader | undefined {
  const message = new BerCursor(b).read(SEQUENCE);
  if (!message) return undefined;
  const m = new BerCursor(b).inside(message);
  const version = m.read(INTEGER);
  if (!version || m.small(version) !== 3) return undefined;
  if (!m.read(SEQUENCE)) return undefined;
  const params = m.read(OCTET_STRING);
  if (!params) return undefined;
  const usm = m.inside(params).read(SEQUENCE);
  if (!usm) return undefined;
  const u = m.inside(usm);
  const engine = u.read(OCTET_STRING);
  if (!engine || !u.read(INTEGER) || !u.read(INTEGER)) return undefined;
  const user = u.read(OCTET_STRING);
  if (!user) return undefined;
  return { engineId: b.toString('hex', engine.start, engine.end), user: b.toString('utf8', user.start, user.end) };
}
