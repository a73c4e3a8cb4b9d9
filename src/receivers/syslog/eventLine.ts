import { newEventId } from '../../model/event.ts';
import { eventToJson } from '../../model/eventJson.ts';
import { defaultTitle } from '../json/mapping.ts';
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

/** Whether JSON.stringify writes `s` between quotes unchanged: no quote, backslash, control character or surrogate. */
function plain(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 32 || c === 34 || c === 92 || (c >= 0xd800 && c <= 0xdfff)) return false;
  }
  return true;
}

/** `s` as JSON.stringify writes it. */
function json(s: string): string {
  return plain(s) ? '"' + s + '"' : JSON.stringify(s);
}

/** `,"syslog.sd.<SD-ID>.<param>":`, the start of a flat structured-data attribute in a line. */
const flatPieces = new PerSdPair((id, name) => ',' + JSON.stringify(flatKey(id, name)) + ':');

/** `,"severityNumber":…,"severityText":"…","body":` by severity. */
const SEVERITY_PIECES = SEVERITY_NUMBER.map(
  (n, s) => `,"severityNumber":${n},"severityText":${JSON.stringify(SEVERITY_TEXT[s])},"body":`,
);

/** The attributes after the peer's, which depend on the format and PRI only: `,"syslog.format":…` to the facility name. */
function priorityPieces(format: SyslogMessage['format'], names: FieldNames): string[] {
  const pieces: string[] = [];
  for (let pri = 0; pri <= 191; pri++)
    pieces.push(
      `,"syslog.format":"${format}",${JSON.stringify(names.priority)}:${pri},${JSON.stringify(names.facility)}:${pri >> 3},"syslog.facility.name":${JSON.stringify(FACILITY_NAME[pri >> 3])}`,
    );
  return pieces;
}

/** `,"name":` for an optional attribute. */
const key = (name: string): string => ',' + JSON.stringify(name) + ':';

/**
 * A parsed syslog message straight to the JSON line the file exporter writes for its event,
 * without the event: `eventToJson(syslogToEvent(...))` byte for byte (test/receivers/syslog/
 * fileOutput.test.ts holds both to the same lines). The line is the event's fields in model
 * order: what depends only on the severity, the PRI and format, the peer or the batch's
 * observed time is a piece made once, and a value is written between quotes as it is unless
 * JSON.stringify would escape something in it. In the daemon's profile that was X µs a message
 * against Y µs for mapping the event and serialising it.
 */
export class SyslogLineEncoder {
  private readonly attributeNames: SyslogAttributeNames;
  private readonly names: FieldNames;
  private readonly rfc5424: string[];
  private readonly rfc3164: string[];
  private readonly versionKey: string;
  private readonly appnameKey: string;
  private readonly procIdKey: string;
  private readonly msgIdKey: string;
  private observedNs = -1n;
  /** `","observedTimeUnixNano":"…"`. */
  private observedPiece = '';
  private origin: Origin | undefined;
  /** `,"attributes":{"network.transport":…,"network.peer.address":…`. */
  private originPiece = '';
  private peerJson = '';

  constructor(attributeNames: SyslogAttributeNames) {
    this.attributeNames = attributeNames;
    const names = (this.names = FIELD_NAMES[attributeNames]);
    this.rfc5424 = priorityPieces('rfc5424', names);
    this.rfc3164 = priorityPieces('rfc3164', names);
    this.versionKey = key(names.version);
    this.appnameKey = key(names.appname);
    this.procIdKey = key(names.procId);
    this.msgIdKey = key(names.msgId);
  }

