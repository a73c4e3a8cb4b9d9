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
    if (observedNs !== this.observedNs) this.observe(observedNs);
    if (origin !== this.origin) {
      this.origin = origin;
      this.peer = inner(origin.peerAddress);
      this.peerBytes = bytes(this.peer);
      this.originPriority = [[], []];
    }
    const out = this.buffers;
    const pri = m.priority;
    out.piece(HEAD);
    if (m.timeNs !== this.timeNs) {
      this.timeNs = m.timeNs;
      this.timeText = m.timeNs.toString();
    }
    out.text(this.timeText);
    out.piece(this.observedSeverity[pri & 7]!);
    // Where the message's, host name's and app name's bytes are in the line once written
    // (-1: not yet): their later places copy them (`LineBuffers.again`).
    let messageAt = -1;
    let messageEnd = -1;
    let hostAt = -1;
    let hostEnd = -1;
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
    if (hostname && this.hostnameKey !== undefined) {
      out.piece(this.hostnameKey[open]);
      hostAt = out.at;
      out.text(hostname);
      hostEnd = out.at;
      open = 1;
    }
    if (truncated) {
      out.piece(TRUNCATED[open]);
      open = 0;
    }
    if (appname) {
      out.piece(RESOURCE_SERVICE[open]);
      out.again(appAt, appEnd);
      if (hostname) {
        out.piece(HOST_AFTER_SERVICE);
        if (hostAt >= 0) out.again(hostAt, hostEnd);
        else {
          hostAt = out.at;
          out.text(hostname);
          hostEnd = out.at;
        }
      }
      open = 1;
    } else if (hostname) {
      out.piece(RESOURCE_HOST[open]);
      if (hostAt >= 0) out.again(hostAt, hostEnd);
      else {
        hostAt = out.at;
        out.text(hostname);
        hostEnd = out.at;
      }
      open = 1;
    } else {
      out.piece(RESOURCE_EMPTY[open]);
      open = 0;
    }
    out.piece(ASSET[open]);
    if (hostname) out.again(hostAt, hostEnd);
    else out.piece(this.peerBytes);
    out.piece(TITLE);
    if (plainMessage && m.message.length <= 200) out.again(messageAt, messageEnd);
    else out.text(defaultTitle(m.message));
    if (appname) {
      out.piece(SERVICE);
      out.again(appAt, appEnd);
      out.piece(TAIL);
    } else out.piece(NO_SERVICE_TAIL);
    out.end(ID_AT, this.observedMs);
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
