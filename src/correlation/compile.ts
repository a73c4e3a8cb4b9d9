import type { ConfigIssue } from '../config/schema.ts';
import type { VigilEvent } from '../model/event.ts';
import type { MetricPoint } from '../model/metric.ts';
import type { CorrelationConfig, RuleConfig } from './config.ts';
import type { RuleSet } from './engine.ts';
import { compileField, KeyBuilder, numericField, TENANT_LABEL, type LabelField } from './fieldPath.ts';
import type { IncidentPolicy } from './incidentBook.ts';
import { parseMatcher, type LabelMatcher } from './labelMatchers.ts';
import { AbsenceRule } from './rules/absenceRule.ts';
import { DedupRule } from './rules/dedupRule.ts';
import { MetricThresholdRule } from './rules/metricThresholdRule.ts';
import { PairRule } from './rules/pairRule.ts';
import type { CompiledRule, RuleSettings } from './rules/rule.ts';
import { SpikeRule } from './rules/spikeRule.ts';
import { ThresholdRule } from './rules/thresholdRule.ts';
import { Suppressor, type MaintenanceWindow } from './suppression.ts';

/** Compiles an OTTL condition for events or data points; throws on a bad condition. */
export type ConditionCompiler = (source: string, context: 'event' | 'datapoint') => (item: never) => boolean;

const DAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'];

class Compiler {
  readonly issues: ConfigIssue[] = [];
  private readonly compileCondition: ConditionCompiler;
  private readonly base: string;

  constructor(compileCondition: ConditionCompiler, base: string) {
    this.compileCondition = compileCondition;
    this.base = base;
  }

  private issue(path: string, message: string): void {
    this.issues.push({ path: `${this.base}.${path}`, message });
  }

  condition<T>(source: string, context: 'event' | 'datapoint', path: string): (item: T) => boolean {
    if (source.trim() === 'true') return () => true;
    try {
      return this.compileCondition(source, context) as (item: T) => boolean;
    } catch (err) {
      this.issue(path, (err as Error).message);
      return () => false;
    }
  }

  fields(specs: string[], path: string): LabelField[] {
    const out: LabelField[] = [];
    specs.forEach((spec, i) => {
      const f = compileField(spec);
      if (typeof f === 'string') this.issue(`${path}[${i}]`, f);
      else if (out.some((o) => o.label === f.label))
        this.issue(`${path}[${i}]`, `label "${f.label}" appears twice; name one with label=path`);
      else out.push(f);
    });
    return out;
  }

  /** A rule's `group_by`: a label named `tenant` must be the tenant, which every key of a tenant's events carries. */
  groupBy(specs: string[], path: string): LabelField[] {
    specs.forEach((spec, i) => {
      const f = compileField(spec);
      if (typeof f !== 'string' && f.label === TENANT_LABEL && f.field !== TENANT_LABEL)
        this.issue(
          `${path}[${i}]`,
          'the label tenant is the tenant every incident key carries; name this label otherwise (label=path)',
        );
    });
    return this.fields(specs, path);
  }

  field(spec: string, path: string): LabelField | undefined {
    const f = compileField(spec);
    if (typeof f === 'string') {
      this.issue(path, f);
      return undefined;
    }
    return f;
  }

  matchers(list: string[], path: string): LabelMatcher[] {
    const out: LabelMatcher[] = [];
    list.forEach((text, i) => {
      const m = parseMatcher(text);
      if (typeof m === 'string') this.issue(`${path}[${i}]`, m);
      else out.push(m);
    });
    return out;
  }
}

function bucketOf(windowMs: number, bucketMs: number | undefined): number {
  return Math.max(1, bucketMs ?? Math.floor(windowMs / 10));
}

