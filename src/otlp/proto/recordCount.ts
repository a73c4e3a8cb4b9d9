import { MalformedProtobufError } from './wireReader.ts';
import type { RecordCounter } from '../../receivers/json/recordCount.ts';

/**
 * Record counts taken before any record is allocated. An empty log record is 2 bytes on the
 * wire and about 3 KB once decoded, so the size limits alone let one request fill the heap;
 * these walks only read tags and lengths (no strings, no objects) so the receiver can refuse
 * the request first.
 */

/**
 * ExportMetricsServiceRequest nests points one level deeper: Metric → Gauge/Sum/… → data_points
 * = 1. The data oneof's tags (gauge = 5, sum = 7, histogram = 9, exponential_histogram = 10,
 * summary = 11, each LEN), compared one by one: a Set of numbers hashes each tag it is asked
 * about (V8's seeded integer hash, `halfsiphash`).
 */
const isMetricDataTag = (tag: number): boolean => tag === 42 || tag === 58 || tag === 74 || tag === 82 || tag === 90;

// What the counter is in the middle of.
const READ_TAG = 0;
const READ_LENGTH = 1;
const SKIP_VARINT = 2;
const SKIP_BYTES = 3;

// What a length just read is for.
const ENTER = 0;
const COUNT = 1;
const SKIP = 2;

/**
 * Log records, spans or metric data points in an Export*ServiceRequest (protobuf), by the
 * layout walkProtoRequest decodes: Resource* = 1 → Scope* = 2 → item = 2 (and, for metrics,
 * Metric → Gauge/Sum/… → data point = 1). It is fed the body chunk by chunk as it arrives or
 * is inflated, so a request is refused as soon as its count passes the cap, before the rest is
 * read, and the decoder need not walk the body a second time to count it.
 *
 * It reads tags and lengths only (items are skipped by length, never looked into) and keeps
 * its place between chunks, a varint split across two included. Varints are read as
 * protobufjs's Reader reads them, which the decoders use, so both see the same structure.
 * Counting stops once past `stopAbove` (the request is refused whatever the rest holds): a body
 * of millions of 2-byte records costs as much as one just over the cap. A truncated or lying
 * message throws MalformedProtobufError, within what was read or at `finish()`.
 */
export class ProtoRecordCounter implements RecordCounter {
  private n = 0;
  /** Bytes fed so far: the offset of the next byte. */
  private pos = 0;
  private state = READ_TAG;
  private varint = 0;
  private varintBytes = 0;
  private lengthFor = ENTER;
  private skipLeft = 0;
  /** Above 0 while the fields of a (deprecated) group are skipped: its nesting. */
  private groupDepth = 0;
  /** Where each open message ends; the first is the request's (its length, when known). */
  private readonly ends: number[];
  /** The nesting at which items are counted: 2 for log records and spans, 4 for data points. */
  private readonly countLevel: number;
  private readonly stopAbove: number;

  constructor(metrics: boolean, stopAbove = Infinity, length = Infinity) {
    this.ends = [length];
    this.countLevel = metrics ? 4 : 2;
    this.stopAbove = stopAbove;
  }

  feed(chunk: Uint8Array): number {
    const len = chunk.length;
    const base = this.pos;
    this.pos += len;
    let i = 0;
    while (i < len && this.n <= this.stopAbove) {
      if (this.state === SKIP_BYTES) {
        const take = Math.min(this.skipLeft, len - i);
        i += take;
        this.skipLeft -= take;
        if (this.skipLeft === 0) this.fieldDone(base + i);
        continue;
      }
      const b = chunk[i++]!;
      if (this.state === SKIP_VARINT) {
        if (b < 0x80) this.fieldDone(base + i);
        continue;
      }
      // A varint as protobufjs's Reader.uint32 reads it: 32 bits from the first five bytes,
      // and when the fifth goes on, five more bytes passed over unread.
      const k = this.varintBytes++;
      if (k < 4) this.varint = (this.varint | ((b & 127) << (7 * k))) >>> 0;
      else if (k === 4) this.varint = (this.varint | ((b & 15) << 28)) >>> 0;
      if ((k < 5 && b >= 0x80) || (k >= 5 && k < 9)) continue;
      const value = this.varint;
      this.varint = 0;
      this.varintBytes = 0;
      if (this.state === READ_TAG) this.onTag(value, base + i);
      else this.onLength(value, base + i);
    }
    return this.n;
  }

  total(): number {
    return this.n;
  }

