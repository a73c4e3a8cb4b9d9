import type { AttrValue } from '../model/attributes.ts';
import { OttlError } from './errors.ts';
import { tokenize, type Token } from './lexer.ts';

export type CompareOp = '==' | '!=' | '<' | '<=' | '>' | '>=';

export type ValueNode =
  | { kind: 'literal'; value: AttrValue | undefined; col: number }
  | { kind: 'path'; names: string[]; keys: ValueNode[]; col: number }
  | { kind: 'call'; name: string; args: ValueNode[]; keys: ValueNode[]; col: number }
  | { kind: 'list'; items: ValueNode[]; col: number }
  | { kind: 'enum'; name: string; col: number };

export type BoolNode =
  | { kind: 'or' | 'and'; left: BoolNode; right: BoolNode; col: number }
  | { kind: 'not'; operand: BoolNode; col: number }
  | { kind: 'compare'; op: CompareOp; left: ValueNode; right: ValueNode; col: number }
  | { kind: 'value'; value: ValueNode; col: number };

const KEYWORDS = new Set(['and', 'or', 'not']);

function describe(t: Token): string {
  if (t.kind === 'eof') return 'end of input';
  if (t.kind === 'string') return `string ${JSON.stringify(t.text)}`;
  return `"${t.text}"`;
}

/**
 * Recursive-descent parser for OTTL boolean expressions and values. Precedence follows the
 * OTTL grammar: `not` binds tightest, then `and`, then `or`.
 */
class Parser {
  private pos = 0;
  private readonly tokens: Token[];
  private readonly source: string;

  constructor(source: string) {
    this.source = source;
    this.tokens = tokenize(source);
  }

  private peek(offset = 0): Token {
    return this.tokens[Math.min(this.pos + offset, this.tokens.length - 1)]!;
  }

  private next(): Token {
    const t = this.peek();
    if (t.kind !== 'eof') this.pos++;
    return t;
  }

  private isPunct(text: string, offset = 0): boolean {
    const t = this.peek(offset);
    return t.kind === 'punct' && t.text === text;
  }

  private isKeyword(word: string): boolean {
    const t = this.peek();
    return t.kind === 'ident' && t.text === word;
  }

  fail(t: Token, detail: string): never {
    throw new OttlError(this.source, t.col, detail);
  }

  private expectPunct(text: string, context: string): Token {
    const t = this.peek();
    if (t.kind !== 'punct' || t.text !== text) this.fail(t, `expected "${text}" ${context}, found ${describe(t)}`);
    return this.next();
  }

  parseConditionToEnd(): BoolNode {
    if (this.peek().kind === 'eof') this.fail(this.peek(), 'expected a condition, found an empty string');
    const node = this.parseOr();
    const t = this.peek();
    if (t.kind !== 'eof') {
      if (t.kind === 'punct' && t.text === ')') this.fail(t, 'found ")" without a matching "("');
      this.fail(t, `expected "and", "or" or the end of the condition, found ${describe(t)}`);
    }
    return node;
  }

  parseValueToEnd(): ValueNode {
    if (this.peek().kind === 'eof') this.fail(this.peek(), 'expected a value, found an empty string');
    const v = this.parseValue();
    const t = this.peek();
    if (t.kind !== 'eof') this.fail(t, `expected the end of the expression, found ${describe(t)}`);
    return v;
  }

  private parseOr(): BoolNode {
    let left = this.parseAnd();
    while (this.isKeyword('or')) {
      const col = this.next().col;
      left = { kind: 'or', left, right: this.parseAnd(), col };
    }
    return left;
  }

  private parseAnd(): BoolNode {
    let left = this.parseNot();
    while (this.isKeyword('and')) {
      const col = this.next().col;
      left = { kind: 'and', left, right: this.parseNot(), col };
    }
    return left;
  }

  private parseNot(): BoolNode {
    if (this.isKeyword('not')) {
      const col = this.next().col;
      return { kind: 'not', operand: this.parseNot(), col };
    }
    return this.parseBoolean();
  }

