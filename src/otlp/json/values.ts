import { setAttr, type AttrValue, type Attributes } from '../../model/attributes.ts';
import type { InstrumentationScope } from '../../model/event.ts';
import { InvalidInputError } from '../../errors.ts';
import { int64Value } from '../proto/wireReader.ts';

/**
 * OTLP/JSON leaf rules (opentelemetry-proto docs/specification.md): trace and span ids are hex
 * strings, enums are integers, 64-bit integers may be strings or numbers, bytes are base64,
 * doubles may be "NaN"/"Infinity". A RecordError rejects only the record it occurs in.
 */
export class RecordError extends Error {}

const MAX_DEPTH = 64;
const DIGITS = /^-?\d+$/;

/**
 * A short preview of a wrong value for an error message. It walks at most a few levels and
 * items: JSON.stringify of the whole value overflowed the stack on deeply nested input (found
 * by the fuzz target) and would copy megabytes to keep 60 characters.
 */
function show(v: unknown): string {
  const s = preview(v, 0);
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
}

function preview(v: unknown, depth: number): string {
  if (Array.isArray(v)) {
    if (depth > 3) return '[...]';
    const items = v.slice(0, 8).map((x: unknown) => preview(x, depth + 1));
    return `[${items.join(',')}${v.length > 8 ? ',...' : ''}]`;
  }
  if (isObject(v)) {
    if (depth > 3) return '{...}';
    const keys = Object.keys(v);
    const entries = keys.slice(0, 8).map((k) => `${JSON.stringify(k)}:${preview(v[k], depth + 1)}`);
    return `{${entries.join(',')}${keys.length > 8 ? ',...' : ''}}`;
  }
  if (typeof v === 'string' && v.length > 64) return `${JSON.stringify(v.slice(0, 64))}...`;
  return JSON.stringify(v) ?? String(v);
}

export function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** A repeated field: absent or null is empty. `top` errors fail the whole request. */
export function jsonList(v: unknown, field: string, top = false): unknown[] {
  if (v === undefined || v === null) return [];
  if (Array.isArray(v)) return v;
  const msg = `${field} must be an array, got ${show(v)}`;
  throw top ? new InvalidInputError(msg) : new RecordError(msg);
}

export function jsonMessage(v: unknown, field: string, top = false): Record<string, unknown> {
  if (isObject(v)) return v;
  const msg = `${field} must be an object, got ${show(v)}`;
  throw top ? new InvalidInputError(msg) : new RecordError(msg);
}

export function jsonString(v: unknown, field: string): string {
  if (v === undefined || v === null) return '';
  if (typeof v === 'string') return v;
  throw new RecordError(`${field} must be a string, got ${show(v)}`);
}

export function jsonBool(v: unknown, field: string): boolean {
  if (v === undefined || v === null) return false;
  if (typeof v === 'boolean') return v;
  throw new RecordError(`${field} must be true or false, got ${show(v)}`);
}

/** fixed64 ns times: a decimal string or a non-negative integer number. */
export function jsonTime(v: unknown, field: string): bigint {
  if (v === undefined || v === null) return 0n;
  if (typeof v === 'string' && DIGITS.test(v) && v[0] !== '-') return BigInt(v);
  if (typeof v === 'number' && Number.isInteger(v) && v >= 0) return BigInt(v);
  throw new RecordError(`${field} must be an unsigned 64-bit integer (string or number), got ${show(v)}`);
}

/** int64/uint64/fixed64 values: string or number; exact as a bigint beyond 2^53. */
export function jsonInt64(v: unknown, field: string): number | bigint {
  if (v === undefined || v === null) return 0;
  if (typeof v === 'number' && Number.isInteger(v)) return v;
  if (typeof v === 'string' && DIGITS.test(v)) return int64Value(BigInt(v));
  throw new RecordError(`${field} must be a 64-bit integer (string or number), got ${show(v)}`);
}

export function jsonCount(v: unknown, field: string): number {
  const n = Number(jsonInt64(v, field));
  if (n < 0) throw new RecordError(`${field} must not be negative, got ${show(v)}`);
  return n;
}

/** int32/uint32/sint32 values. */
export function jsonInt32(v: unknown, field: string): number {
  if (v === undefined || v === null) return 0;
  const n = typeof v === 'string' && DIGITS.test(v) ? Number(v) : v;
  if (typeof n === 'number' && Number.isInteger(n) && Math.abs(n) <= 0xffffffff) return n;
  throw new RecordError(`${field} must be a 32-bit integer, got ${show(v)}`);
}

