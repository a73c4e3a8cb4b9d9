import type { AttrValue, Attributes } from './attributes.ts';

export type EventType = 'up' | 'down' | 'neutral';
export const EVENT_TYPES: readonly EventType[] = ['up', 'down', 'neutral'];

export interface InstrumentationScope {
  name: string;
  version: string;
  attributes: Attributes;
}

/**
 * Vigil's one canonical event. Every source (OTLP log records, error spans, syslog lines,
 * JSON events) becomes this shape: the OTel log record fields, plus the correlation fields
 * the engine and ticket exporters work on.
 */
export interface VigilEvent {
  /** Unique per event (ULID-like, time-sortable); links incidents to their events. */
  id: string;
  /** When it happened, ns since the epoch (the source's clock). 0n when the source gave none. */
  timeUnixNano: bigint;
  /** When Vigil (or the first collector) saw it, ns since the epoch. */
  observedTimeUnixNano: bigint;
  severityNumber: number;
  severityText: string;
  body: AttrValue;
  attributes: Attributes;
  resource: Attributes;
  scope?: InstrumentationScope;
  /** Hex, lowercase; '' when absent. */
  traceId: string;
  spanId: string;
  flags: number;

  /** What the event is about: a host, device, pod, URL... */
  asset: string;
  /** A short human title; defaults to the first line of the body. */
  title: string;
  type: EventType;
  service: string;
  tenant: string;
  /** Identity for dedup; filled by the pipeline from configured fields, '' until then. */
  fingerprint: string;
  /** The receiver that produced it: "otlp", "syslog", "json"... */
  source: string;
}

export function newEvent(fields: Partial<VigilEvent> & { source: string }, now: bigint = nowNanos()): VigilEvent {
  return {
    id: fields.id ?? newEventId(),
    timeUnixNano: fields.timeUnixNano ?? 0n,
    observedTimeUnixNano: fields.observedTimeUnixNano ?? now,
    severityNumber: fields.severityNumber ?? 0,
    severityText: fields.severityText ?? '',
    body: fields.body ?? '',
    attributes: fields.attributes ?? {},
    resource: fields.resource ?? {},
    scope: fields.scope,
    traceId: fields.traceId ?? '',
    spanId: fields.spanId ?? '',
    flags: fields.flags ?? 0,
    asset: fields.asset ?? '',
    title: fields.title ?? '',
    type: fields.type ?? 'neutral',
    service: fields.service ?? '',
    tenant: fields.tenant ?? '',
    fingerprint: fields.fingerprint ?? '',
    source: fields.source,
  };
}

const NO_RESOURCE: Attributes = Object.freeze({});

/**
 * An event with every field at its default, for a decoder that fills it field by field: the
 * same fields in the same order as newEvent's (so both make objects of one shape), without
 * newEvent's options object and its nineteen defaults, which cost as much per record as the
 * rest of the OTLP log decoder. Its resource is a frozen placeholder that the decoder replaces
 * with the record's own (which may arrive after the record on the wire). `idMs`: the time its id
 * carries; a decoder passes its batch's, read once, instead of the clock read per record.
 */
export function blankEvent(source: string, observed: bigint, idMs: number = Date.now()): VigilEvent {
  return {
    id: newEventId(idMs),
    timeUnixNano: 0n,
    observedTimeUnixNano: observed,
    severityNumber: 0,
    severityText: '',
    body: '',
    attributes: {},
    resource: NO_RESOURCE,
    scope: undefined,
    traceId: '',
    spanId: '',
    flags: 0,
    asset: '',
    title: '',
    type: 'neutral',
    service: '',
    tenant: '',
    fingerprint: '',
    source,
  };
}

/** The event's own time, or its observed time when the source gave none, in ms. */
export function eventTimeMs(e: VigilEvent): number {
  return Number((e.timeUnixNano === 0n ? e.observedTimeUnixNano : e.timeUnixNano) / 1_000_000n);
}

