import { setFlagsFromString } from 'node:v8';
import { RE2JS, RE2JSException } from 're2js';

/**
 * A regular expression with RE2 semantics, as the Collector's OTTL (Go's `regexp`) has them:
 * matching takes time linear in the input whatever the pattern. JavaScript's backtracking
 * `RegExp` took 57 s on `^(\w+\s?)+$` against a 31-byte body, stalling every listener of the
 * process; re2js is a pure JavaScript port of RE2, so it needs no native build.
 */
export interface LinearRegex {
  readonly source: string;
  /**
   * Which engine matches: V8's backtracking one for patterns that cannot backtrack
   * catastrophically, re2js (linear time, no backtracking at all) for the rest.
   */
  readonly engine: 'javascript' | 're2js';
  /** Named groups, in the order they appear in the pattern. */
  readonly groupNames: readonly string[];
  /** True when the pattern matches anywhere in `input`. */
  test(input: string): boolean;
  /** The named groups of the leftmost match (a group that took no part is absent); undefined when nothing matches. */
  groups(input: string): Record<string, string> | undefined;
}

/** What RE2 leaves out of JavaScript's syntax, for the message of a refused pattern. */
export const RE2_HINT =
  "patterns use RE2 syntax (as in the Collector's OTTL): no backreferences such as \\1 and no lookaround such as (?=...), (?!...), (?<=...)";

/**
 * V8's own answer to catastrophic backtracking: a regex that backtracks too much is re-run on its
 * linear-time engine (the same automaton idea as RE2). It keeps ordinary patterns on the fast
 * backtracking engine (about 45 ns a short match here, against ~250 ns through re2js) and bounds
 * the pathological ones (`^(\w+\s?)+$` on 31 bytes: ~2 ms instead of 57 s). It only covers
 * patterns without backreferences and lookaround, which RE2's syntax refuses anyway.
 */
setFlagsFromString('--enable-experimental-regexp-engine-on-excessive-backtracks');

/**
 * The same pattern as a JavaScript RegExp when JavaScript reads it exactly as RE2 does, else
 * undefined (then re2js matches it). RE2-only spellings (`(?P<name>`, leading `(?i)`/`(?s)`) are
 * translated; anything else RE2 has and JavaScript reads differently or not at all (`\A`, `\z`,
 * `\Q…\E`, `\pN`, `\x{41}` (JavaScript reads 41 x's), POSIX classes, inline flags elsewhere, `\C`) stays with re2js.
 */
