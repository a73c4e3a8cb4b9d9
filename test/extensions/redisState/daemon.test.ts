import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { incidentExporterDir } from '../../../src/exporters/tickets/incidentExporter.ts';
import { startDaemon, type RunningDaemon } from '../../support/daemon.ts';
import { FakeGlpi } from '../../support/fakes/glpi.ts';
import { FakeJira } from '../../support/fakes/jira.ts';
import { startRedis, waitFor, type RedisServer } from '../../support/redis.ts';
import { allChanges, metric, send } from '../../state/redisAgents.ts';
import { freshPrefix } from '../../state/redisHelpers.ts';

const RULES = `
  tick_interval: 50ms
  defaults: { group_wait: 0s, allowed_lateness: 5s, reopen_window: 0s }
  rules:
    - kind: threshold
      name: service_errors
      match: severity_number >= SEVERITY_NUMBER_ERROR
      group_by: [service]
      window: 60s
      threshold: 4`;

const GLPI = (url: string, ledger: string) => `
  glpi:
    url: ${url}
    app_token: app-token-1
    user_token: user-token-1${ledger}`;

const JIRA = (url: string) => `
  jira:
    url: ${url}
    email: ops@example.com
    api_token: api-token-1
    project: OPS`;

const PIPELINES = `
  pipelines:
    logs: { receivers: [json], exporters: [correlation] }
    incidents: { exporters: [file/incidents, glpi] }
  telemetry:
    metrics: { endpoint: 127.0.0.1:0 }`;

/** An agent written with the extensions: its Redis connection and ticket ledger declared once, named by id. */
const withExtensions = (redisUrl: string, prefix: string, agent: string, glpiUrl: string) => `
extensions:
  redis_state:
    url: ${redisUrl}
    prefix: ${prefix}
    agent_id: ${agent}
    flush_interval: 20ms
    lease_ttl: 1s
  ticket_ledger:
    redis_state: redis_state
receivers:
  json: { endpoint: 127.0.0.1:0 }
exporters:
  correlation: {}
  file/incidents: { path: incidents.ndjson }${GLPI(glpiUrl, '\n    ledger: { extension: ticket_ledger }')}
correlation:${RULES}
  state: { extension: redis_state }
service:
  extensions: [ticket_ledger, redis_state]${PIPELINES}
`;

/** `correlation.state` in the form before extensions: the connection settings inline. */
const inlineState = (redisUrl: string, prefix: string, agent: string) => `  state:
    store: redis
    url: ${redisUrl}
    prefix: ${prefix}
    agent_id: ${agent}
    flush_interval: 20ms
    lease_ttl: 1s`;

/** The same agent in the form before extensions: connection settings under correlation.state, the ledger found implicitly. */
const inline = (redisUrl: string, prefix: string, agent: string, glpiUrl: string) => `
receivers:
  json: { endpoint: 127.0.0.1:0 }
exporters:
  correlation: {}
  file/incidents: { path: incidents.ndjson }${GLPI(glpiUrl, '')}
correlation:${RULES}
${inlineState(redisUrl, prefix, agent)}
service:${PIPELINES}
`;

/**
 * An agent in the form before extensions with a GLPI exporter, and a Jira one when given its URL:
 * `store: redis` gives both the one shared ledger. A pair rule: a Down opens an incident, its Up resolves it.
 */
const trackers = (redisUrl: string, prefix: string, agent: string, glpiUrl: string, jiraUrl?: string) => `
receivers:
  json: { endpoint: 127.0.0.1:0 }
exporters:
  correlation: {}
  file/incidents: { path: incidents.ndjson }${GLPI(glpiUrl, '')}${jiraUrl === undefined ? '' : JIRA(jiraUrl)}
correlation:
  tick_interval: 50ms
  defaults: { group_wait: 0s, allowed_lateness: 1h, reopen_window: 0s }
  rules:
    - { kind: pair, name: asset_down, group_by: [asset] }
${inlineState(redisUrl, prefix, agent)}
service:
  pipelines:
    logs: { receivers: [json], exporters: [correlation] }
    incidents: { exporters: [file/incidents, glpi${jiraUrl === undefined ? '' : ', jira'}] }
  telemetry:
    metrics: { endpoint: 127.0.0.1:0 }
`;

const error = (service: string) => ({ service, title: `${service} failed`, level: 'error' });

