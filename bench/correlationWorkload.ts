/**
 * The correlation benchmarks' workload: 50 rules (30 threshold, 10 spike, 10 absence) and one
 * event per group over 100,000 (rule, asset) groups, so bench/correlation.ts and
 * bench/durability.ts measure the same engine on the same events.
 */
import { parse } from 'yaml';
import { compileRuleSet } from '../src/correlation/compile.ts';
import { correlationSchema } from '../src/correlation/config.ts';
import { ottlConditions } from '../src/correlation/configSection.ts';
import { CorrelationEngine } from '../src/correlation/engine.ts';
import { newEvent, type VigilEvent } from '../src/model/event.ts';
import { MemoryStateStore } from '../src/state/memoryStore.ts';
import type { StateStore } from '../src/correlation/stateStore.ts';

export const RULES = 50;
export const GROUPS = 100_000;
export const BASE_MS = Date.UTC(2026, 10, 23, 10, 0, 0);

/** 30 threshold, 10 spike and 10 absence rules, each on its own slice of the events. */
export function rulesYaml(): string {
  const rules: string[] = [];
  for (let i = 0; i < RULES; i++) {
    const match = `attributes["check"] == "c${i}"`;
    if (i < 30)
      rules.push(
        `  - { kind: threshold, name: t${i}, match: '${match}', group_by: [asset], window: 5m, threshold: 1000000 }`,
      );
    else if (i < 40)
      rules.push(
        `  - { kind: spike, name: s${i}, match: '${match}', group_by: [asset], window: 5m, ratio: 1000, min_count: 1000000 }`,
      );
    else rules.push(`  - { kind: absence, name: a${i}, match: '${match}', group_by: [asset], interval: 1h }`);
  }
  return `defaults: { allowed_lateness: 10m }\nrules:\n${rules.join('\n')}\n`;
}

export function buildEngine(store: StateStore = new MemoryStateStore()): CorrelationEngine {
  const issues: { path: string; message: string }[] = [];
  const cfg = correlationSchema.parse(parse(rulesYaml()), 'correlation', issues);
  if (!cfg || issues.length) throw new Error(JSON.stringify(issues));
  const { set, issues: compileIssues } = compileRuleSet(cfg, ottlConditions);
  if (compileIssues.length) throw new Error(JSON.stringify(compileIssues));
  return new CorrelationEngine(set, store, { soleWriter: store instanceof MemoryStateStore });
}

/** One event per group: group g is asset host-g under rule g mod 50, so 100,000 (rule, asset) groups. */
export function makeEvents(): VigilEvent[] {
  const events: VigilEvent[] = [];
  for (let g = 0; g < GROUPS; g++) {
    const t = BigInt(BASE_MS + (g % 60_000)) * 1_000_000n;
    events.push(
      newEvent({
        source: 'bench',
        asset: `host-${g}`,
        service: 'billing',
        severityNumber: 17,
        severityText: 'ERROR',
        title: 'CPU high',
        timeUnixNano: t,
        observedTimeUnixNano: t,
        attributes: { check: `c${g % RULES}`, region: 'eu-west-1' },
      }),
    );
  }
  return events;
}
