import { writeEventId, type VigilEvent } from '../../model/event.ts';
import { eventToJson } from '../../model/eventJson.ts';
import { defaultTitle } from '../../model/title.ts';
import {
  FACILITY_NAME,
  FIELD_NAMES,
  flatKey,
  SEVERITY_NUMBER,
  SEVERITY_TEXT,
  structuredDataMap,
  syslogToEvent,
  type FieldNames,
  type Origin,
  type SyslogAttributeNames,
} from './mapping.ts';
import type { SyslogMessage } from './message.ts';
import { PerSdPair } from './sdPairs.ts';

/** Bytes of the buffers lines are encoded into; a line longer than this gets one of its own. */
const CHUNK_BYTES = 64 * 1024;

/**
 * Written chunks kept for new lines, at most: 20 MiB, what the lines of a full pipeline queue
 * of the default size (20,000 records) take, at a kilobyte a line.
 */
const FREE_CHUNKS = 320;

/** What a line joined into the one before it holds: none of the bytes (see `LineBuffers.join`). */
const JOINED = Buffer.alloc(0);

/**
 * Lines encoded as UTF-8, each ended by LF, into shared buffers as soon as they are made, each
 * handed on as a view of its bytes. A line held as a string until the file exporter wrote it
 * (a tree of some forty pieces, which the queue kept long enough to be moved to the old
 * generation) took twice the garbage collector's time of the events it replaced; as bytes
 * outside the heap it is one small object, and joined with the lines after it, none.
 *
 * A chunk whose every byte the exporters have written (`written`) takes new lines. Left to the
 * garbage collector, chunks were freed only when V8 collected the views that promoted on their
 * way through the queue, which it does at a full collection, pushed by some 64 MiB of external
 * memory: at 150,000 lines a second, a syslog TCP daemon writing to a file held 50–90 MiB of
 * written chunks, and the C heap they were allocated in kept that size after the load.
 */
export class LineBuffers {
  private chunk: Buffer = Buffer.allocUnsafe(0);
  private used = 0;
  /** Bytes of `chunk` the exporters wrote. */
  private done = 0;
  /**
   * Bytes not yet written of the chunks before `chunk`, by their memory; weakly, since lines
   * that are dropped (refused past retrying, an exporter failing) are never written.
   */
  private readonly owed = new WeakMap<ArrayBufferLike, number>();
  private readonly free: Buffer[] = [];

  /**
   * `text` and an LF; with `idAt` ≥ 0, a new event id carrying the time `idMs` written over the
   * 26 characters there.
   */
  add(text: string, idAt: number, idMs = Date.now()): Buffer {
    // A UTF-16 code unit takes at most 3 bytes.
    const most = text.length * 3 + 1;
    if (this.chunk.length - this.used < most) this.next(most);
    const chunk = this.chunk;
    const start = this.used;
    let end = start + chunk.write(text, start);
    chunk[end++] = 10;
    this.used = end;
    if (idAt >= 0) writeEventId(chunk, start + idAt, idMs);
    return chunk.subarray(start, end);
  }

  /**
   * Lines made here that follow each other in one chunk become one view, held by the first of
   * them; the others hold none of the bytes (an empty buffer). Written in order, they are the
   * same bytes, and a batch is a few objects instead of one per line, which the garbage
   * collector no longer copies and promotes while the batch waits in a queue.
   */
  static join(lines: Uint8Array[]): void {
    let i = 0;
    while (i < lines.length) {
      const first = lines[i]!;
      const memory = first.buffer;
      let end = first.byteOffset + first.byteLength;
      let j = i + 1;
      while (j < lines.length) {
        const next = lines[j]!;
        if (next.buffer !== memory || next.byteOffset !== end) break;
        end += next.byteLength;
        lines[j++] = JOINED;
      }
      if (j > i + 1) lines[i] = Buffer.from(memory, first.byteOffset, end - first.byteOffset);
      i = j;
    }
  }

