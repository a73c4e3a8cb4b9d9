/** A rule whose windows, marks and registers a reload discarded, and why. */
export interface RuleReset {
  rule: string;
  /** What changed, for the log: `group_by changed from [asset] to [service]`, `rule configuration changed: threshold`. */
  reason: string;
  /** Its groups changed: incidents keyed by the old grouping can no longer match an event. */
  regrouped: boolean;
}

const listOf = (fields: string[]): string => `[${fields.join(', ')}]`;
const groupByOf = (identity: string): string[] => (JSON.parse(identity) as { group_by?: string[] }).group_by ?? [];
const sameSet = (a: string[], b: string[]): boolean =>
  a.length === b.length && [...a].sort().join('\n') === [...b].sort().join('\n');

/**
 * Compares two versions of one rule by their configuration as written (a compiled rule's
 * `identity`). `group_by` is read as a set: the incident key sorts its labels, so reordering the
 * list regroups nothing.
 */
export function describeRuleChange(rule: string, before: string, after: string): RuleReset {
  const was = JSON.parse(before) as Record<string, unknown>;
  const now = JSON.parse(after) as Record<string, unknown>;
  const groupsWere = groupByOf(before);
  const groupsNow = groupByOf(after);
  if (was.kind !== now.kind)
    return {
      rule,
      reason: `kind changed from ${String(was.kind)} to ${String(now.kind)}`,
      regrouped: !sameSet(groupsWere, groupsNow),
    };
  if (!sameSet(groupsWere, groupsNow))
    return { rule, reason: `group_by changed from ${listOf(groupsWere)} to ${listOf(groupsNow)}`, regrouped: true };
  const changed = [...new Set([...Object.keys(was), ...Object.keys(now)])]
    .filter((k) => JSON.stringify(was[k]) !== JSON.stringify(now[k]))
    .map((k) => (k === 'group_by' ? 'group_by order' : k))
    .sort();
  return { rule, reason: `rule configuration changed: ${changed.join(', ')}`, regrouped: false };
}

/** Why a regrouped rule's open incidents resolve at reload. */
export function regroupedReason(rule: string, before: string, after: string): string {
  return `rule ${rule} now groups by ${listOf(groupByOf(after))}; incidents grouped by ${listOf(groupByOf(before))} can no longer match`;
}
