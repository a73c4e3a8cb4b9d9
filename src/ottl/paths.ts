import type { Attributes } from '../model/attributes.ts';
import type { EventType, VigilEvent } from '../model/event.ts';
import type { MetricPoint } from '../model/metric.ts';
import type { Span } from '../model/span.ts';
import { isInheritedKey, isMap, isNumeric, ownValue, stringLike, type Value } from './values.ts';

export type OttlContext = 'event' | 'datapoint' | 'span';

/** The item a context evaluates over. */
export interface ContextItem {
  event: VigilEvent;
  datapoint: MetricPoint;
  span: Span;
}

export type Getter<T> = (item: T) => Value;
/** Returns false when the value does not fit the field (e.g. a map into `severity_number`). */
export type Setter<T> = (item: T, value: Value) => boolean;

interface FieldSpec<T> {
  get: Getter<T>;
  /** Whether `field["key"]` may follow: maps, and the body (which may hold a map). */
  indexable?: boolean;
  set?: Setter<T>;
  /** Map fields compile `field["key"]` into one property read on the map. */
  map?: (item: T) => Attributes;
  mapKey?: (key: string) => Getter<T>;
}

function stringField<T>(get: (item: T) => string, assign: (item: T, v: string) => void): FieldSpec<T> {
  return {
    get,
    set: (item, v) => {
      const s = stringLike(v);
      if (s === undefined) return false;
      assign(item, s);
      return true;
    },
  };
}

/** Every item kind carries record attributes and its resource's attributes. */
interface WithAttributes {
  attributes: Attributes;
  resource: Attributes;
}

function attributesField<T extends WithAttributes>(): FieldSpec<T> {
  return {
    get: (item) => item.attributes,
    map: (item) => item.attributes,
    mapKey: (k) => (item) => item.attributes[k],
    set: (item, v) => (isMap(v) ? ((item.attributes = v), true) : false),
  };
}

/**
 * Resource attributes are writable on events only: receivers may share one resource map
 * between the data points or spans of a batch, so a write there would leak into its siblings.
 */
function resourceField<T extends WithAttributes>(writable: boolean): FieldSpec<T> {
  const field: FieldSpec<T> = {
    get: (item) => item.resource,
    map: (item) => item.resource,
    mapKey: (k) => (item) => item.resource[k],
  };
  if (writable) field.set = (item, v) => (isMap(v) ? ((item.resource = v), true) : false);
  return field;
}

function intValue(v: Value): number | undefined {
  if (typeof v === 'number' && Number.isInteger(v)) return v;
  if (typeof v === 'bigint') return Number(v);
  if (typeof v === 'string' && /^[-+]?\d+$/.test(v.trim())) return Number(v);
  return undefined;
}

function nanosValue(v: Value): bigint | undefined {
  if (typeof v === 'bigint') return v;
  if (typeof v === 'number' && Number.isInteger(v)) return BigInt(v);
  if (typeof v === 'string' && /^\d+$/.test(v.trim())) return BigInt(v.trim());
  return undefined;
}

const EVENT_TYPE_SET = new Set<string>(['up', 'down', 'neutral']);

const EVENT_FIELDS: Record<string, FieldSpec<VigilEvent>> = {
  body: {
    indexable: true,
    get: (e) => e.body,
    set: (e, v) => {
      if (v === undefined) return false;
      e.body = v;
      return true;
    },
  },
  attributes: attributesField(),
  'resource.attributes': resourceField(true),
  severity_number: {
    get: (e) => e.severityNumber,
    set: (e, v) => {
      const n = intValue(v);
      if (n === undefined || n < 0 || n > 24) return false;
      e.severityNumber = n;
      return true;
    },
  },
  severity_text: stringField(
    (e) => e.severityText,
    (e, v) => (e.severityText = v),
  ),
  time_unix_nano: {
    get: (e) => e.timeUnixNano,
    set: (e, v) => {
      const n = nanosValue(v);
      if (n === undefined) return false;
      e.timeUnixNano = n;
      return true;
    },
  },
  observed_time_unix_nano: { get: (e) => e.observedTimeUnixNano },
  trace_id: stringField(
    (e) => e.traceId,
    (e, v) => (e.traceId = v.toLowerCase()),
  ),
  span_id: stringField(
    (e) => e.spanId,
    (e, v) => (e.spanId = v.toLowerCase()),
  ),
  flags: { get: (e) => e.flags },
  id: { get: (e) => e.id },
  asset: stringField(
    (e) => e.asset,
    (e, v) => (e.asset = v),
  ),
  title: stringField(
    (e) => e.title,
    (e, v) => (e.title = v),
  ),
  service: stringField(
    (e) => e.service,
    (e, v) => (e.service = v),
  ),
  tenant: stringField(
    (e) => e.tenant,
    (e, v) => (e.tenant = v),
  ),
  fingerprint: stringField(
    (e) => e.fingerprint,
    (e, v) => (e.fingerprint = v),
  ),
  source: { get: (e) => e.source },
  type: {
    get: (e) => e.type,
    set: (e, v) => {
      if (typeof v !== 'string') return false;
      const t = v.toLowerCase();
      if (!EVENT_TYPE_SET.has(t)) return false;
      e.type = t as EventType;
      return true;
    },
  },
};

