import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import type { IncidentChange } from '../model/incident.ts';
import { HEALTHY, type ComponentHealth } from '../pipeline/health.ts';
import type { Logger } from '../telemetry/logger.ts';
import type { SelfMetrics } from '../telemetry/selfMetrics.ts';
import { DurableStateStore, type RestoreReport } from './durableStore.ts';
import { MemoryStateStore } from './memoryStore.ts';
import { agentName, type RedisStateConfig } from './redisConfig.ts';
import { createRedisClient, type RedisClient } from './redisConnection.ts';
import { LeaderElection, RedisLease, type ElectionTimers } from './redisLease.ts';
import { RedisStateStore } from './redisStateStore.ts';
import { RedisStoreMetrics } from './redisStoreMetrics.ts';
import { UnsentNotifications } from './unsentNotifications.ts';
import type { StateStore } from '../correlation/stateStore.ts';

/** Non-leaders never tick, so they forget expired local state on this schedule instead. */
const LOCAL_SWEEP_MS = 30_000;

/** Where correlation state lives, and who runs the engine's timers. */
export interface StateBackend {
  readonly store: StateStore;
  start(): Promise<void>;
  /** Whether this agent runs the timers (absence, deadlines, notifications) now: always alone, only the leader when shared. */
  leads(): boolean;
  /**
   * Shared state only: the clock reading the timers run at when the clock reads `nowMs`, held
   * back to the time through which every other agent's writes have reached this one (see
   * `RedisStateStore.sharedThrough`), and never going back.
   */
  timersAt?(nowMs: number): number;
  /** For /readyz: `degraded` while shared state is unreachable. The agent stays ready: it keeps ingesting and correlating on local state. */
  health(): ComponentHealth;
  /**
   * Keeps the creation of an incident that another agent created moments before (both saw the
   * problem before their writes met) from notifying twice: the later one is stored, not notified,
   * and the two merge into one as soon as their records meet. Only the creation is guarded, never
   * a later notification of the incident. Never waits on an unreachable Redis: then every change
   * goes through.
   */
  admit(changes: IncidentChange[]): Promise<IncidentChange[]>;
  /**
   * Shared state only: a promise to await before the engine takes more records, while more
   * writes wait for Redis than one flush should carry; undefined when the engine may go on.
   */
  backpressure?(): Promise<void> | undefined;
  /**
   * Shared state only, on the leader: the notifications other agents claimed and went away
   * before handing to their pipelines (see `UnsentNotifications`), claimed for this one: to be
   * delivered as they are, without `admit`.
   */
  takeOvers?(): Promise<IncidentChange[]>;
  /**
   * Shared state only: of changes the incidents pipelines refused and are handed over again, those
   * whose notifications are still this agent's to send: one an agent leading took over meanwhile
   * (this agent's presence expired: cut off from Redis, or stalled) goes out from there.
   */
  stillOurs?(held: IncidentChange[]): Promise<IncidentChange[]>;
  stop(): Promise<void>;
  /**
   * Durable state only. `journal` records incident changes about to be handed on (an outbox),
   * `commit` makes every state write and journal record since the last commit durable, and
   * `delivered` marks journaled changes as accepted downstream. `undelivered` gives, after
   * `start()`, the changes a crash kept from being delivered; `restored` what `start()` loaded.
   */
  journal?(changes: readonly IncidentChange[]): void;
  commit?(): Promise<void>;
  /** Also shared state: the notifications claimed pending are marked sent once the pipelines took them. */
  delivered?(changes: readonly IncidentChange[]): void;
  undelivered?(): IncidentChange[];
  readonly restored?: RestoreReport;
}

export interface StateBackendOptions {
  logger: Logger;
  metrics: SelfMetrics;
  /** The engine's clock. */
  clock: () => number;
  /** The daemon's data directory: with the memory store, state is kept in `<dataDir>/correlation/`. */
  dataDir?: string;
  /**
   * Shared state only: the connection of a `redis_state` extension, which connects and closes it;
   * without it the backend opens (and closes) its own.
   */
  client?: RedisClient;
  /** The leader election's clock and timers (tests step it by hand). */
  electionTimers?: ElectionTimers;
}

