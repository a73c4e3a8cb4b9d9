import { setAttr, type AttrValue, type Attributes } from '../../model/attributes.ts';
import type { InstrumentationScope } from '../../model/event.ts';
import {
  bytesCopy,
  checkEnd,
  MalformedProtobufError,
  readKey,
  readString,
  skip,
  subEnd,
  varint64,
  type Reader,
} from './wireReader.ts';

/** Nested AnyValues deeper than this are refused: a tiny payload could otherwise exhaust the stack. */
const MAX_DEPTH = 64;

/** common.v1.AnyValue → the model's plain value; an AnyValue with no field set is null. */
export function decodeAnyValue(r: Reader, end: number, depth: number): AttrValue {
  if (depth > MAX_DEPTH) throw new MalformedProtobufError(`values nested deeper than ${MAX_DEPTH} levels`);
  let v: AttrValue = null;
  while (r.pos < end) {
    const tag = r.uint32();
    switch (tag) {
      case 10: // string_value = 1, LEN
        v = readString(r);
        break;
      case 16: // bool_value = 2, VARINT
        v = r.bool();
        break;
      case 24: // int_value = 3, VARINT
        v = varint64(r, true);
        break;
      case 33: // double_value = 4, I64
        v = r.double();
        break;
      case 42: {
        // array_value = 5, LEN
        const arr: AttrValue[] = [];
        const e = subEnd(r, end);
        while (r.pos < e) {
          const t = r.uint32();
          if (t === 10) arr.push(decodeAnyValue(r, subEnd(r, e), depth + 1));
          else skip(r, t);
        }
        checkEnd(r, e);
        v = arr;
        break;
      }
      case 50: {
        // kvlist_value = 6, LEN
        const map: Attributes = {};
        decodeKeyValues(r, subEnd(r, end), map, depth + 1);
        v = map;
        break;
      }
      case 58: // bytes_value = 7, LEN
        v = bytesCopy(r, end);
        break;
      default:
        skip(r, tag);
    }
  }
  checkEnd(r, end);
  return v;
}

/** One KeyValue (its length prefix already read up to `end`) into `attrs`. */
export function decodeKeyValue(r: Reader, end: number, attrs: Attributes, depth: number): void {
  let key = '';
  let value: AttrValue = null;
  while (r.pos < end) {
    const tag = r.uint32();
    // key = 1 (10, LEN), value = 2 (18, LEN)
    if (tag === 10) key = readKey(r);
    else if (tag === 18) value = decodeAnyValue(r, subEnd(r, end), depth);
    else skip(r, tag);
  }
  checkEnd(r, end);
  setAttr(attrs, key, value);
}

/** A KeyValueList body: repeated KeyValue values = 1. */
function decodeKeyValues(r: Reader, end: number, attrs: Attributes, depth: number): void {
  while (r.pos < end) {
    const tag = r.uint32();
    if (tag === 10) decodeKeyValue(r, subEnd(r, end), attrs, depth);
    else skip(r, tag);
  }
  checkEnd(r, end);
}

/** resource.v1.Resource → its attributes. */
export function decodeResource(r: Reader, end: number): Attributes {
  const attrs: Attributes = {};
  while (r.pos < end) {
    const tag = r.uint32();
    if (tag === 10) decodeKeyValue(r, subEnd(r, end), attrs, 0);
    else skip(r, tag);
  }
  checkEnd(r, end);
  return attrs;
}

export function decodeScope(r: Reader, end: number): InstrumentationScope {
  const scope: InstrumentationScope = { name: '', version: '', attributes: {} };
  while (r.pos < end) {
    const tag = r.uint32();
    switch (tag) {
      case 10: // name = 1, LEN
        scope.name = readString(r);
        break;
      case 18: // version = 2, LEN
        scope.version = readString(r);
        break;
      case 26: // attributes = 3, LEN
        decodeKeyValue(r, subEnd(r, end), scope.attributes, 0);
        break;
      default:
        skip(r, tag);
    }
  }
  checkEnd(r, end);
  return scope;
}
