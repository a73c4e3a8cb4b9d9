import {
  duration as anyDuration,
  int,
  list,
  literalUnion,
  num,
  obj,
  optional,
  refine,
  str,
  tagged,
  type Infer,
  type Schema,
  timeZone,
  timestamp,
} from '../config/schema.ts';

const RULE_NAME = /^[A-Za-z][A-Za-z0-9_.-]*$/;

/** Correlation durations need a unit: a bare `window: 60` would silently mean 60 ms. */
const duration = (opts: Parameters<typeof anyDuration>[0] = {}) => anyDuration({ ...opts, unit: 'required' });
/** A window, interval or bucket of length 0 holds nothing and would fire (or never settle) at once. */
const span = (opts: Parameters<typeof anyDuration>[0] = {}) => duration({ ...opts, positive: true });

/** Settings every rule may override; unset ones come from `correlation.defaults`. */
const overridable = {
  time: optional(
    literalUnion(['event', 'arrival'], {
      doc: "Windows run on the event's own time (`event`) or on the time Vigil received it (`arrival`), for sources whose clocks cannot be trusted.",
    }),
  ),
  allowed_lateness: optional(
    duration({
      doc: 'How late (event time behind the clock) an event may arrive and still count; timers wait this long before deciding.',
    }),
  ),
  group_wait: optional(duration({ doc: "Hold-down before a new incident's first notification." })),
  group_interval: optional(
    duration({
      doc: 'Minimum time between two notifications of one incident: updates wait for it, and so does a resolve while the incident may still reopen.',
    }),
  ),
  repeat_interval: optional(
    duration({ doc: 'Re-notify an incident still open after this long without a notification.' }),
  ),
  reopen_window: optional(
    duration({
      max: '1d',
      doc: 'A group that fires again within this long after its incident resolved reopens it instead of opening a twin.',
    }),
  ),
  resolve: optional(
    literalUnion(['first', 'last', 'all', 'never'], {
      doc: 'When an incident of several members (`member_by`) resolves: on the `first` recovery, when the member that went down `last` recovers, when `all` members recovered; `never` leaves it to a person.',
    }),
  ),
  sample_size: optional(int({ min: 0, max: 1000, doc: 'Event ids kept on the incident as a sample.' })),
  max_open_incidents: optional(
    int({
      min: 0,
      doc: 'Most incidents of this rule open at once, per tenant (0: no limit); past it, new groups are held back and counted on one overflow incident.',
    }),
  ),
};

function ruleBase<K extends string>(kind: K, kindDoc: string) {
  return {
    kind: literalUnion([kind] as const, { doc: kindDoc }),
    name: str({
      pattern: RULE_NAME,
      patternHint: 'a name of letters, digits, `_`, `.` or `-`, starting with a letter',
      doc: 'Rule name; the first part of every incident key.',
    }),
    match: str({ default: 'true', doc: 'OTTL condition selecting the events (or data points) this rule looks at.' }),
    group_by: list(str(), {
      default: [],
      doc: 'Fields whose values make one group (one incident): `asset`, `service`, `attributes["k"]`, `label=path`.',
    }),
    title: optional(
      str({ doc: "Incident title; default: the first matching event's title, or a description of the rule." }),
    ),
    ...overridable,
  };
}

export const dedupRuleSchema = obj({
  ...ruleBase(
    'dedup',
    "Events with the same fingerprint (`group_by`, or the event's `fingerprint`) within `dedup_window` fold into one incident counting repeats.",
  ),
  dedup_window: span({
    default: '5m',
    doc: 'Repeats this close together fold into one incident; it resolves after this long without a repeat.',
  }),
});

export const thresholdRuleSchema = refine(
  obj({
    ...ruleBase(
      'threshold',
      'Opens when at least `threshold` events (or the sum of a field) fall within a sliding `window` per group.',
    ),
    window: span({ doc: 'Sliding window length.' }),
    threshold: num({
      doc: 'Opens when the count (or sum) in the window reaches this value; at least 1 when counting, above 0 when summing.',
    }),
    resolve_below: optional(
      num({
        doc: 'Hysteresis: resolves once the window falls below this (default: `threshold`); at least 1 when counting, above 0 when summing, at most `threshold`.',
      }),
    ),
    sum: optional(str({ doc: 'Sum this numeric field instead of counting events.' })),
    bucket: optional(
      span({ doc: 'Window resolution (default: window / 10): events count by the bucket their time falls in.' }),
    ),
  }),
  (r) => {
    // A count below 1 is 0: a threshold under it would open on nothing, a resolve_below under it never resolves.
    const least = r.sum === undefined ? 1 : Number.MIN_VALUE;
    const what = r.sum === undefined ? 'at least 1 (it is compared with a count of events)' : 'greater than 0';
    if (r.threshold < least) return { path: 'threshold', message: `must be ${what}, got ${r.threshold}` };
    if (r.resolve_below === undefined) return undefined;
    if (r.resolve_below < least)
      return {
        path: 'resolve_below',
        message: `must be ${what}, got ${r.resolve_below}: a window with no events must resolve the incident`,
      };
    return r.resolve_below > r.threshold
      ? { path: 'resolve_below', message: `must not exceed threshold (${r.threshold})` }
      : undefined;
  },
  '`threshold` and `resolve_below` are at least 1 when counting events (above 0 with `sum`), and `resolve_below` does not exceed `threshold`.',
);

