import { list, literalUnion, obj, optional, refine, str, type Infer } from '../../config/schema.ts';
import { EVENT_TYPES } from '../../model/event.ts';
import { ottlCondition } from '../../ottl/index.ts';
import { parseSeverity } from '../severity.ts';

const ruleSchema = refine(
  obj({
    where: ottlCondition('event', { doc: 'The condition an event must match.' }),
    type: optional(
      literalUnion(EVENT_TYPES, {
        doc: "The type a matching event gets: `down` opens a pair rule's incident, `up` resolves it.",
      }),
    ),
    severity: optional(
      str({ doc: 'Overrides the severity: a word (`warning`, `error`, `critical`) or an OTel number 1–24.' }),
    ),
  }),
  (rule) => {
    if (rule.type === undefined && rule.severity === undefined)
      return { path: '', message: 'a tag rule sets type, severity, or both' };
    if (rule.severity !== undefined && !parseSeverity(rule.severity)) {
      return {
        path: 'severity',
        message: `must be a severity word (debug, info, notice, warning, error, critical, alert, fatal…) or a number 1–24; got ${JSON.stringify(rule.severity)}`,
      };
    }
    return undefined;
  },
  'A rule sets type, severity or both; severity is a severity word or a number 1–24.',
);

export const tagSchema = obj({
  rules: list(ruleSchema, {
    minItems: 1,
    doc: 'Tried in order; the first rule whose condition matches tags the event, the rest are skipped. Events matching no rule are left as they are.',
  }),
});

export type TagConfig = Infer<typeof tagSchema>;