async function components(d: RunningDaemon): Promise<Record<string, { status: string; reason?: string }>> {
  return ((await (await fetch(d.adminUrl('/readyz'))).json()) as { components: Record<string, { status: string }> })
    .components;
}

describe('agents sharing state through the redis_state and ticket_ledger extensions', () => {
  let redis: RedisServer;
  const daemons: RunningDaemon[] = [];
  beforeAll(async () => {
    redis = await startRedis();
  });
  afterEach(async () => {
    await Promise.all(daemons.splice(0).map((d) => d.stop('SIGKILL')));
  });
  afterAll(async () => {
    await redis.stop();
  });

  it('one written with extensions and one in the earlier form correlate as one and open one GLPI ticket between them', async () => {
    const glpi = await new FakeGlpi().listen();
    try {
      const prefix = freshPrefix();
      const [a, b] = await Promise.all([
        startDaemon(withExtensions(redis.url, prefix, 'node-a', glpi.apiUrl)),
        startDaemon(inline(redis.url, prefix, 'node-b', glpi.apiUrl)),
      ]);
      daemons.push(a!, b!);
      expect(await components(a!)).toMatchObject({
        'extension:redis_state': { status: 'ok' },
        'extension:ticket_ledger': { status: 'ok' },
      });
      expect(await components(b!)).toMatchObject({
        'extension:redis_state/correlation': { status: 'ok' },
        'extension:ticket_ledger/correlation': { status: 'ok' },
      });
      // Two errors on each agent: only their shared count reaches the threshold of 4.
      await send(a!, [error('billing'), error('billing')]);
      await waitFor(async () => (await metric(b!, 'vigil_state_store_remote_updates_total')) > 0, "a's count on b");
      await send(b!, [error('billing'), error('billing')]);
      await waitFor(() => glpi.tickets.size === 1, 'the ticket');
      // A second ticket would show up by the time every outbox is empty.
      await waitFor(async () => {
        const depths = await Promise.all(
          [a!, b!].map((d) => metric(d, 'vigil_exporter_outbox_depth{exporter="glpi"}')),
        );
        return depths.every((n) => n === 0);
      }, 'both outboxes to drain');
      expect(allChanges([a!, b!]).filter((c) => c.kind === 'opened' && c.notify)).toHaveLength(1);
      expect(glpi.count('POST', 'Ticket')).toBe(1);
      // Both exporters keep the ticket in Redis, where either finds it, and neither in a file of its own:
      // as the exporter's own record, and where agents from before records were scoped look.
      const client = new Redis(redis.url);
      const keys = await client.keys(`${prefix}:ticket:*`);
      client.disconnect();
      expect(keys.sort()).toEqual([
        `${prefix}:ticket:{ticket:service_errors{service="billing"}}`,
        `${prefix}:ticket:{ticket@glpi:service_errors{service="billing"}}`,
      ]);
      for (const d of [a!, b!])
        expect(existsSync(join(incidentExporterDir(d.dataDir, 'glpi'), 'ledger.ndjson'))).toBe(false);

      // Redis gone: the extension and the connector say so; both agents stay ready on local state.
      await redis.kill();
      for (const d of [a!, b!])
        await waitFor(
          async () => Object.values(await components(d)).some((c) => c.reason?.includes('Redis unreachable')),
          'the outage in /readyz',
        );
      expect(await components(a!)).toMatchObject({
        'extension:redis_state': { status: 'degraded', reason: expect.stringContaining('Redis unreachable') },
        'connector:correlation': { status: 'degraded', reason: expect.stringContaining('Redis unreachable') },
      });
      await redis.restart();
      await waitFor(
        async () => Object.values(await components(a!)).every((c) => c.status === 'ok'),
        'every component healthy again',
      );
    } finally {
      await glpi.close();
    }
  }, 90_000);

  it('agents with a GLPI and a Jira exporter on one ledger open and resolve a ticket in each tracker per incident', async () => {
    const glpi = await new FakeGlpi().listen();
    const jira = await new FakeJira('cloud').listen();
    try {
      const prefix = freshPrefix();
      const [a, b] = await Promise.all(
        ['node-a', 'node-b'].map((agent) => startDaemon(trackers(redis.url, prefix, agent, glpi.apiUrl, jira.url))),
      );
      daemons.push(a!, b!);
      await send(a!, [{ asset: 'core-1', type: 'down', title: 'core-1 unreachable', severity: 'ERROR' }]);
      await waitFor(() => glpi.tickets.size === 1 && jira.issues.size === 1, 'a GLPI ticket and a Jira issue');
      const [ticket] = [...glpi.tickets.values()];
      const [issue] = [...jira.issues.values()];
      // Each exporter's record names its own tracker's ticket, wherever the Up arrives.
      const client = new Redis(redis.url);
      try {
        await waitFor(async () => (await client.keys(`${prefix}:ticket:*`)).length === 2, 'both ledger records');
        const refs = async (exporter: string) =>
          (await client.hget(`${prefix}:ticket:{ticket@${exporter}:asset_down{asset="core-1"}}`, 'ref')) ?? '';
        expect(await refs('glpi')).toBe(String(ticket!.id));
        expect(await refs('jira')).toBe(issue!.key);
      } finally {
        client.disconnect();
      }
      await send(b!, [{ asset: 'core-1', type: 'up', title: 'core-1 reachable', severity: 'INFO' }]);
      await waitFor(
        () =>
          glpi.tickets.get(ticket!.id)!.status >= 5 &&
          jira.issues.get(issue!.key)?.fields.status.statusCategory.key === 'done',
        'the GLPI ticket solved and the Jira issue done',
      );
      expect(glpi.count('POST', 'Ticket')).toBe(1);
      expect(jira.issues.size).toBe(1);
      expect(glpi.tickets.size).toBe(1);
    } finally {
      await Promise.all([glpi.close(), jira.close()]);
    }
  }, 90_000);

  it("keeps an open incident's ticket across the upgrade to records keyed by exporter, for a lone exporter", async () => {
    const glpi = await new FakeGlpi().listen();
    const client = new Redis(redis.url);
    try {
      const prefix = freshPrefix();
      const before = await startDaemon(trackers(redis.url, prefix, 'node-a', glpi.apiUrl));
      daemons.push(before);
      await send(before, [{ asset: 'core-1', type: 'down', title: 'core-1 unreachable', severity: 'ERROR' }]);
      await waitFor(() => glpi.tickets.size === 1, 'the GLPI ticket');
      const own = `${prefix}:ticket:{ticket@glpi:asset_down{asset="core-1"}}`;
      await waitFor(async () => (await client.exists(own)) === 1, 'the ledger record');
      await before.stop();
      // What an agent before the upgrade leaves: the record under the incident key alone.
      await client.del(own);
      expect(await client.hget(`${prefix}:ticket:{ticket:asset_down{asset="core-1"}}`, 'ref')).toBe(
        String([...glpi.tickets.keys()][0]),
      );

      const after = await startDaemon(trackers(redis.url, prefix, 'node-b', glpi.apiUrl));
      daemons.push(after);
      await send(after, [{ asset: 'core-1', type: 'up', title: 'core-1 reachable', severity: 'INFO' }]);
      await waitFor(() => [...glpi.tickets.values()][0]!.status >= 5, 'the ticket solved');
      await waitFor(async () => (await client.hget(own, 'resolved')) === '1', "the exporter's own record");
      expect(glpi.count('POST', 'Ticket')).toBe(1);
    } finally {
      client.disconnect();
      await glpi.close();
    }
  }, 90_000);

  it('an agent that only keeps its tickets in the shared ledger correlates alone and never runs for the timers lease', async () => {
    const glpi = await new FakeGlpi().listen();
    try {
      const prefix = freshPrefix();
      const yaml = withExtensions(redis.url, prefix, 'node-t', glpi.apiUrl).replace(
        '  state: { extension: redis_state }',
        '  state: { store: memory }',
      );
      const d = await startDaemon(yaml);
      daemons.push(d);
      await send(
        d,
        Array.from({ length: 4 }, () => error('billing')),
      );
      await waitFor(() => glpi.tickets.size === 1, 'the ticket');
      const client = new Redis(redis.url);
      try {
        await waitFor(async () => (await client.keys(`${prefix}:ticket:*`)).length === 2, 'the ledger records');
        // Its correlation state stayed local: nothing but the ticket record and its claim is in Redis.
        const keys = await client.keys(`${prefix}:*`);
        expect(keys.filter((k) => !k.startsWith(`${prefix}:ticket:`) && !/\{ticket[:@]/.test(k))).toEqual([]);
        expect(await client.exists(`${prefix}:lease:{timers}`)).toBe(0);
      } finally {
        client.disconnect();
      }
    } finally {
      await glpi.close();
    }
  }, 60_000);
});
