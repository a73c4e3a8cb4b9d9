import { Gauge, type Registry } from 'prom-client';
import type { SelfMetrics } from '../../telemetry/selfMetrics.ts';
import type { DurableQueue } from '../helper/queue.ts';

type SpoolBacklog = Pick<DurableQueue<unknown>, 'backlog'>;

const writersByRegistry = new WeakMap<Registry, Map<string, SpoolBacklog>>();

/**
 * `vigil_exporter_spool_bytes` and `vigil_exporter_spool_batches` per exporter with a spool
 * (ClickHouse, OTLP): how much accepted data waits on disk for the destination, the figure to
 * alert on during an outage.
 */
export function registerSpoolGauges(metrics: SelfMetrics, id: string, writer: SpoolBacklog): () => void {
  const registry = metrics.registry;
  let writers = writersByRegistry.get(registry);
  if (!writers) {
    const live = new Map<string, SpoolBacklog>();
    writers = live;
    writersByRegistry.set(registry, live);
    new Gauge({
      name: 'vigil_exporter_spool_bytes',
      help: 'Bytes of accepted data waiting on disk for the destination (ClickHouse, an OTLP server).',
      labelNames: ['exporter'],
      registers: [registry],
      collect() {
        this.reset();
        for (const [exporter, w] of live) this.set({ exporter }, w.backlog().bytes);
      },
    });
    new Gauge({
      name: 'vigil_exporter_spool_batches',
      help: 'Batches waiting for the destination, including the ones still being filled or sent.',
      labelNames: ['exporter'],
      registers: [registry],
      collect() {
        this.reset();
        for (const [exporter, w] of live) this.set({ exporter }, w.backlog().items);
      },
    });
    new Gauge({
      name: 'vigil_exporter_spool_oldest_age_seconds',
      help: 'Age of the oldest batch waiting for the destination (0 when none waits).',
      labelNames: ['exporter'],
      registers: [registry],
      collect() {
        this.reset();
        const now = Date.now();
        for (const [exporter, w] of live) {
          const oldest = w.backlog().oldestAcceptedAtMs;
          this.set({ exporter }, oldest === undefined ? 0 : Math.max(0, now - oldest) / 1000);
        }
      },
    });
  }
  writers.set(id, writer);
  return () => writers.delete(id);
}
