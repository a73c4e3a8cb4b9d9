import { any, bool, list, obj, optional, str, type ConfigIssue, type Infer, type Schema } from '../../config/schema.ts';
import type { IncidentChange } from '../../model/incident.ts';
import { matcher } from './config.ts';
import { matches, type Matcher } from './routing.ts';
import { compileGrouping, groupingFields, groups, type GroupingConfig, type RouteGrouping } from './routeGrouping.ts';
import { timeIntervalsSchema, tryCompileTimeInterval, type TimeInterval } from './timeIntervals.ts';

/**
 * Alertmanager's routing tree for incident changes. A change enters at the root and walks down:
 * a route takes it when all its matchers match; its children are tried in order and the first
 * that takes it wins, unless that child says `continue`, in which case the next ones are tried
 * too; a route none of whose children take the change is itself a match. Each matched route
 * names a receiver (inherited from its parent when unset), and a receiver names exporters.
 *
 * An exporter that some receiver names gets exactly the changes the tree routes to it; an
 * exporter the tree never names keeps its own flat `routes`, so a config without a tree, or
 * with one for some exporters only, behaves as before.
 */

const routeFields = {
  matchers: list(matcher(), {
    default: [],
    doc: 'All must match (same syntax as an exporter\'s `routes`: `severity >= error`, `service = "billing"`, `rule =~ "disk-.*"`). None: every change that reached this route.',
  }),
  receiver: optional(
    str({ nonEmpty: true, doc: "Receiver for changes this route takes; default: the parent route's." }),
  ),
  continue: bool({
    default: false,
    doc: 'After this route takes a change, try its next siblings too (Alertmanager `continue`).',
  }),
  mute_time_intervals: list(str(), {
    default: [],
    doc: 'While one of these named intervals is active, this route notifies no one (resolutions still close tickets).',
  }),
  active_time_intervals: list(str(), {
    default: [],
    doc: 'When set, this route notifies only while one of these named intervals is active.',
  }),
  ...groupingFields,
  routes: list(any(), { default: [], doc: 'Child routes, same shape, tried in order.' }),
};
const routeNode = obj(routeFields);

export interface RouteConfig extends GroupingConfig {
  matchers: Matcher[];
  receiver?: string;
  continue: boolean;
  mute_time_intervals: string[];
  active_time_intervals: string[];
  routes: RouteConfig[];
}

/** The route node schema, applied at every depth, so a child's mistakes carry its own YAML path. */
const routeSchema: Schema<RouteConfig> = {
  ...(routeNode as unknown as Schema<RouteConfig>),
  parse(value: unknown, path: string, issues: ConfigIssue[]): RouteConfig | undefined {
    const node = routeNode.parse(value, path, issues);
    if (!node) return undefined;
    const routes: RouteConfig[] = [];
    node.routes.forEach((child, i) => {
      const parsed = routeSchema.parse(child, `${path}.routes[${i}]`, issues);
      if (parsed) routes.push(parsed);
    });
    return { ...node, routes };
  },
};

export const routingSchema = obj(
  {
    receiver: str({ nonEmpty: true, doc: "The root route's receiver: changes no child route takes go here." }),
    ...groupingFields,
    routes: list(routeSchema, {
      default: [],
      doc: 'Child routes of the root, tried in order (each with `matchers`, `receiver`, `continue`, `mute_time_intervals`, `active_time_intervals`, the grouping settings and its own `routes`).',
    }),
    receivers: list(
      obj({
        name: str({ nonEmpty: true, doc: 'Named by routes.' }),
        exporters: list(str({ nonEmpty: true }), {
          default: [],
          doc: 'Incident exporters (ticket, chat, webhook) that get the changes routed here. None: the changes go nowhere (a "blackhole" receiver).',
        }),
      }),
      { minItems: 1, doc: 'Receivers by name.' },
    ),
    time_intervals: timeIntervalsSchema,
  },
  { doc: 'An Alertmanager-style routing tree for incident changes (see "Routing tree").' },
);

export type RoutingConfig = Infer<typeof routingSchema>;

interface CompiledRoute {
  /** For `vigil routes test`: the route's matchers as written, or `{}` for the root. */
  label: string;
  matchers: Matcher[];
  receiver: string;
  continue: boolean;
  mute: TimeInterval[];
  active: TimeInterval[];
  grouping: RouteGrouping;
  routes: CompiledRoute[];
}

/** One matched route: where it sits in the tree and whom it notifies. */
export interface RouteMatch {
  path: string[];
  receiver: string;
  exporters: string[];
  /** A mute interval of the route is active, or an active interval is set and none is. */
  muted: boolean;
  /** How the route groups incidents; absent when it does not. */
  grouping?: RouteGrouping;
}

export class RoutingTree {
  private readonly root: CompiledRoute;
  private readonly receivers: ReadonlyMap<string, string[]>;
  /** Every exporter some receiver names: the tree decides for these. */
  readonly exporters: ReadonlySet<string>;
  private readonly matched = new WeakMap<IncidentChange, { nowMs: number; routes: RouteMatch[] }>();

  private constructor(root: CompiledRoute, receivers: ReadonlyMap<string, string[]>) {
    this.root = root;
    this.receivers = receivers;
    this.exporters = new Set([...receivers.values()].flat());
  }

