import type { CorrelationEngine } from '../../src/correlation/engine.ts';
import type { VigilEvent } from '../../src/model/event.ts';
import type { IncidentChange } from '../../src/model/incident.ts';
import type { ElectionTimers } from '../../src/state/redisLease.ts';
import type { RedisStateStore } from '../../src/state/redisStateStore.ts';
import { openStateBackend, type StateBackend } from '../../src/state/stateBackend.ts';
import { createLogger } from '../../src/telemetry/logger.ts';
import { SelfMetrics } from '../../src/telemetry/selfMetrics.ts';
import { engineFrom, ev } from '../support/correlation.ts';
import { afterAll, afterEach, beforeAll } from 'vitest';
import { startRedis, waitFor, type RedisServer } from '../support/redis.ts';
import { freshPrefix, stateConfig } from './redisHelpers.ts';

/**
 * Agents as the daemon makes them (a state backend and an engine on one real Redis), with the
 * engine clock, the flushes (flush interval an hour) and the rounds of the leader election (its
 * timers stepped by hand) in the test's hands, so each interleaving is played one step at a time.
 */

/** A storm rule the stepped tests share: 3 errors of a service within 4 s (1 s buckets). */
export const STORM_RULES = `
defaults: { group_wait: 1s, allowed_lateness: 5s, reopen_window: 0s }
rules:
  - { kind: threshold, name: errors, match: 'severity_text == "ERROR"', group_by: [service], window: 4s, bucket: 1s, threshold: 3 }
`;
export const STORM_KEY = 'errors{service="api"}';
export const stormError = (t: number) => ev(t, { service: 'api', severityText: 'ERROR', severityNumber: 17 });

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

export interface SteppedAgent {
  backend: StateBackend;
  store: RedisStateStore;
  engine: CorrelationEngine;
  round(): Promise<void>;
  /** Feeds events at the clock's time, and keeps what the backend lets through. */
  process(events: VigilEvent[]): Promise<void>;
  /** What the daemon's timer does: the leader ticks at `timersAt`, others settle. */
  tick(): Promise<void>;
}

export interface SteppedAgents {
  /** The Redis they share. */
  readonly url: string;
  /** The engine clock of every agent. */
  nowMs: number;
  /** Every change the agents' backends let through, in order. */
  readonly told: IncidentChange[];
  agent(id: string): Promise<SteppedAgent>;
  /** `agent-a`, which has won the lease of the timers, and `agent-b`, which has not. */
  leaderAndOther(): Promise<[SteppedAgent, SteppedAgent]>;
  stop(): Promise<void>;
}

/** Agents of one deployment (a prefix of their own) on the Redis at `url`. */
export function steppedAgents(url: string, rules: string, leaseTtlMs: number, startMs: number): SteppedAgents {
  const prefix = freshPrefix();
  const backends: StateBackend[] = [];
  const world: SteppedAgents = {
    url,
    nowMs: startMs,
    told: [],
    async agent(id) {
      const now = () => world.nowMs;
      const election = steppedElection(now);
      const backend = openStateBackend(
        stateConfig({ url, prefix, agent_id: id, flush_interval: '1h', lease_ttl: `${leaseTtlMs}ms` }),
        { logger: createLogger('silent'), metrics: new SelfMetrics(), clock: now, electionTimers: election.timers },
      );
      backends.push(backend);
      await backend.start();
      const engine = engineFrom(rules, backend.store);
      return {
        backend,
        store: backend.store as RedisStateStore,
        engine,
        round: election.round,
        async process(events) {
          world.told.push(...(await backend.admit(engine.process(events, world.nowMs))));
        },
        async tick() {
          const changes = backend.leads() ? engine.tick(backend.timersAt!(world.nowMs)) : engine.settle(world.nowMs);
          world.told.push(...(await backend.admit(changes)));
        },
      };
    },
    async leaderAndOther() {
      const a = await world.agent('agent-a');
      const b = await world.agent('agent-b');
      await a.round();
      await b.round();
      if (!a.backend.leads() || b.backend.leads()) throw new Error('agent-a should lead the timers, and agent-b not');
      return [a, b];
    },
    async stop() {
      await Promise.all(backends.splice(0).map((b) => b.stop()));
    },
  };
  return world;
}

/**
 * For a describe block: a redis-server for its tests, and a call that gives a test agents of a
 * deployment of their own on it (stopped after the test).
 */
export function withSteppedAgents(rules: string, leaseTtlMs: number, startMs: number): () => SteppedAgents {
  let redis: RedisServer;
  const worlds: SteppedAgents[] = [];
  beforeAll(async () => {
    redis = await startRedis();
  });
  afterEach(async () => {
    for (const w of worlds.splice(0)) await w.stop();
  });
  afterAll(async () => {
    await redis.stop();
  });
  return () => {
    const w = steppedAgents(redis.url, rules, leaseTtlMs, startMs);
    worlds.push(w);
    return w;
  };
}
