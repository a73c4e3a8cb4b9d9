import { priLength, readPriOrFail, type ParseResult, type SyslogMessage } from './message.ts';
import { readEnd, readRfc3339, wallToNs } from './timestamps.ts';

/** Index of the next space at or after `from`, or the line length. */
function tokenEnd(line: string, from: number): number {
  const sp = line.indexOf(' ', from);
  return sp === -1 ? line.length : sp;
}

/** A header field: NILVALUE `-` becomes ''. */
function field(line: string, start: number, end: number): string {
  return end - start === 1 && line.charCodeAt(start) === 45 ? '' : line.slice(start, end);
}

let sdError = '';

/**
 * The prototype of structured-data maps. SD-IDs and names are the sender's: maps whose prototype
 * chain ends here, before Object.prototype, keep "__proto__" or "constructor" as plain keys.
 * Object.create(null) would do the same but gives a dictionary-mode object, which cost 2–3 µs a
 * message more to fill and to read back than these (bench line with two parameters).
 */
const SD_MAP: object = Object.create(null);

function sdMap<T>(): Record<string, T> {
  return Object.create(SD_MAP) as Record<string, T>;
}

/**
 * Reads STRUCTURED-DATA elements `[id p="v" ...][id2 ...]` from `at`. Values unescape `\"`,
 * `\\` and `\]`; any other backslash is kept, as RFC 5424 §6.3.3 asks. Returns the end index,
 * or -1 with `sdError` set.
 */
function readStructuredData(line: string, at: number, out: Record<string, Record<string, string>>): number {
  let i = at;
  while (line.charCodeAt(i) === 91 /* [ */) {
    i++;
    let j = i;
    for (; j < line.length; j++) {
      const c = line.charCodeAt(j);
      if (c === 32 || c === 93 /* ] */ || c === 61 /* = */ || c === 34) break;
    }
    if (j === i || j >= line.length) {
      sdError = `structured data at offset ${at}: missing SD-ID or closing ]`;
      return -1;
    }
    const id = line.slice(i, j);
    const params: Record<string, string> = Object.hasOwn(out, id) ? out[id]! : sdMap();
    i = j;
    while (line.charCodeAt(i) === 32) {
      i++;
      const eq = line.indexOf('=', i);
      if (eq <= i || line.charCodeAt(eq + 1) !== 34 /* " */) {
        sdError = `structured data element [${id}]: expected name="value" at offset ${i}`;
        return -1;
      }
      const name = line.slice(i, eq);
      if (name.includes(' ') || name.includes(']')) {
        sdError = `structured data element [${id}]: bad parameter name ${JSON.stringify(name)}`;
        return -1;
      }
      let k = eq + 2;
      let value = '';
      let chunkStart = k;
      for (;;) {
        if (k >= line.length) {
          sdError = `structured data element [${id}]: value of ${name} has no closing quote`;
          return -1;
        }
        const c = line.charCodeAt(k);
        if (c === 34) break;
        if (c === 92 /* \ */) {
          const n = line.charCodeAt(k + 1);
          if (n === 34 || n === 92 || n === 93) {
            value += line.slice(chunkStart, k);
            chunkStart = k + 1;
            k += 2;
            continue;
          }
        }
        k++;
      }
      params[name] = value + line.slice(chunkStart, k);
      i = k + 1;
    }
    if (line.charCodeAt(i) !== 93) {
      sdError = `structured data element [${id}]: expected ] at offset ${i}`;
      return -1;
    }
    out[id] = params;
    i++;
  }
  return i;
}

/**
 * RFC 5424: `<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID SD [MSG]`. Tolerates what real
 * senders do: missing SD (the rest becomes the message), any number of fractional digits,
 * and a UTF-8 BOM before MSG (stripped).
 */
export function parseRfc5424(line: string): ParseResult {
  const pri = readPriOrFail(line);
  if (typeof pri === 'string') return pri;
  let i = priLength(pri);
  const v = line.charCodeAt(i) - 48;
  if (v !== 1 || line.charCodeAt(i + 1) !== 32)
    return `not RFC 5424: expected version 1 after PRI, got ${JSON.stringify(line.slice(i, i + 2))}`;
  i += 2;

  let timeNs = 0n;
  if (line.charCodeAt(i) === 45 && line.charCodeAt(i + 1) === 32) i += 2;
  else {
    const offset = readRfc3339(line, i, false);
    if (offset === -1e9 || line.charCodeAt(readEnd) !== 32)
      return `RFC 5424 TIMESTAMP ${JSON.stringify(line.slice(i, tokenEnd(line, i)))} is not RFC 3339 (e.g. 2003-10-11T22:14:15.003Z) or -`;
    timeNs = wallToNs(offset);
    i = readEnd + 1;
  }

  const hostEnd = tokenEnd(line, i);
  const appEnd = tokenEnd(line, hostEnd + 1);
  const procEnd = tokenEnd(line, appEnd + 1);
  const msgIdEnd = tokenEnd(line, procEnd + 1);
  if (msgIdEnd >= line.length && procEnd >= line.length)
    return 'RFC 5424 header is incomplete: expected HOSTNAME APP-NAME PROCID MSGID after the timestamp';
  if (hostEnd === i || appEnd === hostEnd + 1 || procEnd === appEnd + 1 || msgIdEnd === procEnd + 1)
    return 'RFC 5424 header has an empty field (two spaces in a row); use - for a missing value';
  const msg: SyslogMessage = {
    format: 'rfc5424',
    priority: pri,
    version: 1,
    timeNs,
    hostname: field(line, i, hostEnd),
    appname: field(line, hostEnd + 1, appEnd),
    procId: field(line, appEnd + 1, procEnd),
    msgId: field(line, procEnd + 1, msgIdEnd),
    structuredData: undefined,
    message: '',
    sequence: '',
  };
  i = msgIdEnd + 1;
  if (i >= line.length) return msg;
  const c = line.charCodeAt(i);
  if (c === 45 /* - */ && (i + 1 === line.length || line.charCodeAt(i + 1) === 32)) i += 2;
  else if (c === 91 /* [ */) {
    const sd = sdMap<Record<string, string>>();
    const end = readStructuredData(line, i, sd);
    if (end === -1) return `RFC 5424 ${sdError}`;
    msg.structuredData = sd;
    i = end;
    if (i < line.length) {
      if (line.charCodeAt(i) !== 32)
        return `RFC 5424 structured data must be followed by a space before MSG (offset ${i})`;
      i++;
    }
  }
  if (i < line.length) msg.message = line.charCodeAt(i) === 0xfeff ? line.slice(i + 1) : line.slice(i);
  return msg;
}
