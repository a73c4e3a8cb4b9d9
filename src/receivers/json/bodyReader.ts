import { eventToJson } from '../../model/eventJson.ts';
import { severityFromText } from '../../model/severity.ts';
import { parseIsoUtcBytes, parseTimestampNs } from '../../model/timestamp.ts';
import { defaultTitle } from '../../model/title.ts';
import { isUtf8 } from 'node:buffer';
import { LineBuffers } from '../lineBuffers.ts';
import { sliceString, type FastSliceBuffer } from '../../byteStrings.ts';
import type { FieldMapping } from './config.ts';
import { JsonEventMapper, TYPES } from './mapping.ts';
import { blankEvent, type EventType, type VigilEvent } from '../../model/event.ts';
import type { AttrValue } from '../../model/attributes.ts';
import { CHECKPOINT_EVERY } from '../recordLimit.ts';
import {
  canonicalNumber,
  plainKey,
  QUOTE_STOP,
  sameBytes,
  sameSpan,
  skipSpace,
  skipValue,
  STRING_STOPS,
  WIDE_STOP,
  WordCache,
} from './jsonBytes.ts';

/** The mapped fields, in the order the mapper reads them; a key's field is its place here. */
const FIELDS = [
  'time',
  'severity',
  'body',
  'asset',
  'title',
  'type',
  'service',
  'tenant',
  'trace_id',
  'span_id',
  'attributes',
  'resource',
] as const satisfies readonly (keyof FieldMapping)[];
const TIME = FIELDS.indexOf('time');
const SEVERITY = FIELDS.indexOf('severity');
const BODY = FIELDS.indexOf('body');
const ASSET = FIELDS.indexOf('asset');
const TITLE = FIELDS.indexOf('title');
const TYPE = FIELDS.indexOf('type');
const SERVICE = FIELDS.indexOf('service');
const TENANT = FIELDS.indexOf('tenant');
const TRACE_ID = FIELDS.indexOf('trace_id');
const SPAN_ID = FIELDS.indexOf('span_id');
/** attributes and resource: fields that take objects, and all after them. */
const ATTRIBUTES = FIELDS.indexOf('attributes');

/** A value's kind, as the scan found it: a JSON string, number or literal. */
const STRING = 1;
const NUMBER = 2;
const TRUE = 3;
const FALSE = 4;
const NULL = 5;
/** An object or array written compactly, as JSON.stringify would write what it holds (`compact`). */
const NESTED = 6;

/** Levels a nested value may go below its record before the record is left to the mapper, which rejects past 64 in all. */
const MAX_NESTING = 60;
/** Keys an object nested in a record may have, each checked against the others, before the record is left to the mapper. */
const MAX_NESTED_KEYS = 32;

/** A top-level key as the scan met it: its text, the field it maps to and that path's rank in the field's list. */
interface Key {
  readonly bytes: Uint8Array;
  readonly text: string;
  /** Index in FIELDS, or -1: an attribute. */
  readonly field: number;
  readonly rank: number;
  /** Whether an object holds it where it came (`plainKey`): not all digits, not "__proto__". */
  readonly plain: boolean;
  /**
   * Whether a dotted path of the mapping begins with it (`host` of `host.name`): the mapper
   * then looks into an object under it, which only the mapper does.
   */
  readonly pathTop: boolean;
  /** The record it was last seen in, to find a key given twice. */
  seen: number;
}

/** Slots of the key table (a power of two), and the keys it holds at most before it is emptied. */
const KEY_SLOTS = 1024;
const MAX_KEYS = 512;

const bytes = (text: string): Uint8Array => Buffer.from(text, 'utf8');
/** What the reader holds between bodies: not the last one. */
const NO_BODY = Buffer.alloc(0);

