import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll } from 'vitest';
import { startRedis, type RedisServer } from '../support/redis.ts';
import { SelfMetrics } from '../../src/telemetry/selfMetrics.ts';
import { redisStateSchema, type RedisStateConfig } from '../../src/state/redisConfig.ts';
import { createRedisClient } from '../../src/state/redisConnection.ts';
import { RedisStateStore } from '../../src/state/redisStateStore.ts';
import { RedisStoreMetrics } from '../../src/state/redisStoreMetrics.ts';

let prefixes = 0;

/** A prefix of its own per test, so tests sharing one redis-server never see each other's keys. */
export function freshPrefix(): string {
  return `t${process.pid}x${++prefixes}`;
}

export function stateConfig(raw: Record<string, unknown>): RedisStateConfig {
  const issues: { path: string; message: string }[] = [];
  const cfg = redisStateSchema.parse({ store: 'redis', ...raw }, 'correlation.state', issues);
  if (!cfg) throw new Error(issues.map((i) => `${i.path}: ${i.message}`).join('\n'));
  return cfg;
}

export interface TestStore {
  store: RedisStateStore;
  metrics: SelfMetrics;
}

/** A started store on its own connection. The flush timer is slow: tests flush explicitly. */
export async function openStore(
  url: string,
  prefix: string,
  writer: string,
  opts: { flushIntervalMs?: number; now?: () => number; progressTimeoutMs?: number } = {},
): Promise<TestStore> {
  const metrics = new SelfMetrics();
  const store = new RedisStateStore({
    client: createRedisClient(stateConfig({ url, prefix })),
    prefix,
    writer,
    flushIntervalMs: opts.flushIntervalMs ?? 60_000,
    now: opts.now,
    progressTimeoutMs: opts.progressTimeoutMs,
    metrics: new RedisStoreMetrics(metrics.registry),
  });
  await store.start();
  return { store, metrics };
}

export async function gauge(metrics: SelfMetrics, name: string): Promise<number | undefined> {
  const m = await metrics.registry.getSingleMetric(name)?.get();
  return m?.values[0]?.value;
}

/** A plain client for looking at what the stores wrote. */
export function inspector(url: string): Redis {
  const client = new Redis(url, { lazyConnect: false, maxRetriesPerRequest: 1 });
  client.on('error', () => undefined); // a test may kill the server under it
  return client;
}

/**
 * A redis-server for the enclosing describe block, and `client()`: a connection to it (or to
 * `url`) that fails fast while the server is down, as the store's own connection does;
 * disconnected after each test.
 */
export function redisAndClients(): { server(): RedisServer; client(url?: string): Promise<Redis> } {
  let redis: RedisServer | undefined;
  const clients: Redis[] = [];
  beforeAll(async () => {
    redis = await startRedis();
  });
  afterEach(() => {
    for (const c of clients.splice(0)) c.disconnect();
  });
  afterAll(async () => {
    await redis?.stop();
  });
  const server = () => redis!;
  return {
    server,
    async client(url = server().url) {
      const c = new Redis(url, {
        lazyConnect: true,
        maxRetriesPerRequest: 0,
        enableOfflineQueue: false,
        retryStrategy: () => 20,
      });
      c.on('error', () => undefined);
      clients.push(c);
      await c.connect();
      return c;
    },
  };
}
