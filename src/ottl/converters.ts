import type { AttrValue, Attributes } from '../model/attributes.ts';
import { OttlError } from './errors.ts';
import type { ValueNode } from './parser.ts';
import { compileLinearRegex, type LinearRegex } from './regex.ts';
import { isMap, isNumeric, stringLike, valuesEqual, type Value } from './values.ts';

/** What the compiler knows of a value's type before run time; `any` for paths. */
export type ValueType = 'bool' | 'string' | 'int' | 'double' | 'map' | 'list' | 'bytes' | 'nil' | 'any';

export interface CompiledValue<T> {
  get: (item: T) => Value;
  type: ValueType;
  /** Set when the value does not depend on the item (literals, converters of literals). */
  constant?: { value: Value };
}

/** What a converter gets at compile time: its argument nodes and a way to compile them. */
export interface ConverterArgs<T> {
  source: string;
  args: ValueNode[];
  value(node: ValueNode): CompiledValue<T>;
}

interface ConverterSpec {
  /** Parameter names, for the arity error and the docs. */
  params: readonly string[];
  returns: ValueType;
  compile<T>(a: ConverterArgs<T>): (item: T) => Value;
}

function literalString<T>(a: ConverterArgs<T>, index: number, what: string): string {
  const node = a.args[index]!;
  if (node.kind !== 'literal' || typeof node.value !== 'string') {
    throw new OttlError(a.source, node.col, `expected ${what} as a string literal ("..."), so it is compiled once`);
  }
  return node.value;
}

function compileRegex<T>(a: ConverterArgs<T>, index: number): LinearRegex {
  const re = compileLinearRegex(literalString(a, index, 'the regular expression'));
  if (typeof re === 'string') throw new OttlError(a.source, a.args[index]!.col, `invalid regular expression: ${re}`);
  return re;
}

/** A converter of one argument; the compiler folds it to a constant when the argument is one. */
function unary<T>(a: ConverterArgs<T>, fn: (v: Value) => Value): (item: T) => Value {
  const g = a.value(a.args[0]!).get;
  return (item) => fn(g(item));
}

const INT_TEXT = /^\s*[-+]?\d+\s*$/;

function toInt(v: Value): Value {
  if (typeof v === 'bigint') return v;
  if (typeof v === 'number') return Number.isFinite(v) ? Math.trunc(v) : undefined;
  if (typeof v === 'boolean') return v ? 1 : 0;
  if (typeof v === 'string' && INT_TEXT.test(v)) {
    const n = Number(v);
    // Only beyond 2^53 is the slower exact bigint parse needed.
    return Number.isSafeInteger(n) ? n : BigInt(v.trim());
  }
  return undefined;
}

function toDouble(v: Value): Value {
  if (typeof v === 'number') return v;
  if (typeof v === 'bigint') return Number(v);
  if (typeof v === 'boolean') return v ? 1 : 0;
  if (typeof v === 'string' && v.trim() !== '') {
    const n = Number(v);
    return Number.isNaN(n) ? undefined : n;
  }
  return undefined;
}

function codePoints(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    // A high surrogate followed by its low half is one character.
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) i++;
    }
    n++;
  }
  return n;
}

function length(v: Value): Value {
  if (typeof v === 'string') return codePoints(v);
  if (Array.isArray(v)) return v.length;
  if (v instanceof Uint8Array) return v.length;
  if (isMap(v)) return Object.keys(v).length;
  return undefined;
}

function stringArg(fn: (s: string, arg: string) => Value) {
  return <T>(a: ConverterArgs<T>) => {
    const target = a.value(a.args[0]!).get;
    const arg = a.value(a.args[1]!).get;
    return (item: T) => {
      const s = target(item);
      const p = arg(item);
      return typeof s === 'string' && typeof p === 'string' ? fn(s, p) : undefined;
    };
  };
}

/**
 * The converters Vigil supports, named and behaving as in OTTL. Arguments are any value
 * unless the docs say "literal"; a converter given nil or the wrong type yields nil (or
 * false for the `Is*` predicates), never an exception in the pipeline.
 */
