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
 * `\Q…\E`, `\pN`, POSIX classes, inline flags elsewhere, `\C`) stays with re2js.
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
  if (/\(\?[a-zA-Z-]*[:)]|\[:|\\[AzCQEpP]/.test(source)) return undefined;
  try {
    return new RegExp(source, flags);
  } catch {
    return undefined;
  }
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
  const js = asJavaScript(pattern);
  if (js) {
    return {
      source: pattern,
      groupNames,
      test: (input) => js.test(input),
      groups: (input) => namedGroups(js.exec(input), groupNames),
    };
  }
  return {
    source: pattern,
    groupNames,
    test: (input) => re.test(input),
    groups: (input) => namedGroups(re.exec(input) as Match | null, groupNames),
  };
}