const HEAD_TEXT = '{"id":"' + '0'.repeat(26) + '","timeUnixNano":"';
const HEAD = bytes(HEAD_TEXT);
const ID_AT = HEAD_TEXT.indexOf('0');
const OBSERVED = '","observedTimeUnixNano":"';
/** By severity number: `N,"severityText":"`. */
const SEVERITY_PIECES = Array.from({ length: 25 }, (_, n) => bytes(`${n},"severityText":"`));
const BODY_KEY = bytes('","body":');
const EMPTY_BODY = bytes('""');
const ATTRIBUTES_KEY = bytes(',"attributes":{');
const TRACE_KEY = bytes('},"resource":{},"traceId":"');
const NO_IDS = bytes('},"resource":{},"traceId":"","spanId":"","flags":0,"asset":"');
const SPAN_KEY = bytes('","spanId":"');
const ASSET_KEY = bytes('","flags":0,"asset":"');
const TITLE_KEY = bytes('","title":"');
/** By type: `","type":"…","service":"`. */
const TYPE_PIECES: Record<EventType, Uint8Array> = {
  up: bytes('","type":"up","service":"'),
  down: bytes('","type":"down","service":"'),
  neutral: bytes('","type":"neutral","service":"'),
};
const TENANT_KEY = bytes('","tenant":"');
const TAIL = bytes('","fingerprint":"","source":"json"}');
const NO_TENANT_TAIL = bytes('","tenant":"","fingerprint":"","source":"json"}');
const ELLIPSIS = bytes('…');
const HEX = { [TRACE_ID]: /^[0-9a-fA-F]{32}$/, [SPAN_ID]: /^[0-9a-fA-F]{16}$/ } as Record<number, RegExp>;

/**
 * A JSON receiver's body read where it lies, in its bytes, into what the pipeline takes: the
 * lines the file exporter writes for its events (`lines`), without the events, or the events
 * themselves (`events`), without `JSON.parse` of the body. Either is what parsing the body and
 * mapping each record makes (`eventToJson(mapper.map(JSON.parse(record)))` byte for byte, ids
 * aside; `test/receivers/json/bodyReader.test.ts` holds both to it over thousands of generated
 * and mutated bodies). A record whose values are strings without escapes, numbers JSON writes as
 * they are, true, false, null, and objects and arrays of those written as JSON.stringify writes
 * them (`compact`) is read where it lies: for a line, each value's bytes are copied (JSON writes
 * such a value just as it came), the unmapped keys with their values in one piece each; for an
 * event, each value's string is made from its bytes, the same bytes handing out the same string
 * (`sliceString`). Only the few values the mapping interprets (time, severity, type, ids) are
 * read as text. Any other record (escapes, spaced-out nested values, keys given twice or that
 * an object would reorder, an object the mapper looks into) is parsed and mapped as the
 * receiver always did. A body that is not valid UTF-8, not an object, an array of objects or
 * NDJSON of objects, or holds a record the mapping rejects, is left to the receiver's own path,
 * which says why.
 */
export class JsonBodyReader {
  /** Records parsed and mapped (not read where they lie), since this reader was made. */
  recordsViaEvents = 0;
  private readonly buffers = new LineBuffers();
  private readonly mapper: JsonEventMapper;
  /** Per key text, its field and rank: the mapping's paths, as the keys that match them literally. */
  private readonly mapped = new Map<string, { field: number; rank: number }>();
  /** The first segments of the mapping's dotted paths. */
  private readonly pathTops = new Set<string>();
  private readonly table: (Key | undefined)[] = new Array<Key | undefined>(KEY_SLOTS).fill(undefined);
  private tableKeys = 0;
  private record = 0;
  private body: Buffer = NO_BODY;
  /**
   * The record's keys and values, by place: the key, where its text begins (after its quote),
   * where its value begins and ends (a string's quotes included), and the value's kind.
   */
  private keys: (Key | undefined)[] = Array.from({ length: 64 }, () => undefined);
  /** How many of `keys` are the record's (those after are earlier records', guesses for the next). */
  private keyCount = 0;
  private keyAt = new Int32Array(64);
  private valueFrom = new Int32Array(64);
  private valueTo = new Int32Array(64);
  private valueKind = new Uint8Array(64);
  /** Per field, the place of the key that gives it in this record, or -1. */
  private readonly given = new Int32Array(FIELDS.length);
  private readonly givenRank = new Int32Array(FIELDS.length);
  /** Whether the record's strings hold bytes past ASCII. */
  private wide = false;
  /** The body's observed time as the line writes it, and the ms its ids carry. */
  private observedPiece: Uint8Array = bytes('');
  private idMs = 0;
  private observedNs = 0n;
  private tenant: Uint8Array | undefined;
  private tenantText: string | undefined;
  /** The last time field read, as it came (quotes included), and its ns as the line writes them. */
  private timeBytes = new Uint8Array(0);
  private timeText = '';
  private timeNs = 0n;
  /** The events `events` makes, while it makes them (lines are made otherwise). */
  private made: VigilEvent[] | undefined;
  private readonly severities = new WordCache<number>();
  /** Strings made for values, handed out again for the same bytes (`sliceString`). */
  private readonly strings: string[] = new Array<string>(4096).fill('');
  private readonly types = new WordCache<EventType | null>();