export function openStateBackend(cfg: RedisStateConfig, opts: StateBackendOptions): StateBackend {
  if (cfg.store === 'memory' && opts.dataDir !== undefined)
    return new DurableBackend(join(opts.dataDir, 'correlation'), opts);
  if (cfg.store === 'memory') {
    const store = new MemoryStateStore();
    return {
      store,
      start: async () => undefined,
      leads: () => true,
      health: () => HEALTHY,
      admit: async (c) => c,
      stop: async () => undefined,
    };
  }
  return new RedisBackend(cfg, opts);
}

/** One agent alone, its state in memory and on local disk, so a restart or a crash forgets nothing. */
class DurableBackend implements StateBackend {
  readonly store: DurableStateStore;
  restored: RestoreReport | undefined;
  private readonly clock: () => number;
  private readonly logger: Logger;

  constructor(dir: string, opts: StateBackendOptions) {
    this.logger = opts.logger.child({ state: 'durable' });
    this.store = new DurableStateStore({ dir, logger: this.logger, registry: opts.metrics.registry });
    this.clock = opts.clock;
  }

  async start(): Promise<void> {
    this.restored = await this.store.open();
    // Windows restored from disk may hold buckets that expired while the daemon was down.
    this.store.sweep(this.clock());
  }

  leads(): boolean {
    return true;
  }

  health(): ComponentHealth {
    return HEALTHY;
  }

  async admit(changes: IncidentChange[]): Promise<IncidentChange[]> {
    return changes;
  }

  journal(changes: readonly IncidentChange[]): void {
    this.store.journal(changes);
  }

  commit(): Promise<void> {
    return this.store.commit();
  }

  delivered(changes: readonly IncidentChange[]): void {
    this.store.delivered(changes);
  }

  undelivered(): IncidentChange[] {
    return this.store.undelivered();
  }

  /** At an orderly stop (SIGTERM) a long log becomes a snapshot, so the next start reads one file. */
  async stop(): Promise<void> {
    try {
      await this.store.snapshotIfWorthIt();
    } catch (err) {
      this.logger.warn({ err }, 'correlation state snapshot at stop failed; the next start replays the log instead');
    }
    await this.store.close();
  }
}

class RedisBackend implements StateBackend {
  readonly store: RedisStateStore;
  private readonly election: LeaderElection;
  private readonly cfg: RedisStateConfig;
  private readonly writer: string;
  private readonly clock: () => number;
  private sweeper: NodeJS.Timeout | undefined;
  private readonly metrics: RedisStoreMetrics;
  private timersAtMs = Number.NEGATIVE_INFINITY;
  /**
   * The clock reading when this agent last became leader, until every other agent's writes up
   * to then have reached it (see `leads`); undefined once they have, and while not leader.
   */
  private takingOverSince: number | undefined;
  /** The notifications this agent claimed and has not handed over yet; on the leader, those of agents gone. */
  private readonly unsent: UnsentNotifications;
  private presence: NodeJS.Timeout | undefined;
  /** When the leader last looked for notifications gone agents left unsent. */
  private lookedForUnsentAt = Number.NEGATIVE_INFINITY;
  private readonly logger: Logger;

