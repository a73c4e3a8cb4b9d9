import type { AttrValue, Attributes } from '../model/attributes.ts';
import { CONVERTERS, type CompiledValue, type ValueType } from './converters.ts';
import { OttlError } from './errors.ts';
import { parseCondition, parseValueExpression, type BoolNode, type CompareOp, type ValueNode } from './parser.ts';
import {
  indexValue,
  mapKeyGetter,
  pathNames,
  resolveField,
  type ContextItem,
  type Getter,
  type OttlContext,
  type Setter,
} from './paths.ts';
import { compareValues, isMap, type Value } from './values.ts';

export type Predicate<T> = (item: T) => boolean;

export interface CompiledPath<T> {
  get: Getter<T>;
  /** Present when the path is writable; returns false when the value does not fit the field. */
  set?: Setter<T>;
}

const SEVERITY_NAMES = ['TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR', 'FATAL'];

/** OTTL's enum names for the numbers the model keeps as on the wire. */
export const ENUMS: Readonly<Record<string, number>> = (() => {
  const out: Record<string, number> = { SEVERITY_NUMBER_UNSPECIFIED: 0 };
  SEVERITY_NAMES.forEach((name, i) => {
    out[`SEVERITY_NUMBER_${name}`] = i * 4 + 1;
    for (let n = 2; n <= 4; n++) out[`SEVERITY_NUMBER_${name}${n}`] = i * 4 + n;
  });
  Object.assign(out, { STATUS_CODE_UNSET: 0, STATUS_CODE_OK: 1, STATUS_CODE_ERROR: 2 });
  ['UNSPECIFIED', 'INTERNAL', 'SERVER', 'CLIENT', 'PRODUCER', 'CONSUMER'].forEach(
    (k, i) => (out[`SPAN_KIND_${k}`] = i),
  );
  return out;
})();

function typeOf(v: Value): ValueType {
  if (v === undefined || v === null) return 'nil';
  if (typeof v === 'string') return 'string';
  if (typeof v === 'boolean') return 'bool';
  if (typeof v === 'bigint') return 'int';
  if (typeof v === 'number') return Number.isInteger(v) ? 'int' : 'double';
  if (v instanceof Uint8Array) return 'bytes';
  if (Array.isArray(v)) return 'list';
  return 'map';
}

const FLIPPED: Record<CompareOp, CompareOp> = { '==': '==', '!=': '!=', '<': '>', '<=': '>=', '>': '<', '>=': '<=' };

/**
 * Specialised comparisons against a constant: the common `path == "x"` and `path >= 500`
 * become one typeof check and one native comparison; anything unusual falls back to the
 * general OTTL comparison, so the result is the same either way.
 */
function compareWithConstant<T>(get: Getter<T>, op: CompareOp, c: Value): Predicate<T> {
  if (typeof c === 'string') {
    if (op === '==') return (item) => get(item) === c;
    if (op === '!=') return (item) => get(item) !== c;
  }
  if (typeof c === 'number') {
    switch (op) {
      case '==':
        return (item) => {
          const v = get(item);
          return typeof v === 'number' ? v === c : compareValues(v, c, op);
        };
      case '!=':
        return (item) => {
          const v = get(item);
          return typeof v === 'number' ? v !== c : compareValues(v, c, op);
        };
      case '<':
        return (item) => {
          const v = get(item);
          return typeof v === 'number' ? v < c : compareValues(v, c, op);
        };
      case '<=':
        return (item) => {
          const v = get(item);
          return typeof v === 'number' ? v <= c : compareValues(v, c, op);
        };
      case '>':
        return (item) => {
          const v = get(item);
          return typeof v === 'number' ? v > c : compareValues(v, c, op);
        };
      case '>=':
        return (item) => {
          const v = get(item);
          return typeof v === 'number' ? v >= c : compareValues(v, c, op);
        };
    }
  }
  return (item) => compareValues(get(item), c, op);
}

function describeNode(node: ValueNode): string {
  switch (node.kind) {
    case 'literal':
      return node.value === undefined ? 'nil' : typeOf(node.value);
    case 'call':
      return `${node.name}(...)`;
    case 'path':
      return `the path ${node.names.join('.')}`;
    case 'list':
      return 'a list';
    case 'enum':
      return node.name;
  }
}

/** Turns parsed OTTL into closures over one context's item type, checking what can be checked before run time. */
class Compiler<C extends OttlContext> {
  private readonly source: string;
  private readonly context: C;

  constructor(source: string, context: C) {
    this.source = source;
    this.context = context;
  }

  private fail(col: number, detail: string): never {
    throw new OttlError(this.source, col, detail);
  }