  private constructor(mapping: FieldMapping) {
    this.mapper = new JsonEventMapper(mapping);
    FIELDS.forEach((field, index) =>
      mapping[field].forEach((path, rank) => {
        if (!this.mapped.has(path)) this.mapped.set(path, { field: index, rank });
        if (path.includes('.')) this.pathTops.add(path.slice(0, path.indexOf('.')));
      }),
    );
  }

  /**
   * The reader for `mapping`, or undefined when a key is a path of two fields (the mapper then
   * reads one key twice, which this reader does not).
   */
  static for(mapping: FieldMapping): JsonBodyReader | undefined {
    const fieldOf = new Map<string, string>();
    for (const field of FIELDS)
      for (const path of mapping[field]) {
        const other = fieldOf.get(path);
        if (other !== undefined && other !== field) return undefined;
        fieldOf.set(path, field);
      }
    return new JsonBodyReader(mapping);
  }

  /**
   * The lines of the events in `body` (one object, an array of objects, or NDJSON when
   * `ndjson`), as UTF-8 ended by LF, ready to hand on in `lines` (see `LineBuffers.finishBatch`):
   * their number, or -1 when the body must take the receiver's own path, nothing then written.
   * `tenant`, when given, is every event's. `checkpoint` is called every CHECKPOINT_EVERY
   * records and may throw (memory short): the lines are then dropped.
   */
  lines(
    body: Buffer,
    ndjson: boolean,
    observedNs: bigint,
    tenant: string | undefined,
    lines: Uint8Array[],
    checkpoint: () => void,
  ): number {
    if (!isUtf8(body)) return -1;
    this.begin(body, observedNs, tenant);
    this.observedPiece = bytes(OBSERVED + observedNs.toString() + '","severityNumber":');
    const out = this.buffers;
    out.beginBatch();
    let n: number;
    try {
      n = ndjson ? this.walkNdjson(checkpoint) : this.walkDocument(checkpoint);
    } catch (err) {
      out.abandonBatch();
      throw err;
    } finally {
      this.body = NO_BODY;
    }
    // No record: the receiver's path answers that none came.
    if (n <= 0) {
      out.abandonBatch();
      return -1;
    }
    lines.length = n;
    out.finishBatch(lines);
    return n;
  }

  /**
   * The events of `body`, as `lines` makes lines: what parsing the body and mapping each
   * record makes, or undefined when the body must take the receiver's own path.
   */
  events(
    body: Buffer,
    ndjson: boolean,
    observedNs: bigint,
    tenant: string | undefined,
    checkpoint: () => void,
  ): VigilEvent[] | undefined {
    if (!isUtf8(body)) return undefined;
    this.begin(body, observedNs, tenant);
    const made: VigilEvent[] = (this.made = []);
    let n: number;
    try {
      n = ndjson ? this.walkNdjson(checkpoint) : this.walkDocument(checkpoint);
    } finally {
      this.body = NO_BODY;
      this.made = undefined;
    }
    return n <= 0 ? undefined : made;
  }

  private begin(body: Buffer, observedNs: bigint, tenant: string | undefined): void {
    this.body = body;
    this.observedNs = observedNs;
    this.tenantText = tenant;
    this.idMs = Date.now();
    this.tenant = tenant === undefined ? undefined : bytes(JSON.stringify(tenant).slice(1, -1));
  }

  /** `written` of the lines `lines` made: see `LineBuffers.written`. */
  written(lines: readonly Uint8Array[]): void {
    this.buffers.written(lines);
  }

  /** One object or an array of objects, and nothing after but whitespace. */
  private walkDocument(checkpoint: () => void): number {
    const b = this.body;
    const end = b.length;
    let p = skipSpace(b, 0);
    let n = 0;
    if (b[p] === 0x7b /* { */) {
      p = this.object(p);
      n = 1;
    } else if (b[p] === 0x5b /* [ */) {
      p = skipSpace(b, p + 1);
      if (b[p] === 0x5d /* ] */) p++;
      else
        for (;;) {
          if (b[p] !== 0x7b || n === 0x7fffffff) return -1;
          if (++n % CHECKPOINT_EVERY === 0) checkpoint();
          p = this.object(p);
          if (p < 0) return -1;
          p = skipSpace(b, p);
          if (b[p] === 0x2c /* , */) p = skipSpace(b, p + 1);
          else if (b[p] === 0x5d) {
            p++;
            break;
          } else return -1;
        }
    } else return -1;
    if (p < 0 || skipSpace(b, p) !== end) return -1;
    return n;
  }

