/** One message cut out of a TCP stream: its bytes, `from` to `to` in `bytes`. */
export interface Frame {
  bytes: Buffer;
  from: number;
  to: number;
  /** The sender's message was longer than max_message_size; the bytes are its head. */
  truncated: boolean;
}

const LF = 10;
const CR = 13;
const SP = 32;

function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}

/**
 * End of a frame without its trailing LF (or CRLF): senders such as rsyslog's
 * RSYSLOG_SyslogProtocol23Format put one inside octet-counted frames, and it is no part of
 * the message.
 */
function trimTrailingNewline(buf: Buffer, start: number, end: number): number {
  if (end > start && buf[end - 1] === LF) end--;
  if (end > start && buf[end - 1] === CR) end--;
  return end;
}

/**
 * Splits a syslog TCP stream into messages, RFC 6587 style. Each frame is read by its first
 * byte: a digit starts octet counting (`LEN SP MSG`), anything else runs to LF (a CR before it
 * is dropped). Deciding per frame rather than per connection is what rsyslog does, and it
 * recovers from a sender that mixes both. What is held between chunks never exceeds
 * max_message_size plus the length prefix: longer messages are cut and the rest skipped.
 */
export class SyslogFramer {
  private readonly max: number;
  private pending: Buffer | undefined;
  /** Bytes of an over-long octet-counted frame still to skip. */
  private skip = 0;
  /** Inside an over-long LF frame: drop everything up to the next LF. */
  private discardingLine = false;

  constructor(maxMessageSize: number) {
    this.max = maxMessageSize;
  }

  /** Appends the frames completed by `chunk` to `out`. */
  push(chunk: Buffer, out: Frame[]): void {
    const buf = this.pending ? Buffer.concat([this.pending, chunk]) : chunk;
    this.pending = undefined;
    const len = buf.length;
    const max = this.max;
    let pos = 0;
    while (pos < len) {
      if (this.skip > 0) {
        const n = Math.min(this.skip, len - pos);
        pos += n;
        this.skip -= n;
        continue;
      }
      if (this.discardingLine) {
        const nl = buf.indexOf(LF, pos);
        if (nl === -1) return;
        pos = nl + 1;
        this.discardingLine = false;
        continue;
      }
      const c = buf[pos]!;
      if (c === LF || c === CR || c === 0) {
        pos++;
        continue;
      }
      if (isDigit(c) && c !== 48) {
        let d = pos;
        let count = 0;
        while (d < len && d - pos < 10 && isDigit(buf[d]!)) count = count * 10 + buf[d++]! - 48;
        if (d === len && d - pos < 10) break; // the length prefix itself is split across chunks
        if (buf[d] === SP && d - pos < 10) {
          const start = d + 1;
          if (count <= max) {
            if (start + count > len) break;
            out.push({ bytes: buf, from: start, to: trimTrailingNewline(buf, start, start + count), truncated: false });
            pos = start + count;
          } else {
            if (start + max > len) break;
            out.push({ bytes: buf, from: start, to: start + max, truncated: true });
            this.skip = count - max;
            pos = start + max;
          }
          continue;
        }
      }
      const nl = buf.indexOf(LF, pos);
      if (nl === -1) {
        if (len - pos > max) {
          out.push({ bytes: buf, from: pos, to: pos + max, truncated: true });
          this.discardingLine = true;
          return;
        }
        break;
      }
      let end = nl;
      if (end > pos && buf[end - 1] === CR) end--;
      if (end - pos > max) out.push({ bytes: buf, from: pos, to: pos + max, truncated: true });
      else out.push({ bytes: buf, from: pos, to: end, truncated: false });
      pos = nl + 1;
    }
    if (pos < len) this.pending = Buffer.from(buf.subarray(pos));
  }

  /**
   * The connection ended: a last line without LF is still a message (many senders omit the
   * final newline), and a cut-off octet-counted frame is kept as truncated rather than lost.
   */
  end(out: Frame[]): void {
    const rest = this.pending;
    this.pending = undefined;
    if (!rest || rest.length === 0) return;
    let d = 0;
    let count = 0;
    while (d < rest.length && d < 10 && isDigit(rest[d]!)) count = count * 10 + rest[d++]! - 48;
    if (d > 0 && rest[0] !== 48 && rest[d] === SP && d < 10) {
      out.push({ bytes: rest, from: d + 1, to: rest.length, truncated: count > rest.length - d - 1 });
      return;
    }
    let end = rest.length;
    if (rest[end - 1] === CR) end--;
    if (end > 0) out.push({ bytes: rest, from: 0, to: end, truncated: false });
  }
}