  condition(node: BoolNode): Predicate<ContextItem[C]> {
    switch (node.kind) {
      case 'or': {
        const l = this.condition(node.left);
        const r = this.condition(node.right);
        return (item) => l(item) || r(item);
      }
      case 'and': {
        const l = this.condition(node.left);
        const r = this.condition(node.right);
        return (item) => l(item) && r(item);
      }
      case 'not': {
        const inner = this.condition(node.operand);
        return (item) => !inner(item);
      }
      case 'value': {
        const v = this.value(node.value);
        if (v.type !== 'bool' && v.type !== 'any') {
          this.fail(
            node.col,
            `expected a condition (a comparison, true/false, or a converter that returns a boolean such as IsMatch), found ${describeNode(node.value)}`,
          );
        }
        if (v.constant) {
          const b = v.constant.value === true;
          return () => b;
        }
        const get = v.get;
        return (item) => get(item) === true;
      }
      case 'compare':
        return this.compare(node.op, node.left, node.right);
    }
  }

  private compare(op: CompareOp, leftNode: ValueNode, rightNode: ValueNode): Predicate<ContextItem[C]> {
    const left = this.value(leftNode);
    const right = this.value(rightNode);
    if (op !== '==' && op !== '!=') {
      for (const [v, n] of [
        [left, leftNode],
        [right, rightNode],
      ] as const) {
        if (v.type === 'map' || v.type === 'list')
          this.fail(n.col, `"${op}" cannot order ${v.type === 'map' ? 'maps' : 'lists'}; only == and != compare them`);
      }
    }
    if (left.constant && right.constant) {
      const b = compareValues(left.constant.value, right.constant.value, op);
      return () => b;
    }
    if (right.constant) return compareWithConstant(left.get, op, right.constant.value);
    if (left.constant) return compareWithConstant(right.get, FLIPPED[op], left.constant.value);
    const l = left.get;
    const r = right.get;
    return (item) => compareValues(l(item), r(item), op);
  }

  value(node: ValueNode): CompiledValue<ContextItem[C]> {
    switch (node.kind) {
      case 'literal': {
        const value = node.value;
        return { get: () => value, type: typeOf(value), constant: { value } };
      }
      case 'enum': {
        if (!Object.hasOwn(ENUMS, node.name)) {
          this.fail(
            node.col,
            `unknown name "${node.name}"; converters are called with parentheses (${node.name}(...)), and the known enums are SEVERITY_NUMBER_*, STATUS_CODE_* and SPAN_KIND_*`,
          );
        }
        const value = ENUMS[node.name]!;
        return { get: () => value, type: 'int', constant: { value } };
      }
      case 'list': {
        const items = node.items.map((n) => this.value(n));
        if (items.every((i) => i.constant)) {
          const value = items.map((i) => i.constant!.value ?? null);
          return { get: () => value, type: 'list', constant: { value } };
        }
        const getters = items.map((i) => i.get);
        return { get: (item) => getters.map((g) => g(item) ?? null), type: 'list' };
      }
      case 'path':
        return this.path(node);
      case 'call':
        return this.call(node);
    }
  }

  private call(node: ValueNode & { kind: 'call' }): CompiledValue<ContextItem[C]> {
    const spec = Object.hasOwn(CONVERTERS, node.name) ? CONVERTERS[node.name] : undefined;
    if (!spec)
      this.fail(node.col, `unknown converter "${node.name}"; supported: ${Object.keys(CONVERTERS).join(', ')}`);
    if (node.args.length !== spec.params.length) {
      this.fail(
        node.col,
        `${node.name} takes ${spec.params.length} argument(s) (${spec.params.join(', ')}), got ${node.args.length}`,
      );
    }
    let dependsOnItem = false;
    const get = spec.compile<ContextItem[C]>({
      source: this.source,
      args: node.args,
      value: (n) => {
        const v = this.value(n);
        if (!v.constant) dependsOnItem = true;
        return v;
      },
    });
    let out: CompiledValue<ContextItem[C]> = { get, type: spec.returns };
    if (!dependsOnItem) {
      // Every argument is a literal: evaluate once now, as a constant.
      const value = get(undefined as unknown as ContextItem[C]);
      out = { get: () => value, type: spec.returns === 'any' ? typeOf(value) : spec.returns, constant: { value } };
    }
    if (node.keys.length === 0) return out;
    return { get: this.indexed(out.get, node.keys), type: 'any' };
  }

  private indexed(base: Getter<ContextItem[C]>, keys: ValueNode[]): Getter<ContextItem[C]> {
    let get = base;
    for (const keyNode of keys) {
      const key = this.key(keyNode);
      const prev = get;
      if (key.constant) {
        const k = key.constant.value;
        get = (item) => indexValue(prev(item), k);
      } else {
        const k = key.get;
        get = (item) => indexValue(prev(item), k(item));
      }
    }
    return get;
  }

