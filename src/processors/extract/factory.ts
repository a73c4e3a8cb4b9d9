import type { VigilEvent } from '../../model/event.ts';
import type { Processor, ProcessorFactory } from '../../pipeline/component.ts';
import { processorCounter } from '../selfMetrics.ts';
import { forEachInSlices } from '../timeSlices.ts';
import { extractSchema, type ExtractConfig } from './config.ts';
import { applyRule, compileRule } from './extractor.ts';

export const extractProcessorFactory: ProcessorFactory<ExtractConfig> = {
  kind: 'processor',
  type: 'extract',
  signals: ['logs'],
  description:
    'Sets event fields (asset, title, type, service, severity, attributes) from paths, regexes with named groups, and templates.',
  configSchema: extractSchema,
  create(settings, config) {
    const rules = config.rules.map(compileRule);
    const counter = processorCounter(
      settings.metrics,
      'vigil_extract_rejected_values_total',
      'Values an extract rule produced that did not fit their target (e.g. type "sideways"); the field was left unchanged.',
      ['processor', 'target'],
    );
    const rejected = (target: string) => counter.inc({ processor: settings.id, target });
    const processor: Processor<VigilEvent> = {
      process(batch) {
        const done = forEachInSlices(batch.length, (i) => {
          for (const rule of rules) applyRule(rule, batch[i]!, rejected);
        });
        return done ? done.then(() => batch) : batch;
      },
    };
    // The loader only wires this factory into the signals it declares (logs), which the generic cannot see.
    return processor as never;
  },
};
