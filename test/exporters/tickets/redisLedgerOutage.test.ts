import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { GlpiDriver } from '../../../src/exporters/glpi/driver.ts';
import type {
  IncidentExporter,
  IncidentExporterConfig,
  Notice,
  TicketDriver,
} from '../../../src/exporters/tickets/incidentExporter.ts';
import { webhookExporterSchema } from '../../../src/exporters/webhook/config.ts';
import { WebhookDriver } from '../../../src/exporters/webhook/driver.ts';
import { createRedisClient, type RedisClient } from '../../../src/state/redisConnection.ts';
import { RedisKeys } from '../../../src/state/redisKeys.ts';
import { RedisTicketLedger } from '../../../src/state/redisTicketLedger.ts';
import { ManualTimers } from '../../support/fakes/timers.ts';
import { FakeWebhookReceiver } from '../../support/fakes/webhookReceiver.ts';
import { startRedis, waitFor, type RedisServer } from '../../support/redis.ts';
import { freshPrefix, stateConfig } from '../../state/redisHelpers.ts';
import { fakeGlpiExporter, IncidentStory, parseWith, startIncidentExporter } from '../incidentFixtures.ts';

/** How often changes waiting for the ledger try again (the exporter's LEDGER_WAIT_MS). */
const WAIT_MS = 1000;

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

