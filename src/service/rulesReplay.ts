import type { FactoryRegistry } from './config/load.ts';
import type { VigilConfig } from './config/vigilConfig.ts';
import {
  ArrivalReplay,
  defaultArrivalMapper,
  parseArrivalLine,
  type Arrival,
  type ReplayResult,
} from '../connectors/correlation/replay.ts';
import type { EngineStats } from '../correlation/engine.ts';
import type { IncidentChange } from '../model/incident.ts';
import type { JsonEventMapper } from '../receivers/json/mapping.ts';
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
 * The correlation rules as the daemon would decide them, fed one arrival at a time: events pass
 * the pipeline's processors (extract, enrich, tag, filter) in order, then the rules on a virtual
 * clock ({@link ArrivalReplay}). The pipeline is the first `logs` pipeline that exports to the
 * correlation connector; `mapper` maps lines as its JSON receiver does (its `fields`).
 * `vigil rules test` feeds it lines, `vigil rules backtest` stored events.
 */
export class DaemonReplay {
  readonly path: ReplayPath;
  readonly mapper: JsonEventMapper;
  private readonly rules: ArrivalReplay;
  private readonly processors: Processor<VigilEvent>[];

  private constructor(
    path: ReplayPath,
    mapper: JsonEventMapper,
    rules: ArrivalReplay,
    processors: Processor<VigilEvent>[],
  ) {
    this.path = path;
    this.mapper = mapper;
    this.rules = rules;
    this.processors = processors;
  }

  /** `processors: false` leaves the pipeline's processors out (for events stored after them). */
  static async open(
    config: VigilConfig,
    registry: FactoryRegistry,
    dataDir: string,
    onChange: (c: IncidentChange) => void,
    opts: { processors?: boolean } = {},
  ): Promise<DaemonReplay> {
    const [name, pipeline] =
      Object.entries(config.service.pipelines).find(
        ([n, p]) =>
          componentType(n) === 'logs' && p.exporters.some((e) => config.connectors[e]?.type === 'correlation'),
      ) ?? [];
    const receiver = pipeline?.receivers.find((r) => config.receivers[r]?.type === 'json');
    const mapping = receiver ? (config.receivers[receiver]!.config as JsonReceiverConfig).fields : undefined;
    const ids = opts.processors === false ? [] : (pipeline?.processors ?? []);
    const path: ReplayPath = {
      ...(name ? { pipeline: name } : {}),
      ...(receiver ? { receiver } : {}),
      processors: ids,
    };
    const processors = ids.length ? await startProcessors(config, registry, dataDir, name!, ids) : [];
    return new DaemonReplay(
      path,
      defaultArrivalMapper(mapping),
      new ArrivalReplay(config.correlation!, onChange),
      processors,
    );
  }

  get stats(): EngineStats {
    return this.rules.stats;
  }

  /** The parent asset of the incident on `key`, as the replayed rules hold it. */
  parentOf(key: string): string {
    return this.rules.parentOf(key);
  }

  /** One arrival through the processors (a filter may drop it) and into the rules. */
  async push(a: Arrival): Promise<void> {
    if (!a.event || this.processors.length === 0) return this.rules.push(a);
    let batch = [a.event];
    for (const p of this.processors) {
      batch = await p.process(batch);
      if (batch.length === 0) return;
    }
    for (const event of batch) this.rules.push({ atMs: a.atMs, event });
  }

  /** Runs the clock on `afterMs` past the last arrival, and stops the processors. */
  async finish(afterMs: number): Promise<EngineStats> {
    try {
      return this.rules.finish(afterMs);
    } finally {
      await this.close();
    }
  }

  async close(): Promise<void> {
    for (const p of this.processors.splice(0)) await p.shutdown?.();
  }
}

async function startProcessors(
  config: VigilConfig,
  registry: FactoryRegistry,
  dataDir: string,
  pipeline: string,
  ids: string[],
): Promise<Processor<VigilEvent>[]> {
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
    redisState: (id) => {
      throw new Error(`a processor asked for the redis_state extension "${id}" while replaying rules`);
    },
    ticketLedger: (id) => {
      throw new Error(`a processor asked for the ticket ledger "${id}" while replaying rules`);
    },
  };
  const started: Processor<VigilEvent>[] = [];
  try {
    for (const id of ids) {
      const c = config.processors[id]!;
      const factory = registry.processors.find((f) => f.type === c.type) as ProcessorFactory;
      await factory.load?.();
      const p = factory.create(
        { id, logger, metrics, dataDir, signal: 'logs', pipeline },
        c.config,
      ) as Processor<VigilEvent>;
      started.push(p);
      await p.start?.(host);
    }
    return started;
  } catch (err) {
    for (const p of started) await p.shutdown?.();
    throw err;
  }
}

/**
 * Feeds NDJSON lines to a replay, numbering them from 1; lines that are not events go to
 * `rejected`. `afterLine` runs after each line: where the caller waits for its output to drain.
 */
export async function replayLines(
  replay: DaemonReplay,
  lines: AsyncIterable<string>,
  rejected: (line: number, reason: string) => void,
  afterLine?: () => Promise<unknown> | undefined,
): Promise<void> {
  let n = 0;
  for await (const line of lines) {
    n++;
    if (line.trim() === '') continue;
    const a = parseArrivalLine(n === 1 ? line.replace(/^\ufeff/, '') : line, replay.mapper);
    if (typeof a === 'string') rejected(n, a);
    else await replay.push(a);
    const drained = afterLine?.();
    if (drained) await drained;
  }
}

/**
 * A whole NDJSON text through {@link DaemonReplay} (the operators' API's dry run): arrivals
 * sorted by arrival time first, as the text is small. `tenant` stamps every event, as an
 * authenticated sender's tenant does in the JSON receiver.
 */
export async function replayAsDaemon(
  config: VigilConfig,
  registry: FactoryRegistry,
  text: string,
  afterMs: number,
  dataDir: string,
  opts: { tenant?: string } = {},
): Promise<ReplayResult & { path: ReplayPath }> {
  const changes: IncidentChange[] = [];
  const replay = await DaemonReplay.open(config, registry, dataDir, (c) => changes.push(c));
  const rejected: ReplayResult['rejected'] = [];
  const arrivals: Arrival[] = [];
  text.split('\n').forEach((line, i) => {
    if (line.trim() === '') return;
    const a = parseArrivalLine(i === 0 ? line.replace(/^\ufeff/, '') : line, replay.mapper);
    if (typeof a === 'string') rejected.push({ line: i + 1, reason: a });
    else arrivals.push(a);
  });
  // A stable sort keeps the text's order among simultaneous arrivals.
  arrivals.sort((a, b) => a.atMs - b.atMs);
  for (const a of arrivals) {
    if (opts.tenant === undefined) continue;
    if (a.event) a.event.tenant = opts.tenant;
    if (a.point) a.point.tenant = opts.tenant;
  }
  try {
    for (const a of arrivals) await replay.push(a);
  } catch (err) {
    await replay.close();
    throw err;
  }
  return {
    changes,
    stats: await replay.finish(afterMs),
    rejected,
    parentOf: (key) => replay.parentOf(key),
    path: replay.path,
  };
}