  /**
   * The exporters wrote `lines`, made here (and perhaps joined), each handed on once, and no
   * longer read them: a chunk all of whose bytes are written takes new lines.
   */
  written(lines: readonly Uint8Array[]): void {
    const current = this.chunk.buffer;
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i]!;
      const memory = line.buffer;
      let n = line.byteLength;
      while (i + 1 < lines.length && lines[i + 1]!.buffer === memory) n += lines[++i]!.byteLength;
      if (memory === current) this.done += n;
      else {
        const owed = this.owed.get(memory);
        // Not a chunk still owed: a joined line's empty buffer, or a line longer than a chunk,
        // which had a buffer of its own for the garbage collector.
        if (owed === undefined) continue;
        if (owed > n) this.owed.set(memory, owed - n);
        else {
          this.owed.delete(memory);
          this.reuse(memory);
        }
      }
    }
  }

  /** Chunks the next lines may take, for tests. */
  get freeChunks(): number {
    return this.free.length;
  }

  private next(most: number): void {
    const old = this.chunk;
    if (old.length === CHUNK_BYTES) {
      if (this.done >= this.used) this.reuse(old.buffer);
      else this.owed.set(old.buffer, this.used - this.done);
    }
    this.used = this.done = 0;
    this.chunk = most > CHUNK_BYTES ? Buffer.allocUnsafe(most) : (this.free.pop() ?? Buffer.allocUnsafe(CHUNK_BYTES));
  }

  private reuse(memory: ArrayBufferLike): void {
    if (this.free.length < FREE_CHUNKS) this.free.push(Buffer.from(memory, 0, CHUNK_BYTES));
  }
}

/** Whether JSON.stringify writes `s` between quotes unchanged: no quote, backslash, control character or surrogate. */
function plain(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 32 || c === 34 || c === 92 || (c >= 0xd800 && c <= 0xdfff)) return false;
  }
  return true;
}

/** What JSON.stringify writes of `s` between the quotes. */
function inner(s: string): string {
  return plain(s) ? s : JSON.stringify(s).slice(1, -1);
}

/**
 * The pieces of a line before an attribute, as [after a closed value, after a string value
 * whose closing quote is still to write]: a value's quotes belong to the pieces around it, so
 * that a line is fewer pieces. Joining a string of some forty pieces and then encoding it cost
 * about 1 µs, as much as making them; every piece folded away is about 25 ns less.
 */
type Piece = readonly [string, string];

/**
 * `s` as one flat string. A piece made by concatenation is a tree of the strings it joined, and
 * V8 walks every such tree again each time a line that holds the piece is flattened to be
 * encoded: with the pieces left as trees, flattening and encoding a line cost 0.67 µs, flat
 * 0.45 µs (bench line). JSON.parse makes a new flat string; the round trip keeps every string,
 * lone surrogates included.
 */
const flat = (s: string): string => JSON.parse(JSON.stringify(s)) as string;

const piece = (text: string): Piece => [flat(text), flat('"' + text)];

/** `,"name":"`: the start of a string attribute. */
const stringKey = (name: string): Piece => piece(`,${JSON.stringify(name)}:"`);

/** The start of a flat structured-data attribute, or the whole attribute of a parameterless element. */
const flatPieces = new PerSdPair((id, name) =>
  piece(name === '' ? `,${JSON.stringify(flatKey(id, ''))}:true` : `,${JSON.stringify(flatKey(id, name))}:"`),
);

/** Where the id goes: 26 placeholder characters, overwritten with the id's bytes once the line is encoded. */
const HEAD = flat('{"id":"' + '0'.repeat(26) + '","timeUnixNano":"');
const ID_AT = HEAD.indexOf('0');

/**
 * The attributes after the peer's, which depend on the format and PRI only, from `,"syslog.format":`
 * to the facility name and, for RFC 5424, the version (always 1 there).
 */
function priorityPieces(format: SyslogMessage['format'], names: FieldNames): string[] {
  const pieces: string[] = [];
  for (let pri = 0; pri <= 191; pri++)
    pieces.push(
      flat(
        `","syslog.format":"${format}",${JSON.stringify(names.priority)}:${pri},${JSON.stringify(names.facility)}:${pri >> 3},"syslog.facility.name":"${FACILITY_NAME[pri >> 3]}` +
          (format === 'rfc5424' ? `",${JSON.stringify(names.version)}:1` : ''),
      ),
    );
  return pieces;
}

