/**
 * One agent of the owners design as the daemon runs it (bench/redis.ts `--owners runtime`): the
 * correlation connector's own runtime under `state.sharing: partitions`
 * (src/connectors/correlation/partitionRuntime.ts), fed this agent's share of the stream through
 * `consumeLogs` as its pipeline would feed it, its clock the stream's event time (the bench's
 * stream runs faster than the wall clock), its terms, rounds, checkpoints (every second), marks,
 * reads and notification claims its own. It keeps within AHEAD_MS of event time of the slowest
 * live agent, as the others' senders would be held back by their own clients. The run is over
 * once the agents together have taken every event (each adds what its engines took to a counter
 * in Redis).
 */
import type { Redis } from 'ioredis';
import { correlationConnectorSchema } from '../src/connectors/correlation/config.ts';
import { PartitionRuntime } from '../src/connectors/correlation/partitionRuntime.ts';
import type { VigilEvent } from '../src/model/event.ts';
import type { IncidentChange } from '../src/model/incident.ts';
import { connectionOf } from '../src/state/redisConfig.ts';
import { createRedisClient, type RedisClient } from '../src/state/redisConnection.ts';
import { RedisKeys } from '../src/state/redisKeys.ts';
import { PartitionOwnership } from '../src/state/redisPartitions.ts';
import { createLogger } from '../src/telemetry/logger.ts';
import { SelfMetrics } from '../src/telemetry/selfMetrics.ts';
import { BATCH, noteOpened, rulesConfig, timeMsOf } from './redisWorkload.ts';

/** Event time an agent may run ahead of the slowest live agent's mark. */
const AHEAD_MS = 2_000;
/** Sends issued before the first is answered (the runtime runs them in turn). */
const IN_FLIGHT = 4;

export interface RuntimeAgentOptions {
  /** The Redis key prefix (`state.prefix`): the measured run's, or the warm-up's apart from it. */
  prefix: string;
  agent: number;
  agents: number;
  partitions: number;
  maxOpen: number | undefined;
  tickMs: number;
  /** Events of the whole stream: the run is over once the agents took that many. */
  total: number;
  /** The stream's last event time: the clock goes there at the end, so that the timers run to it. */
  endMs: number;
}

export interface RuntimeAgentResult {
  late: number;
  partitionsAtStart: number;
  checkpoints: number;
  /**
   * Lag from a send to its taking, as the runtime's histogram has it
   * (`vigil_correlation_partition_lag_seconds`): each stream entry taken at its bucket's upper bound.
   */
  lagsMs: number[];
}

async function counter(metrics: SelfMetrics, name: string): Promise<number> {
  const m = await metrics.registry.getSingleMetric(name)?.get();
  return (m?.values ?? []).reduce((n, v) => n + v.value, 0);
}

/** The lag histogram as samples: each observation at its bucket's upper bound (ms). */
async function lagSamples(metrics: SelfMetrics): Promise<number[]> {
  const m = await metrics.registry.getSingleMetric('vigil_correlation_partition_lag_seconds')?.get();
  const buckets = (m?.values ?? [])
    .filter((v) => (v as { metricName?: string }).metricName?.endsWith('_bucket'))
    .map((v) => ({ le: Number(v.labels.le), count: v.value }))
    .sort((a, b) => a.le - b.le);
  const out: number[] = [];
  let below = 0;
  for (const { le, count } of buckets) {
    for (let i = below; i < count; i++) out.push(le === Infinity ? NaN : le * 1000);
    below = count;
  }
  return out;
}