export const pairRuleSchema = obj({
  ...ruleBase('pair', 'A `down` event opens an incident per group; the matching `up` resolves it.'),
  down: optional(str({ doc: "OTTL condition for a problem event (default: the event's type is `down`)." })),
  up: optional(str({ doc: "OTTL condition for a recovery event (default: the event's type is `up`)." })),
  member_by: list(str(), {
    default: [],
    doc: 'Fields naming the members of one incident (e.g. `asset` under `group_by: [site]`); `resolve` says which recoveries resolve it.',
  }),
  deadline: optional(span({ doc: 'Escalates an incident not recovered within this long ("not recovered within T").' })),
  flapping: optional(
    obj(
      {
        transitions: int({ min: 2, doc: 'Down/up transitions within `window` that make the group flapping.' }),
        window: span({
          doc: 'Window the transitions are counted in; the incident resolves once a window passes without flapping and the group is up.',
        }),
      },
      { doc: 'One flapping incident instead of one per transition.' },
    ),
  ),
});

export const absenceRuleSchema = obj({
  ...ruleBase(
    'absence',
    'Opens when a group that sent matching events goes quiet for `interval`; its return resolves it.',
  ),
  interval: span({ doc: 'Silence longer than this opens an incident.' }),
  forget_after: duration({
    default: '7d',
    doc: 'A group silent for this long is forgotten (its incident stays until resolved).',
  }),
});

export const metricThresholdRuleSchema = obj({
  ...ruleBase(
    'metric_threshold',
    'Compares an aggregation of a metric series over a window with a value, for a `for` duration.',
  ),
  metric: str({ nonEmpty: true, doc: 'Metric name.' }),
  aggregation: literalUnion(['avg', 'max', 'min', 'last', 'rate'], {
    default: 'avg',
    doc: "How the window's points reduce to one value; `rate` is the per-second increase (cumulative sums) or per-second sum (deltas, gauges).",
  }),
  window: span({ default: '5m', doc: 'Window the aggregation runs over.' }),
  op: literalUnion(['>', '>=', '<', '<='], { default: '>', doc: 'Comparison with `value`.' }),
  value: num({ doc: 'The threshold.' }),
  for: duration({ default: 0, doc: 'The condition must hold this long before the incident opens.' }),
  bucket: optional(span({ doc: 'Window resolution (default: window / 10).' })),
});

export const spikeRuleSchema = obj({
  ...ruleBase('spike', "Opens when the count in the current window exceeds the previous window's by `ratio`."),
  window: span({ doc: 'Length of the compared windows (aligned to multiples of it).' }),
  ratio: num({ min: 1, doc: 'Current / previous count (previous taken as at least 1) that makes a spike.' }),
  min_count: int({ default: 10, min: 1, doc: 'A window with fewer events is never a spike.' }),
});

export const ruleSchema = tagged<RuleConfig>(
  'kind',
  {
    dedup: dedupRuleSchema,
    threshold: thresholdRuleSchema,
    pair: pairRuleSchema,
    absence: absenceRuleSchema,
    metric_threshold: metricThresholdRuleSchema,
    spike: spikeRuleSchema,
  } as unknown as Record<string, Schema<RuleConfig>>,
  { doc: 'A correlation rule; `kind` picks its parameters.' },
);

const matchers = list(str(), {
  default: [],
  doc: 'Label matchers, all of which must hold: `label="v"`, `label!="v"`, `label=~"regex"`, `label!~"regex"`; labels are the incident\'s group labels plus `rule` and `severity`.',
});

