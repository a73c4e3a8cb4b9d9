import { Gauge, type Registry } from 'prom-client';
import type { SelfMetrics } from '../../telemetry/selfMetrics.ts';
import type { BatchWriter } from './batchWriter.ts';

const writersByRegistry = new WeakMap<Registry, Map<string, BatchWriter>>();

/**
 * `vigil_exporter_spool_bytes` and `vigil_exporter_spool_batches` per ClickHouse exporter: how
 * much accepted data waits on disk for ClickHouse, the figure to alert on during an outage.
 */
export function registerSpoolGauges(metrics: SelfMetrics, id: string, writer: BatchWriter): () => void {
  const registry = metrics.registry;
  let writers = writersByRegistry.get(registry);
  if (!writers) {
    const live = new Map<string, BatchWriter>();
    writers = live;
    writersByRegistry.set(registry, live);
    new Gauge({
      name: 'vigil_exporter_spool_bytes',
      help: 'Bytes of accepted rows waiting on disk for ClickHouse.',
      labelNames: ['exporter'],
      registers: [registry],
      collect() {
        this.reset();
        for (const [exporter, w] of live) this.set({ exporter }, w.spooledBytes);
      },
    });
    new Gauge({
      name: 'vigil_exporter_spool_batches',
      help: 'Batches waiting for ClickHouse, including the ones still being filled.',
      labelNames: ['exporter'],
      registers: [registry],
      collect() {
        this.reset();
        for (const [exporter, w] of live) this.set({ exporter }, w.pendingBatches);
      },
    });
  }
  writers.set(id, writer);
  return () => writers.delete(id);
}