export const CONVERTERS: Record<string, ConverterSpec> = {
  IsMatch: {
    params: ['target', 'pattern'],
    returns: 'bool',
    compile(a) {
      const target = a.value(a.args[0]!).get;
      const re = compileRegex(a, 1);
      return (item) => {
        const s = stringLike(target(item));
        return s === undefined ? false : re.test(s);
      };
    },
  },
  ExtractPatterns: {
    params: ['target', 'pattern'],
    returns: 'map',
    compile(a) {
      const target = a.value(a.args[0]!).get;
      const re = compileRegex(a, 1);
      if (re.groupNames.length === 0)
        throw new OttlError(
          a.source,
          a.args[1]!.col,
          'expected at least one named group such as (?<host>\\S+) in the pattern',
        );
      return (item) => {
        const s = stringLike(target(item));
        if (s === undefined) return undefined;
        const out: Attributes = re.groups(s) ?? {};
        return out;
      };
    },
  },
  Concat: {
    params: ['values', 'delimiter'],
    returns: 'string',
    compile(a) {
      const list = a.args[0]!;
      if (list.kind !== 'list')
        throw new OttlError(
          a.source,
          list.col,
          'expected a list such as [attributes["a"], "-", body] as the first argument of Concat',
        );
      const parts = list.items.map((n) => a.value(n).get);
      const delimiter = literalString(a, 1, 'the delimiter');
      return (item) => {
        let out = '';
        for (let i = 0; i < parts.length; i++) {
          if (i > 0) out += delimiter;
          out += stringLike(parts[i]!(item)) ?? '';
        }
        return out;
      };
    },
  },
  Int: { params: ['value'], returns: 'any', compile: (a) => unary(a, toInt) },
  Double: { params: ['value'], returns: 'any', compile: (a) => unary(a, toDouble) },
  String: { params: ['value'], returns: 'any', compile: (a) => unary(a, stringLike) },
  Len: { params: ['target'], returns: 'any', compile: (a) => unary(a, length) },
  ToLowerCase: {
    params: ['target'],
    returns: 'any',
    compile: (a) => unary(a, (v) => (typeof v === 'string' ? v.toLowerCase() : undefined)),
  },
  ToUpperCase: {
    params: ['target'],
    returns: 'any',
    compile: (a) => unary(a, (v) => (typeof v === 'string' ? v.toUpperCase() : undefined)),
  },
  IsString: { params: ['value'], returns: 'bool', compile: (a) => unary(a, (v) => typeof v === 'string') },
  IsBool: { params: ['value'], returns: 'bool', compile: (a) => unary(a, (v) => typeof v === 'boolean') },
  IsInt: {
    params: ['value'],
    returns: 'bool',
    compile: (a) => unary(a, (v) => typeof v === 'bigint' || Number.isInteger(v)),
  },
  IsDouble: {
    params: ['value'],
    returns: 'bool',
    compile: (a) => unary(a, (v) => typeof v === 'number' && !Number.isInteger(v)),
  },
  IsMap: { params: ['value'], returns: 'bool', compile: (a) => unary(a, isMap) },
  IsList: { params: ['value'], returns: 'bool', compile: (a) => unary(a, (v) => Array.isArray(v)) },
  HasPrefix: { params: ['target', 'prefix'], returns: 'bool', compile: stringArg((s, p) => s.startsWith(p)) },
  HasSuffix: { params: ['target', 'suffix'], returns: 'bool', compile: stringArg((s, p) => s.endsWith(p)) },
  Split: { params: ['target', 'delimiter'], returns: 'any', compile: stringArg((s, d) => s.split(d)) },
  Substring: {
    params: ['target', 'start', 'length'],
    returns: 'any',
    compile(a) {
      const target = a.value(a.args[0]!).get;
      const start = a.value(a.args[1]!).get;
      const len = a.value(a.args[2]!).get;
      return (item) => {
        const s = target(item);
        const from = start(item);
        const n = len(item);
        if (typeof s !== 'string' || !isNumeric(from) || !isNumeric(n)) return undefined;
        const f = Number(from);
        const l = Number(n);
        // As in OTTL: an out-of-range substring is an error, so nil here rather than a shorter string.
        if (f < 0 || l < 0 || f + l > s.length) return undefined;
        return s.slice(f, f + l);
      };
    },
  },
  ContainsValue: {
    params: ['target', 'item'],
    returns: 'bool',
    compile(a) {
      const target = a.value(a.args[0]!).get;
      const wanted = a.value(a.args[1]!).get;
      return (item) => {
        const list = target(item);
        if (!Array.isArray(list)) return false;
        const w = wanted(item);
        return list.some((x: AttrValue) => valuesEqual(x, w));
      };
    },
  },
};
