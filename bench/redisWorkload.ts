/**
 * The Redis benchmark's workload, shared by its parent (bench/redis.ts), its agents
 * (bench/redisAgent.ts) and bench/redisHandoff.ts: three rules (threshold, pair, dedup) over
 * `groups` groups each, a stream in time order that agents split round robin, the steps of
 * sharing `--cut` can take out, and what Redis's INFO says.
 */
import { compileRuleSet } from '../src/correlation/compile.ts';
import { correlationSchema } from '../src/correlation/config.ts';
import type { RuleSet } from '../src/correlation/engine.ts';
import type { EventRule } from '../src/correlation/rules/rule.ts';
import { partitionOf } from '../src/state/redisPartitions.ts';
import type { IncidentChange } from '../src/model/incident.ts';
import { newEvent, type VigilEvent } from '../src/model/event.ts';
import { compileCondition } from '../src/ottl/compiler.ts';

export const BATCH = 500;
/** Virtual event rate: the stream spans events / RATE seconds of event time, ticked every second. */
export const RATE = 2_000;

const RULES = {
  defaults: { group_wait: '0s', allowed_lateness: '5s' },
  rules: [
    {
      kind: 'threshold',
      name: 'errors',
      match: 'severity_text == "ERROR"',
      group_by: ['service'],
      window: '60s',
      bucket: '5s',
      threshold: 50,
    },
    { kind: 'pair', name: 'link', match: 'attributes["check"] == "link"', group_by: ['asset'] },
    { kind: 'dedup', name: 'disk', match: 'attributes["check"] == "disk"', group_by: ['asset'] },
  ],
};

export const RULE_COUNT = RULES.rules.length;

/** Steps of sharing `bench/redis.ts --cut` takes out of the agents' stores, each with the ones before it. */
export const CUTS = ['none', 'subscription', 'registers', 'shipping'] as const;
export type Cut = (typeof CUTS)[number];

/** A numeric field of a Redis INFO section. */
export function infoField(info: string, field: string): number {
  const m = new RegExp(`^${field}:([\\d.]+)`, 'm').exec(info);
  if (!m) throw new Error(`INFO has no ${field}`);
  return Number(m[1]);
}

/** The CPU seconds (user + system) Redis has used, from INFO cpu. */
export function redisCpuSeconds(info: string): number {
  return infoField(info, 'used_cpu_user') + infoField(info, 'used_cpu_sys');
}

/** The three rules as configured (`correlation:`); `maxOpen` overrides max_open_incidents. */
export function rulesConfig(maxOpen?: number): object {
  return maxOpen === undefined ? RULES : { ...RULES, defaults: { ...RULES.defaults, max_open_incidents: maxOpen } };
}

/** The three rules; `maxOpen` overrides max_open_incidents (default 1,000 per rule: past it, groups are held back on one overflow incident). */
export function ruleSet(maxOpen?: number): RuleSet {
  const issues: { path: string; message: string }[] = [];
  const cfg = correlationSchema.parse(rulesConfig(maxOpen), 'correlation', issues);
  if (!cfg || issues.length) throw new Error(JSON.stringify(issues));
  return compileRuleSet(cfg, (source, context) => compileCondition(source, context) as (item: never) => boolean).set;
}

/**
 * Event `i` goes to a rule picked by a hash of i (i mod 3 would hand each rule to one agent of
 * three, as the agents split the stream round robin), in group (i × 7919) mod groups, so that
 * consecutive events hit different groups.
 */
function ruleOf(i: number): number {
  return (Math.imul(i, 0x9e3779b1) >>> 16) % 3;
}

function groupOf(i: number, groups: number): number {
  return (i * 7919) % groups;
}

/**
 * Errors of `groups` services, link flaps (a link goes down and up on alternate visits) and disk
 * alerts of `groups` assets, in time order: the events `i < events` with i mod agents = agent
 * (agent 0 of 1 takes them all).
 */
/** Event `i`'s time (ms): RATE events a second, from 1 ms (an event time of 0 is one the source did not give). */
const eventTimeMs = (i: number) => 1 + Math.floor((i * 1000) / RATE);

