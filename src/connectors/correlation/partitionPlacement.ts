import type { EventRule, PointRule } from '../../correlation/rules/rule.ts';
import type { MetricPoint } from '../../model/metric.ts';
import type { RuleSet } from '../../correlation/engine.ts';
import type { VigilEvent } from '../../model/event.ts';
import type { CorrelationMetrics } from './metrics.ts';
import type { RuntimeConfig } from './runtime.ts';

/**
 * Where the owners design places events (`state.sharing: partitions`): each rule's groups fall
 * into partitions by the hash of their key (`partitionOf`; `KeyBuilder.hash` gives it without
 * building the key), and an event goes to the partition of each group it belongs to.
 */
export class GroupPlacement {
  private readonly rules: EventRule[];
  private readonly pointRules: PointRule[];
  private readonly count: number;

  constructor(set: RuleSet, count: number) {
    this.rules = set.rules.filter((r): r is EventRule => r.signal === 'logs');
    this.pointRules = set.rules.filter((r): r is PointRule => r.signal === 'metrics');
    this.count = count;
  }

  /** Whether any rule takes metric points. */
  get takesPoints(): boolean {
    return this.pointRules.length > 0;
  }

  /** The partitions of the groups a metric point belongs to, one per point rule it is for. */
  placePoint(m: MetricPoint): number | number[] | undefined {
    return placeBy(this.pointRules, m, this.count, (rule) => m.name === rule.metric && rule.match(m));
  }

  /** As `takesFor`, for metric points. */
  takesPointFor(p: number): (rule: PointRule, m: MetricPoint) => boolean {
    const count = this.count;
    return (rule, m) => rule.keys.hash(m) % count === p;
  }

  /** The partitions of the groups `e` belongs to, one per rule that matches it; undefined: none. */
  placeOf(e: VigilEvent): number | number[] | undefined {
    return placeBy(this.rules, e, this.count, (rule) => rule.match(e));
  }

  /** What partition `p`'s engine takes of each rule: the events of the rule's groups in `p` (engine option `takes`). */
  takesFor(p: number): (rule: EventRule, e: VigilEvent) => boolean {
    const count = this.count;
    return (rule, e) => rule.keys.hash(e) % count === p;
  }
}

/** The partitions of `x`'s groups under the rules it `matches`, one per rule; undefined: none. */
function placeBy<T, R extends { keys: { hash(x: T): number } }>(
  rules: readonly R[],
  x: T,
  count: number,
  matches: (rule: R) => boolean,
): number | number[] | undefined {
  let one: number | undefined;
  let many: number[] | undefined;
  for (const rule of rules) {
    if (!matches(rule)) continue;
    const p = rule.keys.hash(x) % count;
    if (one === undefined) one = p;
    else if (p !== one && !(many ??= [one]).includes(p)) many.push(p);
  }
  return many ?? one;
}

/**
 * The rules as each partition's engine runs them: a rule's max_open_incidents shared out among the
 * partitions (each allows `ceil(limit / partitions)`; 0 stays no limit). No agent sees a rule's
 * open incidents in every partition, and new groups spread over the partitions by their key's
 * hash, so a flood of them is held back at about the limit in all, each partition on an overflow
 * incident of its own (`<rule>{overflow="true",partition="<p>"}`).
 */
export function sharedOut(config: RuntimeConfig, partitions: number): RuntimeConfig {
  const share = (limit: number) => (limit === 0 ? 0 : Math.ceil(limit / partitions));
  return {
    ...config,
    defaults: { ...config.defaults, max_open_incidents: share(config.defaults.max_open_incidents) },
    rules: config.rules.map((r) => {
      const limit = (r as { max_open_incidents?: number }).max_open_incidents;
      return limit === undefined ? r : { ...r, max_open_incidents: share(limit) };
    }),
  };
}

/**
 * The events of `batch` as they go on the partitions' streams, where they are taken in time
 * order: one without a time takes the one it was seen at (or the clock's); one further ahead of
 * the clock than `max_future_skew` is dropped or taken at the clock, as `future_events` says, as
 * the engine of one agent would (and counted so). The batch itself when none needs it.
 */
export function timedForPartitions<T extends { timeUnixNano: bigint; observedTimeUnixNano?: bigint }>(
  batch: T[],
  nowMs: number,
  config: RuntimeConfig,
  metrics: Pick<CorrelationMetrics, 'futureEvents' | 'droppedEvents'>,
): T[] {
  const skewNs = BigInt(nowMs + config.max_future_skew) * 1_000_000n;
  let events: T[] = batch;
  for (let i = 0; i < batch.length; i++) {
    const e = batch[i]!;
    if (e.timeUnixNano !== 0n && e.timeUnixNano <= skewNs) {
      if (events !== batch) events.push(e);
      continue;
    }
    if (events === batch) events = batch.slice(0, i);
    if (e.timeUnixNano === 0n) {
      events.push({ ...e, timeUnixNano: e.observedTimeUnixNano || BigInt(nowMs) * 1_000_000n });
      continue;
    }
    metrics.futureEvents.inc();
    if (config.future_events === 'drop') metrics.droppedEvents.inc();
    else events.push({ ...e, timeUnixNano: BigInt(nowMs) * 1_000_000n });
  }
  return events;
}
