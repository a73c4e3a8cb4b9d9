import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CorrelationEngine } from '../../src/correlation/engine.ts';
import type { IncidentChange } from '../../src/model/incident.ts';
import type { ElectionTimers } from '../../src/state/redisLease.ts';
import { RedisKeys } from '../../src/state/redisKeys.ts';
import type { RedisStateStore } from '../../src/state/redisStateStore.ts';
import { openStateBackend, type StateBackend } from '../../src/state/stateBackend.ts';
import { createLogger } from '../../src/telemetry/logger.ts';
import { SelfMetrics } from '../../src/telemetry/selfMetrics.ts';
import { engineFrom, ev } from '../support/correlation.ts';
import { startRedis, waitFor, type RedisServer } from '../support/redis.ts';
import { freshPrefix, inspector, stateConfig } from './redisHelpers.ts';

/**
 * A change of leader while the last leader's writes are still on their way. Each agent is a
 * state backend and an engine on one real Redis, with the engine clock, the flushes (flush
 * interval an hour) and the rounds of the leader election (its timers stepped by hand) in the
 * test's hands, so each interleaving is played one step at a time.
 */
const RULES = `
defaults: { group_wait: 1s, allowed_lateness: 5s, reopen_window: 0s }
rules:
  - { kind: threshold, name: errors, match: 'severity_text == "ERROR"', group_by: [service], window: 4s, bucket: 1s, threshold: 3 }
`;
const KEY = 'errors{service="api"}';
const LEASE_TTL_MS = 2000;
const err = (t: number) => ev(t, { service: 'api', severityText: 'ERROR', severityNumber: 17 });

/** Election timers that run nothing by themselves: `round()` runs the next round of the election. */
function steppedElection(now: () => number) {
  const due: (() => void)[] = [];
  const timers: ElectionTimers = {
    now,
    setTimeout: (fn) => {
      due.push(fn);
      return fn;
    },
    clearTimeout: (handle) => {
      const i = due.indexOf(handle as () => void);
      if (i >= 0) due.splice(i, 1);
    },
  };
  return {
    timers,
    async round(): Promise<void> {
      due.shift()!();
      // A round ends by scheduling the next.
      await waitFor(() => due.length > 0, 'the election round to end');
    },
  };
}

interface Agent {
  backend: StateBackend;
  store: RedisStateStore;
  engine: CorrelationEngine;
  round(): Promise<void>;
  /** Feeds events at the clock's time, and keeps what the backend lets through. */
  process(events: ReturnType<typeof err>[]): Promise<void>;
  /** What the daemon's timer does: the leader ticks at `timersAt`, others settle. */
  tick(): Promise<void>;
}

describe('a new leader of the timers, while the last leader’s writes are on their way', () => {
  let redis: RedisServer;
  const backends: StateBackend[] = [];
  beforeAll(async () => {
    redis = await startRedis();
  });
  afterAll(async () => {
    await Promise.all(backends.map((b) => b.stop()));
    await redis.stop();
  });

  it('notifies an incident once: it waits for them before its timers run', async () => {
    const prefix = freshPrefix();
    let nowMs = 1000;
    const now = () => nowMs;
    const told: IncidentChange[] = [];
    const agent = async (id: string): Promise<Agent> => {
      const election = steppedElection(now);
      const backend = openStateBackend(
        stateConfig({ url: redis.url, prefix, agent_id: id, flush_interval: '1h', lease_ttl: `${LEASE_TTL_MS}ms` }),
        { logger: createLogger('silent'), metrics: new SelfMetrics(), clock: now, electionTimers: election.timers },
      );
      backends.push(backend);
      await backend.start();
      const engine = engineFrom(RULES, backend.store);
      return {
        backend,
        store: backend.store as RedisStateStore,
        engine,
        round: election.round,
        async process(events) {
          told.push(...(await backend.admit(engine.process(events, nowMs))));
        },
        async tick() {
          const changes = backend.leads() ? engine.tick(backend.timersAt!(nowMs)) : engine.settle(nowMs);
          told.push(...(await backend.admit(changes)));
        },
      };
    };
    const a = await agent('agent-a');
    const b = await agent('agent-b');
    await a.round();
    await b.round();
    expect(a.backend.leads()).toBe(true);
    expect(b.backend.leads()).toBe(false);

    // Both see the storm begin before either hears of the other: each opens an incident of its own.
    await a.process([err(900), err(950), err(1000)]);
    nowMs = 1100;
    await b.process([err(1050), err(1080), err(1100)]);
    // agent-a's opening reaches agent-b, which merges the twins (agent-b's writes stay with it).
    await a.store.flush();
    await waitFor(() => b.engine.book.get(KEY)?.incident.mergedIds !== undefined, "agent-a's twin to reach agent-b");

    // agent-a flushes something else, and while that flush is on its way its timer notifies its
    // incident: the notification's write waits for the next flush.
    nowMs = 2050;
    await a.process([ev(2050, { service: 'web', severityText: 'ERROR', severityNumber: 17 })]);
    const flushing = a.store.flush();
    nowMs = 2100;
    await a.tick();
    await flushing;
    expect(told.filter((c) => c.notify && c.kind === 'opened')).toHaveLength(1);
    await waitFor(() => b.store.sharedThrough(2100) === 2050, "agent-a's word that it flushed up to 2050");

    // agent-a's term runs out (a stall, say) before its next flush; agent-b takes the lease over.
    nowMs = 2900;
    const look = inspector(redis.url);
    await look.del(new RedisKeys(prefix).leaseKeys('timers')[0]);
    look.disconnect();
    await b.round();
    // Leader, yet its timers wait: agent-a's writes up to 2900 have not all arrived.
    expect(b.backend.leads()).toBe(false);
    await b.tick();
    // agent-a comes back and flushes what it held: its notification reaches agent-b.
    nowMs = 3000;
    await a.store.flush();
    await waitFor(
      () => b.engine.book.get(KEY)!.notifiedAtMs >= 0 && b.store.sharedThrough(3000) === 3000,
      "agent-a's notification, and its word that it flushed up to 3000, to reach agent-b",
    );
    nowMs = 3100;
    await b.tick();
    expect(b.backend.leads()).toBe(true);

    const opened = told.filter((c) => c.notify && c.kind === 'opened');
    expect(opened.map((c) => c.incident.key)).toEqual([KEY]);
  });
});
