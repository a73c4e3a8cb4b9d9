import type { VigilEvent } from '../../model/event.ts';
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
import { LineBuffers } from '../lineBuffers.ts';
import { PARAM, Rfc5424Fields } from './rfc5424Bytes.ts';
import { PerSdPair } from './sdPairs.ts';

/** What JSON.stringify writes of `s` between the quotes. */
function inner(s: string): string {
  return JSON.stringify(s).slice(1, -1);
}

/** The UTF-8 bytes of a piece of a line. */
const bytes = (text: string): Uint8Array => Buffer.from(text, 'utf8');

/**
 * The pieces of a line before an attribute, as [after a closed value, after a string value
 * whose closing quote is still to write]: a value's quotes belong to the pieces around it, so
 * that a line is fewer pieces.
 */
type Piece = readonly [Uint8Array, Uint8Array];

const piece = (text: string): Piece => [bytes(text), bytes('"' + text)];

/** `,"name":"`: the start of a string attribute. */
const stringKey = (name: string): Piece => piece(`,${JSON.stringify(name)}:"`);

/** The start of a flat structured-data attribute, or the whole attribute of a parameterless element. */
const flatPieces = new PerSdPair((id, name) =>
  piece(name === '' ? `,${JSON.stringify(flatKey(id, ''))}:true` : `,${JSON.stringify(flatKey(id, name))}:"`),
);

/** Where the id goes: 26 placeholder characters, overwritten with the id's bytes once the line is written. */
const HEAD_TEXT = '{"id":"' + '0'.repeat(26) + '","timeUnixNano":"';
const HEAD = bytes(HEAD_TEXT);
const ID_AT = HEAD_TEXT.indexOf('0');

/**
 * The attributes after the peer's, which depend on the format and PRI only, from `,"syslog.format":`
 * to the facility name and, for RFC 5424, the version (always 1 there).
 */
function priorityPieces(format: SyslogMessage['format'], names: FieldNames): string[] {
  const pieces: string[] = [];
  for (let pri = 0; pri <= 191; pri++)
    pieces.push(
      `","syslog.format":"${format}",${JSON.stringify(names.priority)}:${pri},${JSON.stringify(names.facility)}:${pri >> 3},"syslog.facility.name":"${FACILITY_NAME[pri >> 3]}` +
        (format === 'rfc5424' ? `",${JSON.stringify(names.version)}:1` : ''),
    );
  return pieces;
}

const RESOURCE_SERVICE = piece('},"resource":{"service.name":"');
const RESOURCE_HOST = piece('},"resource":{"host.name":"');
const RESOURCE_EMPTY = piece('},"resource":{');
const HOST_AFTER_SERVICE = bytes('","host.name":"');
const ASSET = piece('},"traceId":"","spanId":"","flags":0,"asset":"');
const TITLE = bytes('","title":"');
const SERVICE = bytes('","type":"neutral","service":"');
const TAIL = bytes('","tenant":"","fingerprint":"","source":"syslog"}');
const NO_SERVICE_TAIL = bytes('","type":"neutral","service":"","tenant":"","fingerprint":"","source":"syslog"}');
const TRUNCATED = piece(',"syslog.truncated":true');
const ELLIPSIS = bytes('…');

