/**
 * OTel AnyValue as plain JS: strings, booleans, numbers (int64 beyond 2^53 stays a bigint so
 * it is never rounded), bytes, arrays and nested maps. Plain objects keep the hot path free of
 * wrapper allocations.
 */
export type AttrValue = string | number | boolean | bigint | Uint8Array | null | AttrValue[] | Attributes;
export interface Attributes {
  [key: string]: AttrValue;
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
