/**
 * OTel AnyValue as plain JS: strings, booleans, numbers (int64 beyond 2^53 stays a bigint so
 * it is never rounded), bytes, arrays and nested maps. Plain objects keep the hot path free of
 * wrapper allocations.
 */
export type AttrValue = string | number | boolean | bigint | Uint8Array | null | AttrValue[] | Attributes;
export interface Attributes {
  [key: string]: AttrValue;
}

/**
 * Sets a key that came from the wire. Plain assignment of "__proto__" would replace the object's
 * prototype instead of adding a key (and, with an inherited setter gone, still must not): names
 * from the wire are data, so this one key is defined, not assigned.
 */
export function setAttr(attrs: Attributes, key: string, value: AttrValue): void {
  if (key === '__proto__')
    Object.defineProperty(attrs, key, { value, enumerable: true, writable: true, configurable: true });
  else attrs[key] = value;
}

/** A deep copy of an attribute map: nested maps, lists and bytes copied, a `__proto__` key kept a key. */
export function copyAttrs(attrs: Attributes): Attributes {
  const out: Attributes = {};
  for (const key in attrs) setAttr(out, key, copyAttrValue(attrs[key]!));
  return out;
}

/** A deep copy of an attribute value (as `copyAttrs`); a scalar is itself. */
export function copyAttrValue(v: AttrValue): AttrValue {
  if (typeof v !== 'object' || v === null) return v;
  if (v instanceof Uint8Array) return v.slice();
  if (Array.isArray(v)) return v.map(copyAttrValue);
  return copyAttrs(v);
}

/** Copies a decoded JSON object's own keys into `into`, hostile names included, as setAttr does. */
export function assignAttrs(into: Attributes, from: Record<string, unknown>): void {
  for (const key of Object.keys(from)) setAttr(into, key, from[key] as AttrValue);
}

/** Renders an attribute value as the string ClickHouse's Map(String, String) columns and templates use. */
export function attrToString(v: AttrValue | undefined): string {
  if (v === undefined || v === null) return '';
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint') return String(v);
  if (v instanceof Uint8Array) return Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64');
  return JSON.stringify(v, jsonReplacer);
}

/** JSON.stringify replacer for model values: bigint as a decimal string, bytes as base64. */
export function jsonReplacer(_key: string, v: unknown): unknown {
  if (typeof v === 'bigint') return v.toString();
  if (v instanceof Uint8Array) return Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64');
  return v;
}

/** True when `v` holds a bigint or bytes anywhere, which plain JSON.stringify cannot render. */
export function needsReplacer(v: unknown): boolean {
  if (typeof v === 'bigint') return true;
  if (v === null || typeof v !== 'object') return false;
  if (v instanceof Uint8Array) return true;
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) if (needsReplacer(v[i])) return true;
    return false;
  }
  for (const k in v) if (needsReplacer((v as Record<string, unknown>)[k])) return true;
  return false;
}

/**
 * One model record (event, metric point, span, incident change) as a JSON line, with bigint
 * as decimal strings and bytes as base64. Top-level bigints (the ns timestamps every record
 * has) are converted in a shallow copy so the common case runs JSON.stringify without a
 * replacer, which is about twice as fast.
 */
export function toJson(rec: object): string {
  const copy: Record<string, unknown> = {};
  let nested = false;
  for (const k in rec) {
    const v = (rec as Record<string, unknown>)[k];
    if (typeof v === 'bigint') copy[k] = v.toString();
    else {
      copy[k] = v;
      if (!nested && v !== null && typeof v === 'object' && needsReplacer(v)) nested = true;
    }
  }
  return nested ? JSON.stringify(copy, jsonReplacer) : JSON.stringify(copy);
}