  private key(node: ValueNode): CompiledValue<ContextItem[C]> {
    const k = this.value(node);
    if (k.type !== 'string' && k.type !== 'int' && k.type !== 'any')
      this.fail(node.col, `expected a string key (["name"]) or a list index ([0]), found ${describeNode(node)}`);
    return k;
  }

  path(node: ValueNode & { kind: 'path' }): CompiledPath<ContextItem[C]> & { type: ValueType } {
    const name = node.names.join('.');
    const field = resolveField(this.context, node.names);
    if (!field) this.fail(node.col, this.unknownPath(node.names, node.keys.length > 0));
    if (node.keys.length === 0) return { get: field.get, set: field.set, type: field.map ? 'map' : 'any' };
    if (!field.map && !field.indexable)
      this.fail(node.keys[0]!.col, `${name} cannot be indexed with [...]; only maps such as attributes["key"] can`);

    const first = this.key(node.keys[0]!);
    const firstKey = first.constant?.value;
    let get: Getter<ContextItem[C]> =
      typeof firstKey === 'string' && field.map
        ? mapKeyGetter(field, firstKey)!
        : this.indexed(field.get, node.keys.slice(0, 1));
    if (node.keys.length > 1) get = this.indexed(get, node.keys.slice(1));

    const literalKeys = node.keys.map((k) =>
      k.kind === 'literal' && typeof k.value === 'string' ? k.value : undefined,
    );
    if (!field.set || literalKeys.some((k) => k === undefined)) return { get, type: 'any' };
    return { get, set: keyedSetter(field.get, literalKeys as string[]), type: 'any' };
  }

  private unknownPath(names: string[], keyed: boolean): string {
    const name = names.join('.');
    const known = `paths in the ${this.context} context: ${pathNames(this.context).join(', ')}`;
    if (names[0] === 'resource' && (names.length === 1 || keyed))
      return `unknown path "${name}": resource attributes are resource.attributes["key"]`;
    if (names[0] === 'attributes' && names.length > 1)
      return `unknown path "${name}": an attribute whose key has dots is attributes["${names.slice(1).join('.')}"]`;
    if (name === 'severity') return 'unknown path "severity": use severity_number (1–24) or severity_text';
    return `unknown path "${name}"; ${known}`;
  }
}

/** Assigns an own key; `__proto__` as a plain assignment would replace the map's prototype instead. */
export function setOwn(map: Attributes, key: string, value: AttrValue): void {
  if (key === '__proto__')
    Object.defineProperty(map, key, { value, writable: true, enumerable: true, configurable: true });
  else map[key] = value;
}

/** Writes `map["a"]["b"]`, creating the inner maps on the way; nil deletes the key. */
function keyedSetter<T>(container: Getter<T>, keys: string[]): Setter<T> {
  const last = keys[keys.length - 1]!;
  const inner = keys.slice(0, -1);
  return (item, value) => {
    let map = container(item);
    if (!isMap(map)) return false;
    for (const k of inner) {
      let next: Value = Object.hasOwn(map, k) ? map[k] : undefined;
      if (next === undefined || next === null) {
        next = {};
        setOwn(map, k, next);
      }
      if (!isMap(next)) return false;
      map = next;
    }
    if (value === undefined || value === null) delete map[last];
    else setOwn(map, last, value);
    return true;
  };
}

/**
 * Compiles an OTTL boolean expression into a predicate over one context's items, e.g.
 * `attributes["http.status_code"] >= 500 and IsMatch(body, "link (down|up)")`.
 * Throws OttlError (with the 1-based column) when the condition cannot compile.
 */
export function compileCondition<C extends OttlContext>(source: string, context: C): Predicate<ContextItem[C]> {
  return new Compiler(source, context).condition(parseCondition(source));
}

/** Compiles a path (`attributes["host"]`, `severity_text`) into a getter, and a setter when writable. */
export function compilePath<C extends OttlContext>(source: string, context: C): CompiledPath<ContextItem[C]> {
  const node = parseValueExpression(source);
  if (node.kind !== 'path')
    throw new OttlError(
      source,
      node.col,
      `expected a path such as attributes["key"] or body, found ${describeNode(node)}`,
    );
  const { get, set } = new Compiler(source, context).path(node);
  return set ? { get, set } : { get };
}

/** Compiles any OTTL value expression (path, literal, converter call) into a getter. */
export function compileValue<C extends OttlContext>(source: string, context: C): Getter<ContextItem[C]> {
  return new Compiler(source, context).value(parseValueExpression(source)).get;
}
