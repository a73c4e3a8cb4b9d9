/**
 * What it costs an agent on partitions to answer its senders only once a replica has their
 * events (`state.replica_wait`, docs/correlation.md, "Sharing through Redis"): one agent's sender
 * (src/connectors/correlation/partitionOwner.ts's PartitionSender) puts the Redis benchmark's
 * stream (bench/redisWorkload.ts) on 12 partitions' streams, one send of 500 events at a time as
 * the runtime sends them in turn, to a master with one replica on this machine. Rounds alternate
 * `replica_wait: 0s` (answered once the master has them: the baseline) and `250ms` (once a
 * replica has them too), and a master without a replica (nothing to wait for) beside them.
 *
 * Figures per setting, medians of the rounds: sends per second of wall clock (one at a time,
 * so the inverse of a send's latency), per-send latency p50 and p99, this process's CPU per event,
 * and the replica's lag as the sends saw it (sends left unacknowledged at the end).
 *
 * Run: `node bench/replicaWait.ts [--events 100000] [--groups 2000] [--rounds 3]`.
 */
import { PartitionSender } from '../src/connectors/correlation/partitionOwner.ts';
import { eventsToRows } from '../src/model/eventRows.ts';
import { createRedisClient } from '../src/state/redisConnection.ts';
import { RedisKeys } from '../src/state/redisKeys.ts';
import { PartitionOwnership, partitionOf } from '../src/state/redisPartitions.ts';
import { stateConfig } from '../test/state/redisHelpers.ts';
import { attachReplica, startRedis } from '../test/support/redis.ts';
import { BATCH, streamShare } from './redisWorkload.ts';
import { benchArgs, cpuUs, fmt, median, table } from './support.ts';

const { values } = benchArgs(import.meta.filename, {
  options: {
    events: { type: 'string', default: '100000' },
    groups: { type: 'string', default: '2000' },
    rounds: { type: 'string', default: '3' },
  },
});
const EVENTS = Number(values.events);
const GROUPS = Number(values.groups);
const ROUNDS = Number(values.rounds);
const PARTITIONS = 12;

interface Run {
  sendsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  cpuUsPerEvent: number;
  unacknowledged: number;
}

const percentile = (sorted: number[], q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;

/** One agent's sends of `events` to `url`, one at a time, the sender waiting for a replica up to `waitMs`. */
async function run(url: string, events: Parameters<typeof eventsToRows>[0], waitMs: number): Promise<Run> {
  const client = createRedisClient(stateConfig({ url, prefix: `bench${Math.random().toString(36).slice(2, 8)}` }));
  await client.connect();
  try {
    const keys = new RedisKeys(`bench-${waitMs}-${Date.now()}`).partitionKeys();
    const ownership = new PartitionOwnership({
      client,
      table: keys.table,
      agent: 'bench',
      partitions: PARTITIONS,
      termMs: 10_000,
    });
    const sender = new PartitionSender({
      ownership,
      keys: { stream: (p) => keys.held(`events:${p}`), checkpoint: (p) => keys.held(`checkpoint:${p}`) },
      partitionOf: (e) => partitionOf(e.asset || e.service, PARTITIONS),
      encode: (batch) => eventsToRows(batch),
      replicaWaitMs: waitMs,
    });
    const latencies: number[] = [];
    const cpu = process.cpuUsage();
    const start = performance.now();
    for (let i = 0; i < events.length; i += BATCH) {
      const batch = events.slice(i, i + BATCH);
      const t = performance.now();
      await sender.send(batch, Number(batch.at(-1)!.timeUnixNano / 1_000_000n));
      latencies.push(performance.now() - t);
    }
    const seconds = (performance.now() - start) / 1000;
    const cpuUsPerEvent = cpuUs(cpu) / events.length;
    latencies.sort((a, b) => a - b);
    return {
      sendsPerSecond: latencies.length / seconds,
      p50Ms: percentile(latencies, 0.5),
      p99Ms: percentile(latencies, 0.99),
      cpuUsPerEvent,
      unacknowledged: sender.unacknowledged,
    };
  } finally {
    client.disconnect();
  }
}

const events = streamShare(EVENTS, GROUPS, 0, 1);
const master = await startRedis();
const replica = await startRedis();
const alone = await startRedis();
try {
  await attachReplica(master, replica);
  const settings: [name: string, url: string, waitMs: number][] = [
    ['master with a replica, replica_wait 0s (baseline)', master.url, 0],
    ['master with a replica, replica_wait 250ms', master.url, 250],
    ['master without replicas', alone.url, 250],
  ];
  await run(master.url, events.slice(0, 20_000), 250); // JIT warm-up
  const runs = new Map<string, Run[]>(settings.map(([name]) => [name, []]));
  for (let round = 0; round < ROUNDS; round++)
    for (const [name, url, waitMs] of settings) runs.get(name)!.push(await run(url, events, waitMs));
  const base = median(runs.get(settings[0]![0])!.map((r) => r.sendsPerSecond));
  const rows = settings.map(([name]) => {
    const rs = runs.get(name)!;
    const m = (f: (r: Run) => number) => median(rs.map(f));
    return [
      name,
      fmt(m((r) => r.sendsPerSecond)),
      (m((r) => r.sendsPerSecond) / base).toFixed(2),
      fmt(m((r) => r.sendsPerSecond) * BATCH),
      m((r) => r.p50Ms).toFixed(2),
      m((r) => r.p99Ms).toFixed(2),
      m((r) => r.cpuUsPerEvent).toFixed(2),
      String(m((r) => r.unacknowledged)),
    ];
  });
  process.stdout.write(
    `${fmt(EVENTS)} events over ${fmt(GROUPS)} groups per rule, sends of ${BATCH} to ${PARTITIONS} partitions one at a time, ${ROUNDS} rounds alternating, node ${process.version}\n\n` +
      table(
        [
          'setting',
          'sends/s (median)',
          '× baseline',
          'events/s',
          'send p50 ms',
          'send p99 ms',
          'sender CPU µs per event',
          'sends unacknowledged at the end',
        ],
        rows,
      ) +
      '\n',
  );
} finally {
  await Promise.all([master.stop(), replica.stop(), alone.stop()]);
}
