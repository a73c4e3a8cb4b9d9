import { copyAttrValue, jsonReplacer, type AttrValue, type Attributes } from '../model/attributes.ts';
import type { CompareOp } from './parser.ts';

/** What an OTTL expression yields at run time; `undefined` (and `null`) is OTTL's nil. */
export type Value = AttrValue | undefined;

export function isMap(v: Value): v is Attributes {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array);
}

export function isNumeric(v: Value): v is number | bigint {
  return typeof v === 'number' || typeof v === 'bigint';
}

/** Reads an own key only: a key such as "constructor" must not reach Object.prototype. */
export function ownValue(map: Attributes, key: string): Value {
  return Object.hasOwn(map, key) ? map[key] : undefined;
}

/** Keys that plain objects inherit; lookups of these need the slower own-property check. */
export function isInheritedKey(key: string): boolean {
  return key in Object.prototype;
}

function orderResult(cmp: number, op: CompareOp): boolean {
  switch (op) {
    case '==':
      return cmp === 0;
    case '!=':
      return cmp !== 0;
    case '<':
      return cmp < 0;
    case '<=':
      return cmp <= 0;
    case '>':
      return cmp > 0;
    case '>=':
      return cmp >= 0;
  }
}

function numericOrder(a: number | bigint, b: number | bigint): number {
  // JS relational operators compare number and bigint exactly, without rounding either side.
  return a < b ? -1 : a > b ? 1 : a == b ? 0 : NaN;
}

/** Deep equality for maps, lists and bytes (OTTL allows only == and != on them). */
export function valuesEqual(a: Value, b: Value): boolean {
  if (a === null) a = undefined;
  if (b === null) b = undefined;
  if (a === b) return true;
  if (isNumeric(a) && isNumeric(b)) return a == b;
  if (a instanceof Uint8Array && b instanceof Uint8Array) return Buffer.compare(a, b) === 0;
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((x, i) => valuesEqual(x, b[i]));
  if (isMap(a) && isMap(b)) {
    const ka = Object.keys(a);
    if (ka.length !== Object.keys(b).length) return false;
    return ka.every((k) => Object.hasOwn(b, k) && valuesEqual(a[k], b[k]));
  }
  return false;
}

/**
 * OTTL's comparison rules: numbers (int or double) compare numerically, strings by code
 * unit, booleans with false < true, bytes bytewise; nil equals only nil; maps and lists support
 * only == and !=; values of different types are "not equal" (`!=` is true, every other
 * operator false), so `"500" == 500` is false.
 */
export function compareValues(a: Value, b: Value, op: CompareOp): boolean {
  if (a === null) a = undefined;
  if (b === null) b = undefined;
  if (a === undefined || b === undefined) {
    if (op === '==') return a === b;
    if (op === '!=') return a !== b;
    return false;
  }
  if (isNumeric(a) && isNumeric(b)) return orderResult(numericOrder(a, b), op);
  const ta = typeof a;
  if (ta === 'string' || ta === 'boolean') {
    if (typeof b !== ta) return op === '!=';
    return orderResult(a < b ? -1 : a > b ? 1 : 0, op);
  }
  if (a instanceof Uint8Array && b instanceof Uint8Array) return orderResult(Buffer.compare(a, b), op);
  if (op === '==') return valuesEqual(a, b);
  if (op === '!=') return !valuesEqual(a, b);
  return false;
}

/** OTTL's StringLikeGetter: strings as they are, numbers and booleans printed; nil and others stay nil. */
export function stringLike(v: Value): string | undefined {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'bigint' || typeof v === 'boolean') return String(v);
  if (v instanceof Uint8Array) return Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('hex');
  if (Array.isArray(v) || isMap(v)) return JSON.stringify(v, jsonReplacer);
  return undefined;
}

/**
 * The value to store into another item: maps and lists are copied, as OTTL's `set` copies, so
 * a later write into one event's map never shows in another event or in a lookup table row.
 */
export function copyValue<V extends Value>(v: V): V {
  return v === undefined ? v : (copyAttrValue(v) as V);
}
