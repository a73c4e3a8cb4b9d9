import { copyFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { registry } from '../../src/components.ts';
import type { ConfigIssue } from '../../src/config/schema.ts';
import type { AnyFactory, Component, CreateSettings } from '../../src/pipeline/component.ts';
import type { Host } from '../../src/pipeline/host.ts';
import { ReceiveBuffers } from '../../src/pipeline/receiveBuffers.ts';
import type { Consumer, Consumers } from '../../src/pipeline/signals.ts';
import { HttpListeners } from '../../src/service/httpListeners.ts';
import { redisConnectionSchema } from '../../src/state/redisConfig.ts';
import { createRedisClient } from '../../src/state/redisConnection.ts';
import { createLogger } from '../../src/telemetry/logger.ts';
import { SelfMetrics } from '../../src/telemetry/selfMetrics.ts';

/**
 * Every registered component, one table, as the Collector's generated component tests do: its
 * default config parses or says what it needs; it can be created and shut down without being
 * started; it starts, shuts down, and shuts down again without error. A new component lands in
 * this table by being registered; one whose config has required keys needs a minimal config
 * below (listeners on port 0, so the test runs beside others).
 */
const MINIMAL: Record<string, unknown> = {
  'receivers/syslog': { udp: { endpoint: '127.0.0.1:0' }, tcp: { endpoint: '127.0.0.1:0' } },
  'receivers/otlp': { protocols: { grpc: { endpoint: '127.0.0.1:0' }, http: { endpoint: '127.0.0.1:0' } } },
  'receivers/json': { endpoint: '127.0.0.1:0' },
  'receivers/snmp_trap': { endpoint: '127.0.0.1:0', communities: ['public'] },
  'processors/extract': { rules: [{ regex: { pattern: 'disk (?<mount>\\S+) full' }, set: { severity: 'warning' } }] },
  'processors/enrich': { key: 'asset', table: { path: 'cmdb.csv', key_field: 'host' } },
  'processors/tag': { rules: [{ where: 'body == "down"', type: 'down' }] },
  'exporters/file': { path: 'conformance.ndjson' },
  'exporters/glpi': { url: 'http://127.0.0.1:9/apirest.php', app_token: 'a', user_token: 'u' },
  'exporters/jira': { url: 'http://127.0.0.1:9', email: 'bot@example.com', api_token: 't', project: 'OPS' },
  'exporters/webhook': { url: 'http://127.0.0.1:9/hook' },
  'exporters/otlp_grpc': { endpoint: '127.0.0.1:9', tls: { insecure: true } },
  'exporters/otlp_http': { endpoint: 'http://127.0.0.1:9' },
  'exporters/servicenow': { url: 'http://127.0.0.1:9', username: 'vigil', password: 'pw' },
  'exporters/email': { host: '127.0.0.1', port: 9, tls: 'none', from: 'vigil@example.com', to: ['noc@example.com'] },
  'exporters/sms': {
    provider: 'twilio',
    url: 'http://127.0.0.1:9',
    account_sid: 'AC0123456789abcdef0123456789abcdef',
    auth_token: 't',
    from: '+14155550100',
    to: ['+14155550101'],
  },
  'connectors/correlation': { rules: [{ kind: 'pair', name: 'down', group_by: ['asset'] }] },
  'extensions/authenticator': { api_keys: {} },
  'extensions/redis_state': { url: 'redis://127.0.0.1:9' },
  'extensions/ticket_ledger': { redis_state: 'redis_state' },
};
const redisConnection = redisConnectionSchema.parse({ url: 'redis://127.0.0.1:9' }, 'redis_state', [])!;

type Kind = 'receivers' | 'processors' | 'exporters' | 'connectors' | 'extensions';
const dataDir = mkdtempSync(join(tmpdir(), 'vigil-conformance-'));
copyFileSync(join(import.meta.dirname, '../../config/examples/cmdb.csv'), join(dataDir, 'cmdb.csv'));
const metrics = new SelfMetrics();
const logger = createLogger('silent');
const listeners = new HttpListeners();
const host: Host = {
  logger,
  metrics,
  dataDir,
  receiveBuffers: new ReceiveBuffers(64 * 1024 * 1024),
  httpListener: (endpoint, tls, limits) => listeners.get(endpoint, tls, limits),
  authenticator: (id) => {
    throw new Error(`no extension "${id}" in this test`);
  },
  // Enough for a ticket_ledger extension to start and stop: it opens ledgers only when an exporter asks.
  redisState: () => ({ client: createRedisClient(redisConnection), config: redisConnection, agent: 'conformance' }),
  ticketLedger: (id) => {
    throw new Error(`no extension "${id}" in this test`);
  },
};
const sink: Consumer<unknown> = { consume: async () => undefined };
const consumers = { logs: sink, metrics: sink, traces: sink, incidents: sink } as unknown as Consumers;

afterAll(() => listeners.closeAll());

function parse(kind: Kind, f: AnyFactory): { config?: unknown; issues: ConfigIssue[] } {
  const issues: ConfigIssue[] = [];
  const raw = MINIMAL[`${kind}/${f.type}`];
  const config = f.configSchema.parse(raw, `${kind}.${f.type}`, issues);
  return { config, issues };
}

async function create(kind: Kind, f: AnyFactory, config: unknown, n: number): Promise<Partial<Component>> {
  await f.load?.();
  const settings: CreateSettings = { id: `${f.type}/conformance${n}`, logger, metrics, dataDir };
  switch (f.kind) {
    case 'receiver':
      return f.create(settings, config, consumers);
    case 'processor':
      return f.create({ ...settings, signal: f.signals[0]!, pipeline: `${f.signals[0]}` }, config);
    case 'exporter':
      return f.create(settings, config);
    case 'connector':
      return f.create(settings, config, consumers);
    case 'extension':
      return f.create(settings, config);
  }
  throw new Error(`${kind}: unknown factory kind`);
}

const table = (['receivers', 'processors', 'exporters', 'connectors', 'extensions'] as const).flatMap((kind) =>
  registry[kind].map((f) => [`${kind.slice(0, -1)} ${f.type}`, kind, f] as const),
);

describe.each(table)('%s', (_name, kind, factory) => {
  it('has a description and signals, and its default config parses or names the keys it needs', () => {
    expect(factory.description.length).toBeGreaterThan(10);
    // Extensions sit outside the pipelines: no signals.
    expect(factory.signals.length > 0).toBe(factory.kind !== 'extension');
    const issues: ConfigIssue[] = [];
    const config = factory.configSchema.parse(undefined, `${kind}.${factory.type}`, issues);
    if (issues.length === 0) expect(config).toBeDefined();
    else {
      for (const i of issues) expect(i.path.startsWith(`${kind}.${factory.type}`), i.path).toBe(true);
      expect(
        MINIMAL[`${kind}/${factory.type}`],
        `${kind}/${factory.type} needs a minimal config in this table`,
      ).toBeDefined();
    }
    const { issues: minimal } = parse(kind, factory);
    expect(minimal).toEqual([]);
  });

  it('creates, then shuts down without having started', async () => {
    const { config } = parse(kind, factory);
    const c = await create(kind, factory, config, 1);
    await expect(Promise.resolve(c.shutdown?.())).resolves.toBeUndefined();
  });

  it('starts, shuts down, and shuts down again', async () => {
    const { config } = parse(kind, factory);
    const c = await create(kind, factory, config, 2);
    await c.start?.(host);
    await c.shutdown?.();
    await expect(Promise.resolve(c.shutdown?.())).resolves.toBeUndefined();
  });
});