/** The time of the last of `events` events of the stream. */
export const streamEndMs = (events: number) => eventTimeMs(events - 1);

export function streamShare(events: number, groups: number, agent: number, agents: number): VigilEvent[] {
  const out: VigilEvent[] = [];
  for (let i = agent; i < events; i += agents) {
    const t = BigInt(eventTimeMs(i)) * 1_000_000n;
    const g = groupOf(i, groups);
    const base = { source: 'bench', id: `e${i}`, timeUnixNano: t, observedTimeUnixNano: t };
    const rule = ruleOf(i);
    if (rule === 0) out.push(newEvent({ ...base, service: `svc-${g}`, severityText: 'ERROR', severityNumber: 17 }));
    else if (rule === 1)
      out.push(
        newEvent({
          ...base,
          asset: `sw-${g}`,
          type: Math.floor(i / groups) % 2 ? 'up' : 'down',
          attributes: { check: 'link' },
        }),
      );
    else out.push(newEvent({ ...base, asset: `host-${g}`, title: 'disk full', attributes: { check: 'disk' } }));
  }
  return out;
}

/** The (rule, group) pairs the whole stream touches: fewer than rules × groups when events are few. */
export function activeGroups(events: number, groups: number): number {
  const seen = [new Set<number>(), new Set<number>(), new Set<number>()];
  for (let i = 0; i < events; i++) seen[ruleOf(i)]!.add(groupOf(i, groups));
  return seen.reduce((n, s) => n + s.size, 0);
}

/** The openings and resolutions among `changes`, as `opened key@time` and `resolved key@time`, into `seen` (when given). */
export function noteOpened(changes: readonly IncidentChange[], seen: Set<string> | undefined): void {
  if (seen)
    for (const c of changes)
      if (c.kind === 'opened') seen.add(`opened ${c.incident.key}@${c.incident.openedAtMs}`);
      else if (c.kind === 'resolved') seen.add(`resolved ${c.incident.key}@${c.incident.resolvedAtMs}`);
}

export const timeMsOf = (e: VigilEvent) => Number(e.timeUnixNano / 1_000_000n);

/**
 * Sorts one batch of a sender's share (from `i`, BATCH events at most) into `into` by where each
 * goes (`route`; undefined: nowhere), and gives the batch's end and the time through which the
 * sender has then sent every event: events of one millisecond may straddle two batches, so that is
 * the next batch's first time, less one.
 */
export function routeBatch(
  events: readonly VigilEvent[],
  i: number,
  route: (e: VigilEvent) => number | undefined,
  into: VigilEvent[][],
): { end: number; throughMs: number } {
  const end = Math.min(events.length, i + BATCH);
  for (let j = i; j < end; j++) {
    const to = route(events[j]!);
    if (to !== undefined) into[to]!.push(events[j]!);
  }
  return { end, throughMs: sentThroughMs(events, end) };
}

/**
 * The time through which a sender of `events` in time order has sent every event once it has sent
 * those before `end`: events of one millisecond may straddle two batches, so the next batch's first
 * time, less one.
 */
export function sentThroughMs(events: readonly VigilEvent[], end: number): number {
  return end < events.length ? timeMsOf(events[end]!) - 1 : timeMsOf(events[end - 1]!);
}

/**
 * Where each event goes when groups are placed by an FNV-1a hash of their key modulo `count` (an
 * owner among the agents, or a partition): that of the group of the rule it matches; undefined when
 * it matches none. An event of two rules placed apart would go to both, each running its rule on
 * it: this workload has none, and the agent stops rather than measure something else.
 */
export function groupRouter(count: number, maxOpen: number | undefined): (e: VigilEvent) => number | undefined {
  const rules = ruleSet(maxOpen).rules.filter((r): r is EventRule => r.signal === 'logs');
  return (e) => {
    let place: number | undefined;
    for (const rule of rules) {
      if (!rule.match(e)) continue;
      const p = partitionOf(rule.keys.key(e), count);
      if (place !== undefined && place !== p) throw new Error('an event of two rules whose groups are placed apart');
      place = p;
    }
    return place;
  };
}
