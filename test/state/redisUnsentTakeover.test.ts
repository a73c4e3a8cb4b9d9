import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { CorrelationRuntime } from '../../src/connectors/correlation/runtime.ts';
import type { IncidentChange } from '../../src/model/incident.ts';
import type { RedisStateStore } from '../../src/state/redisStateStore.ts';
import { RedisKeys } from '../../src/state/redisKeys.ts';
import { createLogger } from '../../src/telemetry/logger.ts';
import { SelfMetrics } from '../../src/telemetry/selfMetrics.ts';
import { ev } from '../support/correlation.ts';
import { IncidentsPipeline, PAIR_RULES } from '../support/incidentsPipeline.ts';
import { startRedis, waitFor, type RedisServer } from '../support/redis.ts';
import { freshPrefix, gauge, inspector, stateConfig } from './redisHelpers.ts';

// Two agents sharing state (sharing: state) on a real redis-server, as the daemon runs them: one
// claims a notification its incidents pipeline refuses (a full queue) and dies; the other, leading
// the timers, sends it once.

describe('a notification claimed by an agent that dies before its pipelines take it (sharing: state)', () => {
  let redis: RedisServer;
  const running: CorrelationRuntime[] = [];
  beforeAll(async () => {
    redis = await startRedis();
  });
  afterEach(async () => {
    await Promise.all(running.splice(0).map((r) => r.stop().catch(() => undefined)));
  });
  afterAll(async () => {
    await redis?.stop();
  });

  /** An agent: its runtime (started without its own timer: the test ticks it), pipeline and metrics. */
  async function agent(prefix: string, id: string) {
    const incidents = new IncidentsPipeline();
    const metrics = new SelfMetrics();
    const state = stateConfig({ url: redis.url, prefix, agent_id: id, lease_ttl: '1s', flush_interval: '20ms' });
    const runtime = new CorrelationRuntime(
      { ...PAIR_RULES, state },
      { logger: createLogger('silent'), metrics, output: () => incidents },
    );
    await runtime.state.start();
    return { runtime, incidents, metrics };
  }

  /** Two agents; the victim opens an incident (notified at once) that its pipelines refuse. */
  async function victimWithAnOpening() {
    const prefix = freshPrefix();
    const victim = await agent(prefix, 'victim');
    const survivor = await agent(prefix, 'survivor');
    running.push(survivor.runtime);
    victim.incidents.full = true;
    await victim.runtime.consumeLogs([ev(Date.now(), { asset: 'sw-1', type: 'down' })]);
    return { prefix, victim, survivor };
  }

  /** The agent dies (kill -9): nothing of it reaches Redis again, its presence and lease run out. */
  const kill = (a: { runtime: CorrelationRuntime }) => (a.runtime.state.store as RedisStateStore).redis.disconnect();

  /** No agent of `prefix` has a notification kept as unsent, and the gone ones have left the set of agents. */
  async function nothingUnsent(prefix: string): Promise<boolean> {
    const watch = inspector(redis.url);
    try {
      const k = new RedisKeys(prefix).unsentKeys();
      const agents = await watch.smembers(k.agents);
      const kept = await Promise.all(agents.map((a) => watch.hlen(k.unsent(a))));
      return agents.every((a) => !a.startsWith('victim#')) && kept.every((n) => n === 0);
    } finally {
      watch.disconnect();
    }
  }

  const notified = (taken: IncidentChange[], kind: string) => taken.filter((c) => c.kind === kind && c.notify);

  /** The survivor, ticking as the daemon's timer does, sends the victim's opening. */
  const survivorSends = (survivor: { runtime: CorrelationRuntime; incidents: IncidentsPipeline }) =>
    waitFor(
      async () => {
        await survivor.runtime.tick();
        return notified(survivor.incidents.taken, 'opened').length > 0;
      },
      "the survivor to send the victim's notification",
      20_000,
    );

  it('the leader sends it once, as it was made', async () => {
    const { prefix, victim, survivor } = await victimWithAnOpening();
    expect(victim.incidents.taken).toEqual([]);
    kill(victim);

    await survivorSends(survivor);
    const [sent] = notified(survivor.incidents.taken, 'opened');
    expect(sent!.incident.key).toBe('link{asset="sw-1"}');
    expect(sent!.reason).toMatch(/; sent for victim#[0-9a-f]+, gone before sending it$/);
    expect(await gauge(survivor.metrics, 'vigil_state_store_notification_takeovers_total')).toBe(1);
    // Nothing left for anyone to send again: the victim's entry gone, the survivor's marked sent.
    await waitFor(() => nothingUnsent(prefix), 'no notification left unsent');
    await survivor.runtime.tick();
    expect(notified(survivor.incidents.taken, 'opened')).toHaveLength(1);
  }, 30_000);

  it('an opening resolved since is not sent late: its resolution went out first', async () => {
    const { prefix, victim, survivor } = await victimWithAnOpening();
    const id = victim.runtime.engine.openIncidents()[0]!.incident.id;
    // The survivor has heard of the incident (the victim's writes flushed) before it dies.
    await waitFor(() => survivor.runtime.engine.incidentById(id) !== undefined, 'the incident shared');
    kill(victim);
    await survivor.runtime.consumeLogs([ev(Date.now(), { asset: 'sw-1', type: 'up' })]);
    expect(survivor.incidents.taken.map((c) => `${c.kind} ${c.incident.id}`)).toEqual([`resolved ${id}`]);

    await waitFor(
      async () => {
        await survivor.runtime.tick();
        return nothingUnsent(prefix);
      },
      "the survivor to take the victim's notification over",
      20_000,
    );
    expect(notified(survivor.incidents.taken, 'opened')).toEqual([]);
    expect(await gauge(survivor.metrics, 'vigil_state_store_notification_takeovers_total')).toBe(1);
  }, 30_000);

  it('an agent cut off long enough to seem gone does not send what the leader took over meanwhile', async () => {
    const prefix = freshPrefix();
    // The survivor leads: the victim stays up and must not take the lease.
    const survivor = await agent(prefix, 'survivor');
    running.push(survivor.runtime);
    await waitFor(() => survivor.runtime.state.leads(), 'the survivor to lead');
    const victim = await agent(prefix, 'victim');
    running.push(victim.runtime);
    // Its presence can no longer be renewed (as while Redis is out of its reach).
    const client = (victim.runtime.state.store as RedisStateStore).redis as unknown as {
      set: (key: string, ...rest: unknown[]) => Promise<unknown>;
    };
    const set = client.set.bind(client);
    client.set = (key, ...rest) =>
      key.includes(':{unsent}:alive:') ? Promise.reject(new Error('cut off by the test')) : set(key, ...rest);
    victim.incidents.full = true;
    await victim.runtime.consumeLogs([ev(Date.now(), { asset: 'sw-1', type: 'down' })]);
    await survivorSends(survivor);
    // The victim's pipelines take again: what it held goes to them, not notified twice.
    victim.incidents.full = false;
    await victim.runtime.tick();
    expect(victim.incidents.taken.map((c) => `${c.kind} notify=${String(c.notify)}`)).toEqual(['opened notify=false']);
    expect(victim.incidents.taken[0]!.reason).toMatch(/; sent by the leader while held here$/);
    expect(notified(survivor.incidents.taken, 'opened')).toHaveLength(1);
  }, 30_000);
});