const RESOURCE_SERVICE = piece('},"resource":{"service.name":"');
const RESOURCE_HOST = piece('},"resource":{"host.name":"');
const RESOURCE_EMPTY = piece('},"resource":{');
const HOST_AFTER_SERVICE = '","host.name":"';
const ASSET = piece('},"traceId":"","spanId":"","flags":0,"asset":"');
const TITLE = '","title":"';
const SERVICE = '","type":"neutral","service":"';
const TAIL = '","tenant":"","fingerprint":"","source":"syslog"}';
const NO_SERVICE_TAIL = flat(SERVICE + TAIL);
const TRUNCATED = piece(',"syslog.truncated":true');

/**
 * A parsed syslog message straight to the JSON line the file exporter writes for its event,
 * without the event: `eventToJson(syslogToEvent(...))` byte for byte (test/receivers/syslog/
 * fileOutput.test.ts holds both to the same lines). The line is the event's fields in model
 * order: what depends only on the severity and the batch's observed time, or on the peer, the
 * PRI and the format, is one piece made once; a value is written as it is unless
 * JSON.stringify would escape something in it; the id is written into the line's bytes.
 */
export class SyslogLineEncoder {
  private readonly attributeNames: SyslogAttributeNames;
  private readonly names: FieldNames;
  private readonly rfc5424: string[];
  private readonly rfc3164: string[];
  private readonly appnameKey: Piece;
  private readonly procIdKey: Piece;
  private readonly msgIdKey: Piece;
  private readonly sequenceKey: Piece;
  private readonly messageKey: Piece | undefined;
  private readonly hostnameKey: Piece | undefined;
  private readonly structuredDataKey: Piece | undefined;
  private readonly buffers = new LineBuffers();
  private observedNs = -1n;
  /** The batch's observed time in ms, which its ids carry (one clock read per batch). */
  private observedMs = 0;
  /** By severity: `","observedTimeUnixNano":"…","severityNumber":…,"severityText":"…","body":"`. */
  private observedSeverity: string[] = [];
  private origin: Origin | undefined;
  /** By format and PRI, for this origin: `","attributes":{"network.transport":…` to the last header attribute. */
  private originPriority: [string[], string[]] = [[], []];
  private peer = '';

  constructor(attributeNames: SyslogAttributeNames) {
    this.attributeNames = attributeNames;
    const names = (this.names = FIELD_NAMES[attributeNames]);
    this.rfc5424 = priorityPieces('rfc5424', names);
    this.rfc3164 = priorityPieces('rfc3164', names);
    this.appnameKey = stringKey(names.appname);
    this.procIdKey = stringKey(names.procId);
    this.msgIdKey = stringKey(names.msgId);
    this.sequenceKey = stringKey('syslog.sequence');
    this.messageKey = names.message === undefined ? undefined : stringKey(names.message);
    this.hostnameKey = names.hostname === undefined ? undefined : stringKey(names.hostname);
    this.structuredDataKey =
      names.structuredData === undefined ? undefined : piece(`,${JSON.stringify(names.structuredData)}:`);
  }

