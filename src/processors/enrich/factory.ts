import type { ProcessorFactory } from '../../pipeline/component.ts';
import { enrichSchema, type EnrichConfig } from './config.ts';
import { EnrichProcessor } from './processor.ts';

export const enrichProcessorFactory: ProcessorFactory<EnrichConfig> = {
  kind: 'processor',
  type: 'enrich',
  signals: ['logs'],
  description:
    'Adds attributes (owner, site, criticality, parent) to events from a CSV/YAML lookup table reloaded on change, and an optional cached HTTP lookup.',
  configSchema: enrichSchema,
  // The loader only wires this factory into the signals it declares (logs), which the generic cannot see.
  create: (settings, config) => new EnrichProcessor(settings, config) as never,
};
