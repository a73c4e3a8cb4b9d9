/** One Alertmanager-style matcher on incident labels. */
export interface LabelMatcher {
  label: string;
  test(value: string): boolean;
}

const MATCHER = /^\s*([A-Za-z_][A-Za-z0-9_.]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"\s*$/;

/** Parses `label="v"`, `label!="v"`, `label=~"re"`, `label!~"re"`; returns an error message when malformed. */
export function parseMatcher(text: string): LabelMatcher | string {
  const m = MATCHER.exec(text);
  if (!m) return `must be a matcher such as rule="host_down" or service=~"api|web", got ${JSON.stringify(text)}`;
  const [, label, op, raw] = m as unknown as [string, string, string, string];
  return matcherOf(label, op as MatchOp, raw.replace(/\\(.)/g, '$1'), text);
}

export type MatchOp = '=' | '!=' | '=~' | '!~';

/** A matcher from its parts (as Alertmanager's API sends them); an error message when the regular expression is invalid. */
export function matcherOf(
  label: string,
  op: MatchOp,
  value: string,
  text = `${label}${op}${JSON.stringify(value)}`,
): LabelMatcher | string {
  if (op === '=' || op === '!=') {
    const eq = op === '=';
    return { label, test: (v) => (v === value) === eq };
  }
  let re: RegExp;
  try {
    // Anchored, as in Alertmanager: the whole value must match.
    re = new RegExp(`^(?:${value})$`);
  } catch (err) {
    return `invalid regular expression in ${JSON.stringify(text)}: ${(err as Error).message}`;
  }
  const want = op === '=~';
  return { label, test: (v) => re.test(v) === want };
}

export function matchesAll(matchers: readonly LabelMatcher[], labels: Record<string, string>): boolean {
  for (const m of matchers) if (!m.test(labels[m.label] ?? '')) return false;
  return true;
}