/** No prototype: `"constructor"` from the wire is no double. */
const SPECIAL_DOUBLES: Readonly<Record<string, number>> = Object.assign(Object.create(null) as Record<string, number>, {
  NaN: NaN,
  Infinity: Infinity,
  '-Infinity': -Infinity,
});

export function jsonDouble(v: unknown, field: string): number {
  if (v === undefined || v === null) return 0;
  if (typeof v === 'number') return v;
  if (typeof v === 'string') {
    const special = SPECIAL_DOUBLES[v];
    if (special !== undefined) return special;
    if (v.trim() !== '' && !Number.isNaN(Number(v))) return Number(v);
  }
  throw new RecordError(`${field} must be a number, got ${show(v)}`);
}

/** Enums are integers in OTLP/JSON (names are not allowed by the specification). */
export function jsonEnum(v: unknown, field: string, max: number): number {
  if (v === undefined || v === null) return 0;
  if (typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= max) return v;
  throw new RecordError(
    `${field} must be an integer enum value 0–${max} (OTLP/JSON encodes enums as integers), got ${show(v)}`,
  );
}

/** Trace/span ids are hex, case-insensitive; checked later by idProblem. */
export function jsonId(v: unknown, field: string): string {
  if (v === undefined || v === null) return '';
  if (typeof v === 'string') return v.toLowerCase();
  throw new RecordError(`${field} must be a hex string, got ${show(v)}`);
}

export function jsonAnyValue(v: unknown, field: string, depth = 0): AttrValue {
  if (v === undefined || v === null) return null;
  if (depth > MAX_DEPTH) throw new RecordError(`${field}: values nested deeper than ${MAX_DEPTH} levels`);
  const o = jsonMessage(v, field);
  if (o.stringValue !== undefined) return jsonString(o.stringValue, `${field}.stringValue`);
  if (o.boolValue !== undefined) return jsonBool(o.boolValue, `${field}.boolValue`);
  if (o.intValue !== undefined) return jsonInt64(o.intValue, `${field}.intValue`);
  if (o.doubleValue !== undefined) return jsonDouble(o.doubleValue, `${field}.doubleValue`);
  if (o.arrayValue !== undefined) {
    const arr = jsonMessage(o.arrayValue, `${field}.arrayValue`);
    return jsonList(arr.values, `${field}.arrayValue.values`).map((x, i) =>
      jsonAnyValue(x, `${field}.arrayValue.values[${i}]`, depth + 1),
    );
  }
  if (o.kvlistValue !== undefined) {
    const kv = jsonMessage(o.kvlistValue, `${field}.kvlistValue`);
    const out: Attributes = {};
    jsonAttributes(kv.values, `${field}.kvlistValue.values`, out, depth + 1);
    return out;
  }
  if (o.bytesValue !== undefined) {
    const b = jsonString(o.bytesValue, `${field}.bytesValue`);
    if (!/^[A-Za-z0-9+/_-]*={0,2}$/.test(b))
      throw new RecordError(`${field}.bytesValue must be base64, got ${show(b)}`);
    return new Uint8Array(Buffer.from(b, 'base64'));
  }
  return null;
}

export function jsonAttributes(list: unknown, field: string, into: Attributes, depth = 0): Attributes {
  const items = jsonList(list, field);
  for (let i = 0; i < items.length; i++) {
    const kv = jsonMessage(items[i], `${field}[${i}]`);
    setAttr(into, jsonString(kv.key, `${field}[${i}].key`), jsonAnyValue(kv.value, `${field}[${i}].value`, depth));
  }
  return into;
}

/** Resource and scope errors fail the whole request: every record below them depends on them. */
function topLevel<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof RecordError) throw new InvalidInputError(err.message);
    throw err;
  }
}

export function jsonResource(v: unknown, field: string): Attributes {
  if (v === undefined || v === null) return {};
  return topLevel(() => jsonAttributes(jsonMessage(v, field).attributes, `${field}.attributes`, {}));
}

export function jsonScope(v: unknown, field: string): InstrumentationScope | undefined {
  if (v === undefined || v === null) return undefined;
  return topLevel(() => {
    const o = jsonMessage(v, field);
    return {
      name: jsonString(o.name, `${field}.name`),
      version: jsonString(o.version, `${field}.version`),
      attributes: jsonAttributes(o.attributes, `${field}.attributes`, {}),
    };
  });
}

export function parseJsonRequest(body: Buffer): Record<string, unknown> {
  let doc: unknown;
  try {
    doc = JSON.parse(body.toString('utf8'));
  } catch (err) {
    throw new InvalidInputError(`request body is not valid JSON: ${(err as Error).message}`);
  }
  return jsonMessage(doc, 'request body', true);
}
