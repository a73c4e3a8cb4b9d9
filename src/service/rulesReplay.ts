import type { FactoryRegistry } from '../config/load.ts';
import type { VigilConfig } from '../config/vigilConfig.ts';
import { parseArrivals, runArrivals, type Arrivals, type ReplayResult } from '../connectors/correlation/replay.ts';
import type { VigilEvent } from '../model/event.ts';
import { componentType, type Processor, type ProcessorFactory } from '../pipeline/component.ts';
import type { Host } from '../pipeline/host.ts';
import { UNLIMITED_RECEIVE_BUFFERS } from '../pipeline/receiveBuffers.ts';
import type { JsonReceiverConfig } from '../receivers/json/config.ts';
import { createLogger } from '../telemetry/logger.ts';
import { SelfMetrics } from '../telemetry/selfMetrics.ts';

/** Which logs pipeline feeds the rules, and what shapes its events on the way. */
export interface ReplayPath {
  pipeline?: string;
  receiver?: string;
  processors: string[];
}

/**
 * `vigil rules test` as the daemon would decide: events are read as the pipeline's JSON receiver
 * maps them (its `fields`), then pass the pipeline's processors (extract, enrich, tag, filter) in
 * order, then the rules. The pipeline is the first `logs` pipeline that exports to the
 * correlation connector. `tenant` stamps every event, as an authenticated sender's tenant does.
 */
export async function replayAsDaemon(
  config: VigilConfig,
  registry: FactoryRegistry,
  text: string,
  afterMs: number,
  dataDir: string,
  opts: { tenant?: string } = {},
): Promise<ReplayResult & { path: ReplayPath }> {
  const [name, pipeline] =
    Object.entries(config.service.pipelines).find(
      ([n, p]) => componentType(n) === 'logs' && p.exporters.some((e) => config.connectors[e]?.type === 'correlation'),
    ) ?? [];
  const receiver = pipeline?.receivers.find((r) => config.receivers[r]?.type === 'json');
  const mapping = receiver ? (config.receivers[receiver]!.config as JsonReceiverConfig).fields : undefined;
  const parsed = parseArrivals(text, mapping);
  // As the JSON receiver does for an authenticated sender: its tenant wins over the body's.
  if (opts.tenant !== undefined)
    for (const a of parsed.arrivals) {
      if (a.event) a.event.tenant = opts.tenant;
      if (a.point) a.point.tenant = opts.tenant;
    }
  const ids = pipeline?.processors ?? [];
  const path: ReplayPath = { ...(name ? { pipeline: name } : {}), ...(receiver ? { receiver } : {}), processors: ids };
  if (ids.length === 0) return { ...runArrivals(config.correlation!, parsed, afterMs), path };

  const logger = createLogger('silent');
  const metrics = new SelfMetrics();
  const host: Host = {
    logger,
    metrics,
    dataDir,
    receiveBuffers: UNLIMITED_RECEIVE_BUFFERS,
    httpListener: () => {
      throw new Error('a processor asked for an HTTP listener while replaying rules');
    },
    authenticator: (id) => {
      throw new Error(`a processor asked for the authenticator "${id}" while replaying rules`);
    },
  };
  const processors: Processor<VigilEvent>[] = ids.map((id) => {
    const c = config.processors[id]!;
    const factory = registry.processors.find((f) => f.type === c.type) as ProcessorFactory;
    return factory.create(
      { id, logger, metrics, dataDir, signal: 'logs', pipeline: name! },
      c.config,
    ) as Processor<VigilEvent>;
  });
  try {
    for (const p of processors) await p.start?.(host);
    return { ...runArrivals(config.correlation!, await shape(parsed, processors), afterMs), path };
  } finally {
    for (const p of processors) await p.shutdown?.();
  }
}

/** Each event through the processors on its own, so a filter drops just that arrival. */
async function shape({ arrivals, rejected }: Arrivals, processors: Processor<VigilEvent>[]): Promise<Arrivals> {
  const kept: Arrivals['arrivals'] = [];
  for (const a of arrivals) {
    if (!a.event) {
      kept.push(a);
      continue;
    }
    let batch = [a.event];
    for (const p of processors) {
      batch = await p.process(batch);
      if (batch.length === 0) break;
    }
    for (const event of batch) kept.push({ atMs: a.atMs, event });
  }
  return { arrivals: kept, rejected };
}