  constructor(cfg: RedisStateConfig, opts: StateBackendOptions) {
    this.cfg = cfg;
    this.clock = opts.clock;
    this.writer = agentName(cfg);
    const logger = (this.logger = opts.logger.child({ state: 'redis' }));
    this.metrics = new RedisStoreMetrics(opts.metrics.registry);
    this.store = new RedisStateStore({
      client: opts.client ?? createRedisClient(cfg),
      sharedClient: opts.client !== undefined,
      prefix: cfg.prefix,
      writer: this.writer,
      flushIntervalMs: cfg.flush_interval,
      ttlGraceMs: cfg.ttl_grace,
      now: opts.clock,
      // An agent silent for a lease term is as good as gone for the timers, as for the lease.
      progressTimeoutMs: cfg.lease_ttl,
      logger,
      metrics: this.metrics,
    });
    const owner = `${this.writer}#${randomBytes(4).toString('hex')}`;
    this.unsent = new UnsentNotifications({
      client: this.store.redis,
      keys: this.store.redisKeys,
      incarnation: owner,
      presenceMs: cfg.lease_ttl,
    });
    this.election = new LeaderElection({
      lease: new RedisLease(this.store.redis, this.store.redisKeys.leaseKeys('timers'), owner, cfg.lease_ttl),
      timers: opts.electionTimers,
      onChange: (leader) => {
        this.takingOverSince = leader ? this.clock() : undefined;
        this.metrics.leaseChanges.inc({ lease: 'timers', leader: String(leader) });
        logger.info(
          { owner },
          leader ? 'this agent now runs the correlation timers' : 'this agent no longer runs the correlation timers',
        );
      },
    });
  }

  async start(): Promise<void> {
    await this.store.start();
    this.election.start();
    this.sweeper = setInterval(() => {
      if (!this.election.isLeader) this.store.sweep(this.clock());
    }, LOCAL_SWEEP_MS);
    this.sweeper.unref();
    const renew = () => void this.unsent.renew().catch(() => undefined);
    renew();
    this.presence = setInterval(renew, Math.max(1, Math.floor(this.cfg.lease_ttl / 3)));
    this.presence.unref();
  }

  /**
   * Only while this agent's writes reach Redis: what a leader's timers decide while cut off (a
   * notification, an absence opening) stays in its pending writes, out of sight of the agent
   * that takes the lease over once this term runs out, which would decide it again. Cut off
   * (Redis unreachable, or the cluster node of some rule down), the timers wait for the writes
   * to land or for the next leader: late, never twice. Back in reach, they also wait for this
   * agent's reconciliation: before it, the agent's view lacks what others wrote meanwhile, and
   * would notify (and so ticket) its own twin of an incident another agent already told of.
   *
   * A new leader also waits until every other agent's writes up to the moment it took over
   * have reached it (or the agent is silent for a lease term): the last leader's timers ran
   * until its term ended, before that moment, and their writes (a notification sent, an
   * absence opened) may still have been on their way. Run on a view without them, the timers
   * would decide again, and a twin whose merge the last leader had not heard of (another id)
   * would pass the notification claim: an incident notified twice.
   */
  leads(): boolean {
    if (!this.election.isLeader || !this.store.sharing || !this.store.reconciled) return false;
    const since = this.takingOverSince;
    if (since !== undefined) {
      if (this.store.sharedThrough(this.clock()) < since) return false;
      this.takingOverSince = undefined;
    }
    return true;
  }

  timersAt(nowMs: number): number {
    this.timersAtMs = Math.max(this.timersAtMs, this.store.sharedThrough(nowMs));
    return this.timersAtMs;
  }

  backpressure(): Promise<void> | undefined {
    return this.store.backpressure();
  }

  health(): ComponentHealth {
    if (this.store.connected) return HEALTHY;
    return {
      status: 'degraded',
      reason: 'Redis unreachable: correlating on local state, not shared with the other agents, until it is back',
      ...(this.store.unreachableSince !== undefined ? { since: this.store.unreachableSince } : {}),
    };
  }

