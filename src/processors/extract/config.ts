import { list, obj, optional, record, refine, str, type ConfigIssue, type Infer } from '../../config/schema.ts';
import {
  compileLinearRegex,
  compilePath,
  expandShorthand,
  OttlError,
  ottlCondition,
  ottlTemplate,
  ottlValue,
} from '../../ottl/index.ts';

/** Fields a `set` key or a regex group may name directly; anything else is an OTTL path. */
export const FIELD_TARGETS = ['asset', 'title', 'type', 'service', 'tenant', 'severity'] as const;

function checkTarget(target: string): string | undefined {
  if (target === 'severity') return undefined;
  try {
    const p = compilePath(expandShorthand(target), 'event');
    return p.set
      ? undefined
      : `${target} is read-only; set one of ${FIELD_TARGETS.join(', ')}, attributes["key"] or another writable path (docs/ottl.md)`;
  } catch (err) {
    if (err instanceof OttlError) return `not a field or writable path: ${err.message}`;
    throw err;
  }
}

const ruleSchema = refine(
  obj({
    where: optional(ottlCondition('event', { doc: 'Apply the rule only to events matching this condition.' })),
    regex: optional(
      obj(
        {
          from: ottlValue('event', {
            default: 'body',
            doc: 'What the pattern runs on: a path such as `attributes["msg"]`, or any value expression. When it is not a string the rule is skipped.',
          }),
          pattern: str({
            nonEmpty: true,
            doc: 'RE2 regex (linear-time; no backreferences or lookaround) with named groups `(?<name>...)` or `(?P<name>...)`. A group named asset, title, type, service, tenant or severity sets that field; every other group sets the attribute of its name. No match: the rule is skipped.',
          }),
        },
        { doc: 'Extract named groups from the body or another value.' },
      ),
    ),
    set: record(ottlTemplate('event'), {
      doc: 'Target → template, applied in order after the regex: targets are asset, title, type, service, tenant, severity (word or 1–24), or a writable path such as `attributes.owner` / `attributes["owner"]`. A template that is exactly one `{{ expr }}` keeps the value\'s type and leaves the target unchanged when it is nil.',
    }),
  }),
  (rule) => {
    const issues: ConfigIssue[] = [];
    if (rule.regex) {
      const re = compileLinearRegex(rule.regex.pattern);
      if (typeof re === 'string')
        issues.push({ path: 'regex.pattern', message: `is not a valid regular expression: ${re}` });
      else if (re.groupNames.length === 0)
        issues.push({
          path: 'regex.pattern',
          message: 'needs at least one named group such as (?<asset>\\S+); its name says which field it sets',
        });
    }
    for (const target of Object.keys(rule.set)) {
      const problem = checkTarget(target);
      if (problem) issues.push({ path: `set.${target}`, message: problem });
    }
    if (!rule.regex && Object.keys(rule.set).length === 0)
      issues.push({ path: '', message: 'a rule needs a regex, a set mapping, or both' });
    return issues;
  },
  'A regex, a set mapping or both; the regex compiles with RE2 syntax and has at least one named group; every `set` target is a field an event has.',
);

export const extractSchema = obj({
  rules: list(ruleSchema, {
    minItems: 1,
    doc: 'Applied in order to every event; each rule that applies sets the fields it names.',
  }),
});

export type ExtractConfig = Infer<typeof extractSchema>;
export type ExtractRuleConfig = ExtractConfig['rules'][number];