  /** NDJSON: one object per line, blank lines between. */
  private walkNdjson(checkpoint: () => void): number {
    const b = this.body;
    const end = b.length;
    let n = 0;
    let p = skipSpace(b, 0);
    while (p < end) {
      const lineEnd = b.indexOf(0x0a, p);
      const to = lineEnd < 0 ? end : lineEnd;
      if (b[p] !== 0x7b) return -1;
      if (++n % CHECKPOINT_EVERY === 0) checkpoint();
      p = this.object(p);
      // An object that goes on past its line is two bad lines to the receiver's path.
      if (p < 0 || p > to) return -1;
      p = skipSpace(b, p);
      if (p < to) return -1;
    }
    return n;
  }

  /**
   * The line of the object at `from` (its `{`): where the object ends, or -1 when the body must
   * take the receiver's path.
   */
  private object(from: number): number {
    const to = this.flat(from);
    const made = this.made;
    if (made !== undefined) {
      const ev = to >= 0 ? this.build() : undefined;
      if (ev !== undefined) {
        made.push(ev);
        return to;
      }
    } else if (to >= 0) {
      if (this.write()) return to;
      this.buffers.abandon();
    }
    return this.viaEvent(from);
  }

  /**
   * Reads the flat object at `from` into the record's keys and values: where it ends, or -1
   * when it is not flat (or not JSON, which the parse then says).
   */
  private flat(from: number): number {
    const b = this.body;
    if (this.tableKeys > MAX_KEYS) {
      // The keys guessed from the last record go too: a record's keys must all be the table's,
      // one object per text, for a key given twice to be seen.
      this.table.fill(undefined);
      this.tableKeys = 0;
      this.keys.fill(undefined);
    }
    const record = ++this.record;
    this.wide = false;
    let count = 0;
    let p = skipSpace(b, from + 1);
    if (b[p] === 0x7d /* } */) {
      this.keyCount = 0;
      return p + 1;
    }
    for (;;) {
      if (b[p] !== 0x22) return -1;
      const keyFrom = p + 1;
      // The last record's key in this place, most often this one's: then neither the key's
      // scan nor its look-up is needed.
      let key: Key | undefined = this.keys[count];
      let keyTo = key === undefined ? -1 : keyFrom + key.bytes.length;
      if (key === undefined || b[keyTo] !== 0x22 || !sameBytes(b, keyFrom, key.bytes)) {
        keyTo = this.string(keyFrom);
        if (keyTo < 0) return -1;
        key = this.key(keyFrom, keyTo);
      }
      if (key === undefined || !key.plain || key.seen === record) return -1;
      key.seen = record;
      p = skipSpace(b, keyTo + 1);
      if (b[p] !== 0x3a /* : */) return -1;
      p = skipSpace(b, p + 1);
      const valueFrom = p;
      const c = b[p];
      let kind: number;
      if (c === 0x22) {
        p = this.string(p + 1);
        if (p < 0) return -1;
        p++;
        kind = STRING;
      } else if (c === 0x74 /* t */) {
        if (b[p + 1] !== 0x72 || b[p + 2] !== 0x75 || b[p + 3] !== 0x65) return -1;
        p += 4;
        kind = TRUE;
      } else if (c === 0x66 /* f */) {
        if (b[p + 1] !== 0x61 || b[p + 2] !== 0x6c || b[p + 3] !== 0x73 || b[p + 4] !== 0x65) return -1;
        p += 5;
        kind = FALSE;
      } else if (c === 0x6e /* n */) {
        if (b[p + 1] !== 0x75 || b[p + 2] !== 0x6c || b[p + 3] !== 0x6c) return -1;
        p += 4;
        kind = NULL;
      } else if (c === 0x7b || c === 0x5b) {
        p = this.compact(p, 1);
        if (p < 0) return -1;
        kind = NESTED;
      } else {
        p = canonicalNumber(b, p);
        if (p < 0) return -1;
        kind = NUMBER;
      }
      if (count === this.keys.length) this.grow();
      this.keys[count] = key;
      this.keyAt[count] = keyFrom;
      this.valueFrom[count] = valueFrom;
      this.valueTo[count] = p;
      this.valueKind[count] = kind;
      count++;
      p = skipSpace(b, p);
      if (b[p] === 0x2c) p = skipSpace(b, p + 1);
      else if (b[p] === 0x7d) {
        this.keyCount = count;
        return p + 1;
      } else return -1;
    }
  }

