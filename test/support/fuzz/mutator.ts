import { mulberry32 } from '../seededRandom.ts';

/** Names that mean something to a plain JavaScript object; from the wire they must stay data. */
export const HOSTILE_NAMES = [
  '__proto__',
  'constructor',
  'prototype',
  'toString',
  'hasOwnProperty',
  'valueOf',
  '__defineGetter__',
  '',
  ' ',
  'a.b',
  '\u0000',
] as const;

/** Numbers at the edges: what a length, count or enum field must survive. */
const EDGE_NUMBERS = [
  0,
  -1,
  1,
  -0,
  2 ** 31 - 1,
  -(2 ** 31),
  2 ** 32,
  2 ** 53,
  -(2 ** 53),
  2 ** 63,
  1e308,
  -1e308,
  5e-324,
  Number.NaN,
  Infinity,
  -Infinity,
  0xffffffff,
  99,
  1_000_000_000,
];

/** The same bytes every run for one seed: a failure replays from the seed printed with it. */
export class Mutator {
  readonly seed: number;
  readonly next: () => number;
  constructor(seed: number) {
    this.seed = seed;
    this.next = mulberry32(seed);
  }

  /** An integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  chance(p: number): boolean {
    return this.next() < p;
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }

  name(): string {
    return this.chance(0.5) ? this.pick(HOSTILE_NAMES) : `k${this.int(20)}`;
  }

  number(): number {
    return this.chance(0.6) ? this.pick(EDGE_NUMBERS) : (this.next() - 0.5) * 10 ** this.int(20);
  }

  /** A string that is short and plain, very long, full of control or bidirectional characters, or a lone surrogate. */
  string(): string {
    switch (this.int(8)) {
      case 0:
        // Long strings are rare: a document holds dozens of strings, and one of 300 KB in most of
        // them made generating and sending them the bulk of a run's time.
        return 'x'.repeat(this.chance(0.02) ? this.pick([65_536, 300_000]) : 1000);
      case 1:
        return '\u0000\u001b[31m\r\n\t\u202e\u200b';
      case 2:
        return '\ud800\udfff\udc00\ud83d';
      case 3:
        return this.pick(HOSTILE_NAMES);
      case 4:
        return '%s%n%x{{7*7}}${jndi:ldap://x}';
      default:
        return `v${this.int(1000)}`;
    }
  }

  /** Invalid UTF-8: lone continuation bytes, overlong forms, a truncated sequence, surrogates. */
  invalidUtf8(): Buffer {
    return Buffer.from(
      this.pick([
        [0x80],
        [0xc0, 0xaf],
        [0xe0, 0x80, 0xaf],
        [0xed, 0xa0, 0x80],
        [0xf4, 0x90, 0x80, 0x80],
        [0xff, 0xfe],
        [0xe2, 0x82],
      ]),
    );
  }

  /** A protobuf varint of any width, including 10-byte negatives and over-long (11-byte) ones. */
  varint(): Buffer {
    const v = this.pick([
      0n,
      1n,
      127n,
      128n,
      2n ** 31n,
      2n ** 32n,
      2n ** 63n,
      2n ** 64n - 1n,
      BigInt(this.int(1 << 30)),
    ]);
    const out: number[] = [];
    let x = v;
    for (; x > 0x7fn; x >>= 7n) out.push(Number(x & 0x7fn) | 0x80);
    out.push(Number(x));
    if (this.chance(0.1)) out.splice(0, 0, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80);
    return Buffer.from(out);
  }

  /** A valid seed changed by one to four byte-level edits: bit flips, truncation, splices, duplication, varint or invalid-UTF-8 insertion. */
  bytes(seed: Buffer): Buffer {
    let b = Buffer.from(seed);
    const edits = 1 + this.int(4);
    for (let e = 0; e < edits; e++) {
      const at = b.length ? this.int(b.length) : 0;
      switch (this.int(8)) {
        case 0:
        case 1:
          if (b.length) b[at] = b[at]! ^ (1 << this.int(8));
          break;
        case 2:
          b = b.subarray(0, at);
          break;
        case 3:
          b = Buffer.concat([b.subarray(0, at), this.varint(), b.subarray(at)]);
          break;
        case 4:
          b = Buffer.concat([b.subarray(0, at), this.invalidUtf8(), b.subarray(at)]);
          break;
        case 5:
          b = Buffer.concat([b.subarray(0, at), b.subarray(at, at + 1 + this.int(64)), b.subarray(at)]);
          break;
        case 6:
          if (b.length) b[at] = this.pick([0x00, 0xff, 0x7f, 0x80, 0x0a, 0x22, 0x5b, 0x7b]);
          break;
        default:
          b = Buffer.concat([b.subarray(0, at), b.subarray(Math.min(b.length, at + 1 + this.int(16)))]);
      }
    }
    return b;
  }

  /** A JSON value nested `depth` levels deep, as text (a literal would overflow the generator's own stack). */
  deepJson(depth: number): string {
    return this.chance(0.5)
      ? `${'['.repeat(depth)}1${']'.repeat(depth)}`
      : `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`;
  }

  /**
   * A JSON-like value built from structure: hostile keys, edge numbers, long strings, nesting.
   * Returned as text, since NaN and Infinity (and a literal `__proto__` key) have no JSON.stringify form.
   */
  jsonValue(depth = 0): string {
    const kind = depth > 4 ? this.int(4) : this.int(7);
    switch (kind) {
      case 0:
        return JSON.stringify(this.string());
      case 1: {
        const n = this.number();
        return Number.isFinite(n) ? String(n) : this.pick(['NaN', 'Infinity', '-Infinity', '1e999', String(n)]);
      }
      case 2:
        return this.pick(['true', 'false', 'null', '""', '"\\ud800"', '"\\u0000"']);
      case 3:
        return this.deepJson(this.pick([10, 63, 64, 65, 200, 5000]));
      case 4:
      case 5: {
        const n = this.int(5);
        const entries: string[] = [];
        for (let i = 0; i < n; i++) entries.push(`${JSON.stringify(this.name())}:${this.jsonValue(depth + 1)}`);
        return `{${entries.join(',')}}`;
      }
      default: {
        const n = this.int(5);
        const items: string[] = [];
        for (let i = 0; i < n; i++) items.push(this.jsonValue(depth + 1));
        return `[${items.join(',')}]`;
      }
    }
  }
}