function compileRule(c: Compiler, cfg: CorrelationConfig, r: RuleConfig, path: string): CompiledRule {
  const d = cfg.defaults;
  const policy: IncidentPolicy = {
    rule: r.name,
    kind: r.kind,
    title: r.title,
    groupWaitMs: r.group_wait ?? d.group_wait,
    groupIntervalMs: r.group_interval ?? d.group_interval,
    repeatIntervalMs: r.repeat_interval ?? d.repeat_interval,
    reopenWindowMs: r.reopen_window ?? d.reopen_window,
    sampleSize: r.sample_size ?? d.sample_size,
    resolve: r.resolve ?? d.resolve,
    maxOpenIncidents: r.max_open_incidents ?? d.max_open_incidents,
  };
  let groupBy = c.groupBy(r.group_by, `${path}.group_by`);
  if (r.kind === 'dedup' && groupBy.length === 0) groupBy = [compileField('fingerprint') as LabelField];
  const s: RuleSettings = {
    name: r.name,
    policy,
    time: r.time ?? d.time,
    latenessMs: r.allowed_lateness ?? d.allowed_lateness,
    identity: JSON.stringify(r),
    definition: r,
    keys: new KeyBuilder(r.name, groupBy, true),
  };
  if (r.kind === 'metric_threshold') {
    const match = c.condition<MetricPoint>(r.match, 'datapoint', `${path}.match`);
    return new MetricThresholdRule(s, match, {
      metric: r.metric,
      aggregation: r.aggregation,
      windowMs: r.window,
      bucketMs: bucketOf(r.window, r.bucket),
      op: r.op,
      value: r.value,
      forMs: r.for,
    });
  }
  const match = c.condition<VigilEvent>(r.match, 'event', `${path}.match`);
  switch (r.kind) {
    case 'dedup':
      return new DedupRule(s, match, r.dedup_window);
    case 'threshold': {
      const sum = r.sum === undefined ? undefined : c.field(r.sum, `${path}.sum`);
      return new ThresholdRule(s, match, {
        windowMs: r.window,
        bucketMs: bucketOf(r.window, r.bucket),
        threshold: r.threshold,
        resolveBelow: r.resolve_below ?? r.threshold,
        sum: sum && numericField(sum),
      });
    }
    case 'pair': {
      const members = c.fields(r.member_by, `${path}.member_by`);
      return new PairRule(s, match, {
        isDown:
          r.down === undefined ? (e) => e.type === 'down' : c.condition<VigilEvent>(r.down, 'event', `${path}.down`),
        isUp: r.up === undefined ? (e) => e.type === 'up' : c.condition<VigilEvent>(r.up, 'event', `${path}.up`),
        members: members.length ? new KeyBuilder('', members) : undefined,
        deadlineMs: r.deadline,
        flapping: r.flapping && {
          transitions: r.flapping.transitions,
          windowMs: r.flapping.window,
          bucketMs: bucketOf(r.flapping.window, undefined),
        },
      });
    }
    case 'absence':
      return new AbsenceRule(s, match, r.interval, r.forget_after);
    case 'spike':
      return new SpikeRule(s, match, r.window, r.ratio, r.min_count);
  }
}

/**
 * Turns the validated `correlation:` section into compiled rules and suppression, compiling
 * every condition once. Problems come back as issues with their YAML path.
 */
export function compileRuleSet(
  cfg: CorrelationConfig,
  compileCondition: ConditionCompiler,
  base = 'correlation',
): { set: RuleSet; issues: ConfigIssue[] } {
  const c = new Compiler(compileCondition, base);
  const rules = (cfg.rules as RuleConfig[]).map((r, i) => compileRule(c, cfg, r, `rules[${i}]`));
  const known = new Set(rules.map((r) => r.name));
  let topologyDownRules: Set<string> | undefined;
  let parentOf: (e: VigilEvent) => string = () => '';
  if (cfg.topology) {
    const parent = c.field(cfg.topology.parent, 'topology.parent');
    if (parent) parentOf = parent.get;
    const down =
      cfg.topology.down_rules ?? rules.filter((r) => r.kind === 'pair' || r.kind === 'absence').map((r) => r.name);
    cfg.topology.down_rules?.forEach((n, i) => {
      if (!known.has(n))
        c.issues.push({ path: `${base}.topology.down_rules[${i}]`, message: `no rule is named "${n}"` });
    });
    topologyDownRules = new Set(down);
  }
  const suppressor = new Suppressor({
    inhibit: cfg.inhibit.map((r, i) => ({
      source: c.matchers(r.source, `inhibit[${i}].source`),
      target: c.matchers(r.target, `inhibit[${i}].target`),
      equal: r.equal,
    })),
    topologyDownRules,
    silences: cfg.silences.map((s, i) => ({
      name: s.name,
      matchers: c.matchers(s.matchers, `silences[${i}].matchers`),
      startsAtMs: Date.parse(s.starts_at),
      endsAtMs: Date.parse(s.ends_at),
    })),
    maintenance: cfg.maintenance.map((m, i): MaintenanceWindow => {
      const [h, min] = m.start.split(':').map(Number) as [number, number];
      return {
        name: m.name,
        matchers: c.matchers(m.matchers, `maintenance[${i}].matchers`),
        days: new Set(m.days.map((day) => DAYS.indexOf(day))),
        startMinute: h * 60 + min,
        durationMs: m.duration,
        timezone: m.timezone,
      };
    }),
  });
  return {
    set: {
      rules,
      suppressor,
      parentOf,
      time: { lateEvents: cfg.late_events, maxFutureSkewMs: cfg.max_future_skew, futureEvents: cfg.future_events },
    },
    issues: c.issues,
  };
}
