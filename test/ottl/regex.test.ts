import { describe, expect, it } from 'vitest';
import {
  compileCondition,
  compileLinearRegex,
  compileValue,
  OttlError,
  type LinearRegex,
} from '../../src/ottl/index.ts';
import { extractProcessorFactory } from '../../src/processors/extract/factory.ts';
import { filterProcessorFactory } from '../../src/processors/filter/factory.ts';
import { configIssues, ev, parseProcessorConfig, testSettings } from '../processors/harness.ts';

const CATASTROPHIC = String.raw`^(\\w+\\s?)+$`;

describe('regular expressions have RE2 semantics (linear time)', () => {
  // A backtracking engine takes minutes on these: each extra word character doubles the work.
  const body31 = 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa!';
  const body10k = 'ab '.repeat(3413) + '!';

  it('IsMatch with a catastrophic pattern completes on a 31-byte and a 10 KB body', () => {
    expect(body31).toHaveLength(31);
    expect(body10k.length).toBeGreaterThanOrEqual(10_240);
    const cond = compileCondition(`IsMatch(body, "${CATASTROPHIC}")`, 'event');
    expect(cond(ev({ body: body31 }))).toBe(false);
    expect(cond(ev({ body: body10k }))).toBe(false);
    expect(cond(ev({ body: 'all words here' }))).toBe(true);
  });

  it('ExtractPatterns with a catastrophic pattern completes and still returns named groups', () => {
    const get = compileValue(String.raw`ExtractPatterns(body, "^(?<words>(\\w+\\s?)+)$")`, 'event');
    expect(get(ev({ body: body31 }))).toEqual({});
    expect(get(ev({ body: body10k }))).toEqual({});
    expect(get(ev({ body: 'two words' }))).toEqual({ words: 'two words' });
  });

  it('extract.regex with a catastrophic pattern completes; named groups in both spellings set fields', async () => {
    const raw = {
      rules: [
        { regex: { pattern: String.raw`^(?<title>(\w+\s?)+)$` } },
        { regex: { pattern: String.raw`host=(?P<asset>\S+)` } },
      ],
    };
    const p = extractProcessorFactory.create(
      testSettings('extract'),
      parseProcessorConfig(extractProcessorFactory, raw),
    );
    const events = [ev({ body: body31 }), ev({ body: body10k }), ev({ body: 'host=db-7' })];
    await p.process(events);
    expect(events.map((e) => [e.title, e.asset])).toEqual([
      ['', ''],
      ['', ''],
      ['', 'db-7'],
    ]);
  });

  it('accepts RE2 syntax JavaScript lacks: a bare (?i) flag', () => {
    expect(compileCondition('IsMatch(body, "(?i)LINK down")', 'event')(ev({ body: 'link DOWN' }))).toBe(true);
  });

  it('refuses a backreference or lookaround in IsMatch at its column, saying RE2 syntax applies', () => {
    for (const pattern of [String.raw`(a)\\1`, '(?=a)b', '(?!a)b', '(?<=a)b']) {
      let caught: unknown;
      try {
        compileCondition(`IsMatch(body, "${pattern}")`, 'event');
      } catch (err) {
        caught = err;
      }
      expect(caught, pattern).toBeInstanceOf(OttlError);
      expect((caught as OttlError).column).toBe(15);
      expect((caught as OttlError).detail).toMatch(/^invalid regular expression: .*RE2 syntax.*no backreferences/);
    }
  });

  it('refuses a backreference at config load, naming its YAML path', () => {
    expect(
      configIssues(extractProcessorFactory, { rules: [{ regex: { pattern: String.raw`(?<a>\w)\1` } }] })[0],
    ).toMatch(
      /^processors\.extract\.rules\[0\]\.regex\.pattern: is not a valid regular expression: invalid escape sequence: `\\1`; patterns use RE2 syntax/,
    );
    expect(configIssues(filterProcessorFactory, { logs: ['IsMatch(body, "(?=x)y")'] })[0]).toMatch(
      /^processors\.filter\.logs\[0\]: column 15: invalid regular expression: invalid or unsupported Perl syntax: `\(\?=`; patterns use RE2 syntax/,
    );
  });
});

