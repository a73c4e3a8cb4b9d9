import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ConfigIssue } from '../../src/config/schema.ts';
import { newEvent, type VigilEvent } from '../../src/model/index.ts';
import type { CreateSettings, ProcessorFactory } from '../../src/pipeline/component.ts';
import type { Signal } from '../../src/pipeline/signals.ts';
import { createLogger } from '../../src/telemetry/logger.ts';
import { SelfMetrics } from '../../src/telemetry/selfMetrics.ts';

export function testSettings(
  id: string,
  signal: Signal = 'logs',
  dataDir = mkdtempSync(join(tmpdir(), 'vigil-proc-')),
): CreateSettings & { signal: Signal; pipeline: string } {
  return { id, logger: createLogger('silent'), metrics: new SelfMetrics(), dataDir, signal, pipeline: signal };
}

/** Validates raw config through the factory's schema as the loader does; throws listing the issues. */
export function parseProcessorConfig<C>(factory: ProcessorFactory<C>, raw: unknown, id = factory.type): C {
  const issues: ConfigIssue[] = [];
  const parsed = factory.configSchema.parse(raw, `processors.${id}`, issues);
  if (issues.length) throw new Error(issues.map((i) => `${i.path}: ${i.message}`).join('\n'));
  return parsed!;
}

export function configIssues<C>(factory: ProcessorFactory<C>, raw: unknown, id = factory.type): string[] {
  const issues: ConfigIssue[] = [];
  factory.configSchema.parse(raw, `processors.${id}`, issues);
  return issues.map((i) => `${i.path}: ${i.message}`);
}

export function ev(fields: Partial<VigilEvent> = {}): VigilEvent {
  return newEvent({ source: 'test', ...fields });
}

export async function counterValue(
  settings: CreateSettings,
  name: string,
  labels: Record<string, string>,
): Promise<number> {
  const metric = settings.metrics.registry.getSingleMetric(name);
  if (!metric) return 0;
  const { values } = await metric.get();
  return values
    .filter((v) => Object.entries(labels).every(([k, x]) => v.labels[k] === x))
    .reduce((n, v) => n + v.value, 0);
}

/**
 * Runs one batch through `process` and tells whether a callback queued on the event loop just
 * after the batch started ran before the batch came back: whether a listener or `/healthz` is
 * served while a long batch is processed.
 */
export async function otherWorkServedDuring<T>(
  process: () => T[] | Promise<T[]>,
): Promise<{ out: T[]; servedDuring: boolean }> {
  let finished = false;
  let servedDuring = false;
  const pending = process();
  setImmediate(() => (servedDuring = !finished));
  const out = await pending;
  finished = true;
  return { out, servedDuring };
}

/** Bodies that take a linear-time regex tens of microseconds each: `words` words, a `!` after every other one. */
export function slowMatchBatch(events: number, words = 500): VigilEvent[] {
  const text = 'word '.repeat(words).trimEnd();
  return Array.from({ length: events }, (_, i) => ev({ body: i % 2 ? `${text}!` : text, asset: `a${i}` }));
}
