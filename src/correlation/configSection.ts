import type { ConfigIssue } from '../config/schema.ts';
import { compileCondition } from '../ottl/index.ts';
import { compileRuleSet, type ConditionCompiler } from './compile.ts';
import { checkCorrelation, correlationSchema, type CorrelationConfig } from './config.ts';
import type { RuleSet } from './engine.ts';

/** Rule conditions compile with Vigil's OTTL subset: `event` context for events, `datapoint` for metric rules. */
export const ottlConditions: ConditionCompiler = (source, context) => compileCondition(source, context) as (item: never) => boolean;

/** Validates the top-level `correlation:` section, compiling every rule so a bad condition fails at load. */
export function parseCorrelationSection(raw: unknown, issues: ConfigIssue[]): CorrelationConfig | undefined {
  if (raw === undefined || raw === null) return undefined;
  const before = issues.length;
  const cfg = correlationSchema.parse(raw, 'correlation', issues);
  if (!cfg || issues.length > before) return undefined;
  const found = [...checkCorrelation(cfg).map((i) => ({ path: `correlation.${i.path}`, message: i.message })), ...compileRuleSet(cfg, ottlConditions).issues];
  issues.push(...found);
  return found.length ? undefined : cfg;
}

/** Compiles an already validated section. */
export function ruleSetOf(cfg: CorrelationConfig): RuleSet {
  return compileRuleSet(cfg, ottlConditions).set;
}
