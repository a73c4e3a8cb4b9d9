/**
 * Counts the events in a JSON receiver body before it is parsed. JSON.parse of a body of `{}`
 * (3 bytes each, and 20 MiB inflate from about 20 KB of gzip) allocates every object at once,
 * so the count has to come from the bytes. Only structural ASCII is read (UTF-8 continuation
 * bytes are never below 0x80), strings are skipped, nothing is allocated. The result is what
 * parseJsonBody would hand the mapper for a valid body; an invalid one is refused by the parse.
 *
 * The counters take the body chunk by chunk as it is decompressed, so a request is refused as
 * soon as its count passes the cap: before the rest is inflated and joined (joining 48 MiB of
 * chunks alone held the event loop for 200 ms) and never counted whole (6 M records of `{}`
 * took 130 ms).
 */

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const NEWLINE = 0x0a;

function isSpace(c: number): boolean {
  return c === 0x20 || c === NEWLINE || c === 0x0d || c === 0x09;
}

/** Ends a bare token (number, true, false, null). */
function isDelimiter(c: number): boolean {
  return isSpace(c) || c === 0x2c || c === 0x5d || c === 0x7d || c === 0x3a;
}

/**
 * The first quote, backslash or newline at or after `i` (or `len`): the bytes of a string before
 * it mean nothing to a count. Most of a body is strings, and a loop that only looks for these
 * three counted a benchmark body 1.75× as fast as one that took every byte through every state.
 */
function stringStop(chunk: Uint8Array, i: number, len: number): number {
  let c = chunk[i]!;
  while (c !== QUOTE && c !== BACKSLASH && c !== NEWLINE) {
    if (++i === len) return len;
    c = chunk[i]!;
  }
  return i;
}

/** A count fed the body in chunks; `total()` is the count of all of them. */
export interface RecordCounter {
  /** Counts one more chunk of the body; returns the count so far. */
  feed(chunk: Uint8Array): number;
  total(): number;
  /**
   * Objects and arrays in what was fed, outside strings (a string ends with its line at the
   * latest), for counters that read JSON: what JSON.parse will allocate whatever the records
   * are. A record count alone misses one record holding millions of `{}` (an attribute list, a
   * nested map), or an OTLP/JSON body, whose records sit three levels down and were counted
   * only after the parse (four 20 KB gzip bodies of 6.5 M log records held the daemon for 50 s
   * and took it to 966 MiB). JSON holds no raw newline in a string, escaped or not: a body that
   * has one is parsed line by line (NDJSON, or a document that fails whole), and the next
   * line's objects count. Counted in the same pass as the records, so the body is read once.
   */
  containers?(): number;
}

/** Non-blank lines: one event per NDJSON line; and the objects and arrays on them. */
export class NdjsonLineCounter implements RecordCounter {
  private n = 0;
  private blank = true;
  private c = 0;
  private inString = false;
  private escaped = false;

  feed(chunk: Uint8Array): number {
    let { n, blank, c: containers, inString, escaped } = this;
    const len = chunk.length;
    for (let i = 0; i < len; i++) {
      let c = chunk[i]!;
      if (inString && c !== NEWLINE) {
        if (escaped) {
          escaped = false;
          continue;
        }
        i = stringStop(chunk, i, len);
        if (i === len) break;
        c = chunk[i]!;
        if (c === BACKSLASH) escaped = true;
        else if (c === QUOTE) inString = false;
        if (c !== NEWLINE) continue;
      }
      if (c === NEWLINE) {
        if (!blank) n++;
        blank = true;
        inString = escaped = false;
        continue;
      }
      if (blank && !isSpace(c)) blank = false;
      if (c === QUOTE) inString = true;
      else if (c === 0x7b || c === 0x5b) containers++;
    }
    Object.assign(this, { n, blank, c: containers, inString, escaped });
    return n;
  }

  containers(): number {
    return this.c;
  }

  total(): number {
    return this.blank ? this.n : this.n + 1;
  }
}

/**
 * Top-level values, except that a top-level array counts its elements: one object (1), an
 * array of objects (its length), or objects on several lines (NDJSON without its content type).
 */
export class JsonValueCounter implements RecordCounter {
  private n = 0;
  /** Objects and arrays: see RecordCounter.containers. */
  private c = 0;
  private depth = 0;
  private inTopArray = false;
  // Whether the next value at depth 0 (or directly in the top-level array) starts a record.
  private expect = true;
  private inString = false;
  private escaped = false;
  private inBare = false;

  feed(chunk: Uint8Array): number {
    // Locals, not fields, in the loop: it runs once per byte of up to 20 MiB.
    let { n, c: containers, depth, inTopArray, expect, inString, escaped, inBare } = this;
    const len = chunk.length;
    for (let i = 0; i < len; i++) {
      let c = chunk[i]!;
      if (inString) {
        // No raw newline in a JSON string, escaped or not: see RecordCounter.containers.
        if (escaped) {
          escaped = false;
          if (c === NEWLINE) inString = false;
          continue;
        }
        i = stringStop(chunk, i, len);
        if (i === len) break;
        c = chunk[i]!;
        if (c === BACKSLASH) escaped = true;
        else inString = false;
        continue;
      }
      if (inBare) {
        if (!isDelimiter(c)) {
          // Not JSON; a quote starts a string here as anywhere outside one, for the containers.
          if (c === 0x5b || c === 0x7b) containers++;
          else if (c === QUOTE) {
            inBare = false;
            inString = true;
          }
          continue;
        }
        inBare = false;
      }
      if (c <= 0x20 && isSpace(c)) continue;
      const counted = depth === 0 || (depth === 1 && inTopArray);
      if (c === 0x5b || c === 0x7b) {
        containers++;
        if (depth === 0) inTopArray = c === 0x5b;
        if (expect && counted && !(depth === 0 && inTopArray)) n++;
        depth++;
        expect = true;
      } else if (c === 0x5d || c === 0x7d) {
        if (depth > 0) depth--;
        expect = depth === 0;
      } else if (c === 0x2c || c === 0x3a) expect = true;
      else {
        if (expect && counted) n++;
        expect = depth === 0;
        if (c !== QUOTE) inBare = true;
        else if (++i === len) inString = true;
        else {
          // The string's bytes at once, here rather than a byte at a time through the loop:
          // most of a body is strings, and each structural byte costs the loop's every test.
          i = stringStop(chunk, i, len);
          if (i === len) inString = true;
          else if (chunk[i] === BACKSLASH) inString = escaped = true;
        }
      }
    }
    Object.assign(this, { n, c: containers, depth, inTopArray, expect, inString, escaped, inBare });
    return n;
  }

  total(): number {
    return this.n;
  }

  containers(): number {
    return this.c;
  }
}