describe('one regex, two engines: JavaScript where it reads a pattern as RE2 does, re2js elsewhere', () => {
  it("gives RE2's answers on both paths, also for syntax only RE2 has", () => {
    const cases: [string, string, boolean][] = [
      [String.raw`\Ahost-\d+\z`, 'host-12', true], // \A and \z: re2js only
      [String.raw`\Ahost-\d+\z`, 'host-12\n', false],
      ['[[:alpha:]]+-[[:digit:]]', 'web-1', true], // POSIX classes: re2js only
      ['[[:alpha:]]+-[[:digit:]]', '::-1', false],
      ['(?i)LINK (down|up)', 'link UP', true], // leading flag, translated
      [String.raw`(?P<host>\S+) down`, 'db-1 down', true], // Python-style group, translated
      [String.raw`^\x{41}$`, 'A', true], // a hex escape with braces: re2js only (JavaScript reads 41 x's)
      ['a.b', 'a\nb', false], // . never matches a newline without (?s), in both
      ['(?s)a.b', 'a\nb', true],
      ['^x$', 'x\n', false], // $ is the end of the text, not before a final newline
    ];
    for (const [pattern, input, want] of cases) {
      const cond = compileCondition(`IsMatch(body, ${JSON.stringify(pattern)})`, 'event');
      expect(cond(ev({ body: input })), `${pattern} on ${JSON.stringify(input)}`).toBe(want);
    }
    const get = compileValue(String.raw`ExtractPatterns(body, "(?P<host>\\S+) (?<state>down|up)")`, 'event');
    expect(get(ev({ body: 'db-1 down' }))).toEqual({ host: 'db-1', state: 'down' });
  });
});

describe('patterns that backtrack catastrophically are matched by the linear engine', () => {
  const compile = (pattern: string) => compileLinearRegex(pattern) as LinearRegex;

  it('sends a repeated group holding a quantifier or an alternation to re2js', () => {
    // V8 gives up backtracking on these only after 50,000 steps, again for every input: about
    // 0.4 ms per 31-byte event on an idle core, which let 100-event requests hold the listeners.
    for (const pattern of [
      String.raw`^(\w+\s?)+$`,
      '(a+)+$',
      '(a|aa)*b',
      '(?:x+x+)+y',
      '(?P<word>[a-z]+,?){2,}!',
      '^(([a-z])+.)+[A-Z]([a-z])+$',
      '(a?){30}a{30}',
      String.raw`^(\d+|[0-9a-f]+)+\.$`,
    ])
      expect(compile(pattern).engine, pattern).toBe('re2js');
  });

  it('keeps patterns without nested repetition on the faster JavaScript engine', () => {
    for (const pattern of [
      'link down',
      String.raw`^(\S+) (\S+) (\S+)$`,
      String.raw`host=(?P<asset>\S+)`,
      '(?i)LINK (down|up)',
      '(ab){3}', // repeated, but nothing inside is
      '(a+){1}', // a quantifier that does not repeat
      '[(+*]+x', // brackets and quantifier characters inside a class are literals
      String.raw`\(a+\)+`, // escaped parentheses are no group
    ])
      expect(compile(pattern).engine, pattern).toBe('javascript');
  });

  it('gives the same answers on both engines for patterns it moves', () => {
    const cases: [string, string, boolean][] = [
      [String.raw`^(\w+\s?)+$`, 'two words', true],
      [String.raw`^(\w+\s?)+$`, `${'a'.repeat(30)}!`, false],
      ['(a|aa)*b', 'aaab', true],
      ['(a|aa)*b', 'aaa', false],
      ['(?:x+x+)+y', 'xxy', true],
      ['(a?){3}a{3}', 'aaa', true],
      ['(a?){3}a{3}', 'aa', false],
    ];
    for (const [pattern, input, want] of cases) {
      expect(compile(pattern).test(input), `${pattern} on ${input}`).toBe(want);
      expect(new RegExp(pattern).test(input), `JavaScript: ${pattern}`).toBe(want);
    }
    expect(compile(String.raw`^(?P<words>(\w+\s?)+)$`).groups('two words')).toEqual({ words: 'two words' });
  });
});
