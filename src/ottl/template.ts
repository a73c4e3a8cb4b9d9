import { compileValue } from './compiler.ts';
import { OttlError } from './errors.ts';
import type { ContextItem, Getter, OttlContext } from './paths.ts';
import { stringLike, type Value } from './values.ts';

export interface CompiledTemplate<T> {
  /** The text with every `{{ expr }}` replaced by its value's text (nil as ""). */
  render(item: T): string;
  /**
   * The raw value when the template is exactly one `{{ expr }}`, so `"{{ Int(x) }}"` stays a
   * number and a missing attribute stays nil (and the caller can leave its target unset).
   */
  value(item: T): Value;
}

const SHORTHAND = /^(resource\.attributes|attributes)\.([^\s[\]"()]+)$/;

/** `attributes.host.name` is shorthand for `attributes["host.name"]`: keys often contain dots. */
export function expandShorthand(expr: string): string {
  const short = SHORTHAND.exec(expr);
  return short ? `${short[1]}[${JSON.stringify(short[2])}]` : expr;
}

function findClose(source: string, from: number): number {
  let inString = false;
  for (let i = from; i < source.length - 1; i++) {
    const c = source[i];
    if (inString) {
      if (c === '\\') i++;
      else if (c === '"') inString = false;
    } else if (c === '"') inString = true;
    else if (c === '}' && source[i + 1] === '}') return i;
  }
  return -1;
}

/**
 * Compiles `"{{ attributes.host }} is down ({{ severity_text }})"`: literal text with OTTL
 * value expressions between `{{` and `}}`. `encode` is applied to each substituted value
 * (URL templates encode them). Errors carry the column within the whole template.
 */
export function compileTemplate<C extends OttlContext>(
  source: string,
  context: C,
  opts: { encode?: (s: string) => string } = {},
): CompiledTemplate<ContextItem[C]> {
  const literals: string[] = [];
  const getters: Getter<ContextItem[C]>[] = [];
  let pos = 0;
  for (;;) {
    const open = source.indexOf('{{', pos);
    if (open === -1) {
      literals.push(source.slice(pos));
      break;
    }
    literals.push(source.slice(pos, open));
    const close = findClose(source, open + 2);
    if (close === -1) throw new OttlError(source, open + 1, 'expected "}}" to close this "{{"');
    const raw = source.slice(open + 2, close);
    const lead = raw.length - raw.trimStart().length;
    const expr = raw.trim();
    if (expr === '')
      throw new OttlError(source, open + 1, 'expected an expression such as attributes.host inside "{{ }}"');
    try {
      getters.push(compileValue(expandShorthand(expr), context));
    } catch (err) {
      if (err instanceof OttlError) throw new OttlError(source, open + 2 + lead + err.column, err.detail);
      throw err;
    }
    pos = close + 2;
  }
  const encode = opts.encode;
  const text = (v: Value) => {
    const s = stringLike(v) ?? '';
    return encode ? encode(s) : s;
  };
  if (getters.length === 0) {
    const constant = literals[0]!;
    return { render: () => constant, value: () => constant };
  }
  if (getters.length === 1 && literals[0] === '' && literals[1] === '') {
    const g = getters[0]!;
    return { render: (item) => text(g(item)), value: g };
  }
  const render = (item: ContextItem[C]) => {
    let out = literals[0]!;
    for (let i = 0; i < getters.length; i++) out += text(getters[i]!(item)) + literals[i + 1]!;
    return out;
  };
  return { render, value: render };
}
