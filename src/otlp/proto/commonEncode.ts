import type { AttrValue, Attributes } from '../../model/attributes.ts';
import type { InstrumentationScope } from '../../model/event.ts';
import { WireType, type ProtoWriter } from './protoWriter.ts';

/**
 * common.v1 and resource.v1 messages, and the Resource → Scope → item nesting every
 * Export*ServiceRequest shares. Field numbers are those of opentelemetry/proto/common/v1/common.proto.
 */
const AnyValue = {
  string_value: 1,
  bool_value: 2,
  int_value: 3,
  double_value: 4,
  array_value: 5,
  kvlist_value: 6,
  bytes_value: 7,
} as const;
const KeyValue = { key: 1, value: 2 } as const;
/** ArrayValue.values and KeyValueList.values. */
const VALUES = 1;
const Resource = { attributes: 1 } as const;
const Scope = { name: 1, version: 2, attributes: 3 } as const;

/**
 * The model keeps numbers as JS numbers: integral ones go out as int_value (attributes are
 * mostly counts and codes, and int_value is what the decoder reads back as a number), others as
 * double_value; a bigint is an int64 that did not fit 2^53.
 */
export function writeAnyValue(w: ProtoWriter, v: AttrValue): void {
  if (v === null || v === undefined) return;
  switch (typeof v) {
    case 'string':
      w.stringField(AnyValue.string_value, v);
      return;
    case 'boolean':
      w.boolField(AnyValue.bool_value, v);
      return;
    case 'number':
      if (Number.isSafeInteger(v) && !Object.is(v, -0)) w.int64Field(AnyValue.int_value, v);
      else w.doubleField(AnyValue.double_value, v);
      return;
    case 'bigint':
      w.int64Field(AnyValue.int_value, v);
      return;
  }
  if (v instanceof Uint8Array) {
    w.bytesField(AnyValue.bytes_value, v);
    return;
  }
  if (Array.isArray(v)) {
    w.tag(AnyValue.array_value, WireType.LEN);
    const mark = w.begin();
    for (const item of v) {
      w.tag(VALUES, WireType.LEN);
      const m = w.begin();
      writeAnyValue(w, item);
      w.end(m);
    }
    w.end(mark);
    return;
  }
  w.tag(AnyValue.kvlist_value, WireType.LEN);
  const mark = w.begin();
  writeAttributes(w, VALUES, v);
  w.end(mark);
}

/** An AnyValue as field `field` of the enclosing message. */
export function writeAnyValueField(w: ProtoWriter, field: number, v: AttrValue): void {
  w.tag(field, WireType.LEN);
  const mark = w.begin();
  writeAnyValue(w, v);
  w.end(mark);
}

/** Each attribute as a repeated KeyValue field `field`. */
export function writeAttributes(w: ProtoWriter, field: number, attrs: Attributes): void {
  for (const key of Object.keys(attrs)) {
    w.tag(field, WireType.LEN);
    const mark = w.begin();
    w.stringField(KeyValue.key, key);
    writeAnyValueField(w, KeyValue.value, attrs[key]!);
    w.end(mark);
  }
}

function writeResource(w: ProtoWriter, field: number, attrs: Attributes): void {
  w.tag(field, WireType.LEN);
  const mark = w.begin();
  writeAttributes(w, Resource.attributes, attrs);
  w.end(mark);
}

function writeScope(w: ProtoWriter, field: number, scope: InstrumentationScope): void {
  w.tag(field, WireType.LEN);
  const mark = w.begin();
  if (scope.name !== '') w.stringField(Scope.name, scope.name);
  if (scope.version !== '') w.stringField(Scope.version, scope.version);
  writeAttributes(w, Scope.attributes, scope.attributes);
  w.end(mark);
}

interface Placed {
  resource: Attributes;
  scope?: InstrumentationScope;
}

/** A stable text for comparing attribute sets that are not the same object. */
function attrsKey(attrs: Attributes): string {
  return JSON.stringify(attrs, (_k, v: unknown) =>
    typeof v === 'bigint' ? `${v}n` : v instanceof Uint8Array ? Buffer.from(v).toString('base64') : v,
  );
}

function scopeKey(s: InstrumentationScope | undefined): string {
  return s === undefined ? '' : `${s.name}\u0000${s.version}\u0000${attrsKey(s.attributes)}`;
}

export interface ScopeGroup<T> {
  scope: InstrumentationScope | undefined;
  items: T[];
}
export interface ResourceGroup<T> {
  resource: Attributes;
  scopes: ScopeGroup<T>[];
}

/**
 * Groups records by resource, then scope. Records decoded from one OTLP request share their
 * resource and scope objects, so identity finds most groups; equal sets held in different
 * objects (events from JSON, syslog) are merged by content, computed once per object.
 */
export function groupByResourceAndScope<T extends Placed>(items: readonly T[]): ResourceGroup<T>[] {
  const resources: ResourceGroup<T>[] = [];
  const byObject = new Map<
    Attributes,
    {
      group: ResourceGroup<T>;
      scopes: Map<InstrumentationScope | undefined, ScopeGroup<T>>;
      scopeKeys: Map<string, ScopeGroup<T>>;
    }
  >();
  const byKey = new Map<
    string,
    {
      group: ResourceGroup<T>;
      scopes: Map<InstrumentationScope | undefined, ScopeGroup<T>>;
      scopeKeys: Map<string, ScopeGroup<T>>;
    }
  >();
  for (const item of items) {
    let r = byObject.get(item.resource);
    if (!r) {
      const key = attrsKey(item.resource);
      r = byKey.get(key);
      if (!r) {
        r = { group: { resource: item.resource, scopes: [] }, scopes: new Map(), scopeKeys: new Map() };
        byKey.set(key, r);
        resources.push(r.group);
      }
      byObject.set(item.resource, r);
    }
    let s = r.scopes.get(item.scope);
    if (!s) {
      const key = scopeKey(item.scope);
      s = r.scopeKeys.get(key);
      if (!s) {
        s = { scope: item.scope, items: [] };
        r.scopeKeys.set(key, s);
        r.group.scopes.push(s);
      }
      r.scopes.set(item.scope, s);
    }
    s.items.push(item);
  }
  return resources;
}

/**
 * Writes ExportXServiceRequest { repeated ResourceX = 1 { Resource resource = 1; repeated
 * ScopeX = 2 { InstrumentationScope scope = 1; <items> } } }, with `writeItems` writing one
 * scope's records as its repeated field(s).
 */
export function writeRequest<T extends Placed>(
  w: ProtoWriter,
  items: readonly T[],
  writeItems: (w: ProtoWriter, items: T[]) => void,
): void {
  for (const rg of groupByResourceAndScope(items)) {
    w.tag(1, WireType.LEN);
    const rMark = w.begin();
    writeResource(w, 1, rg.resource);
    for (const sg of rg.scopes) {
      w.tag(2, WireType.LEN);
      const sMark = w.begin();
      if (sg.scope) writeScope(w, 1, sg.scope);
      writeItems(w, sg.items);
      w.end(sMark);
    }
    w.end(rMark);
  }
}
