import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { CorrelationEngine } from '../../src/correlation/engine.ts';
import type { GlpiExporterConfig } from '../../src/exporters/glpi/config.ts';
import { GlpiDriver } from '../../src/exporters/glpi/driver.ts';
import type { IncidentExporter } from '../../src/exporters/tickets/incidentExporter.ts';
import type { IncidentChange } from '../../src/model/incident.ts';
import type { RedisStateStore } from '../../src/state/redisStateStore.ts';
import { RedisTicketLedger } from '../../src/state/redisTicketLedger.ts';
import { engineFrom, ev } from '../support/correlation.ts';
import { ManualTimers } from '../support/fakes/timers.ts';
import { startRedis, waitFor, type RedisServer } from '../support/redis.ts';
import { startTcpProxy, type TcpProxy } from '../support/tcpProxy.ts';
import { fakeGlpiExporter, startIncidentExporter } from '../exporters/incidentFixtures.ts';
import { freshPrefix, openStore } from './redisHelpers.ts';

/**
 * Two agents sharing Redis, each cut off from it by a partition of its own, each with its own
 * ticket exporter on the shared ledger: the order in which they come back, tick and deliver is
 * the test's, not the scheduler's. The story the equivalence test met on a loaded machine: one
 * agent is back, leads and tickets its own twin of an incident before the other agent's twin
 * reaches Redis; the twins then merge into the other's id.
 */
const RULES = `
defaults: { group_wait: 1s, group_interval: 2s, repeat_interval: 1h, allowed_lateness: 5s, reopen_window: 0s }
rules:
  - { kind: threshold, name: errors, match: severity_text == "ERROR", group_by: [service], window: 4s, bucket: 1s, threshold: 4 }
`;
const KEY = 'errors{service="billing"}';
/** A multiple of the rule's bucket, so the windows are the test's to reason about. */
const T = 1_800_000_000_000;

const error = (t: number) => ev(t, { service: 'billing', severityText: 'ERROR', severityNumber: 17 });

interface Agent {
  proxy: TcpProxy;
  store: RedisStateStore;
  engine: CorrelationEngine;
  exp: IncidentExporter;
}

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

describe('tickets of incidents that merge after a partition', () => {
  let redis: RedisServer;
  beforeAll(async () => {
    redis = await startRedis();
  });
  afterAll(async () => {
    await redis.stop();
  });

  let nowMs = T;
  async function agents(config: GlpiExporterConfig, timers: ManualTimers): Promise<[Agent, Agent]> {
    const prefix = freshPrefix();
    const made: Agent[] = [];
    for (const name of ['node-a', 'node-b']) {
      const proxy = await startTcpProxy(redis);
      cleanup.push(() => proxy.close());
      const { store } = await openStore(proxy.url, prefix, name, { flushIntervalMs: 20, now: () => nowMs });
      cleanup.push(() => store.close());
      const ledger = new RedisTicketLedger({
        client: store.redis,
        keys: store.redisKeys,
        owner: name,
        exporter: 'glpi',
        claimTtlMs: 10_000,
        recordTtlMs: 3_600_000,
      });
      const { exp } = await startIncidentExporter('glpi', config, new GlpiDriver(config), { timers, ledger }, cleanup);
      made.push({ proxy, store, engine: engineFrom(RULES, store as never), exp });
    }
    return made as [Agent, Agent];
  }

  /** Hands an agent's changes to its exporter and waits until it has done with them. */
  async function deliver(a: Agent, changes: IncidentChange[]): Promise<IncidentChange[]> {
    await a.exp.consumeIncidents(changes);
    await a.exp.outbox.whenIdle();
    return changes;
  }

  const reconciled = (a: Agent) => a.store.reconciled && a.store.pendingKeys() === 0;

  it('make one ticket, closed once the merged incident resolves, when one agent tickets its twin before the other is back', async () => {
    const { glpi, config } = await fakeGlpiExporter(cleanup);
    const [a, b] = await agents(config, new ManualTimers());

    a.proxy.cut();
    b.proxy.cut();
    await waitFor(() => !a.store.connected && !b.store.connected, 'both agents cut off');
    // Each sees part of the storm alone and opens its own twin; b's opens later.
    for (const t of [0, 100, 200, 300]) await deliver(a, a.engine.process([error(T + t)], (nowMs = T + t)));
    for (const t of [50, 150, 250, 350]) await deliver(b, b.engine.process([error(T + t)], (nowMs = T + t)));
    const twinA = a.engine.book.get(KEY)!.incident.id;
    const twinB = b.engine.book.get(KEY)!.incident.id;
    expect(twinA).not.toBe(twinB);

    // a is back first and leads: group_wait is over, it notifies its twin, which gets a ticket.
    a.proxy.heal();
    await waitFor(() => reconciled(a), 'a to reconcile');
    nowMs = T + 1400;
    const first = await deliver(a, a.engine.tick(nowMs));
    expect(first.map((c) => `${c.kind}${c.notify ? '!' : ''} ${c.incident.id}`)).toEqual([`opened! ${twinA}`]);
    expect(glpi.tickets.size).toBe(1);
    const [ticket] = glpi.tickets.keys();

    // b is back: the twins merge into b's (its opening is the later lifecycle event).
    b.proxy.heal();
    await waitFor(() => reconciled(b), 'b to reconcile');
    await waitFor(
      () => a.engine.book.get(KEY)?.incident.id === twinB && b.engine.book.get(KEY)?.incident.id === twinB,
      'the merge on both agents',
    );
    nowMs = T + 1500;
    const merge = await deliver(a, a.engine.tick(nowMs));
    await deliver(b, b.engine.settle(nowMs));
    expect(merge.some((c) => c.incident.id === twinA && c.incident.mergedInto === twinB)).toBe(true);
    // The incident goes on under b's id: its ticket stays open.
    expect(glpi.solutions).toEqual([]);

    // The storm goes on at b; a, leading, notifies the news after group_interval, on the same ticket.
    for (const t of [1600, 1700, 1800, 1900]) await deliver(b, b.engine.process([error(T + t)], (nowMs = T + t)));
    await waitFor(() => reconciled(b), 'b to flush');
    await waitFor(() => a.engine.book.get(KEY)!.incident.eventCount === 12, 'a to count every event');
    nowMs = T + 3500;
    const update = await deliver(a, a.engine.tick(nowMs));
    expect(update.filter((c) => c.notify).map((c) => `${c.kind} ${c.incident.id}`)).toEqual([`updated ${twinB}`]);
    expect([...glpi.tickets.keys()]).toEqual([ticket]);
    expect(glpi.followups.map((f) => f.items_id)).toEqual([ticket]);

    // The storm ends (its last window closes at T + 6 s, final once allowed_lateness has passed): the one ticket is solved, once.
    nowMs = T + 12_000;
    const end = await deliver(a, a.engine.tick(nowMs));
    expect(end.filter((c) => c.notify).map((c) => `${c.kind} ${c.incident.id}`)).toEqual([`resolved ${twinB}`]);
    expect([...glpi.tickets.keys()]).toEqual([ticket]);
    expect(glpi.solutions.map((s) => s.items_id)).toEqual([ticket]);
  }, 60_000);
});