function asJavaScript(pattern: string): RegExp | undefined {
  let source = pattern;
  let flags = '';
  const lead = /^\(\?([is]+)\)/.exec(source);
  if (lead) {
    flags = [...new Set(lead[1]!)].join('');
    source = source.slice(lead[0].length);
  }
  source = source.replace(/\(\?P</g, '(?<');
  if (/\(\?[a-zA-Z-]*[:)]|\[:|\\[AzCQEpP]|\\x\{/.test(source)) return undefined;
  try {
    return new RegExp(source, flags);
  } catch {
    return undefined;
  }
}

interface GroupScan {
  /** A quantifier somewhere inside, `?` included (`(a?){30}` is exponential too). */
  quantified: boolean;
  /** An alternation somewhere inside. */
  alternates: boolean;
}

/** `{n}`, `{n,}` or `{n,m}` at `i`, as RE2 reads it (anything else is a literal brace); its end and whether it repeats. */
function braceQuantifier(pattern: string, i: number): { end: number; repeats: boolean } | undefined {
  const m = /^\{(\d+)(,(\d*))?\}/.exec(pattern.slice(i, i + 24));
  if (!m) return undefined;
  const max = m[2] === undefined ? Number(m[1]) : m[3] === '' ? Infinity : Number(m[3]);
  return { end: i + m[0].length, repeats: max > 1 };
}

/**
 * True when a repeated group holds a quantifier or an alternation of its own (`(\w+\s?)+`,
 * `(a|ab)*`, `((x+)y){2,}`, `(a?){30}`): the shapes whose ways to match grow exponentially with the input,
 * so a backtracking engine tries them all on a near miss. V8 switches such a regex to its
 * linear engine only after 50,000 backtracks, and pays them again on every input (about 0.4 ms
 * for `^(\w+\s?)+$` on 31 bytes, some 2,500 events per second of a core); re2js takes
 * microseconds. The scan is conservative: `(a|b)*` is harmless yet goes to re2js too, which
 * costs a fraction of a microsecond per match, never correctness.
 */
export function hasNestedRepetition(pattern: string): boolean {
  const stack: GroupScan[] = [{ quantified: false, alternates: false }];
  // The group that just closed, while a quantifier may still follow it.
  let closed: GroupScan | undefined;
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    const top = stack[stack.length - 1]!;
    let quantifier: { end: number; repeats: boolean } | undefined;
    if (c === '*' || c === '+') quantifier = { end: i + 1, repeats: true };
    else if (c === '?') quantifier = { end: i + 1, repeats: false };
    else if (c === '{') quantifier = braceQuantifier(pattern, i);
    if (quantifier) {
      if (quantifier.repeats && closed && (closed.quantified || closed.alternates)) return true;
      top.quantified = true;
      i = quantifier.end - 1;
      // A lazy or possessive mark belongs to the quantifier.
      if (pattern[i + 1] === '?' || pattern[i + 1] === '+') i++;
      closed = undefined;
      continue;
    }
    closed = undefined;
    if (c === '\\') i++;
    else if (c === '[') {
      // A class is one atom: skip to its closing bracket (a leading `]` or `^]` is a literal).
      let j = i + 1;
      if (pattern[j] === '^') j++;
      if (pattern[j] === ']') j++;
      for (; j < pattern.length && pattern[j] !== ']'; j++) {
        if (pattern[j] === '\\') j++;
        else if (pattern[j] === '[' && pattern[j + 1] === ':') {
          const end = pattern.indexOf(':]', j + 2);
          if (end > 0) j = end + 1;
        }
      }
      i = j;
    } else if (c === '(') {
      stack.push({ quantified: false, alternates: false });
      // `(?:`, `(?i)`, `(?P<name>`: the `?` opens a group form, it quantifies nothing.
      if (pattern[i + 1] === '?') i++;
    } else if (c === ')' && stack.length > 1) {
      closed = stack.pop()!;
      const parent = stack[stack.length - 1]!;
      parent.quantified ||= closed.quantified;
      parent.alternates ||= closed.alternates;
    } else if (c === '|') top.alternates = true;
  }
  return false;
}

type Match = { groups?: Record<string, string | undefined> };

/** The named groups of a match that took part in it; undefined when nothing matched. */
function namedGroups(m: Match | null, names: readonly string[]): Record<string, string> | undefined {
  if (m === null) return undefined;
  const out: Record<string, string> = {};
  for (const name of names) {
    const v = m.groups?.[name];
    if (v !== undefined) out[name] = v;
  }
  return out;
}

/**
 * Compiles `pattern` with RE2 syntax. Returns the reason when RE2 cannot compile it
 * (backreferences and lookaround have no linear-time match, so RE2 refuses them).
 */
export function compileLinearRegex(pattern: string): LinearRegex | string {
  let re: RE2JS;
  try {
    re = RE2JS.compile(pattern);
  } catch (err) {
    if (!(err instanceof RE2JSException)) throw err;
    return `${err.message.replace(/^error parsing regexp: /, '')}; ${RE2_HINT}`;
  }
  const named = re.namedGroups();
  const groupNames = Object.keys(named).sort((a, b) => named[a]! - named[b]!);
  const js = hasNestedRepetition(pattern) ? undefined : asJavaScript(pattern);
  if (js) {
    return {
      source: pattern,
      engine: 'javascript',
      groupNames,
      test: (input) => js.test(input),
      groups: (input) => namedGroups(js.exec(input), groupNames),
    };
  }
  return {
    source: pattern,
    engine: 're2js',
    groupNames,
    test: (input) => re.test(input),
    // Finding where groups matched costs re2js several times more than whether anything matches
    // (about 1 ms against 0.1 ms on 2.5 KB): a miss, what a hostile body aims for, pays only the latter.
    groups: (input) => (re.test(input) ? namedGroups(re.exec(input) as Match | null, groupNames) : undefined),
  };
}
