import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { IncidentChange } from '../../src/model/incident.ts';
import type { RedisStateStore } from '../../src/state/redisStateStore.ts';
import { openStateBackend, type StateBackend } from '../../src/state/stateBackend.ts';
import { createLogger } from '../../src/telemetry/logger.ts';
import { SelfMetrics } from '../../src/telemetry/selfMetrics.ts';
import { startRedis, waitFor, type RedisServer } from '../support/redis.ts';
import { startTcpProxy } from '../support/tcpProxy.ts';
import { freshPrefix, gauge, stateConfig } from './redisHelpers.ts';

const change = (kind: IncidentChange['kind'], key: string, id: string, extra: Partial<IncidentChange> = {}) =>
  ({ kind, notify: true, reason: kind, incident: { key, id }, ...extra }) as IncidentChange;
/** The change that creates an incident, notified at once (group_wait 0). */
const creation = (key: string, id: string) => change('opened', key, id, { created: true });

describe('state backends', () => {
  let redis: RedisServer;
  beforeAll(async () => {
    redis = await startRedis();
  });
  afterAll(async () => {
    await redis.stop();
  });

  it('in memory: this agent runs the timers and every change goes out', async () => {
    const backend = openStateBackend(stateConfig({ store: 'memory' }), {
      logger: createLogger('silent'),
      metrics: new SelfMetrics(),
      clock: Date.now,
    });
    await backend.start();
    expect(backend.leads()).toBe(true);
    expect(backend.health()).toEqual({ status: 'ok' });
    const changes = [change('opened', 'k', '1'), change('opened', 'k', '2')];
    expect(await backend.admit(changes)).toEqual(changes);
    await backend.stop();
  });

  it('shared: of two agents creating one incident at once, one notifies it; the first notification after group_wait is never held back; a resolution frees the key', async () => {
    const prefix = freshPrefix();
    const metrics = [new SelfMetrics(), new SelfMetrics()];
    const [a, b] = metrics.map((m, i) =>
      openStateBackend(stateConfig({ url: redis.url, prefix, agent_id: `agent-${i}`, lease_ttl: '1m' }), {
        logger: createLogger('silent'),
        metrics: m,
        clock: Date.now,
      }),
    ) as [StateBackend, StateBackend];
    await Promise.all([a.start(), b.start()]);
    await waitFor(() => a.leads() !== b.leads(), 'one leader');

    const [fromA, fromB] = await Promise.all([
      a.admit([creation('svc{a="1"}', 'x')]),
      b.admit([creation('svc{a="1"}', 'y'), change('updated', 'svc{a="1"}', 'y')]),
    ]);
    // Both are stored (they merge once their records meet); only one of them notifies.
    expect(fromA.length + fromB.length).toBe(3);
    expect([...fromA, ...fromB].filter((c) => c.kind === 'opened' && c.notify)).toHaveLength(1);
    expect(fromB.map((c) => c.kind)).toContain('updated');
    const twins =
      (await gauge(metrics[0]!, 'vigil_state_store_duplicate_opens_total'))! +
      (await gauge(metrics[1]!, 'vigil_state_store_duplicate_opens_total'))!;
    expect(twins).toBe(1);
    // The same creation again (a retry) goes through as it is; its opening, notified, is not notified again.
    const winner = fromA.some((c) => c.notify) ? 'x' : 'y';
    const [who, other] = winner === 'x' ? [a, b] : [b, a];
    expect((await who.admit([creation('svc{a="1"}', winner)]))[0]!.notify).toBe(true);
    expect((await other.admit([change('opened', 'svc{a="1"}', winner)]))[0]!.notify).toBe(false);
    // With group_wait, the creation does not notify: the first notification after it, on any agent, is never held back.
    expect((await who.admit([{ ...creation('svc{a="2"}', 'w'), notify: false }]))[0]!.notify).toBe(false);
    expect((await other.admit([change('opened', 'svc{a="2"}', 'w')]))[0]!.notify).toBe(true);

    // Resolved on whichever agent; a new incident on the key opens at once, wherever.
    expect(await a.admit([change('resolved', 'svc{a="1"}', 'x')])).toHaveLength(1);
    expect((await b.admit([creation('svc{a="1"}', 'z')]))[0]!.notify).toBe(true);
    await Promise.all([a.stop(), b.stop()]);
  });

  it('shared: back in reach of Redis, the leader runs no timers until it has reconciled with what others wrote meanwhile', async () => {
    const proxy = await startTcpProxy(redis);
    const metrics = new SelfMetrics();
    const backend = openStateBackend(
      stateConfig({ url: proxy.url, prefix: freshPrefix(), agent_id: 'agent-a', lease_ttl: '600ms' }),
      { logger: createLogger('silent'), metrics, clock: Date.now },
    );
    /** Terms this agent took (`true`) or lost (`false`). */
    const terms = async (leader: 'true' | 'false') =>
      (await metrics.registry.getSingleMetric('vigil_state_store_lease_changes_total')?.get())?.values.find(
        (v) => v.labels.leader === leader,
      )?.value ?? 0;
    try {
      await backend.start();
      await waitFor(() => backend.leads(), 'the first term');
      proxy.cut();
      await waitFor(async () => !backend.leads() && (await terms('false')) === 1, 'the term to run out while cut off');
      // The reconciliation after the reconnect reads everything under the prefix: hold it there.
      const client = (backend.store as RedisStateStore).redis as unknown as {
        scan: (...a: unknown[]) => Promise<unknown>;
      };
      const scan = client.scan.bind(client);
      let open: () => void = () => undefined;
      const gate = new Promise<void>((r) => (open = r));
      client.scan = async (...a) => {
        await gate;
        return scan(...a);
      };
      proxy.heal();
      await waitFor(async () => (await terms('true')) === 2, 'a new term once back in reach');
      expect(backend.leads()).toBe(false);
      open();
      await waitFor(() => backend.leads(), 'the timers once reconciled');
    } finally {
      await backend.stop();
      await proxy.close();
    }
  });
});
