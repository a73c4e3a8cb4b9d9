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
export const RE2_HINT = 'patterns use RE2 syntax (as in the Collector\'s OTTL): no backreferences such as \\1 and no lookaround such as (?=...), (?!...), (?<=...)';

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
  return {
    source: pattern,
    groupNames,
    test: (input) => re.test(input),
    groups(input) {
      const m = re.exec(input) as (string[] & { groups?: Record<string, string | undefined> }) | null;
      if (m === null) return undefined;
      const out: Record<string, string> = {};
      for (const name of groupNames) {
        const v = m.groups?.[name];
        if (v !== undefined) out[name] = v;
      }
      return out;
    },
  };
}