  /**
   * Where the object or array at `p` ends, when JSON.stringify writes what JSON.parse makes of
   * it as the same bytes: no whitespace, strings without escapes, numbers as `canonicalNumber`
   * takes them, an object's keys neither given twice, nor array indexes (an object lists those
   * first), nor `__proto__`; at most MAX_NESTING levels deep and MAX_NESTED_KEYS keys an object.
   * -1 for any other, left to the mapper.
   */
  private compact(p: number, depth: number): number {
    const b = this.body;
    if (depth > MAX_NESTING) return -1;
    const object = b[p] === 0x7b;
    const close = object ? 0x7d : 0x5d;
    p++;
    if (b[p] === close) return p + 1;
    // The object's keys so far: where each begins and ends.
    const keys: number[] = [];
    for (;;) {
      if (object) {
        if (b[p] !== 0x22) return -1;
        const keyTo = this.string(p + 1);
        if (keyTo < 0 || !plainKey(b, p + 1, keyTo)) return -1;
        for (let k = 0; k < keys.length; k += 2)
          if (keys[k + 1]! - keys[k]! === keyTo - p - 1 && sameSpan(b, keys[k]!, p + 1, keyTo - p - 1)) return -1;
        if (keys.length === 2 * MAX_NESTED_KEYS) return -1;
        keys.push(p + 1, keyTo);
        p = keyTo + 1;
        if (b[p] !== 0x3a) return -1;
        p++;
      }
      const c = b[p];
      if (c === 0x22) {
        p = this.string(p + 1);
        if (p < 0) return -1;
        p++;
      } else if (c === 0x7b || c === 0x5b) {
        p = this.compact(p, depth + 1);
        if (p < 0) return -1;
      } else if (c === 0x74) {
        if (b[p + 1] !== 0x72 || b[p + 2] !== 0x75 || b[p + 3] !== 0x65) return -1;
        p += 4;
      } else if (c === 0x66) {
        if (b[p + 1] !== 0x61 || b[p + 2] !== 0x6c || b[p + 3] !== 0x73 || b[p + 4] !== 0x65) return -1;
        p += 5;
      } else if (c === 0x6e) {
        if (b[p + 1] !== 0x75 || b[p + 2] !== 0x6c || b[p + 3] !== 0x6c) return -1;
        p += 4;
      } else {
        p = canonicalNumber(b, p);
        if (p < 0) return -1;
      }
      if (b[p] === 0x2c) p++;
      else if (b[p] === close) return p + 1;
      else return -1;
    }
  }

  /** Where the string whose first byte is at `from` ends (its closing quote), or -1 for one with an escape or a control character. */
  private string(from: number): number {
    const b = this.body;
    const end = b.length;
    for (let p = from; p < end; p++) {
      // One look-up per byte: most are none of these.
      const stop = STRING_STOPS[b[p]!]!;
      if (stop === 0) continue;
      if (stop === QUOTE_STOP) return p;
      if (stop === WIDE_STOP) this.wide = true;
      else return -1;
    }
    return -1;
  }

  /** The key whose bytes are `from` to `to`, from the table or made and put there; undefined when the table is full. */
  private key(from: number, to: number): Key | undefined {
    const b = this.body;
    let h = to - from;
    for (let p = from; p < to; p++) h = Math.imul(h ^ b[p]!, 0x01000193);
    const mask = KEY_SLOTS - 1;
    for (let slot = (h ^ (h >>> 15)) & mask, probes = 0; probes < KEY_SLOTS; slot = (slot + 1) & mask, probes++) {
      const known = this.table[slot];
      if (known === undefined) {
        if (this.tableKeys >= KEY_SLOTS - 64) return undefined;
        const text = b.toString('utf8', from, to);
        const mapped = this.mapped.get(text);
        const key: Key = {
          // A copy: the body's memory is not kept.
          bytes: Uint8Array.prototype.slice.call(b, from, to),
          text,
          field: mapped?.field ?? -1,
          rank: mapped?.rank ?? 0,
          plain: plainKey(b, from, to),
          pathTop: this.pathTops.has(text),
          seen: 0,
        };
        this.table[slot] = key;
        this.tableKeys++;
        return key;
      }
      if (known.bytes.length === to - from && sameBytes(b, from, known.bytes)) return known;
    }
    return undefined;
  }