export function nowNanos(): bigint {
  // performance.timeOrigin + now() gives sub-ms resolution without Date's 1 ms granularity.
  return BigInt(Math.round((performance.timeOrigin + performance.now()) * 1000)) * 1000n;
}

const CROCKFORD = Buffer.from('0123456789ABCDEFGHJKMNPQRSTVWXYZ', 'latin1');
/** The id's characters, as bytes: the time and random parts change once per ms, the sequence per id. */
const ID = new Uint8Array(26);
let lastMs = -1;
let seq = 0;
/** Random bytes for 400 ms of ids, refilled when used up: one crypto call per id's ms measured 4 µs. */
const RANDOM = new Uint8Array(4000);
let randomPos = RANDOM.length;

/** Ids one ms can take before the next ms's time is used: the sequence's 30 bits. */
const MAX_SEQ = 2 ** 30 - 1;

/**
 * 26-char ULID-style id: 48-bit ms time + 80 bits where the high 50 are random, drawn once per
 * ms, and the low 30 a per-process sequence, so ids from one process sort by creation (ULID's
 * monotonic form) and ids of two processes differ in their random part. With random bits per
 * id, each id wrote 16 characters and took 10 random bytes; per ms, an id writes only its
 * sequence. A time before the last one used (a batch's time taken before another batch's ids
 * were made, or the clock set back) continues the last ms's sequence, so ids still sort by
 * creation; a sequence used up moves on to the next ms.
 */
function fillEventId(nowMs: number): void {
  const id = ID;
  if (nowMs > lastMs || seq === MAX_SEQ) {
    lastMs = nowMs > lastMs ? nowMs : lastMs + 1;
    seq = 0;
    let t = lastMs;
    for (let i = 9; i >= 0; i--) {
      id[i] = CROCKFORD[t % 32]!;
      t = Math.floor(t / 32);
    }
    if (randomPos + 10 > RANDOM.length) {
      crypto.getRandomValues(RANDOM);
      randomPos = 0;
    }
    for (let i = 0; i < 10; i++) id[10 + i] = CROCKFORD[RANDOM[randomPos + i]! & 31]!;
    randomPos += 10;
  } else seq++;
  const s = seq;
  id[20] = CROCKFORD[(s >>> 25) & 31]!;
  id[21] = CROCKFORD[(s >>> 20) & 31]!;
  id[22] = CROCKFORD[(s >>> 15) & 31]!;
  id[23] = CROCKFORD[(s >>> 10) & 31]!;
  id[24] = CROCKFORD[(s >>> 5) & 31]!;
  id[25] = CROCKFORD[s & 31]!;
}

/**
 * A new event id (see fillEventId). String.fromCharCode with the 26 codes makes one flat string
 * in V8's own code, about 1.7× faster than reading a buffer out with latin1Slice, which is a
 * call into Node's C++ side; adding the characters to a string one by one would make a chain
 * of cons strings (V8 joins strings of 13 or more characters by reference), slower again once
 * a Map or the serialiser flattens them.
 */
export function newEventId(nowMs: number = Date.now()): string {
  fillEventId(nowMs);
  const d = ID;
  // prettier-ignore
  return String.fromCharCode(
    d[0]!, d[1]!, d[2]!, d[3]!, d[4]!, d[5]!, d[6]!, d[7]!, d[8]!, d[9]!, d[10]!, d[11]!, d[12]!,
    d[13]!, d[14]!, d[15]!, d[16]!, d[17]!, d[18]!, d[19]!, d[20]!, d[21]!, d[22]!, d[23]!, d[24]!, d[25]!,
  );
}

/**
 * A new id (see newEventId) written as 26 ASCII bytes at `at`, for a line made as bytes: no
 * string is made for it.
 */
export function writeEventId(into: Uint8Array, at: number, nowMs: number = Date.now()): void {
  fillEventId(nowMs);
  into.set(ID, at);
}
