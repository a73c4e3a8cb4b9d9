import type { EventType, VigilEvent } from '../../model/event.ts';
import { compileCondition, type Predicate } from '../../ottl/index.ts';
import type { Processor, ProcessorFactory } from '../../pipeline/component.ts';
import { parseSeverity, setSeverity, type Severity } from '../severity.ts';
import { tagSchema, type TagConfig } from './config.ts';

interface TagRule {
  where: Predicate<VigilEvent>;
  type?: EventType;
  severity?: Severity;
}

/** Tags one event by the first matching rule; returns the index of that rule, or -1. */
export function tagEvent(rules: readonly TagRule[], e: VigilEvent): number {
  for (let i = 0; i < rules.length; i++) {
    const rule = rules[i]!;
    if (!rule.where(e)) continue;
    if (rule.type !== undefined) e.type = rule.type;
    if (rule.severity !== undefined) setSeverity(e, rule.severity);
    return i;
  }
  return -1;
}

export function compileTagRules(config: TagConfig): TagRule[] {
  return config.rules.map((r) => ({
    where: compileCondition(r.where, 'event'),
    type: r.type,
    severity: r.severity === undefined ? undefined : parseSeverity(r.severity),
  }));
}

export const tagProcessorFactory: ProcessorFactory<TagConfig> = {
  kind: 'processor',
  type: 'tag',
  signals: ['logs'],
  description:
    'Marks events down, up or neutral by ordered conditions (first match wins), optionally overriding severity.',
  configSchema: tagSchema,
  create(_settings, config) {
    const rules = compileTagRules(config);
    const processor: Processor<VigilEvent> = {
      process(batch) {
        for (const e of batch) tagEvent(rules, e);
        return batch;
      },
    };
    // The loader only wires this factory into the signals it declares (logs), which the generic cannot see.
    return processor as never;
  },
};
