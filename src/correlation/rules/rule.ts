import type { MetricPoint } from '../../model/metric.ts';
import type { VigilEvent } from '../../model/event.ts';
import type { IncidentChange } from '../../model/incident.ts';
import type { StateStore } from '../stateStore.ts';
import type { RuleConfig } from '../config.ts';
import type { KeyBuilder } from '../fieldPath.ts';
import type { IncidentBook, IncidentPolicy, IncidentRecord } from '../incidentBook.ts';

/** A compiled condition: OTTL compiled once to a closure. */
export type Matcher = (item: never) => boolean;

/** What a rule may touch while it handles one event or one tick. */
export interface RuleContext {
  readonly store: StateStore;
  readonly book: IncidentBook;
  out: IncidentChange[];
  /** The engine clock reading of this step. */
  nowMs: number;
  /** Counts an event a rule looked at and could do nothing with (an up with no known down, ...). */
  ignore(rule: string, reason: IgnoredReason): void;
}

/** Why a rule ignored an event, as `vigil_correlation_ignored_events_total{reason}` says it. */
export type IgnoredReason = 'up_without_down' | 'older_than_state' | 'max_open_incidents';

export interface CompiledRuleBase {
  readonly name: string;
  readonly kind: string;
  readonly policy: IncidentPolicy;
  readonly time: 'event' | 'arrival';
  readonly latenessMs: number;
  /** The rule's configuration as written: a reload keeps the state of rules whose text did not change. */
  readonly identity: string;
  readonly keys: KeyBuilder;
  /** The rule as configured (schema defaults filled in), for those who show it. */
  readonly definition: RuleConfig;
  /** Timers on one open incident of this rule; `evalMs` is the clock less the allowed lateness. */
  onOpenIncident?(rec: IncidentRecord, evalMs: number, ctx: RuleContext): void;
  /**
   * An incident of the rule that this agent kept attaching events to after another agent had
   * resolved it (the two had not heard of each other yet): what came after the resolution may
   * open the next incident.
   */
  onResolvedElsewhere?(rec: IncidentRecord, ctx: RuleContext): void;
  /**
   * A window counter of the rule (`c:<key>`) that other agents' events raised: the timers see
   * whether the window, with every agent's events in it, now holds what none saw alone.
   */
  onMergedCount?(counter: string, ctx: RuleContext): void;
  /** Timers on the rule's groups (absence): `marks` are its `a:` state keys, gathered in one scan for all rules. */
  onTick?(evalMs: number, ctx: RuleContext, marks: readonly string[]): void;
}

export interface EventRule extends CompiledRuleBase {
  readonly signal: 'logs';
  readonly match: (e: VigilEvent) => boolean;
  onEvent(e: VigilEvent, tMs: number, ctx: RuleContext): void;
}

export interface PointRule extends CompiledRuleBase {
  readonly signal: 'metrics';
  readonly metric: string;
  readonly match: (p: MetricPoint) => boolean;
  onPoint(p: MetricPoint, tMs: number, ctx: RuleContext): void;
}

export type CompiledRule = EventRule | PointRule;

/** Auto-resolution, unless the rule leaves resolution to a person. */
export function autoResolve(
  rule: CompiledRuleBase,
  rec: IncidentRecord,
  atMs: number,
  reason: string,
  event: VigilEvent | undefined,
  ctx: RuleContext,
): void {
  if (rule.policy.resolve === 'never') return;
  ctx.book.resolve(rec, rule.policy, atMs, reason, event, ctx.out);
}

/**
 * The time up to which every event a rule will still count has arrived: the clock less the
 * allowed lateness under event time, the clock under arrival time. A decision about a moment
 * before it cannot be changed by an event still to come.
 */
export function watermarkOf(rule: CompiledRuleBase, nowMs: number): number {
  return rule.time === 'arrival' ? nowMs : nowMs - rule.latenessMs;
}

export const isOpen = (rec: IncidentRecord | undefined): rec is IncidentRecord =>
  rec !== undefined && rec.incident.status !== 'resolved';

/** What every compiled rule is built from: its name, timing and incident policy. */
export interface RuleSettings {
  name: string;
  policy: IncidentPolicy;
  time: 'event' | 'arrival';
  latenessMs: number;
  identity: string;
  keys: KeyBuilder;
  /** The rule as configured (schema defaults filled in), for those who show it. */
  definition: RuleConfig;
}

export abstract class RuleCore {
  readonly name: string;
  readonly policy: IncidentPolicy;
  readonly time: 'event' | 'arrival';
  readonly latenessMs: number;
  readonly identity: string;
  readonly keys: KeyBuilder;
  readonly definition: RuleConfig;

  constructor(s: RuleSettings) {
    this.name = s.name;
    this.policy = s.policy;
    this.time = s.time;
    this.latenessMs = s.latenessMs;
    this.identity = s.identity;
    this.keys = s.keys;
    this.definition = s.definition;
  }
}

/**
 * Window rules keep a "may have an open incident" mark in their own counter, at bucket -1 (no
 * window reaches it): the group's counter is looked up anyway, so most events skip the incident
 * lookup, the costliest step of the event path. +1 on open, -1 on resolve; as a counter it
 * merges across agents, and a race only ever leaves it too high, which costs a lookup, never a
 * missed attach. Refreshed on every attach so a long incident keeps it.
 */
const OPEN_MARK_BUCKET = -1;
const OPEN_MARK_TTL_MS = 86_400_000;

export function markOpen(store: StateStore, counter: string, delta: 1 | -1 | 0, atMs: number): void {
  // Never below zero: a mark reset by a reload must not hide the next incident.
  if (delta === -1 && !mayBeOpen(store, counter)) return;
  store.addCount(counter, OPEN_MARK_BUCKET, delta, atMs + OPEN_MARK_TTL_MS);
}

/** Kinds whose counters carry the open mark. */
export const MARKED_KINDS: ReadonlySet<string> = new Set(['threshold', 'spike']);

export function mayBeOpen(store: StateStore, counter: string): boolean {
  return store.sumCounts(counter, OPEN_MARK_BUCKET, OPEN_MARK_BUCKET) > 0;
}
