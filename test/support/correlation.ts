import { parse } from 'yaml';
import { expect } from 'vitest';
import { correlationSchema } from '../../src/correlation/config.ts';
import { compileRuleSet, type ConditionCompiler } from '../../src/correlation/compile.ts';
import { CorrelationEngine, type EngineOptions } from '../../src/correlation/engine.ts';
import { compileCondition } from '../../src/ottl/index.ts';
import { newEvent, type VigilEvent } from '../../src/model/event.ts';
import type { IncidentChange } from '../../src/model/incident.ts';
import type { GaugePoint } from '../../src/model/metric.ts';
import { MemoryStateStore } from '../../src/state/memoryStore.ts';
import type { StateDelta, StateStore } from '../../src/correlation/stateStore.ts';

/** Rule conditions compile with the real OTTL subset, as in the daemon. */
export const ruleConditions: ConditionCompiler = (source, context) =>
  compileCondition(source, context) as (item: never) => boolean;

export function engineFrom(
  yaml: string,
  store: StateStore = new MemoryStateStore(),
  opts: EngineOptions = {},
): CorrelationEngine {
  const issues: { path: string; message: string }[] = [];
  const cfg = correlationSchema.parse(parse(yaml), 'correlation', issues);
  if (!cfg || issues.length) throw new Error(JSON.stringify(issues));
  const { set, issues: compileIssues } = compileRuleSet(cfg, ruleConditions);
  if (compileIssues.length) throw new Error(JSON.stringify(compileIssues));
  return new CorrelationEngine(set, store, opts);
}

export function rulesFrom(yaml: string) {
  const issues: { path: string; message: string }[] = [];
  const cfg = correlationSchema.parse(parse(yaml), 'correlation', issues)!;
  return compileRuleSet(cfg, ruleConditions).set;
}

let seq = 0;
/** An event at `t` ms (event time); fields as in the model. */
export function ev(t: number, fields: Partial<VigilEvent> = {}): VigilEvent {
  return newEvent({
    source: 'test',
    id: `e${++seq}`,
    timeUnixNano: BigInt(t) * 1_000_000n,
    observedTimeUnixNano: BigInt(t) * 1_000_000n,
    ...fields,
  });
}

export function point(t: number, name: string, value: number, attributes: Record<string, string> = {}): GaugePoint {
  return {
    kind: 'gauge',
    name,
    description: '',
    unit: '',
    resource: {},
    attributes,
    startTimeUnixNano: 0n,
    timeUnixNano: BigInt(t) * 1_000_000n,
    flags: 0,
    exemplars: [],
    service: '',
    tenant: '',
    value,
  };
}

/** A compact line per change: `<kind> <key> <notify?>` for timeline assertions. */
export function brief(changes: IncidentChange[]): string[] {
  return changes.map((c) => `${c.kind}${c.notify ? '!' : ''} ${c.incident.key}`);
}

/**
 * Drives an engine on a virtual clock: events arrive at their own time unless `at` says
 * otherwise, and the timer ticks every `tickMs` in between, as the daemon's does.
 */
export class Timeline {
  readonly engine: CorrelationEngine;
  readonly changes: IncidentChange[] = [];
  nowMs: number;
  private readonly tickMs: number;

  constructor(engine: CorrelationEngine, startMs = 0, tickMs = 1000) {
    this.engine = engine;
    this.nowMs = startMs;
    this.tickMs = tickMs;
  }

  /** Advances the clock to `ms`, ticking on the way; returns the changes the timers made. */
  advance(ms: number): IncidentChange[] {
    const out: IncidentChange[] = [];
    let next = Math.floor(this.nowMs / this.tickMs) * this.tickMs + this.tickMs;
    while (next <= ms) {
      out.push(...this.engine.tick(next));
      next += this.tickMs;
    }
    this.nowMs = Math.max(this.nowMs, ms);
    this.changes.push(...out);
    return out;
  }

  send(events: VigilEvent[], at?: number): IncidentChange[] {
    const arrival = at ?? Math.max(...events.map((e) => Number(e.timeUnixNano / 1_000_000n)));
    const out = this.advance(arrival);
    const now = this.engine.process(events, this.nowMs);
    this.changes.push(...now);
    return [...out, ...now];
  }

  sendPoints(points: GaugePoint[], at?: number): IncidentChange[] {
    const arrival = at ?? Math.max(...points.map((p) => Number(p.timeUnixNano / 1_000_000n)));
    const out = this.advance(arrival);
    const now = this.engine.processPoints(points, this.nowMs);
    this.changes.push(...now);
    return [...out, ...now];
  }
}

/**
 * Agents whose writes reach each other only when `deliver` hands them over, as a flush and its
 * message would: the interleavings a busy machine makes, played one by one. Every change an
 * agent emits is what storage holds of it.
 */
export function sharingAgents(yaml: string, names: string[]) {
  const stores = names.map((n) => new MemoryStateStore(n));
  const outbox = stores.map(() => [] as StateDelta[]);
  stores.forEach((s, i) => s.onDelta((d) => outbox[i]!.push(structuredClone(d))));
  const engines = stores.map((s) => engineFrom(yaml, s));
  const stored: IncidentChange[] = [];
  /** Hands agent `from`'s writes so far to every other agent. */
  const deliver = (from: number) => {
    const sent = outbox[from]!.splice(0);
    stores.forEach((s, i) => {
      if (i !== from) for (const d of sent) s.merge(structuredClone(d));
    });
  };
  /** Until no agent has anything left to send, each but the leader (the first) settling what it received, as its tick does. */
  const flushAll = (nowMs: number) => {
    for (let round = 0; round < 20 && outbox.some((o) => o.length > 0); round++) {
      for (let i = 0; i < stores.length; i++) deliver(i);
      for (const e of engines.slice(1)) stored.push(...e.settle(nowMs));
    }
    expect(outbox.every((o) => o.length === 0)).toBe(true);
  };
  return { engines, stores, stored, deliver, flushAll };
}

/** The incident storage ends with, per id: its change of the highest version. */
export function inStorage(changes: IncidentChange[], key: string) {
  const latest = new Map<string, IncidentChange>();
  for (const c of changes) {
    if (c.incident.key !== key) continue;
    const prev = latest.get(c.incident.id);
    if (!prev || c.incident.version > prev.incident.version) latest.set(c.incident.id, c);
  }
  return [...latest.values()].map((c) => ({
    id: c.incident.id,
    status: c.incident.status,
    count: c.incident.eventCount,
  }));
}

/**
 * Errors of service "api" against a threshold rule `errors` (4 within 4 s, 1 s buckets, no
 * group_wait): the storm the multi-agent tests play step by step.
 */
export const API_STORM = {
  rules: `
defaults: { group_wait: 0s, allowed_lateness: 5s, reopen_window: 0s }
rules:
  - { kind: threshold, name: errors, match: 'severity_text == "ERROR"', group_by: [service], window: 4s, bucket: 1s, threshold: 4 }
`,
  key: 'errors{service="api"}',
  error: (t: number) => ev(t, { service: 'api', severityText: 'ERROR', severityNumber: 17 }),
};