/**
 * A parsed syslog message straight to the JSON line the file exporter writes for its event,
 * without the event: `eventToJson(syslogToEvent(...))` byte for byte (test/receivers/syslog/
 * fileOutput.test.ts holds both to the same lines). The line is the event's fields in model
 * order, written as bytes where it is kept: what depends only on the severity and the batch's
 * observed time, or on the peer, the PRI and the format, is one piece of bytes made once; a
 * value is written character by character unless JSON.stringify would escape something in it;
 * the id is written into the line's bytes. Made as a string of some forty pieces, a line was
 * joined into one flat string and then encoded: no faster alone (0.77 against 0.87 µs for the
 * bench's line in a loop), but every line left some 2 KB of strings to the garbage collector,
 * which took 11 % of a syslog TCP daemon's main thread, 5 % with bytes (docs/benchmarks.md).
 * A value the line holds again (the message as its title, the host and app names) is copied
 * from where the line has it. A plain RFC 5424 message is written from the bytes it came in
 * (`encodeBytes`), without its text, its parse or its structured-data maps: 0.87–0.92 µs a line
 * of the bench's instead of 1.38–1.45 for decoding, parsing and writing from the text.
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
  /** The message `encodeBytes` reads, and per place in its structured data the last pair there and its pieces. */
  private readonly fields = new Rfc5424Fields();
  private readonly sdKnown: { id: Uint8Array; name: Uint8Array; pieces: Piece }[] = [];
  /** The last message's time and its digits: consecutive messages often share one. */
  private timeNs = -1n;
  private timeText = '';
  private observedNs = -1n;
  /** The batch's observed time in ms, which its ids carry (one clock read per batch). */
  private observedMs = 0;
  /** By severity: `","observedTimeUnixNano":"…","severityNumber":…,"severityText":"…","body":"`. */
  private observedSeverity: Uint8Array[] = [];
  private origin: Origin | undefined;
  /** By format and PRI, for this origin: `","attributes":{"network.transport":…` to the last header attribute. */
  private originPriority: [Uint8Array[], Uint8Array[]] = [[], []];
  /** The peer's address as JSON writes it between quotes, and its bytes. */
  private peer = '';
  private peerBytes: Uint8Array = bytes('');

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
   * would make, as UTF-8 bytes ended by LF: the batch's next line (`finishBatch`).
   */
  encode(m: SyslogMessage, origin: Origin, observedNs: bigint, truncated: boolean, line: string): void {
    const sd = m.structuredData;
    if (m.version !== (m.format === 'rfc5424' ? 1 : 0))
      return void this.viaEvent(m, origin, observedNs, truncated, line);
    // Two pairs may flatten to one name when an SD-ID holds a dot ([a.b c="1"][a b.c="2"]); the
    // event keeps the last value in the first one's place, which only the event does right.
    if (sd !== undefined && this.structuredDataKey === undefined) {
      for (const id in sd) if (id.includes('.')) return void this.viaEvent(m, origin, observedNs, truncated, line);
    }
    const out = this.buffers;
    const pri = m.priority;
    this.head(origin, observedNs, m.timeNs, pri);
    let messageAt = -1;
    let messageEnd = -1;
    let appAt = -1;
    let appEnd = -1;
    // A message of printable ASCII has no line feed, so it is its own title up to 200 characters.
    let plainMessage = false;
    if (this.names.wholeLineBody) out.text(line);
    else {
      messageAt = out.at;
      plainMessage = out.text(m.message);
      messageEnd = out.at;
    }
    out.piece(this.headerAttributes(m.format, pri));
    // Whether the last thing written is a string value still to be closed: RFC 3164's facility name.
    let open: 0 | 1 = m.format === 'rfc5424' ? 0 : 1;
    const appname = m.appname;
    if (appname) {
      out.piece(this.appnameKey[open]);
      appAt = out.at;
      out.text(appname);
      appEnd = out.at;
      open = 1;
    }
    if (m.procId) {
      out.piece(this.procIdKey[open]);
      out.text(m.procId);
      open = 1;
    }
    if (m.msgId) {
      out.piece(this.msgIdKey[open]);
      out.text(m.msgId);
      open = 1;
    }
    if (m.sequence) {
      out.piece(this.sequenceKey[open]);
      out.text(m.sequence);
      open = 1;
    }
    if (this.messageKey !== undefined) {
      out.piece(this.messageKey[open]);
      messageAt = out.at;
      plainMessage = out.text(m.message);
      messageEnd = out.at;
      open = 1;
    }
    if (sd !== undefined) {
      if (this.structuredDataKey !== undefined) {
        out.piece(this.structuredDataKey[open]);
        out.raw(JSON.stringify(structuredDataMap(sd)));
        open = 0;
      } else {
        for (const id in sd) {
          const params = sd[id]!;
          let empty = true;
          for (const name in params) {
            out.piece(flatPieces.get(id, name)[open]);
            out.text(params[name]!);
            open = 1;
            empty = false;
          }
          if (empty) {
            out.piece(flatPieces.get(id, '')[open]);
            open = 0;
          }
        }
      }
    }
    const hostname = m.hostname;
    let hostAt = -1;
    let hostEnd = -1;
    if (hostname && this.hostnameKey !== undefined) {
      out.piece(this.hostnameKey[open]);
      hostAt = out.at;
      out.text(hostname);
      hostEnd = out.at;
      open = 1;
    }
    this.resource(this.tail(open, truncated), appAt, appEnd, hostname !== '');
    if (hostAt >= 0) out.again(hostAt, hostEnd);
    else if (hostname) {
      // Vigil's names: the host name is first written here.
      hostAt = out.at;
      out.text(hostname);
      hostEnd = out.at;
    }
    this.rest(
      appname !== '' || hostname !== '',
      appAt,
      appEnd,
      hostAt,
      hostEnd,
      messageAt,
      messageEnd,
      plainMessage,
      m.message,
    );
  }

  /**
   * The line of an RFC 5424 message from its bytes, `from` to `to` of `src`, read by
   * `Rfc5424Fields` without its text: the line `encode` makes of what the parser reads in it,
   * byte for byte. False, with nothing written, for a message left to the parser (see
   * `Rfc5424Fields`), one with a byte in its MSG that JSON escapes or that is not ASCII, and
   * with the Collector's attribute names; the caller then decodes and parses it.
   */
  encodeBytes(src: Buffer, from: number, to: number, origin: Origin, observedNs: bigint, truncated: boolean): boolean {
    if (this.attributeNames !== 'vigil') return false;
    const f = this.fields;
    if (!f.scan(src, from, to)) return false;
    const out = this.buffers;
    this.head(origin, observedNs, f.timeNs, f.priority);
    const messageAt = out.at;
    if (!out.bytes(src, f.messageFrom, to)) {
      out.abandon();
      return false;
    }
    const messageEnd = out.at;
    out.piece(this.headerAttributes('rfc5424', f.priority));
    let open: 0 | 1 = 0;
    let plain = true;
    let appAt = -1;
    let appEnd = -1;
    if (f.appTo > f.appFrom) {
      out.piece(this.appnameKey[0]);
      appAt = out.at;
      plain = out.bytes(src, f.appFrom, f.appTo);
      appEnd = out.at;
      open = 1;
    }
    if (f.procTo > f.procFrom) {
      out.piece(this.procIdKey[open]);
      plain &&= out.bytes(src, f.procFrom, f.procTo);
      open = 1;
    }
    if (f.msgIdTo > f.msgIdFrom) {
      out.piece(this.msgIdKey[open]);
      plain &&= out.bytes(src, f.msgIdFrom, f.msgIdTo);
      open = 1;
    }
    const sd = f.sd;
    for (let k = 0; k < f.params * PARAM; k += PARAM) {
      const pieces = this.sdPieces(src, sd, k);
      out.piece(pieces[open]);
      if (sd[k + 2]! < 0) open = 0;
      else {
        plain &&= out.bytes(src, sd[k + 4]!, sd[k + 5]!);
        open = 1;
      }
    }
    const host = f.hostTo > f.hostFrom;
    this.resource(this.tail(open, truncated), appAt, appEnd, host);
    let hostAt = -1;
    let hostEnd = -1;
    if (host) {
      hostAt = out.at;
      plain &&= out.bytes(src, f.hostFrom, f.hostTo);
      hostEnd = out.at;
    }
    // The reader let through only bytes written as they are: this holds unless it has a fault.
    if (!plain) {
      out.abandon();
      return false;
    }
    this.rest(appAt >= 0 || host, appAt, appEnd, hostAt, hostEnd, messageAt, messageEnd, true, '');
    return true;
  }

  /** Takes what the batch's time and the sender change, and writes the line up to its body's value. */
  private head(origin: Origin, observedNs: bigint, timeNs: bigint, pri: number): void {
    if (observedNs !== this.observedNs) this.observe(observedNs);
    if (origin !== this.origin) {
      this.origin = origin;
      this.peer = inner(origin.peerAddress);
      this.peerBytes = bytes(this.peer);
      this.originPriority = [[], []];
    }
    const out = this.buffers;
    out.piece(HEAD);
    if (timeNs !== this.timeNs) {
      this.timeNs = timeNs;
      this.timeText = timeNs.toString();
    }
    out.text(this.timeText);
    out.piece(this.observedSeverity[pri & 7]!);
  }

  /** The truncation mark, if any, after the attributes; whether the last value is a string still open. */
  private tail(open: 0 | 1, truncated: boolean): 0 | 1 {
    if (!truncated) return open;
    this.buffers.piece(TRUNCATED[open]);
    return 0;
  }

  /**
   * The resource up to where its host name goes: the app name (at `appAt`, -1 for none) as
   * service.name, then the key of host.name when there is a host.
   */
  private resource(open: 0 | 1, appAt: number, appEnd: number, host: boolean): void {
    const out = this.buffers;
    if (appAt >= 0) {
      out.piece(RESOURCE_SERVICE[open]);
      out.again(appAt, appEnd);
      if (host) out.piece(HOST_AFTER_SERVICE);
    } else out.piece(host ? RESOURCE_HOST[open] : RESOURCE_EMPTY[open]);
  }

  /**
   * From the end of the resource to the end of the line, whose values were all written before:
   * where the app name, host name and message are (-1: none), whether the resource ended on a
   * string value, and whether the message is plain (its text, for a title when it is not).
   */
  private rest(
    openResource: boolean,
    appAt: number,
    appEnd: number,
    hostAt: number,
    hostEnd: number,
    messageAt: number,
    messageEnd: number,
    plainMessage: boolean,
    message: string,
  ): void {
    const out = this.buffers;
    out.piece(ASSET[openResource ? 1 : 0]);
    if (hostAt >= 0) out.again(hostAt, hostEnd);
    else out.piece(this.peerBytes);
    out.piece(TITLE);
    // A plain message's characters are its bytes: the title is its first 200, or 199 and '…'.
    if (!plainMessage) out.text(defaultTitle(message));
    else if (messageEnd - messageAt <= 200) out.again(messageAt, messageEnd);
    else {
      out.again(messageAt, messageAt + 199);
      out.piece(ELLIPSIS);
    }
    if (appAt >= 0) {
      out.piece(SERVICE);
      out.again(appAt, appEnd);
      out.piece(TAIL);
    } else out.piece(NO_SERVICE_TAIL);
    out.end(ID_AT, this.observedMs);
  }

  /** The pieces before the structured-data parameter at `k` in `sd`: made once per pair, kept per place in the line. */
  private sdPieces(src: Buffer, sd: Int32Array, k: number): Piece {
    const slot = k / PARAM;
    const idFrom = sd[k]!;
    const idLength = sd[k + 1]! - idFrom;
    const nameFrom = sd[k + 2]!;
    const nameLength = nameFrom < 0 ? 0 : sd[k + 3]! - nameFrom;
    const known = this.sdKnown[slot];
    if (known !== undefined && known.id.length === idLength && known.name.length === nameLength) {
      let hit = true;
      for (let i = 0; i < idLength && hit; i++) hit = known.id[i] === src[idFrom + i];
      for (let i = 0; i < nameLength && hit; i++) hit = known.name[i] === src[nameFrom + i];
      if (hit) return known.pieces;
    }
    const id = src.toString('latin1', idFrom, idFrom + idLength);
    const name = nameFrom < 0 ? '' : src.toString('latin1', nameFrom, nameFrom + nameLength);
    const pieces = flatPieces.get(id, name);
    this.sdKnown[slot] = { id: bytes(id), name: bytes(name), pieces };
    return pieces;
  }

  private observe(observedNs: bigint): void {
    this.observedNs = observedNs;
    this.observedMs = Number(observedNs / 1_000_000n);
    this.observedSeverity = SEVERITY_NUMBER.map((n, s) =>
      bytes(
        `","observedTimeUnixNano":"${observedNs}","severityNumber":${n},"severityText":${JSON.stringify(SEVERITY_TEXT[s])},"body":"`,
      ),
    );
  }

  private headerAttributes(format: SyslogMessage['format'], pri: number): Uint8Array {
    const byPri = this.originPriority[format === 'rfc5424' ? 0 : 1];
    let piece = byPri[pri];
    if (piece === undefined) {
      const origin = this.origin!;
      piece = byPri[pri] = bytes(
        `","attributes":{"network.transport":"${origin.transport === 'udp' ? 'udp' : 'tcp'}","network.peer.address":"${this.peer}` +
          (format === 'rfc5424' ? this.rfc5424 : this.rfc3164)[pri]!,
      );
    }
    return piece;
  }

  /** Starts a batch of lines: see `LineBuffers.beginBatch`. */
  beginBatch(): void {
    this.buffers.beginBatch();
  }

  /** The batch's lines into `lines`: see `LineBuffers.finishBatch`. */
  finishBatch(lines: unknown[]): void {
    this.buffers.finishBatch(lines);
  }

  /** The exporters wrote these lines, made here: see `LineBuffers.written`. */
  written(lines: readonly Uint8Array[]): void {
    this.buffers.written(lines);
  }

  /** The line of an event, made the usual way. */
  line(e: VigilEvent): void {
    this.buffers.add(eventToJson(e), -1);
  }

  private viaEvent(m: SyslogMessage, origin: Origin, observedNs: bigint, truncated: boolean, line: string): void {
    this.line(syslogToEvent(m, origin, observedNs, truncated, this.attributeNames, line));
  }
}