  /** The line of the event `syslogToEvent(m, origin, observedNs, truncated, attributeNames, line)` would make. */
  encode(m: SyslogMessage, origin: Origin, observedNs: bigint, truncated: boolean, line: string): string {
    const sd = m.structuredData;
    // Two pairs may flatten to one name when an SD-ID holds a dot ([a.b c="1"][a b.c="2"]); the
    // event keeps the last value in the first one's place, which only the event does right.
    if (sd !== undefined && this.names.structuredData === undefined) {
      for (const id in sd) if (id.includes('.')) return this.viaEvent(m, origin, observedNs, truncated, line);
    }
    if (observedNs !== this.observedNs) {
      this.observedNs = observedNs;
      this.observedPiece = `","observedTimeUnixNano":"${observedNs}"`;
    }
    if (origin !== this.origin) {
      this.origin = origin;
      this.peerJson = JSON.stringify(origin.peerAddress);
      this.originPiece = `,"attributes":{"network.transport":"${origin.transport === 'udp' ? 'udp' : 'tcp'}","network.peer.address":${this.peerJson}`;
    }
    const names = this.names;
    const pri = m.priority;
    const message = json(m.message);
    const title = m.message.length <= 200 && !m.message.includes('\n') ? message : json(defaultTitle(m.message));
    let out =
      '{"id":"' +
      newEventId() +
      '","timeUnixNano":"' +
      m.timeNs.toString() +
      this.observedPiece +
      SEVERITY_PIECES[pri & 7]! +
      (names.wholeLineBody ? json(line) : message) +
      this.originPiece +
      (m.format === 'rfc5424' ? this.rfc5424 : this.rfc3164)[pri]!;
    if (m.version) out += this.versionKey + m.version;
    let appname = '""';
    if (m.appname) {
      appname = json(m.appname);
      out += this.appnameKey + appname;
    }
    if (m.procId) out += this.procIdKey + json(m.procId);
    if (m.msgId) out += this.msgIdKey + json(m.msgId);
    if (m.sequence) out += ',"syslog.sequence":' + json(m.sequence);
    if (names.message !== undefined) out += ',"message":' + message;
    if (sd !== undefined) {
      if (names.structuredData !== undefined) out += ',"structured_data":' + JSON.stringify(structuredDataMap(sd));
      else {
        for (const id in sd) {
          const params = sd[id]!;
          let empty = true;
          for (const name in params) {
            out += flatPieces.get(id, name) + json(params[name]!);
            empty = false;
          }
          if (empty) out += flatPieces.get(id, '') + 'true';
        }
      }
    }
    const hostname = m.hostname ? json(m.hostname) : '';
    if (hostname !== '' && names.hostname !== undefined) out += ',"hostname":' + hostname;
    if (truncated) out += ',"syslog.truncated":true';
    out += '},"resource":{';
    if (m.appname) out += '"service.name":' + appname + (hostname === '' ? '' : ',"host.name":' + hostname);
    else if (hostname !== '') out += '"host.name":' + hostname;
    return (
      out +
      '},"traceId":"","spanId":"","flags":0,"asset":' +
      (hostname === '' ? this.peerJson : hostname) +
      ',"title":' +
      title +
      ',"type":"neutral","service":' +
      appname +
      ',"tenant":"","fingerprint":"","source":"syslog"}'
    );
  }

  private viaEvent(m: SyslogMessage, origin: Origin, observedNs: bigint, truncated: boolean, line: string): string {
    return eventToJson(syslogToEvent(m, origin, observedNs, truncated, this.attributeNames, line));
  }
}

/** Bytes of the buffers lines are encoded into; a line longer than this gets one of its own. */
const CHUNK_BYTES = 256 * 1024;

/**
 * Lines encoded as UTF-8, each ended by LF, into shared buffers as soon as they are made, each
 * handed on as a view of its bytes. A line held as a string until the file exporter wrote it
 * (a tree of some forty pieces, which the queue kept long enough to be moved to the old
 * generation) took twice the garbage collector's time of the events it replaced; as bytes
 * outside the heap it is one small object.
 */
export class LineBuffers {
  private chunk = Buffer.allocUnsafe(0);
  private used = 0;

  add(text: string): Buffer {
    // A UTF-16 code unit takes at most 3 bytes.
    const most = text.length * 3 + 1;
    if (this.chunk.length - this.used < most) {
      this.chunk = Buffer.allocUnsafe(Math.max(most, CHUNK_BYTES));
      this.used = 0;
    }
    const chunk = this.chunk;
    const start = this.used;
    let end = start + chunk.write(text, start);
    chunk[end++] = 10;
    this.used = end;
    return chunk.subarray(start, end);
  }
}
