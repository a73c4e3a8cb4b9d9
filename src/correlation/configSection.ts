import type { ConfigIssue } from '../config/schema.ts';
import { compileCondition } from '../ottl/index.ts';
import { compileRuleSet, type ConditionCompiler } from './compile.ts';
import type { CorrelationConfig } from './config.ts';
import type { RuleSet } from './engine.ts';

/** Rule conditions compile with Vigil's OTTL subset: `event` context for events, `datapoint` for metric rules. */
export const ottlConditions: ConditionCompiler = (source, context) =>
  compileCondition(source, context) as (item: never) => boolean;

/**
 * The checks a schema-valid rule config still needs, reported together: rule names unique, and
 * every rule compiled so a bad condition fails at load. `path` is where the config sits in the
 * YAML (`correlation`).
 */
export function validateCorrelation(cfg: CorrelationConfig, path: string): ConfigIssue[] {
  const rules = cfg.rules as { name: string }[];
  const twins = rules.flatMap((r, i) =>
    rules.findIndex((o) => o.name === r.name) === i
      ? []
      : [{ path: `${path}.rules[${i}].name`, message: `"${r.name}" is already the name of another rule` }],
  );
  return [...twins, ...compileRuleSet(cfg, ottlConditions, path).issues];
}

/** Compiles an already validated section. */
export function ruleSetOf(cfg: CorrelationConfig): RuleSet {
  return compileRuleSet(cfg, ottlConditions).set;
}
