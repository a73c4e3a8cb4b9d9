/**
 * Correlation events/s with the Redis state store against the in-memory store, in one run: the
 * same engine, rules and events, the memory store first as the baseline. Also the Redis commands
 * the store issues per 1,000 events (INFO commandstats) and Redis memory per active group
 * (INFO memory). Run: `node bench/redis.ts [--events 200000] [--groups 2000] [--flush 100]`.
 */
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import { compileRuleSet } from '../src/correlation/compile.ts';
import { correlationSchema } from '../src/correlation/config.ts';
import { CorrelationEngine } from '../src/correlation/engine.ts';
import { newEvent, type VigilEvent } from '../src/model/event.ts';
import { compileCondition } from '../src/ottl/compiler.ts';
import { MemoryStateStore } from '../src/state/memoryStore.ts';
import { redisStateSchema } from '../src/state/redisConfig.ts';
import { createRedisClient } from '../src/state/redisConnection.ts';
import { RedisStateStore } from '../src/state/redisStateStore.ts';
import type { StateStore } from '../src/correlation/stateStore.ts';
import { startRedis } from '../test/support/redis.ts';
import { fmt, table } from './support.ts';

const { values } = parseArgs({ options: { events: { type: 'string', default: '200000' }, groups: { type: 'string', default: '2000' }, flush: { type: 'string', default: '100' } } });
const EVENTS = Number(values.events);
const GROUPS = Number(values.groups);
const FLUSH_MS = Number(values.flush);
const BATCH = 500;
/** Virtual event rate: the stream spans EVENTS / RATE seconds of event time, ticked every second. */
const RATE = 2_000;

const RULES = {
  defaults: { group_wait: '0s', allowed_lateness: '5s' },
  rules: [
    { kind: 'threshold', name: 'errors', match: 'severity_text == "ERROR"', group_by: ['service'], window: '60s', bucket: '5s', threshold: 50 },
    { kind: 'pair', name: 'link', match: 'attributes["check"] == "link"', group_by: ['asset'] },
    { kind: 'dedup', name: 'disk', match: 'attributes["check"] == "disk"', group_by: ['asset'] },
  ],
};

function ruleSet() {
  const issues: { path: string; message: string }[] = [];
  const cfg = correlationSchema.parse(RULES, 'correlation', issues);
  if (!cfg || issues.length) throw new Error(JSON.stringify(issues));
  return compileRuleSet(cfg, (source, context) => compileCondition(source, context) as (item: never) => boolean).set;
}

/** Errors of GROUPS services, link flaps and disk alerts of GROUPS assets, in time order. */
function stream(): VigilEvent[] {
  const out: VigilEvent[] = [];
  for (let i = 0; i < EVENTS; i++) {
    const t = BigInt(Math.floor((i * 1000) / RATE)) * 1_000_000n;
    const g = (i * 7919) % GROUPS;
    const base = { source: 'bench', id: `e${i}`, timeUnixNano: t, observedTimeUnixNano: t };
    if (i % 3 === 0) out.push(newEvent({ ...base, service: `svc-${g}`, severityText: 'ERROR', severityNumber: 17 }));
    else if (i % 3 === 1) out.push(newEvent({ ...base, asset: `sw-${g}`, type: i % 2 ? 'down' : 'up', attributes: { check: 'link' } }));
    else out.push(newEvent({ ...base, asset: `host-${g}`, title: 'disk full', attributes: { check: 'disk' } }));
  }
  return out;
}

/** The engine's clock, which the Redis store reads too. */
const clock = { ms: 0 };

/** Feeds the whole stream; yields to the event loop between batches so a replicator can flush. */
async function run(store: StateStore, events: VigilEvent[], settle?: () => Promise<void>): Promise<number> {
  const engine = new CorrelationEngine(ruleSet(), store);
  const started = performance.now();
  let nextTick = 1000;
  for (let i = 0; i < events.length; i += BATCH) {
    const batch = events.slice(i, i + BATCH);
    const nowMs = Number(batch[batch.length - 1]!.timeUnixNano / 1_000_000n);
    clock.ms = nowMs;
    while (nextTick <= nowMs) engine.tick((nextTick += 1000) - 1000);
    engine.process(batch, nowMs);
    if (settle) await new Promise((r) => setImmediate(r));
  }
  if (settle) await settle();
  return events.length / ((performance.now() - started) / 1000);
}

function commandCalls(info: string): Map<string, number> {
  const calls = new Map<string, number>();
  for (const m of info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) calls.set(m[1]!, Number(m[2]));
  return calls;
}

const server = await startRedis();
const admin = new Redis(server.url);
try {
  const events = stream();
  await run(new MemoryStateStore(), events.slice(0, 20_000)); // JIT warm-up
  const memoryRate = await run(new MemoryStateStore(), events);

  await admin.flushall();
  const before = Number(/used_memory:(\d+)/.exec(await admin.info('memory'))![1]);
  await admin.config('RESETSTAT');
  const issues: { path: string; message: string }[] = [];
  const cfg = redisStateSchema.parse({ store: 'redis', url: server.url, prefix: 'bench' }, 'state', issues)!;
  const store = new RedisStateStore({ client: createRedisClient(cfg), prefix: 'bench', writer: 'bench', flushIntervalMs: FLUSH_MS, now: () => clock.ms });
  await store.start();
  const redisRate = await run(store, events, async () => {
    while (store.pendingKeys() > 0) await store.flush();
  });
  const calls = commandCalls(await admin.info('commandstats'));
  await store.close();
  const after = Number(/used_memory:(\d+)/.exec(await admin.info('memory'))![1]);
  const keys = await admin.dbsize();

  const fromClient = ['evalsha', 'eval', 'script', 'scan', 'subscribe', 'quit'].reduce((n, c) => n + (calls.get(c) ?? 0), 0);
  const all = [...calls].filter(([c]) => c !== 'info' && c !== 'config').reduce((n, [, v]) => n + v, 0);
  const activeGroups = GROUPS * RULES.rules.length;
  process.stdout.write(`${fmt(EVENTS)} events over ${fmt(GROUPS)} groups per rule × ${RULES.rules.length} rules (threshold, pair, dedup), batches of ${BATCH}, flush every ${FLUSH_MS} ms, one agent, node ${process.version}\n\n`);
  process.stdout.write(
    table(
      ['store', 'events/s', 'ratio to memory'],
      [
        ['memory', fmt(memoryRate), '1.00'],
        ['redis', fmt(redisRate), (redisRate / memoryRate).toFixed(2)],
      ],
    ) + '\n\n',
  );
  process.stdout.write(
    table(
      ['Redis figure', 'value'],
      [
        ['commands sent per 1,000 events (script calls, scans, subscribe)', ((fromClient / EVENTS) * 1000).toFixed(1)],
        ['commands run per 1,000 events (including those inside scripts)', ((all / EVENTS) * 1000).toFixed(0)],
        ['keys held at the end', fmt(keys)],
        ['memory per active group (bytes)', fmt((after - before) / activeGroups)],
      ],
    ) + '\n',
  );
} finally {
  admin.disconnect();
  await server.stop();
}