  /**
   * The line of the event `syslogToEvent(m, origin, observedNs, truncated, attributeNames, line)`
   * would make, as UTF-8 bytes ended by LF.
   */
  encode(m: SyslogMessage, origin: Origin, observedNs: bigint, truncated: boolean, line: string): Buffer {
    const sd = m.structuredData;
    if (m.version !== (m.format === 'rfc5424' ? 1 : 0)) return this.viaEvent(m, origin, observedNs, truncated, line);
    // Two pairs may flatten to one name when an SD-ID holds a dot ([a.b c="1"][a b.c="2"]); the
    // event keeps the last value in the first one's place, which only the event does right.
    if (sd !== undefined && this.structuredDataKey === undefined) {
      for (const id in sd) if (id.includes('.')) return this.viaEvent(m, origin, observedNs, truncated, line);
    }
    if (observedNs !== this.observedNs) this.observe(observedNs);
    if (origin !== this.origin) {
      this.origin = origin;
      this.peer = inner(origin.peerAddress);
      this.originPriority = [[], []];
    }
    const pri = m.priority;
    // A plain message has no line feed, so it is its own title up to 200 characters.
    const plainMessage = plain(m.message);
    const message = plainMessage ? m.message : JSON.stringify(m.message).slice(1, -1);
    const title = plainMessage && m.message.length <= 200 ? message : inner(defaultTitle(m.message));
    let out =
      HEAD +
      m.timeNs.toString() +
      this.observedSeverity[pri & 7]! +
      (this.names.wholeLineBody ? inner(line) : message) +
      this.headerAttributes(m.format, pri);
    // Whether the last thing written is a string value still to be closed: RFC 3164's facility name.
    let open = m.format === 'rfc5424' ? 0 : 1;
    let appname = '';
    if (m.appname) {
      appname = inner(m.appname);
      out += this.appnameKey[open] + appname;
      open = 1;
    }
    if (m.procId) {
      out += this.procIdKey[open] + inner(m.procId);
      open = 1;
    }
    if (m.msgId) {
      out += this.msgIdKey[open] + inner(m.msgId);
      open = 1;
    }
    if (m.sequence) {
      out += this.sequenceKey[open] + inner(m.sequence);
      open = 1;
    }
    if (this.messageKey !== undefined) {
      out += this.messageKey[open] + message;
      open = 1;
    }
    if (sd !== undefined) {
      if (this.structuredDataKey !== undefined) {
        out += this.structuredDataKey[open] + JSON.stringify(structuredDataMap(sd));
        open = 0;
      } else {
        for (const id in sd) {
          const params = sd[id]!;
          let empty = true;
          for (const name in params) {
            out += flatPieces.get(id, name)[open] + inner(params[name]!);
            open = 1;
            empty = false;
          }
          if (empty) {
            out += flatPieces.get(id, '')[open];
            open = 0;
          }
        }
      }
    }
    const hostname = m.hostname ? inner(m.hostname) : '';
    if (hostname !== '' && this.hostnameKey !== undefined) {
      out += this.hostnameKey[open] + hostname;
      open = 1;
    }
    if (truncated) {
      out += TRUNCATED[open];
      open = 0;
    }
    if (m.appname) {
      out += RESOURCE_SERVICE[open] + appname;
      if (hostname !== '') out += HOST_AFTER_SERVICE + hostname;
      open = 1;
    } else if (hostname !== '') {
      out += RESOURCE_HOST[open] + hostname;
      open = 1;
    } else {
      out += RESOURCE_EMPTY[open];
      open = 0;
    }
    out +=
      ASSET[open] +
      (hostname === '' ? this.peer : hostname) +
      TITLE +
      title +
      (m.appname ? SERVICE + appname + TAIL : NO_SERVICE_TAIL);
    return this.buffers.add(out, ID_AT, this.observedMs);
  }

  private observe(observedNs: bigint): void {
    this.observedNs = observedNs;
    this.observedMs = Number(observedNs / 1_000_000n);
    this.observedSeverity = SEVERITY_NUMBER.map((n, s) =>
      flat(
        `","observedTimeUnixNano":"${observedNs}","severityNumber":${n},"severityText":${JSON.stringify(SEVERITY_TEXT[s])},"body":"`,
      ),
    );
  }

  private headerAttributes(format: SyslogMessage['format'], pri: number): string {
    const byPri = this.originPriority[format === 'rfc5424' ? 0 : 1];
    let piece = byPri[pri];
    if (piece === undefined) {
      const origin = this.origin!;
      piece = byPri[pri] = flat(
        `","attributes":{"network.transport":"${origin.transport === 'udp' ? 'udp' : 'tcp'}","network.peer.address":"${this.peer}` +
          (format === 'rfc5424' ? this.rfc5424 : this.rfc3164)[pri]!,
      );
    }
    return piece;
  }

  /** The exporters wrote these lines, made here: see `LineBuffers.written`. */
  written(lines: readonly Uint8Array[]): void {
    this.buffers.written(lines);
  }

  /** The line of an event, made the usual way. */
  line(e: VigilEvent): Buffer {
    return this.buffers.add(eventToJson(e), -1);
  }

  private viaEvent(m: SyslogMessage, origin: Origin, observedNs: bigint, truncated: boolean, line: string): Buffer {
    return this.line(syslogToEvent(m, origin, observedNs, truncated, this.attributeNames, line));
  }
}