/** Starts this agent's runtime, settled on its share of the partitions, ready to run its share of the stream. */
export async function runtimeAgent(
  url: string,
  opts: RuntimeAgentOptions,
  opened: Set<string>,
  admin: Redis,
): Promise<{ run(events: VigilEvent[]): Promise<RuntimeAgentResult>; close(): Promise<void> }> {
  const issues: { path: string; message: string }[] = [];
  const cfg = correlationConnectorSchema.parse(
    {
      ...rulesConfig(opts.maxOpen),
      tick_interval: `${opts.tickMs}ms`,
      state: {
        store: 'redis',
        sharing: 'partitions',
        partitions: opts.partitions,
        url,
        prefix: opts.prefix,
        lease_ttl: '3s',
        flush_interval: '20ms',
        // bench/redis.ts --checkpoint-interval; else the daemon's default.
        ...(process.env.BENCH_CHECKPOINT_INTERVAL
          ? { checkpoint_interval: `${process.env.BENCH_CHECKPOINT_INTERVAL}ms` }
          : {}),
      },
    },
    'correlation',
    issues,
  );
  if (!cfg || issues.length) throw new Error(JSON.stringify(issues));
  const client: RedisClient = createRedisClient(connectionOf(cfg.state));
  await client.connect();
  const clock = { ms: 0 };
  const metrics = new SelfMetrics();
  const runtime = new PartitionRuntime(cfg, {
    logger: createLogger('warn'),
    metrics,
    clock: () => clock.ms,
    redis: { client, config: connectionOf(cfg.state), agent: `agent-${opts.agent}` },
    output: () => ({
      consume: (changes: IncidentChange[]) => {
        noteOpened(changes, opened);
        return Promise.resolve();
      },
    }),
  });
  await runtime.start();
  // bench/redis.ts --serve-api: as an agent whose operators' API is read.
  if (process.env.BENCH_SERVE_API === '1') await runtime.serve();
  // Its fair share: agents in byte order of their names, the first `P mod n` one more.
  const share = Math.floor(opts.partitions / opts.agents) + (opts.agent < opts.partitions % opts.agents ? 1 : 0);
  const deadline = Date.now() + 30_000;
  while (runtime.held().length !== share) {
    if (Date.now() > deadline) throw new Error(`agent ${opts.agent}: holds ${runtime.held().length}, not ${share}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  const partitionsAtStart = runtime.held().length;
  const watermark = new PartitionOwnership({
    client,
    table: new RedisKeys(opts.prefix).partitionKeys().table,
    agent: 'bench-observer',
    partitions: opts.partitions,
    termMs: 3_000,
  });

  /** Every event any agent's engines took, counted by the agents together. */
  const takenKey = `${opts.prefix}:taken`;
  return {
    async run(events) {
      const calls: Promise<void>[] = [];
      let slowest = 0;
      for (let i = 0; i < events.length; i += BATCH) {
        const batch = events.slice(i, i + BATCH);
        const throughMs = timeMsOf(batch[batch.length - 1]!);
        while (throughMs > slowest + AHEAD_MS) {
          slowest = await watermark.watermark();
          if (throughMs > slowest + AHEAD_MS) await new Promise((r) => setTimeout(r, 2));
        }
        clock.ms = throughMs;
        calls.push(runtime.consumeLogs(batch));
        while (calls.length >= IN_FLIGHT) await calls.shift();
      }
      await Promise.all(calls);
      // Past the last event: a mark is the time before the clock, so the last events are taken once it passes them.
      clock.ms = opts.endMs + 1;
      // Over once every agent's engines together took every event.
      let counted = 0;
      for (;;) {
        const taken = await counter(metrics, 'vigil_correlation_records_total');
        if (taken > counted) await admin.incrby(takenKey, taken - counted);
        counted = taken;
        if (Number(await admin.get(takenKey)) >= opts.total) break;
        await new Promise((r) => setTimeout(r, 20));
      }
      return {
        late: await counter(metrics, 'vigil_correlation_late_events_total'),
        partitionsAtStart,
        checkpoints: await counter(metrics, 'vigil_correlation_partition_checkpoints_total'),
        lagsMs: await lagSamples(metrics),
      };
    },
    async close() {
      await runtime.stop();
      client.disconnect();
    },
  };
}
