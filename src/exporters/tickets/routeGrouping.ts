import { duration, list, optional, str, type ConfigIssue } from '../../config/schema.ts';
import type { Matcher } from './routing.ts';

/**
 * Alertmanager's per-route grouping settings. Each is inherited from the parent route when
 * unset. A route with no `group_by` on itself or any ancestor does not group: every incident
 * is notified on its own, as Vigil did before routes could group.
 */
export const groupingFields = {
  group_by: optional(
    list(str({ nonEmpty: true }), {
      doc: "Group incidents whose values of these names are equal into one notification (one ticket per group). Names as in matchers: `rule` (alias `alertname`), `severity`, `service`, `tenant`, `asset` or an incident label. `['...']` groups by every label: each incident its own group, on the group timers. `[]` stops a parent's grouping. Default: the parent route's; none anywhere: no grouping, one notification per incident.",
    }),
  ),
  group_wait: optional(
    duration({
      doc: "With `group_by`: how long a new group gathers incidents before its first notification. Default: the parent route's, else 30s (Alertmanager's).",
    }),
  ),
  group_interval: optional(
    duration({
      positive: true,
      doc: "With `group_by`: after a group's first notification, how often its changes (incidents joining, resolving) go out as one notification. Default: the parent route's, else 5m.",
    }),
  ),
  repeat_interval: optional(
    duration({
      positive: true,
      doc: "With `group_by`: a group with nothing new is notified again once this long has passed since its last notification (at its next `group_interval` tick). Default: the parent route's, else 4h.",
    }),
  ),
};

/** A route's grouping settings as written (each may be unset). */
export interface GroupingConfig {
  group_by?: string[];
  group_wait?: number;
  group_interval?: number;
  repeat_interval?: number;
}

/** Alertmanager's `group_by` value that stands for every label. */
export const ALL_LABELS = '...';

/** How a route groups: what `vigil routes test` prints and what the grouping stage needs. */
export interface RouteGrouping {
  /** Alertmanager's route key (`{}/{severity="critical"}`): the first part of every group key of the route. */
  routeKey: string;
  /** Names to group by, or `all` for `['...']`; empty: the route does not group. */
  by: string[] | 'all';
  waitMs: number;
  intervalMs: number;
  repeatMs: number;
}

/** Alertmanager's defaults for a root route that does not set them. */
export const DEFAULT_GROUPING: RouteGrouping = {
  routeKey: '{}',
  by: [],
  waitMs: 30_000,
  intervalMs: 300_000,
  repeatMs: 4 * 3_600_000,
};

/** Go's `%q` of a string, close enough for label values and matcher values (JSON's quoting). */
function quote(v: string): string {
  return JSON.stringify(v);
}

/** Alertmanager's `Matchers.String()`: `{name="value",severity>="error"}`. */
function matchersKey(matchers: readonly Matcher[]): string {
  return `{${matchers.map((m) => `${m.name}${m.op}${quote(m.value)}`).join(',')}}`;
}

/**
 * A route's grouping from its own settings and its parent's (the root's parent: the defaults),
 * with its route key; a `...` mixed with names is reported at `path.group_by`.
 */
export function compileGrouping(
  own: GroupingConfig,
  matchers: readonly Matcher[],
  parent: RouteGrouping | undefined,
  path: string,
  issues: ConfigIssue[],
): RouteGrouping {
  const base = parent ?? DEFAULT_GROUPING;
  let by = base.by;
  if (own.group_by) {
    if (own.group_by.includes(ALL_LABELS) && own.group_by.length > 1)
      issues.push({
        path: `${path}.group_by`,
        message: `'${ALL_LABELS}' (every label) must be the only entry; got ${JSON.stringify(own.group_by)}`,
      });
    by = own.group_by.includes(ALL_LABELS) ? 'all' : [...new Set(own.group_by)].sort();
  }
  return {
    routeKey: parent ? `${parent.routeKey}/${matchersKey(matchers)}` : '{}',
    by,
    waitMs: own.group_wait ?? base.waitMs,
    intervalMs: own.group_interval ?? base.intervalMs,
    repeatMs: own.repeat_interval ?? base.repeatMs,
  };
}

/** Whether the route groups incidents at all. */
export function groups(g: RouteGrouping | undefined): g is RouteGrouping {
  return g !== undefined && (g.by === 'all' || g.by.length > 0);
}
