import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { correlatingConfig, glpiExporter, runCli, type RunningDaemon, type TicketExporter } from '../support/daemon.ts';
import { FakeGlpi } from '../support/fakes/glpi.ts';
import { FakeWebhookReceiver } from '../support/fakes/webhookReceiver.ts';
import { startRedis, waitFor, type RedisServer } from '../support/redis.ts';
import { redisAgents } from '../support/redisDaemons.ts';
import { afterRounds, allChanges, changesOf, metric, send } from './redisAgents.ts';
import { freshPrefix } from './redisHelpers.ts';

/** Gives up after two attempts, quickly: a change that waits for Redis must never count them. */
const webhookExporter = (url: string): TicketExporter => ({
  id: 'webhook',
  yaml: `
  webhook:
    url: ${url}
    delivery: { max_attempts: 2, initial_backoff: 50ms, max_backoff: 100ms }`,
});

const config = (url: string, prefix: string, agent: string, tickets?: TicketExporter) =>
  correlatingConfig(
    `
  tick_interval: 50ms
  defaults: { group_wait: 0s, allowed_lateness: 5s, reopen_window: 0s }
  rules:
    - kind: threshold
      name: service_errors
      match: severity_number >= SEVERITY_NUMBER_ERROR
      group_by: [service]
      window: 60s
      threshold: 4
    - kind: absence
      name: host_silent
      match: attributes["check"] == "heartbeat"
      group_by: [asset]
      time: arrival
      interval: 1s
  state:
    store: redis
    url: ${url}
    prefix: ${prefix}
    agent_id: ${agent}
    flush_interval: 20ms
    lease_ttl: 1s
`,
    tickets,
  );

const opened = (d: RunningDaemon) =>
  changesOf(d)
    .filter((c) => c.kind === 'opened')
    .map((c) => c.incident.key);
const error = (service: string) => ({ service, title: `${service} failed`, level: 'error' });

async function readiness(
  d: RunningDaemon,
): Promise<{ status: string; components: Record<string, { status: string; reason?: string }> }> {
  return (await (await fetch(d.adminUrl('/readyz'))).json()) as {
    status: string;
    components: Record<string, { status: string; reason?: string }>;
  };
}

const TWO_AGENTS = ['node-a', 'node-b'];