describe('ticket exporters sharing the Redis ledger through a Redis outage', () => {
  let redis: RedisServer;
  beforeAll(async () => {
    redis = await startRedis();
  });
  afterAll(async () => {
    await redis.stop();
  });

  /** An agent's command connection, made as the state store makes it (no offline queue, no resend). */
  async function agentClient(): Promise<RedisClient> {
    const client = createRedisClient(stateConfig({ url: redis.url }));
    client.on('error', () => undefined);
    await client.connect();
    cleanup.push(async () => void client.disconnect());
    return client;
  }

  async function agent(
    prefix: string,
    driver: TicketDriver,
    config: IncidentExporterConfig,
    timers: ManualTimers,
    dataDir?: string,
  ) {
    const client = await agentClient();
    const ledger = new RedisTicketLedger({
      client,
      keys: new RedisKeys(prefix),
      owner: 'agent',
      exporter: 'tickets',
      claimTtlMs: 10_000,
      recordTtlMs: 86_400_000,
    });
    return {
      client,
      ...(await startIncidentExporter('tickets', config, driver, { timers, dataDir, ledger }, cleanup)),
    };
  }

  /** A GLPI that two agents share, with a delivery that gives up after two attempts. */
  async function sharedGlpi() {
    const { glpi, config } = await fakeGlpiExporter(cleanup, { delivery: { max_attempts: 2 } });
    return { glpi, config, timers: new ManualTimers(), prefix: freshPrefix() };
  }

  /** Lets `times` deferred attempts happen, each time moving the clock to the next try. */
  async function letWait(exp: IncidentExporter, timers: ManualTimers, times: number): Promise<void> {
    for (let i = 0; i < times; i++) {
      const asked = timers.delays.length;
      await vi.waitFor(() => expect(timers.delays.length).toBeGreaterThan(asked), { timeout: 5000 });
      expect(timers.delays.at(-1)).toBe(WAIT_MS);
      expect(exp.outbox.parked).toBe(0);
      timers.advance(WAIT_MS);
    }
  }

  const ready = (client: RedisClient) => waitFor(() => client.status === 'ready', 'the client to reconnect');

  it('holds a change while Redis is down, spending no attempt, then makes one ticket that the other agent updates and resolves', async () => {
    const { glpi, config, timers, prefix } = await sharedGlpi();
    const a = await agent(prefix, new GlpiDriver(config), config, timers);
    const b = await agent(prefix, new GlpiDriver(config), config, timers);
    const story = new IncidentStory();

    await redis.kill();
    await a.exp.consumeIncidents([story.next('opened')]);
    await letWait(a.exp, timers, 4); // twice delivery.max_attempts
    expect(a.exp.health()).toMatchObject({
      status: 'degraded',
      reason: expect.stringContaining('waiting for the shared ticket ledger'),
    });
    expect(a.exp.outbox.depth).toBe(1);
    expect(glpi.tickets.size).toBe(0);

    await redis.restart();
    await ready(a.client);
    timers.advance(WAIT_MS);
    await a.exp.outbox.whenIdle();
    expect(glpi.count('POST', 'Ticket')).toBe(1);
    expect(a.exp.health().status).toBe('ok');
    const [id] = [...glpi.tickets.keys()];

    await ready(b.client);
    await b.exp.consumeIncidents([story.next('updated')]);
    await b.exp.outbox.whenIdle();
    await b.exp.consumeIncidents([story.next('resolved')]);
    await b.exp.outbox.whenIdle();
    expect(glpi.count('POST', 'Ticket')).toBe(1);
    expect(glpi.followups.map((f) => f.items_id)).toEqual([id]);
    expect(glpi.solutions.map((s) => s.items_id)).toEqual([id]);
  }, 30_000);

  it('stores the ticket made under a claim that Redis lost, and the other agent racing it finds that ticket instead of making a second', async () => {
    const { glpi, config, timers, prefix } = await sharedGlpi();
    // Redis dies between "ticket created" and "ticket stored", taking a's claim with it.
    class DyingAfterCreate extends GlpiDriver {
      override async create(n: Notice): Promise<string> {
        const ref = await super.create(n);
        await redis.kill();
        return ref;
      }
    }
    const a = await agent(prefix, new DyingAfterCreate(config), config, timers);
    const b = await agent(prefix, new GlpiDriver(config), config, timers);
    const story = new IncidentStory();

    await a.exp.consumeIncidents([story.next('opened')]);
    await letWait(a.exp, timers, 1);
    expect(glpi.tickets.size).toBe(1);

    await redis.restart(); // empty: no claim, no record
    await Promise.all([ready(a.client), ready(b.client)]);
    await b.exp.consumeIncidents([story.next('updated')]);
    await b.exp.outbox.whenIdle();
    timers.advance(WAIT_MS);
    await a.exp.outbox.whenIdle();

    expect(glpi.count('POST', 'Ticket')).toBe(1);
    const [id] = [...glpi.tickets.keys()];
    expect(glpi.followups.map((f) => f.items_id)).toEqual([id]);
    await b.exp.consumeIncidents([story.next('resolved')]);
    await b.exp.outbox.whenIdle();
    expect(glpi.solutions.map((s) => s.items_id)).toEqual([id]);
    expect([a.exp.outbox.parked, b.exp.outbox.parked]).toEqual([0, 0]);
  }, 30_000);

  it('remembers in the outbox journal, across a restart, a webhook sent before Redis died, and never sends it again', async () => {
    const receiver = await new FakeWebhookReceiver().listen();
    cleanup.push(() => receiver.close());
    const config = parseWith(webhookExporterSchema, {
      url: `${receiver.url}/hooks/vigil`,
      delivery: { max_attempts: 2 },
    });
    const timers = new ManualTimers();
    const prefix = freshPrefix();
    const dataDir = mkdtempSync(join(tmpdir(), 'vigil-ledger-outage-'));
    class DyingAfterSend extends WebhookDriver {
      override async create(n: Notice): Promise<string> {
        const ref = await super.create(n);
        await redis.kill();
        return ref;
      }
    }
    const first = await agent(prefix, new DyingAfterSend(config), config, timers, dataDir);
    const story = new IncidentStory();
    await first.exp.consumeIncidents([story.next('opened')]);
    await letWait(first.exp, timers, 1);
    expect(receiver.accepted).toHaveLength(1);
    await first.stop();

    await redis.restart();
    const again = await agent(prefix, new WebhookDriver(config), config, timers, dataDir);
    await ready(again.client);
    expect(again.exp.outbox.depth).toBe(1);
    timers.advance(WAIT_MS);
    await again.exp.outbox.whenIdle();
    expect(receiver.accepted).toHaveLength(1);
    const ledger = new RedisTicketLedger({
      client: again.client,
      keys: new RedisKeys(prefix),
      owner: 'reader',
      exporter: 'tickets',
      claimTtlMs: 10_000,
      recordTtlMs: 86_400_000,
    });
    expect(await ledger.get(story.next('updated').incident.key)).toMatchObject({ ref: 'sent', resolved: false });
  }, 30_000);
});