function pointValue(p: MetricPoint): Value {
  return p.kind === 'gauge' || p.kind === 'sum' ? p.value : undefined;
}

const DATAPOINT_FIELDS: Record<string, FieldSpec<MetricPoint>> = {
  name: { get: (p) => p.name },
  'metric.name': { get: (p) => p.name },
  'metric.unit': { get: (p) => p.unit },
  'metric.description': { get: (p) => p.description },
  attributes: attributesField(),
  'resource.attributes': resourceField(false),
  kind: { get: (p) => p.kind },
  value: { get: pointValue },
  count: { get: (p) => (p.kind === 'gauge' || p.kind === 'sum' ? undefined : p.count) },
  sum: { get: (p) => (p.kind === 'gauge' || p.kind === 'sum' ? undefined : p.sum) },
  time_unix_nano: { get: (p) => p.timeUnixNano },
  start_time_unix_nano: { get: (p) => p.startTimeUnixNano },
  flags: { get: (p) => p.flags },
  service: { get: (p) => p.service },
  tenant: { get: (p) => p.tenant },
};

const SPAN_FIELDS: Record<string, FieldSpec<Span>> = {
  name: stringField(
    (s) => s.name,
    (s, v) => (s.name = v),
  ),
  kind: { get: (s) => s.kind },
  trace_id: { get: (s) => s.traceId },
  span_id: { get: (s) => s.spanId },
  parent_span_id: { get: (s) => s.parentSpanId },
  trace_state: { get: (s) => s.traceState },
  attributes: attributesField(),
  'resource.attributes': resourceField(false),
  start_time_unix_nano: { get: (s) => s.startTimeUnixNano },
  end_time_unix_nano: { get: (s) => s.endTimeUnixNano },
  'status.code': { get: (s) => s.statusCode },
  'status.message': { get: (s) => s.statusMessage },
  service: { get: (s) => s.service },
  tenant: { get: (s) => s.tenant },
};

const FIELDS: { [C in OttlContext]: Record<string, FieldSpec<ContextItem[C]>> } = {
  event: EVENT_FIELDS,
  datapoint: DATAPOINT_FIELDS,
  span: SPAN_FIELDS,
};

/** OTTL's context-qualified spelling (`log.body`, `span.name`) is accepted as well as the bare path. */
const CONTEXT_PREFIXES: { [C in OttlContext]: readonly string[] } = {
  event: ['log.', 'event.'],
  datapoint: ['datapoint.'],
  span: ['span.'],
};

/** The path names a context knows, for error messages and docs. */
export function pathNames(context: OttlContext): string[] {
  return Object.entries(FIELDS[context]).map(([name, f]) => (f.map ? `${name}["key"]` : name));
}

/** `log.body` and `body` mean the same in the event context, as with OTTL's context-qualified paths. */
export function resolveField<C extends OttlContext>(
  context: C,
  names: readonly string[],
): FieldSpec<ContextItem[C]> | undefined {
  const fields = FIELDS[context] as Record<string, FieldSpec<ContextItem[C]>>;
  const full = names.join('.');
  if (Object.hasOwn(fields, full)) return fields[full];
  for (const prefix of CONTEXT_PREFIXES[context]) {
    if (full.startsWith(prefix) && Object.hasOwn(fields, full.slice(prefix.length)))
      return fields[full.slice(prefix.length)];
  }
  return undefined;
}

/** One map key read, specialised: a plain property read unless the key is inherited by objects. */
export function mapKeyGetter<T>(field: FieldSpec<T>, key: string): Getter<T> | undefined {
  if (!field.map || !field.mapKey) return undefined;
  if (!isInheritedKey(key)) return field.mapKey(key);
  const map = field.map;
  return (item) => ownValue(map(item), key);
}

/** OTTL indexing: string keys into maps, int keys into lists; anything else yields nil. */
export function indexValue(v: Value, key: Value): Value {
  if (typeof key === 'string') return isMap(v) ? ownValue(v, key) : undefined;
  if (isNumeric(key) && Array.isArray(v)) return v[Number(key)];
  return undefined;
}

export type { FieldSpec };