  private grow(): void {
    const n = this.keyAt.length * 2;
    const grown = (a: Int32Array) => {
      const g = new Int32Array(n);
      g.set(a);
      return g;
    };
    this.keyAt = grown(this.keyAt);
    this.valueFrom = grown(this.valueFrom);
    this.valueTo = grown(this.valueTo);
    const kinds = new Uint8Array(n);
    kinds.set(this.valueKind);
    this.valueKind = kinds;
    const keys = this.keys;
    while (keys.length < n) keys.push(undefined);
  }

  /** The value at place `i` as text (a string's contents, a number's or literal's digits or word). */
  private text(i: number): string {
    const from = this.valueFrom[i]!;
    const to = this.valueTo[i]!;
    const body = this.body as FastSliceBuffer;
    return this.valueKind[i] === STRING
      ? sliceString(body, from + 1, to - 1, this.strings)
      : sliceString(body, from, to, this.strings);
  }

  /**
   * Writes the line of the record `flat` read, as the mapper and eventToJson would make it:
   * false, the line half written, when a value is one the mapper rejects (the receiver's path
   * then says why) or that only the event gets right.
   */
  private write(): boolean {
    if (!this.choose()) return false;
    const keys = this.keys as Key[];
    const count = this.keyCount;
    const given = this.given;
    const kind = this.valueKind;
    const out = this.buffers;
    out.piece(HEAD);
    const time = given[TIME]!;
    if (time >= 0) {
      if (!this.readTime(time)) return false;
      out.text(this.timeText);
    } else out.piece(ZERO);
    out.piece(this.observedPiece);
    const severity = given[SEVERITY]!;
    if (severity < 0) out.piece(SEVERITY_PIECES[0]!);
    else {
      const n = this.severityNumber(severity);
      if (n < 0) return false;
      out.piece(SEVERITY_PIECES[n]!);
      if (kind[severity] === STRING) this.inner(severity);
    }
    out.piece(BODY_KEY);
    const body = given[BODY]!;
    if (body >= 0) this.copy(this.valueFrom[body]!, this.valueTo[body]!);
    else out.piece(EMPTY_BODY);
    out.piece(ATTRIBUTES_KEY);
    let first = true;
    for (let i = 0; i < count; i++) {
      const field = keys[i]!.field;
      if (field >= 0 && given[field] === i) continue;
      // The key with its quotes and its value, in one piece when nothing stands between them,
      // with the comma before it when the body has one there.
      let keyFrom = this.keyAt[i]! - 1;
      const keyTo = keyFrom + keys[i]!.bytes.length + 2;
      if (!first) {
        if (this.body[keyFrom - 1] === 0x2c) keyFrom--;
        else out.piece(COMMA);
      }
      first = false;
      const valueFrom = this.valueFrom[i]!;
      if (valueFrom === keyTo + 1) this.copy(keyFrom, this.valueTo[i]!);
      else {
        this.copy(keyFrom, keyTo);
        out.piece(COLON);
        this.copy(valueFrom, this.valueTo[i]!);
      }
    }
    const traceId = given[TRACE_ID]!;
    const spanId = given[SPAN_ID]!;
    if (traceId < 0 && spanId < 0) out.piece(NO_IDS);
    else {
      const traceText = this.hexId(traceId, TRACE_ID);
      const spanText = this.hexId(spanId, SPAN_ID);
      if (traceText === undefined || spanText === undefined) return false;
      out.piece(TRACE_KEY);
      out.text(traceText);
      out.piece(SPAN_KEY);
      out.text(spanText);
      out.piece(ASSET_KEY);
    }
    this.scalar(given[ASSET]!);
    out.piece(TITLE_KEY);
    const title = given[TITLE]!;
    if (title >= 0 && this.valueTo[title]! - this.valueFrom[title]! > (kind[title] === STRING ? 2 : 0))
      this.scalar(title);
    else if (body >= 0 && kind[body] === STRING) this.defaultTitle(body);
    const type = given[TYPE]!;
    if (type < 0) out.piece(TYPE_PIECES.neutral);
    else {
      const t = kind[type] === STRING ? this.type(type) : null;
      if (t === null) return false;
      out.piece(TYPE_PIECES[t]);
    }
    this.scalar(given[SERVICE]!);
    const tenant = this.tenant;
    const tenantAt = given[TENANT]!;
    if (tenant === undefined && tenantAt < 0) out.piece(NO_TENANT_TAIL);
    else {
      out.piece(TENANT_KEY);
      if (tenant !== undefined) out.piece(tenant);
      else this.scalar(tenantAt);
      out.piece(TAIL);
    }
    out.end(ID_AT, this.idMs);
    return true;
  }