  /**
   * Checks references (receivers, time intervals, exporters) and builds the tree; issues carry
   * YAML paths under `at`. `incidentExporters` are the exporter ids that take incident changes.
   */
  static compile(
    config: RoutingConfig,
    at: string,
    incidentExporters: ReadonlySet<string>,
    issues: ConfigIssue[],
  ): RoutingTree | undefined {
    const before = issues.length;
    const intervals = new Map<string, TimeInterval>();
    config.time_intervals.forEach((ti, i) => {
      if (intervals.has(ti.name))
        issues.push({ path: `${at}.time_intervals[${i}].name`, message: `"${ti.name}" is defined twice` });
      const compiled = tryCompileTimeInterval(ti.name, ti.time_intervals);
      if (typeof compiled === 'string') issues.push({ path: `${at}.time_intervals[${i}]`, message: compiled });
      else intervals.set(ti.name, compiled);
    });
    const receivers = new Map<string, string[]>();
    config.receivers.forEach((r, i) => {
      if (receivers.has(r.name))
        issues.push({ path: `${at}.receivers[${i}].name`, message: `"${r.name}" is defined twice` });
      r.exporters.forEach((e, j) => {
        if (!incidentExporters.has(e)) {
          issues.push({
            path: `${at}.receivers[${i}].exporters[${j}]`,
            message: `"${e}" is not an exporter of an incidents pipeline; known: ${[...incidentExporters].join(', ') || 'none'}`,
          });
        }
      });
      receivers.set(r.name, r.exporters);
    });
    const receiverAt = (name: string, path: string) => {
      if (!receivers.has(name))
        issues.push({
          path,
          message: `receiver "${name}" is not defined under ${at}.receivers; defined: ${[...receivers.keys()].join(', ')}`,
        });
    };
    const lookup = (names: string[], path: string) =>
      names.flatMap((n, i) => {
        const ti = intervals.get(n);
        if (!ti)
          issues.push({
            path: `${path}[${i}]`,
            message: `time interval "${n}" is not defined under ${at}.time_intervals`,
          });
        return ti ? [ti] : [];
      });
    const build = (r: RouteConfig, parentReceiver: string, parent: RouteGrouping, path: string): CompiledRoute => {
      const receiver = r.receiver ?? parentReceiver;
      if (r.receiver) receiverAt(r.receiver, `${path}.receiver`);
      const grouping = compileGrouping(r, r.matchers, parent, path, issues);
      return {
        label: r.matchers.length ? r.matchers.map(describeMatcher).join(', ') : '{}',
        matchers: r.matchers,
        receiver,
        continue: r.continue,
        mute: lookup(r.mute_time_intervals, `${path}.mute_time_intervals`),
        active: lookup(r.active_time_intervals, `${path}.active_time_intervals`),
        grouping,
        routes: r.routes.map((c, i) => build(c, receiver, grouping, `${path}.routes[${i}]`)),
      };
    };
    receiverAt(config.receiver, `${at}.receiver`);
    const grouping = compileGrouping(config, [], undefined, at, issues);
    const root: CompiledRoute = {
      label: '{}',
      matchers: [],
      receiver: config.receiver,
      continue: false,
      mute: [],
      active: [],
      grouping,
      routes: config.routes.map((c, i) => build(c, config.receiver, grouping, `${at}.routes[${i}]`)),
    };
    return issues.length > before ? undefined : new RoutingTree(root, receivers);
  }

  /** Every route that takes the change, in tree order, with whether it is muted at `nowMs`. */
  match(change: IncidentChange, nowMs: number): RouteMatch[] {
    const out: RouteMatch[] = [];
    const walk = (r: CompiledRoute, path: string[]): boolean => {
      if (!r.matchers.every((m) => matches(m, change))) return false;
      const here = [...path, r.label];
      let taken = false;
      for (const child of r.routes) {
        if (walk(child, here)) {
          taken = true;
          if (!child.continue) break;
        }
      }
      if (!taken) {
        const muted =
          r.mute.some((t) => t.active(nowMs)) || (r.active.length > 0 && !r.active.some((t) => t.active(nowMs)));
        out.push({
          path: here,
          receiver: r.receiver,
          exporters: this.receivers.get(r.receiver) ?? [],
          muted,
          ...(groups(r.grouping) ? { grouping: r.grouping } : {}),
        });
      }
      return true;
    };
    walk(this.root, []);
    return out;
  }

  /** Route keys of the routes that group and notify `exporterId`, in tree order. */
  groupingRoutes(exporterId: string): string[] {
    const out: string[] = [];
    const walk = (r: CompiledRoute) => {
      if (groups(r.grouping) && this.receivers.get(r.receiver)?.includes(exporterId)) out.push(r.grouping.routeKey);
      r.routes.forEach(walk);
    };
    walk(this.root);
    return out;
  }

  /**
   * Whether `exporterId` gets this change. Resolutions reach every matched route's exporters
   * even while muted, so a ticket opened before a mute window never stays open.
   */
  takes(exporterId: string, change: IncidentChange, nowMs: number): boolean {
    return this.routesTo(exporterId, change, nowMs).length > 0;
  }

  /** The matched routes through which `exporterId` gets this change (see takes()). */
  routesTo(exporterId: string, change: IncidentChange, nowMs: number): RouteMatch[] {
    // Every exporter the tree names asks about the same change objects: walk the tree once for each.
    let known = this.matched.get(change);
    if (known?.nowMs !== nowMs) {
      known = { nowMs, routes: this.match(change, nowMs) };
      this.matched.set(change, known);
    }
    return known.routes.filter((m) => m.exporters.includes(exporterId) && (!m.muted || change.kind === 'resolved'));
  }
}

function describeMatcher(m: Matcher): string {
  return `${m.name}${m.op}${JSON.stringify(m.value)}`;
}
