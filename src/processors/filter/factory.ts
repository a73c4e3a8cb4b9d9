import { compileCondition, type OttlContext, type Predicate } from '../../ottl/index.ts';
import type { Processor, ProcessorFactory } from '../../pipeline/component.ts';
import { forEachInSlices } from '../timeSlices.ts';
import { filterSchema, type FilterConfig } from './config.ts';

const CONTEXT = { logs: 'event', metrics: 'datapoint', traces: 'span' } as const satisfies Record<string, OttlContext>;

function anyOf<T>(predicates: Predicate<T>[]): Predicate<T> {
  if (predicates.length === 1) return predicates[0]!;
  return (item) => {
    for (let i = 0; i < predicates.length; i++) if (predicates[i]!(item)) return true;
    return false;
  };
}

/**
 * Keeps what `drop` rejects; the batch itself is returned untouched when nothing matches. Long
 * batches are matched in time slices, so slow conditions on many events delay other senders by
 * a slice at a time, not by the whole batch.
 */
export function dropMatching<T>(batch: T[], drop: Predicate<T>): T[] | Promise<T[]> {
  let kept: T[] | undefined;
  const done = forEachInSlices(batch.length, (i) => {
    const item = batch[i]!;
    if (drop(item)) kept ??= batch.slice(0, i);
    else kept?.push(item);
  });
  return done ? done.then(() => kept ?? batch) : (kept ?? batch);
}

export const filterProcessorFactory: ProcessorFactory<FilterConfig> = {
  kind: 'processor',
  type: 'filter',
  signals: ['logs', 'metrics', 'traces'],
  description:
    'Drops events, data points or spans matching any of its conditions; drops are counted in vigil_processor_dropped_records_total.',
  configSchema: filterSchema,
  create(settings, config) {
    const signal = settings.signal as keyof typeof CONTEXT;
    const sources = config[signal];
    if (sources.length === 0) {
      settings.logger.warn(
        { processor: settings.id, pipeline: settings.pipeline },
        `filter has no ${signal} conditions; it passes every record of this pipeline`,
      );
      return { process: (batch) => batch, changesRecords: false };
    }
    const drop = anyOf(sources.map((s) => compileCondition(s, CONTEXT[signal]) as Predicate<unknown>));
    const processor: Processor<unknown> = { process: (batch) => dropMatching(batch, drop), changesRecords: false };
    return processor as never;
  },
};
