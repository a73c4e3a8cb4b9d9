import type { VigilEvent } from '../../model/event.ts';
import {
  compileLinearRegex,
  compilePath,
  compileCondition,
  compileTemplate,
  compileValue,
  copyValue,
  expandShorthand,
  setOwn,
  type CompiledTemplate,
  type Getter,
  type LinearRegex,
  type Predicate,
  type Value,
} from '../../ottl/index.ts';
import { parseSeverity, setSeverity } from '../severity.ts';
import { FIELD_TARGETS, type ExtractRuleConfig } from './config.ts';

type Assign = (e: VigilEvent, v: Value) => boolean;

interface TargetAssign {
  target: string;
  assign: Assign;
}

interface CompiledRule {
  where?: Predicate<VigilEvent>;
  from?: Getter<VigilEvent>;
  regex?: LinearRegex;
  groups: TargetAssign[];
  sets: (TargetAssign & { template: CompiledTemplate<VigilEvent> })[];
}

function assignSeverity(e: VigilEvent, v: Value): boolean {
  const s = parseSeverity(v);
  if (!s) return false;
  setSeverity(e, s);
  return true;
}

function fieldAssign(target: string): Assign {
  if (target === 'severity') return assignSeverity;
  return compilePath(expandShorthand(target), 'event').set!;
}

function groupAssign(name: string): Assign {
  if ((FIELD_TARGETS as readonly string[]).includes(name)) return fieldAssign(name);
  return (e, v) => {
    if (v !== undefined && v !== null) setOwn(e.attributes, name, v);
    return true;
  };
}

/** One `extract` rule compiled: the guard, the regex and the ordered assignments. */
export function compileRule(rule: ExtractRuleConfig): CompiledRule {
  const compiled: CompiledRule = { groups: [], sets: [] };
  if (rule.where) compiled.where = compileCondition(rule.where, 'event');
  if (rule.regex) {
    compiled.from = compileValue(rule.regex.from, 'event');
    // The config schema refused a pattern RE2 cannot compile.
    compiled.regex = compileLinearRegex(rule.regex.pattern) as LinearRegex;
    for (const name of compiled.regex.groupNames) compiled.groups.push({ target: name, assign: groupAssign(name) });
  }
  for (const [target, template] of Object.entries(rule.set)) {
    compiled.sets.push({ target, template: compileTemplate(template, 'event'), assign: fieldAssign(target) });
  }
  return compiled;
}

/**
 * Applies one rule to one event. Returns the targets whose value did not fit (a type of
 * "sideways", a severity of "loud"): those fields are left as they were.
 */
export function applyRule(rule: CompiledRule, e: VigilEvent, rejected: (target: string) => void): void {
  if (rule.where && !rule.where(e)) return;
  if (rule.regex) {
    const input = rule.from!(e);
    if (typeof input !== 'string') return;
    const groups = rule.regex.groups(input);
    if (!groups) return;
    for (const g of rule.groups) {
      const v = groups[g.target];
      if (v !== undefined && !g.assign(e, v)) rejected(g.target);
    }
  }
  for (const s of rule.sets) {
    const v = s.template.value(e);
    if (v === undefined || v === null) continue;
    if (!s.assign(e, copyValue(v))) rejected(s.target);
  }
}
