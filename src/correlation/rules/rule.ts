import type { MetricPoint } from '../../model/metric.ts';
import type { VigilEvent } from '../../model/event.ts';
import type { IncidentChange } from '../../model/incident.ts';
import type { StateStore } from '../../state/stateStore.ts';
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
  /** Up events with no known down, and events older than the group's known state. */
  ignored: number;
}

export interface CompiledRuleBase {
  readonly name: string;
  readonly kind: string;
  readonly policy: IncidentPolicy;
  readonly time: 'event' | 'arrival';
  readonly latenessMs: number;
  /** The rule's configuration as written: a reload keeps the state of rules whose text did not change. */
  readonly identity: string;
  readonly keys: KeyBuilder;
  /** Timers on one open incident of this rule; `evalMs` is the clock less the allowed lateness. */
  onOpenIncident?(rec: IncidentRecord, evalMs: number, ctx: RuleContext): void;
  /** Timers on the rule's groups that have no incident yet (absence). */
  onTick?(evalMs: number, ctx: RuleContext): void;
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
export function autoResolve(rule: CompiledRuleBase, rec: IncidentRecord, atMs: number, reason: string, event: VigilEvent | undefined, ctx: RuleContext): void {
  if (rule.policy.resolve === 'never') return;
  ctx.book.resolve(rec, rule.policy, atMs, reason, event, ctx.out);
}

export const isOpen = (rec: IncidentRecord | undefined): rec is IncidentRecord => rec !== undefined && rec.incident.status !== 'resolved';

/** What every compiled rule is built from: its name, timing and incident policy. */
export interface RuleSettings {
  name: string;
  policy: IncidentPolicy;
  time: 'event' | 'arrival';
  latenessMs: number;
  identity: string;
  keys: KeyBuilder;
}

export abstract class RuleCore {
  readonly name: string;
  readonly policy: IncidentPolicy;
  readonly time: 'event' | 'arrival';
  readonly latenessMs: number;
  readonly identity: string;
  readonly keys: KeyBuilder;

  constructor(s: RuleSettings) {
    this.name = s.name;
    this.policy = s.policy;
    this.time = s.time;
    this.latenessMs = s.latenessMs;
    this.identity = s.identity;
    this.keys = s.keys;
  }
}
