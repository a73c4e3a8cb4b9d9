import { obj } from '../../src/config/schema.ts';
import type { MetricPoint, Span, VigilEvent } from '../../src/model/index.ts';
import type { ExporterFactory } from '../../src/pipeline/component.ts';

export interface Captured {
  logs: VigilEvent[];
  metrics: MetricPoint[];
  traces: Span[];
}

/**
 * An exporter that keeps what it gets; while `hold` is set it waits, to fill queues on purpose.
 * `spooled` is the backlog it reports, as a storage exporter with rows still to insert would.
 */
export function captureExporter(
  captured: Captured,
  gate: { wait: Promise<void> | undefined },
  spooled?: { items: number },
): ExporterFactory {
  const take =
    <K extends keyof Captured>(k: K) =>
    async (batch: Captured[K]) => {
      if (gate.wait) await gate.wait;
      (captured[k] as unknown[]).push(...batch);
    };
  return {
    kind: 'exporter',
    type: 'capture',
    signals: ['logs', 'metrics', 'traces'],
    description: 'test capture',
    configSchema: obj({}),
    create: () => ({
      start: async () => {},
      shutdown: async () => {},
      consumeLogs: take('logs'),
      consumeMetrics: take('metrics'),
      consumeTraces: take('traces'),
      ...(spooled ? { backlog: () => ({ items: spooled.items, bytes: 0, oldestAcceptedAtMs: undefined }) } : {}),
    }),
  };
}