export const correlationSchema = obj({
  defaults: obj({
    time: literalUnion(['event', 'arrival'], { default: 'event', doc: 'Default window time for rules.' }),
    allowed_lateness: duration({ default: '30s', doc: 'Default lateness an event may have and still count.' }),
    group_wait: duration({ default: '30s', doc: 'Default hold-down before the first notification.' }),
    group_interval: duration({
      default: '5m',
      doc: 'Default minimum time between two notifications of one incident (updates, and a resolve that may still reopen).',
    }),
    repeat_interval: duration({ default: '4h', doc: 'Default re-notification interval for an incident still open.' }),
    reopen_window: duration({
      default: '5m',
      max: '1d',
      doc: 'Default window in which a resolved incident reopens (resolved incidents are kept a day).',
    }),
    resolve: literalUnion(['first', 'last', 'all', 'never'], { default: 'all', doc: 'Default resolve policy.' }),
    sample_size: int({ default: 10, min: 0, max: 1000, doc: 'Default number of event ids kept per incident.' }),
    max_open_incidents: int({
      default: 1000,
      min: 0,
      doc: 'Default most incidents of one rule open at once, counted per tenant (0: no limit). Past it, a new group opens no incident: one overflow incident `<rule>{overflow="true"}` (with the tenant\'s label for a tenant) counts the groups held back, and resolves once the rule is back under the limit.',
    }),
  }),
  late_events: literalUnion(['drop', 'arrival'], {
    default: 'drop',
    doc: 'An event later than `allowed_lateness` is dropped (`drop`) or counted at its arrival time (`arrival`); either way it is counted in `vigil_correlation_late_events_total`.',
  }),
  max_future_skew: duration({
    default: '5m',
    doc: 'An event time further ahead of the clock than this is far-future.',
  }),
  future_events: literalUnion(['drop', 'arrival'], {
    default: 'arrival',
    doc: 'Far-future events are dropped or counted at their arrival time; counted in `vigil_correlation_future_events_total`.',
  }),
  tick_interval: span({
    default: '1s',
    doc: 'How often timers (absence, deadlines, group_wait, hysteresis, windows) are evaluated.',
  }),
  rules: list(ruleSchema, { default: [], doc: 'Correlation rules; each has a name of its own.' }),
  inhibit: list(
    obj({
      source: matchers,
      target: matchers,
      equal: list(str(), { default: [], doc: 'Labels that must have equal values in source and target.' }),
    }),
    {
      default: [],
      doc: 'An open incident matching `source` suppresses incidents matching `target` with the same `equal` labels.',
    },
  ),
  topology: optional(
    obj(
      {
        parent: str({
          default: 'attributes["parent"]',
          doc: "Field of an event naming its asset's parent (set by an enrich table).",
        }),
        down_rules: optional(
          list(str(), {
            doc: 'Rules whose open incidents mean their asset is down (default: every pair and absence rule).',
          }),
        ),
      },
      { doc: 'An incident whose asset\'s parent has an open "down" incident is suppressed.' },
    ),
  ),
  silences: list(
    obj({
      name: str({ nonEmpty: true, doc: 'Shown as `silence:<name>` on suppressed incidents.' }),
      matchers: list(str(), {
        minItems: 1,
        doc: "Label matchers, as for `inhibit`; they also see the incident's `service`, `asset` and `tenant`.",
      }),
      starts_at: timestamp({ doc: 'RFC 3339 start time.' }),
      ends_at: timestamp({ doc: 'RFC 3339 end time.' }),
      comment: str({ default: '', doc: 'Why.' }),
    }),
    {
      default: [],
      doc: "Silences: matching incidents are suppressed between `starts_at` and `ends_at`. Silences can also be made at run time through the operators' API (Alertmanager API v2, amtool; docs/api.md).",
    },
  ),
  maintenance: list(
    obj({
      name: str({ nonEmpty: true, doc: 'Shown as `maintenance:<name>` on suppressed incidents.' }),
      matchers: list(str(), { default: [], doc: 'Label matchers (none: every incident).' }),
      days: list(literalUnion(['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun']), {
        default: ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'],
        doc: 'Days the window starts on.',
      }),
      start: str({
        pattern: /^([01]\d|2[0-3]):[0-5]\d$/,
        patternHint: 'a time of day as HH:MM',
        doc: 'Start time of day.',
      }),
      duration: duration({ doc: 'Window length.' }),
      timezone: timeZone({ default: 'UTC', doc: 'IANA time zone of `start` and `days`.' }),
    }),
    { default: [], doc: 'Recurring maintenance windows: matching incidents are suppressed while one is on.' },
  ),
});

export type CorrelationConfig = Infer<typeof correlationSchema>;
export type DedupRuleConfig = Infer<typeof dedupRuleSchema>;
export type ThresholdRuleConfig = Infer<typeof thresholdRuleSchema>;
export type PairRuleConfig = Infer<typeof pairRuleSchema>;
export type AbsenceRuleConfig = Infer<typeof absenceRuleSchema>;
export type MetricThresholdRuleConfig = Infer<typeof metricThresholdRuleSchema>;
export type SpikeRuleConfig = Infer<typeof spikeRuleSchema>;
export type RuleConfig =
  | DedupRuleConfig
  | ThresholdRuleConfig
  | PairRuleConfig
  | AbsenceRuleConfig
  | MetricThresholdRuleConfig
  | SpikeRuleConfig;