  /**
   * The event of the record `flat` read, as the mapper would make it: undefined when a value
   * is one the mapper rejects or that only the mapper gets right.
   */
  private build(): VigilEvent | undefined {
    if (!this.choose()) return undefined;
    const keys = this.keys as Key[];
    const count = this.keyCount;
    const given = this.given;
    const kind = this.valueKind;
    const ev = blankEvent('json', this.observedNs, this.idMs);
    ev.resource = {};
    const time = given[TIME]!;
    if (time >= 0) {
      if (!this.readTime(time)) return undefined;
      ev.timeUnixNano = this.timeNs;
    }
    const severity = given[SEVERITY]!;
    if (severity >= 0) {
      const n = this.severityNumber(severity);
      if (n < 0) return undefined;
      ev.severityNumber = n;
      if (kind[severity] === STRING) ev.severityText = this.text(severity);
    }
    const type = given[TYPE]!;
    if (type >= 0) {
      const t = kind[type] === STRING ? this.type(type) : null;
      if (t === null) return undefined;
      ev.type = t;
    }
    const body = given[BODY]!;
    if (body >= 0) ev.body = this.value(body);
    // The string fields take a number or literal as its text, as the mapper's scalarString does.
    const asset = given[ASSET]!;
    if (asset >= 0) ev.asset = this.text(asset);
    const title = given[TITLE]!;
    if (title >= 0) ev.title = this.text(title);
    const service = given[SERVICE]!;
    if (service >= 0) ev.service = this.text(service);
    const tenantAt = given[TENANT]!;
    if (tenantAt >= 0) ev.tenant = this.text(tenantAt);
    const traceId = this.hexId(given[TRACE_ID]!, TRACE_ID);
    const spanId = this.hexId(given[SPAN_ID]!, SPAN_ID);
    if (traceId === undefined || spanId === undefined) return undefined;
    ev.traceId = traceId;
    ev.spanId = spanId;
    const attributes = ev.attributes;
    for (let i = 0; i < count; i++) {
      const key = keys[i]!;
      if (key.field >= 0 && given[key.field] === i) continue;
      // A plain key: neither __proto__ nor an index (see Key.plain).
      attributes[key.text] = this.value(i);
    }
    if (!ev.title) ev.title = defaultTitle(ev.body);
    if (this.tenantText !== undefined) ev.tenant = this.tenantText;
    return ev;
  }

  /** The value at place `i` as JSON.parse makes it. */
  private value(i: number): AttrValue {
    switch (this.valueKind[i]) {
      case STRING:
        return this.text(i);
      case NUMBER:
        return Number(this.text(i));
      case TRUE:
        return true;
      case FALSE:
        return false;
      case NULL:
        return null;
      default:
        return JSON.parse(this.body.toString('utf8', this.valueFrom[i]!, this.valueTo[i]!)) as AttrValue;
    }
  }

  /** Reads the time field at place `i` into timeNs and timeText (again only when it changed); false when the mapper rejects it. */
  private readTime(time: number): boolean {
    // Events of one batch often share their time, written the same.
    const from = this.valueFrom[time]!;
    const to = this.valueTo[time]!;
    const last = this.timeBytes;
    if (last.length === to - from && sameBytes(this.body, from, last)) return true;
    const ns = this.time(time);
    if (ns === undefined) return false;
    this.timeNs = ns;
    this.timeText = ns.toString();
    this.timeBytes = Uint8Array.prototype.slice.call(this.body, from, to);
    return true;
  }

  /** The severity number of the field at place `i` as the mapper takes it, or -1 when it rejects it. */
  private severityNumber(i: number): number {
    const kind = this.valueKind[i];
    if (kind === NUMBER) {
      const n = Number(this.text(i));
      return Number.isInteger(n) && n >= 0 && n <= 24 ? n : -1;
    }
    if (kind !== STRING) return -1;
    const b = this.body;
    const from = this.valueFrom[i]! + 1;
    const to = this.valueTo[i]! - 1;
    let n = this.severities.get(b, from, to);
    if (n === undefined) {
      n = severityFromText(this.text(i));
      this.severities.set(b, from, to, n);
    }
    return n;
  }

