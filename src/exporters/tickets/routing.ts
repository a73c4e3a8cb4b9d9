import type { IncidentChange } from '../../model/incident.ts';
import { severityFromText } from '../../model/severity.ts';

export type MatchOp = '=' | '!=' | '=~' | '!~' | '>=' | '<=' | '>' | '<';

/** One Alertmanager-style matcher: `severity >= error`, `env = "prod"`, `rule =~ "disk-.*"`. */
export interface Matcher {
  name: string;
  op: MatchOp;
  value: string;
  regex?: RegExp;
  severity?: number;
}

const MATCHER = /^\s*([A-Za-z_][\w.]*)\s*(=~|!~|!=|>=|<=|=|>|<)\s*(?:"((?:[^"\\]|\\.)*)"|([^\s"]+))\s*$/;

/** Parses a matcher or returns why it cannot be one. */
export function parseMatcher(text: string): Matcher | string {
  const m = MATCHER.exec(text);
  if (!m)
    return `must look like name = "value" (operators = != =~ !~, and >= <= > < for severity); got ${JSON.stringify(text)}`;
  const [, name, op, quoted, bare] = m as unknown as [string, string, MatchOp, string | undefined, string | undefined];
  const value = quoted !== undefined ? quoted.replace(/\\(.)/g, '$1') : bare!;
  const out: Matcher = { name, op, value };
  if (op === '=~' || op === '!~') {
    try {
      // Anchored like Alertmanager's regex matchers.
      out.regex = new RegExp(`^(?:${value})$`);
    } catch (err) {
      return `has an invalid regular expression: ${(err as Error).message}`;
    }
  }
  if (name === 'severity') {
    const n = /^\d+$/.test(value) ? Number(value) : severityFromText(value);
    if (!out.regex && n === 0)
      return `severity must be a level (trace, debug, info, warn, error, fatal) or a number 1–24; got ${JSON.stringify(value)}`;
    out.severity = n;
  } else if (op.startsWith('>') || op.startsWith('<'))
    return `${op} only compares severity; use = != =~ !~ for ${name}`;
  return out;
}

/** The value a matcher name reads: incident fields first, then incident labels. */
function field(change: IncidentChange, name: string): string {
  const inc = change.incident;
  switch (name) {
    case 'rule':
      return inc.rule;
    case 'service':
      return inc.service;
    case 'tenant':
      return inc.tenant;
    case 'asset':
      return inc.asset;
    case 'severity':
      return inc.severityText;
    case 'kind':
      return change.kind;
    default:
      return inc.labels[name] ?? '';
  }
}

export function matches(m: Matcher, change: IncidentChange): boolean {
  if (m.name === 'severity' && !m.regex) {
    const have = change.incident.severityNumber;
    // Compare by OTel range (ERROR = 17–20), so "severity >= error" includes ERROR2..4.
    const want = m.severity!;
    const floor = (n: number) => Math.floor((n - 1) / 4);
    switch (m.op) {
      case '=':
        return floor(have) === floor(want);
      case '!=':
        return floor(have) !== floor(want);
      case '>=':
        return floor(have) >= floor(want);
      case '<=':
        return floor(have) <= floor(want);
      case '>':
        return floor(have) > floor(want);
      case '<':
        return floor(have) < floor(want);
    }
  }
  const v = field(change, m.name);
  switch (m.op) {
    case '=':
      return v === m.value;
    case '!=':
      return v !== m.value;
    case '=~':
      return m.regex!.test(v);
    case '!~':
      return !m.regex!.test(v);
    default:
      return false;
  }
}

/** A route takes an incident when all its matchers match; an exporter takes it when any route does (or it has none). */
export function routed(routes: readonly { matchers: Matcher[] }[], change: IncidentChange): boolean {
  if (routes.length === 0) return true;
  return routes.some((r) => r.matchers.every((m) => matches(m, change)));
}