  /** The count of a whole body; throws if it ended inside a field or message. */
  finish(): number {
    if (this.n > this.stopAbove) return this.n;
    if (this.state !== READ_TAG || this.varintBytes > 0 || this.groupDepth > 0)
      throw new MalformedProtobufError(`the message ends inside a field at offset ${this.pos}`);
    const end = this.ends[this.ends.length - 1]!;
    if (end !== Infinity && end !== this.pos)
      throw new MalformedProtobufError(`message ends at offset ${this.pos}, expected ${end}`);
    return this.n;
  }

  private onTag(tag: number, pos: number): void {
    if (this.groupDepth > 0) {
      const wireType = tag & 7;
      if (wireType === 4) {
        if (--this.groupDepth === 0) this.fieldDone(pos);
      } else if (wireType > 5) throw new MalformedProtobufError(`invalid wire type ${wireType} at offset ${pos}`);
      else this.skipValue(wireType, pos);
      return;
    }
    const level = this.ends.length - 1;
    if (this.wanted(level, tag)) {
      this.lengthFor = level === this.countLevel ? COUNT : ENTER;
      this.state = READ_LENGTH;
      return;
    }
    const wireType = tag & 7;
    if (tag >>> 3 === 0 || wireType > 5 || wireType === 4)
      throw new MalformedProtobufError(`invalid tag ${tag} at offset ${pos}`);
    this.skipValue(wireType, pos);
  }

  private wanted(level: number, tag: number): boolean {
    if (level === 0 || level === 4) return tag === 10;
    if (level === 3) return isMetricDataTag(tag);
    return tag === 18;
  }

  private skipValue(wireType: number, pos: number): void {
    if (wireType === 0) this.state = SKIP_VARINT;
    else if (wireType === 1) this.skip(8, pos);
    else if (wireType === 5) this.skip(4, pos);
    else if (wireType === 2) {
      this.lengthFor = SKIP;
      this.state = READ_LENGTH;
    } else {
      this.groupDepth++;
      this.state = READ_TAG;
    }
  }

  private onLength(length: number, pos: number): void {
    if (this.lengthFor === SKIP) return this.skip(length, pos);
    const end = pos + length;
    if (end > this.ends[this.ends.length - 1]!)
      throw new MalformedProtobufError(`field length ${length} at offset ${pos} runs past its enclosing message`);
    if (this.lengthFor === COUNT) {
      this.n++;
      return this.skip(length, pos);
    }
    this.ends.push(end);
    this.fieldDone(pos);
  }

  private skip(length: number, pos: number): void {
    if (length === 0) return this.fieldDone(pos);
    this.skipLeft = length;
    this.state = SKIP_BYTES;
  }

  /** A field ended at `pos`: close the messages that end there too. */
  private fieldDone(pos: number): void {
    this.state = READ_TAG;
    if (this.groupDepth > 0) return;
    const ends = this.ends;
    while (ends.length > 1 && pos >= ends[ends.length - 1]!) {
      const end = ends.pop()!;
      if (pos > end) throw new MalformedProtobufError(`message ends at offset ${pos}, expected ${end}`);
    }
  }
}

/**
 * The count of a whole body in memory (a caller that did not count it while reading it);
 * stops just past `stopAbove` and returns what it has.
 */
export function countProtoRecords(body: Uint8Array, metrics: boolean, stopAbove = Infinity): number {
  const counter = new ProtoRecordCounter(metrics, stopAbove, body.length);
  counter.feed(body);
  return counter.finish();
}

const list = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
const field = (v: unknown, key: string): unknown =>
  v !== null && typeof v === 'object' ? (v as Record<string, unknown>)[key] : undefined;

/** OTLP/JSON metric kinds as the JSON mapping spells them. */
const JSON_METRIC_KINDS = ['gauge', 'sum', 'histogram', 'exponentialHistogram', 'summary'];

/**
 * The same count for a parsed OTLP/JSON request: list lengths only. Values of the wrong type
 * count as nothing here; the decoder reports them.
 */
export function countJsonRecords(
  doc: Record<string, unknown>,
  keys: readonly [string, string, string],
  metrics: boolean,
): number {
  const [resourceKey, scopeKey, itemKey] = keys;
  let n = 0;
  for (const resource of list(doc[resourceKey])) {
    for (const scope of list(field(resource, scopeKey))) {
      const items = list(field(scope, itemKey));
      if (!metrics) {
        n += items.length;
        continue;
      }
      for (const metric of items) {
        for (const kind of JSON_METRIC_KINDS) n += list(field(field(metric, kind), 'dataPoints')).length;
      }
    }
  }
  return n;
}
