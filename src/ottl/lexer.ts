import { OttlError } from './errors.ts';

export type TokenKind = 'string' | 'int' | 'float' | 'bytes' | 'ident' | 'op' | 'punct' | 'eof';

export interface Token {
  kind: TokenKind;
  /** Raw text, or the decoded value for strings. */
  text: string;
  /** 1-based column of the first character. */
  col: number;
}

const COMPARE_OPS = ['==', '!=', '<=', '>=', '<', '>'];
const PUNCT = '()[]{},.:';

function isDigit(c: string | undefined): boolean {
  return c !== undefined && c >= '0' && c <= '9';
}

function isIdentStart(c: string | undefined): boolean {
  return c !== undefined && ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c === '_');
}

function isIdentPart(c: string | undefined): boolean {
  return isIdentStart(c) || isDigit(c);
}

/** Splits an OTTL source into tokens; every token keeps its column for error messages. */
export function tokenize(source: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  const n = source.length;
  while (i < n) {
    const c = source[i]!;
    if (c === ' ' || c === '\t' || c === '\n' || c === '\r') {
      i++;
      continue;
    }
    const col = i + 1;
    if (c === '"') {
      const { value, end } = readString(source, i);
      tokens.push({ kind: 'string', text: value, col });
      i = end;
      continue;
    }
    if (c === '0' && (source[i + 1] === 'x' || source[i + 1] === 'X')) {
      let j = i + 2;
      while (j < n && /[0-9a-fA-F]/.test(source[j]!)) j++;
      const hex = source.slice(i + 2, j);
      if (hex.length === 0 || hex.length % 2 !== 0)
        throw new OttlError(source, col, `expected an even number of hex digits after 0x in a byte literal`);
      tokens.push({ kind: 'bytes', text: hex, col });
      i = j;
      continue;
    }
    const signed =
      (c === '-' || c === '+') && (isDigit(source[i + 1]) || (source[i + 1] === '.' && isDigit(source[i + 2])));
    if (isDigit(c) || signed || (c === '.' && isDigit(source[i + 1]))) {
      let j = signed ? i + 1 : i;
      while (isDigit(source[j])) j++;
      let kind: TokenKind = 'int';
      if (source[j] === '.' && isDigit(source[j + 1])) {
        kind = 'float';
        j++;
        while (isDigit(source[j])) j++;
      } else if (source[j] === '.' && !isIdentStart(source[j + 1])) {
        throw new OttlError(source, j + 1, 'expected a digit after the decimal point');
      }
      if (source[j] === 'e' || source[j] === 'E') {
        let k = j + 1;
        if (source[k] === '+' || source[k] === '-') k++;
        if (isDigit(source[k])) {
          kind = 'float';
          while (isDigit(source[k])) k++;
          j = k;
        }
      }
      if (isIdentStart(source[j]))
        throw new OttlError(
          source,
          j + 1,
          `expected an operator or separator after the number ${source.slice(i, j)}, found "${source[j]}"`,
        );
      tokens.push({ kind, text: source.slice(i, j), col });
      i = j;
      continue;
    }
    if (isIdentStart(c)) {
      let j = i + 1;
      while (isIdentPart(source[j])) j++;
      tokens.push({ kind: 'ident', text: source.slice(i, j), col });
      i = j;
      continue;
    }
    const two = source.slice(i, i + 2);
    const op = COMPARE_OPS.find((o) => o === two) ?? COMPARE_OPS.find((o) => o === c);
    if (op) {
      tokens.push({ kind: 'op', text: op, col });
      i += op.length;
      continue;
    }
    if (PUNCT.includes(c)) {
      tokens.push({ kind: 'punct', text: c, col });
      i++;
      continue;
    }
    if (c === '=') throw new OttlError(source, col, 'expected "==" for equality ("=" alone is not an operator)');
    if (c === "'")
      throw new OttlError(source, col, 'expected a double-quoted string: OTTL strings use "..." not \'...\'');
    if (c === '&' || c === '|' || c === '!')
      throw new OttlError(source, col, `expected "and", "or" or "not" instead of "${c}"`);
    throw new OttlError(source, col, `unexpected character "${c}"`);
  }
  tokens.push({ kind: 'eof', text: '', col: n + 1 });
  return tokens;
}

const ESCAPES: Record<string, string> = { '"': '"', '\\': '\\', '/': '/', n: '\n', t: '\t', r: '\r', b: '\b', f: '\f' };

function readString(source: string, start: number): { value: string; end: number } {
  let out = '';
  let i = start + 1;
  while (i < source.length) {
    const c = source[i]!;
    if (c === '"') return { value: out, end: i + 1 };
    if (c === '\\') {
      const e = source[i + 1];
      if (e === 'u') {
        const hex = source.slice(i + 2, i + 6);
        if (!/^[0-9a-fA-F]{4}$/.test(hex)) throw new OttlError(source, i + 1, 'expected 4 hex digits after \\u');
        out += String.fromCharCode(parseInt(hex, 16));
        i += 6;
        continue;
      }
      const mapped = e === undefined ? undefined : ESCAPES[e];
      if (mapped === undefined)
        throw new OttlError(source, i + 1, `expected an escape such as \\" \\\\ \\n \\t, found "\\${e ?? ''}"`);
      out += mapped;
      i += 2;
      continue;
    }
    out += c;
    i++;
  }
  throw new OttlError(source, start + 1, 'expected a closing " for this string');
}