  private parseBoolean(): BoolNode {
    if (this.isPunct('(')) {
      const open = this.next();
      if (this.peek().kind === 'eof' || this.isPunct(')'))
        this.fail(this.peek(), `expected a condition after "(", found ${describe(this.peek())}`);
      const inner = this.parseOr();
      const close = this.peek();
      if (close.kind !== 'punct' || close.text !== ')') {
        this.fail(close, `expected ")" to close the "(" at column ${open.col}, found ${describe(close)}`);
      }
      this.next();
      return inner;
    }
    const left = this.parseValue();
    const t = this.peek();
    if (t.kind === 'op') {
      this.next();
      const right = this.parseValue();
      return { kind: 'compare', op: t.text as CompareOp, left, right, col: left.col };
    }
    return { kind: 'value', value: left, col: left.col };
  }

  parseValue(): ValueNode {
    const t = this.peek();
    switch (t.kind) {
      case 'string':
        this.next();
        return { kind: 'literal', value: t.text, col: t.col };
      case 'int': {
        this.next();
        const big = BigInt(t.text);
        // int64 beyond 2^53 stays a bigint so it is never rounded, as in the event model.
        const value =
          big >= BigInt(Number.MIN_SAFE_INTEGER) && big <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(big) : big;
        return { kind: 'literal', value, col: t.col };
      }
      case 'float':
        this.next();
        return { kind: 'literal', value: Number(t.text), col: t.col };
      case 'bytes':
        this.next();
        return { kind: 'literal', value: Uint8Array.from(Buffer.from(t.text, 'hex')), col: t.col };
      case 'punct':
        if (t.text === '[') return this.parseList();
        if (t.text === '(')
          this.fail(
            t,
            'expected a value, found "(" (parentheses group conditions, not values; math expressions are not supported)',
          );
        return this.fail(
          t,
          `expected a value (string, number, true/false, nil, path or converter), found ${describe(t)}`,
        );
      case 'ident':
        return this.parseIdentValue();
      default:
        return this.fail(
          t,
          `expected a value (string, number, true/false, nil, path or converter), found ${describe(t)}`,
        );
    }
  }

  private parseList(): ValueNode {
    const open = this.next();
    const items: ValueNode[] = [];
    if (!this.isPunct(']')) {
      for (;;) {
        items.push(this.parseValue());
        if (this.isPunct(',')) {
          this.next();
          continue;
        }
        break;
      }
    }
    this.expectPunct(']', `to close the list opened at column ${open.col}`);
    return { kind: 'list', items, col: open.col };
  }

  private parseIdentValue(): ValueNode {
    const t = this.next();
    const word = t.text;
    if (word === 'true' || word === 'false') return { kind: 'literal', value: word === 'true', col: t.col };
    if (word === 'nil') return { kind: 'literal', value: undefined, col: t.col };
    if (KEYWORDS.has(word)) this.fail(t, `expected a value before "${word}"`);
    const upper = word[0]! >= 'A' && word[0]! <= 'Z';
    if (this.isPunct('(')) {
      if (!upper)
        this.fail(
          t,
          `"${word}(...)" is an editor; only converters (names starting with an uppercase letter) can be used here`,
        );
      return this.parseCall(t);
    }
    if (upper) return { kind: 'enum', name: word, col: t.col };
    const names = [word];
    while (this.isPunct('.')) {
      this.next();
      const part = this.peek();
      if (part.kind !== 'ident')
        this.fail(part, `expected a field name after "${names.join('.')}.", found ${describe(part)}`);
      this.next();
      names.push(part.text);
    }
    return { kind: 'path', names, keys: this.parseKeys(), col: t.col };
  }

  private parseCall(name: Token): ValueNode {
    this.next();
    const args: ValueNode[] = [];
    if (!this.isPunct(')')) {
      for (;;) {
        args.push(this.parseValue());
        if (this.isPunct(',')) {
          this.next();
          continue;
        }
        break;
      }
    }
    this.expectPunct(')', `to close the arguments of ${name.text}(`);
    return { kind: 'call', name: name.text, args, keys: this.parseKeys(), col: name.col };
  }

  private parseKeys(): ValueNode[] {
    const keys: ValueNode[] = [];
    while (this.isPunct('[')) {
      const open = this.next();
      if (this.isPunct(']')) this.fail(this.peek(), 'expected a key such as ["name"] or [0] inside the brackets');
      keys.push(this.parseValue());
      this.expectPunct(']', `to close the key opened at column ${open.col}`);
    }
    return keys;
  }
}

export function parseCondition(source: string): BoolNode {
  return new Parser(source).parseConditionToEnd();
}

export function parseValueExpression(source: string): ValueNode {
  return new Parser(source).parseValueToEnd();
}