  async admit(changes: IncidentChange[]): Promise<IncidentChange[]> {
    if (!this.store.connected || !changes.some((c) => c.created || c.notify || c.kind === 'resolved')) return changes;
    const client = this.store.redis;
    const out = changes.slice();
    const refused = (i: number) => {
      const c = changes[i]!;
      this.metrics.duplicateNotifications.inc({ kind: c.kind });
      out[i] = { ...c, notify: false, reason: `${c.reason}; another agent already notified it` };
    };
    // The notifications' claims in one call (the creations' after their locks, below). A claim
    // Redis did not answer lets its change through, as an agent alone would send it.
    const claiming = changes.flatMap((c, i) => (c.notify && !c.created ? [i] : []));
    const outcomes = claiming.length ? await this.unsent.claimAll(claiming.map((i) => changes[i]!)) : [];
    const outcomeOf = new Map(claiming.map((i, j) => [i, outcomes[j]!]));
    const created: number[] = [];
    for (let i = 0; i < changes.length; i++) {
      const c = changes[i]!;
      try {
        if (c.created) {
          // Held for one lease term: long past the moment the agents' writes meet. Two agents
          // crossing a threshold in the same millisecond make the same id: the agent tells them apart.
          const key = this.store.redisKeys.openerKey(c.incident.key);
          if (await this.claimOnce(key, `${this.writer}\n${c.incident.id}`, this.cfg.lease_ttl)) {
            if (c.notify) created.push(i);
          } else {
            this.metrics.duplicateOpens.inc();
            if (c.notify)
              out[i] = {
                ...c,
                notify: false,
                reason: `${c.reason}; another agent opened it moments before and notified it`,
              };
          }
          continue;
        }
        if (outcomeOf.get(i) === 'refused') {
          refused(i);
          continue;
        }
        // In order with the creations' locks: a new incident on this key may open at once, even later in this delivery.
        if (c.kind === 'resolved' && c.incident.mergedInto === undefined)
          await client.del(this.store.redisKeys.openerKey(c.incident.key));
      } catch {
        // Redis went away: deliver, as an agent alone would.
      }
    }
    if (created.length) {
      const won = await this.unsent.claimAll(created.map((i) => changes[i]!));
      won.forEach((outcome, j) => {
        if (outcome === 'refused') refused(created[j]!);
      });
    }
    return out;
  }

  delivered(changes: readonly IncidentChange[]): void {
    this.unsent.sent(changes).catch(() => undefined);
  }

  async stillOurs(held: IncidentChange[]): Promise<IncidentChange[]> {
    if (!this.store.connected) return held;
    const lost = await this.unsent.lostClaims(held);
    if (lost.size === 0) return held;
    for (const c of lost) {
      this.metrics.duplicateNotifications.inc({ kind: c.kind });
      this.logger.warn(
        { incident: c.incident.id, key: c.incident.key, kind: c.kind },
        'notification held while the incidents pipelines refused was taken over by the leader (this agent seemed gone): not sent from here',
      );
    }
    return held.map((c) =>
      lost.has(c) ? { ...c, notify: false, reason: `${c.reason}; sent by the leader while held here` } : c,
    );
  }

  async takeOvers(): Promise<IncidentChange[]> {
    const now = this.clock();
    if (!this.leads() || now - this.lookedForUnsentAt < this.cfg.lease_ttl / 3) return [];
    this.lookedForUnsentAt = now;
    let taken;
    try {
      taken = await this.unsent.takeOver();
    } catch (err) {
      this.logger.warn({ err }, 'looking for notifications agents gone left unsent failed; the next tick looks again');
      return [];
    }
    return taken.map(({ change, from }) => {
      this.metrics.notificationTakeovers.inc({ kind: change.kind });
      this.logger.warn(
        {
          incident: change.incident.id,
          key: change.incident.key,
          kind: change.kind,
          from,
          writer: this.unsent.incarnation,
        },
        'notification claimed by an agent gone before sending it (its presence expired): taken over, and sent',
      );
      return change;
    });
  }

  /** Takes `key` for `owner` for `ttlMs` unless another owner holds it; true when `owner` holds it (now, or already: a retry). */
  private async claimOnce(key: string, owner: string, ttlMs: number): Promise<boolean> {
    const won = await this.store.redis.set(key, owner, 'PX', ttlMs, 'NX');
    return won !== null || (await this.store.redis.get(key)) === owner;
  }

  async stop(): Promise<void> {
    clearInterval(this.sweeper);
    clearInterval(this.presence);
    // What the pipelines still refuse goes to the leader at its next look, not a lease term later.
    await this.unsent.leave().catch(() => undefined);
    await this.election.stop();
    await this.store.close();
  }
}