describe('vigil run with correlation.state.store: redis', () => {
  let redis: RedisServer;
  const agents = redisAgents();
  beforeAll(async () => {
    redis = await startRedis();
  });
  afterAll(async () => {
    await redis.stop();
  });

  it('correlates events two agents saw separately, and stays ready on local state while Redis is down', async () => {
    const prefix = freshPrefix();
    const [a, b] = await agents.start((agent) => config(redis.url, prefix, agent), TWO_AGENTS);
    // Two errors on each node: only together do they reach the threshold of 4.
    await send(a!, [error('billing'), error('billing')]);
    await send(b!, [error('billing')]);
    await waitFor(
      async () =>
        (await (await fetch(a!.adminUrl('/metrics'))).text()).match(
          /^vigil_state_store_remote_updates_total [1-9]/m,
        ) !== null,
      "b's count to reach a",
    );
    await send(b!, [error('billing')]);
    await waitFor(() => opened(b!).length === 1, 'the incident on b');
    expect(opened(b!)).toEqual(['service_errors{service="billing"}']);
    expect(opened(a!)).toEqual([]);

    await redis.kill();
    for (const d of [a!, b!]) {
      await waitFor(
        async () => (await (await fetch(d.adminUrl('/metrics'))).text()).includes('vigil_state_store_degraded 1'),
        'the degraded gauge',
      );
      const ready = await fetch(d.adminUrl('/readyz'));
      expect(ready.status).toBe(200);
      expect(await ready.json()).toMatchObject({
        status: 'degraded',
        components: {
          'connector:correlation': { status: 'degraded', reason: expect.stringContaining('Redis unreachable') },
        },
      });
    }
    // Ingestion goes on: a correlates its own events alone meanwhile.
    await send(a!, [error('web'), error('web'), error('web'), error('web')]);
    await waitFor(() => opened(a!).length === 1, 'a local incident during the outage');

    await redis.restart();
    for (const d of [a!, b!]) {
      await waitFor(
        async () => ((await (await fetch(d.adminUrl('/readyz'))).json()) as { status: string }).status === 'ready',
        'readiness back to ready',
      );
    }
    // Both agents wrote their state back: the incident a opened while alone is shared again.
    const client = new Redis(redis.url);
    const keys = await client.keys(`${prefix}:*`);
    client.disconnect();
    expect(keys).toContain(`${prefix}:{=service_errors}:i:service_errors{service="web"}`);
    expect(keys).toContain(`${prefix}:{=service_errors}:i:service_errors{service="billing"}`);
  }, 60_000);

  it('runs the timers on one agent: a silent host opens one absence incident, not one per agent', async () => {
    const prefix = freshPrefix();
    const [a, b] = await agents.start((agent) => config(redis.url, prefix, agent), TWO_AGENTS);
    await send(a!, [{ asset: 'db-1', title: 'heartbeat', attributes: { check: 'heartbeat' } }]);
    await send(b!, [{ asset: 'db-2', title: 'heartbeat', attributes: { check: 'heartbeat' } }]);
    const all = () => [...opened(a!), ...opened(b!)].sort();
    await waitFor(() => all().length === 2, 'both silences');
    // A second opener would have shown up within a few timer rounds of either agent.
    await afterRounds([a!, b!], 10);
    expect(all()).toEqual(['host_silent{asset="db-1"}', 'host_silent{asset="db-2"}']);
    // One agent ran both checks, whichever saw the heartbeat; the other never tried (no twin opening was dropped).
    expect([opened(a!).length, opened(b!).length].sort()).toEqual([0, 2]);
    for (const d of [a!, b!])
      expect(await (await fetch(d.adminUrl('/metrics'))).text()).toMatch(
        /^vigil_state_store_duplicate_opens_total 0$/m,
      );
  }, 60_000);

  it('opens one incident and one GLPI ticket when two agents see the same problem at the same moment', async () => {
    const glpi = await new FakeGlpi().listen();
    try {
      const prefix = freshPrefix();
      const [a, b] = await agents.start(
        (agent) => config(redis.url, prefix, agent, glpiExporter(glpi.apiUrl)),
        TWO_AGENTS,
      );
      // Each agent alone reaches the threshold, before either hears of the other.
      await Promise.all([
        send(
          a!,
          Array.from({ length: 4 }, () => error('billing')),
        ),
        send(
          b!,
          Array.from({ length: 4 }, () => error('billing')),
        ),
      ]);
      await waitFor(() => glpi.tickets.size === 1, 'the ticket');
      // Give a second opening or ticket every chance to show up: both agents flush every 20 ms.
      await waitFor(async () => {
        const metrics = await Promise.all([a!, b!].map(async (d) => (await fetch(d.adminUrl('/metrics'))).text()));
        return (
          metrics.every((m) => /^vigil_state_store_pending_keys 0/m.test(m)) &&
          metrics.every((m) => /^vigil_exporter_outbox_depth\{exporter="glpi"\} 0$/m.test(m))
        );
      }, 'both agents to settle');
      // Each may have created its own incident before hearing of the other's: one notified it,
      // and the two merged into one, the other id recorded as merged into the survivor.
      const changes = allChanges([a!, b!]);
      expect(changes.filter((c) => c.kind === 'opened' && c.notify)).toHaveLength(1);
      await waitFor(() => {
        const all = allChanges([a!, b!]);
        const ids = new Set(all.map((c) => c.incident.id));
        const dead = new Set(all.filter((c) => c.incident.mergedInto !== undefined).map((c) => c.incident.id));
        return ids.size - dead.size === 1;
      }, 'one incident id left standing');
      expect(glpi.count('POST', 'Ticket')).toBe(1);
    } finally {
      await glpi.close();
    }
  }, 60_000);

  it('holds a webhook change while Redis is down, without spending its attempts, and sends it once when Redis is back', async () => {
    const receiver = await new FakeWebhookReceiver().listen();
    try {
      const prefix = freshPrefix();
      const hook = webhookExporter(`${receiver.url}/hooks/vigil`);
      const [a, b] = await agents.start((agent) => config(redis.url, prefix, agent, hook), TWO_AGENTS);

      await redis.kill();
      await send(
        a!,
        Array.from({ length: 4 }, () => error('billing')),
      );
      await waitFor(() => opened(a!).length === 1, 'the incident a opens alone');
      // Twice as many tries as delivery.max_attempts allows, or the change given up on: whichever comes first.
      await waitFor(
        async () =>
          (await metric(a!, 'vigil_exporter_ledger_waits_total{exporter="webhook"}')) >= 4 ||
          (await metric(a!, 'vigil_exporter_outbox_parked_total{exporter="webhook"}')) > 0,
        'the change to wait for the ledger',
      );
      expect(await metric(a!, 'vigil_exporter_outbox_parked_total{exporter="webhook"}')).toBe(0);
      expect((await readiness(a!)).components['exporter:webhook']).toMatchObject({
        status: 'degraded',
        reason: expect.stringContaining('shared ticket ledger'),
      });
      expect(receiver.accepted).toEqual([]);

      await redis.restart();
      await waitFor(() => receiver.accepted.length > 0, 'the held change to go out');
      for (const d of [a!, b!]) {
        await waitFor(
          async () =>
            (await metric(d, 'vigil_exporter_outbox_depth{exporter="webhook"}')) === 0 &&
            (await readiness(d)).status === 'ready',
          'every agent to settle',
        );
      }
      expect(receiver.accepted.map((p) => (p as { type: string }).type)).toEqual(['incident.opened']);
      for (const d of [a!, b!]) {
        expect(await metric(d, 'vigil_exporter_outbox_parked_total{exporter="webhook"}')).toBe(0);
        const list = await runCli(['tickets', 'list', '--data-dir', d.dataDir]);
        expect(list.stdout).toBe('no parked or waiting incident changes\n');
      }
    } finally {
      await receiver.close();
    }
  }, 60_000);
});