  /**
   * Which key gives each field (`given`), as the mapper's paths choose; false when the record
   * holds what only the mapper reads right.
   */
  private choose(): boolean {
    const keys = this.keys as Key[];
    const count = this.keyCount;
    const given = this.given;
    const givenRank = this.givenRank;
    given.fill(-1);
    for (let i = 0; i < count; i++) {
      const key = keys[i]!;
      const field = key.field;
      const valueKind = this.valueKind[i];
      // An object or array where the mapper may look into it, or take it for a field other
      // than the body (skipping it for the next path, or rejecting it), is left to the mapper.
      if (valueKind === NESTED && (key.pathTop || (field >= 0 && field !== BODY))) return false;
      if (field < 0 || valueKind === NULL) continue;
      // attributes and resource take objects, which this reader leaves to the mapper.
      if (field >= ATTRIBUTES) return false;
      const rank = keys[i]!.rank;
      if (given[field]! < 0 || rank < givenRank[field]!) {
        given[field] = i;
        givenRank[field] = rank;
      }
    }
    return true;
  }

  /** The time field at place `i`, as the mapper reads it; undefined when it rejects it. */
  private time(i: number): bigint | undefined {
    const k = this.valueKind[i];
    if (k === STRING) {
      const ns = parseIsoUtcBytes(this.body, this.valueFrom[i]! + 1, this.valueTo[i]! - 1);
      return ns ?? parseTimestampNs(this.text(i));
    }
    if (k === NUMBER) return parseTimestampNs(Number(this.text(i)));
    return undefined;
  }

  /** The type a string at place `i` says (TYPES), or null for none. */
  private type(i: number): EventType | null {
    const b = this.body;
    const from = this.valueFrom[i]! + 1;
    const to = this.valueTo[i]! - 1;
    let t = this.types.get(b, from, to);
    if (t === undefined) {
      t = TYPES[this.text(i).trim().toLowerCase()] ?? null;
      this.types.set(b, from, to, t);
    }
    return t;
  }

  /** A string field's value (scalarString: a number or literal as its text), between the quotes; nothing for none. */
  private scalar(i: number): void {
    if (i < 0) return;
    if (this.valueKind[i] === STRING) this.inner(i);
    else this.copy(this.valueFrom[i]!, this.valueTo[i]!);
  }

  /** A string value's bytes without its quotes. */
  private inner(i: number): void {
    this.copy(this.valueFrom[i]! + 1, this.valueTo[i]! - 1);
  }

  /**
   * The trace or span id field at place `i` (-1: none, ''), checked and lower-cased as the
   * mapper does; undefined when the mapper rejects it.
   */
  private hexId(i: number, field: number): string | undefined {
    if (i < 0) return '';
    const text = this.text(i);
    return HEX[field]!.test(text) ? text.toLowerCase() : undefined;
  }

  /** The body's first line, at most 200 characters (`defaultTitle`): a JSON string here has no line feed. */
  private defaultTitle(body: number): void {
    const from = this.valueFrom[body]! + 1;
    const to = this.valueTo[body]! - 1;
    if (to - from <= 200) this.copy(from, to);
    else if (!this.wide) {
      this.copy(from, from + 199);
      this.buffers.piece(ELLIPSIS);
    } else this.buffers.raw(JSON.stringify(defaultTitle(this.text(body))).slice(1, -1));
  }

  /** Bytes `from` to `to` of the body, at the end of the line: JSON text that is written as it came. */
  private copy(from: number, to: number): void {
    this.buffers.copy(this.body, from, to);
  }

  /** The record at `from` parsed and mapped as the receiver does, its event's line written: where it ends, or -1. */
  private viaEvent(from: number): number {
    const b = this.body;
    const to = skipValue(b, from);
    if (to < 0) return -1;
    let value: unknown;
    try {
      value = JSON.parse(b.toString('utf8', from, to));
    } catch {
      return -1;
    }
    const m = this.mapper.map(value, this.observedNs);
    if (!m.ok) return -1;
    if (this.tenantText !== undefined) m.event.tenant = this.tenantText;
    if (this.made !== undefined) this.made.push(m.event);
    // The line's id is made as the others', by the batch's time.
    else this.buffers.add(eventToJson(m.event), ID_AT, this.idMs);
    this.recordsViaEvents++;
    return to;
  }
}

const ZERO = bytes('0');
const COMMA = bytes(',');
const COLON = bytes(':');
