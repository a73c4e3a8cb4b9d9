/**
 * What it costs an agent to hand events to another through Redis, against what the correlation
 * engine spends on them: the measure of a design in which each group has one owning agent and
 * the others pass its events on (docs/benchmarks.md, "What sharing through Redis can reach").
 *
 * The Redis benchmark's stream (bench/redisWorkload.ts: threshold, pair and dedup events over
 * `--groups` groups), in one process, alternating ROUNDS times:
 *
 * - engine: the three rules on the memory store, fed in batches of 500, timers every virtual
 *   second, as bench/redis.ts's baseline;
 * - send: each batch as one stream entry (XADD, the events as a JSON array, 16 calls in flight);
 * - receive: the entries read back (XREAD, 20 at a time) and made into events again.
 *
 * Figures are CPU time of this process (process.cpuUsage) per event, medians of the rounds, and
 * each side's ratio to the engine's; Redis's own CPU (INFO cpu) per event beside them.
 *
 * Run: `node bench/redisHandoff.ts [--events 90000] [--groups 2000] [--rounds 5]`.
 */
import { Redis } from 'ioredis';
import { CorrelationEngine } from '../src/correlation/engine.ts';
import type { VigilEvent } from '../src/model/event.ts';
import { MemoryStateStore } from '../src/state/memoryStore.ts';
import { startRedis } from '../test/support/redis.ts';
import { BATCH, redisCpuSeconds, ruleSet, streamShare } from './redisWorkload.ts';
import { eventsFromRows, eventsToRows } from '../src/model/eventRows.ts';
import { benchArgs, cpuUs, fmt, median, table } from './support.ts';

const { values } = benchArgs(import.meta.filename, {
  options: {
    events: { type: 'string', default: '90000' },
    groups: { type: 'string', default: '2000' },
    rounds: { type: 'string', default: '5' },
  },
});
const EVENTS = Number(values.events);
const GROUPS = Number(values.groups);
const ROUNDS = Number(values.rounds);
const STREAM = 'handoff';
const IN_FLIGHT = 16;

function engineRun(events: VigilEvent[]): number {
  const engine = new CorrelationEngine(ruleSet(), new MemoryStateStore());
  const before = process.cpuUsage();
  let nextTick = 1000;
  for (let i = 0; i < events.length; i += BATCH) {
    const batch = events.slice(i, i + BATCH);
    const nowMs = Number(batch[batch.length - 1]!.timeUnixNano / 1_000_000n);
    for (; nextTick <= nowMs; nextTick += 1000) engine.tick(nextTick);
    engine.process(batch, nowMs);
  }
  return cpuUs(before);
}

async function send(client: Redis, events: VigilEvent[]): Promise<number> {
  await client.del(STREAM);
  const before = process.cpuUsage();
  const calls: Promise<unknown>[] = [];
  for (let i = 0; i < events.length; i += BATCH) {
    calls.push(client.xadd(STREAM, '*', 'e', eventsToRows(events, i, Math.min(events.length, i + BATCH))));
    if (calls.length >= IN_FLIGHT) await calls.shift();
  }
  await Promise.all(calls);
  return cpuUs(before);
}

type Entries = [id: string, fields: string[]][];

async function receive(client: Redis, expected: number): Promise<number> {
  const before = process.cpuUsage();
  let last = '0';
  let got = 0;
  while (got < expected) {
    const reply = (await client.xread('COUNT', 20, 'STREAMS', STREAM, last)) as [string, Entries][] | null;
    if (!reply) throw new Error(`the stream ended after ${got} of ${expected} events`);
    for (const [id, fields] of reply[0]![1]) {
      last = id;
      got += eventsFromRows(fields[1]!).length;
    }
  }
  return cpuUs(before);
}

const events = streamShare(EVENTS, GROUPS, 0, 1);
const server = await startRedis();
const producer = new Redis(server.url);
const consumer = new Redis(server.url);
const admin = new Redis(server.url);
const figures = { engine: [] as number[], send: [] as number[], receive: [] as number[], redis: [] as number[] };
try {
  engineRun(events.slice(0, 20_000)); // JIT warm-up
  await send(producer, events.slice(0, 20_000));
  await receive(consumer, 20_000);
  for (let round = 0; round < ROUNDS; round++) {
    figures.engine.push(engineRun(events) / EVENTS);
    const redisBefore = redisCpuSeconds(await admin.info('cpu'));
    figures.send.push((await send(producer, events)) / EVENTS);
    figures.receive.push((await receive(consumer, EVENTS)) / EVENTS);
    figures.redis.push(((redisCpuSeconds(await admin.info('cpu')) - redisBefore) * 1e6) / EVENTS);
  }
  const engine = median(figures.engine);
  const row = (name: string, xs: number[]) => [
    name,
    median(xs).toFixed(2),
    `${Math.min(...xs).toFixed(2)}–${Math.max(...xs).toFixed(2)}`,
    fmt(1e6 / median(xs)),
    (median(xs) / engine).toFixed(2),
  ];
  process.stdout.write(
    `${fmt(EVENTS)} events over ${fmt(GROUPS)} groups per rule, batches of ${BATCH}, ${ROUNDS} rounds, node ${process.version}\n\n` +
      table(
        ['step', 'CPU µs per event (median)', 'range', 'events per CPU-second', "CPU × the engine's"],
        [
          row('engine: the three rules on the memory store', figures.engine),
          row('send: XADD of each batch as JSON', figures.send),
          row('receive: XREAD and parse back into events', figures.receive),
          row('redis-server over send and receive', figures.redis),
        ],
      ) +
      '\n',
  );
} finally {
  producer.disconnect();
  consumer.disconnect();
  admin.disconnect();
  await server.stop();
}
