import type { CorrelationConfig, RuleConfig } from '../../correlation/config.ts';
import { ruleSetOf } from '../../correlation/configSection.ts';
import { CorrelationEngine } from '../../correlation/engine.ts';
import type { ActionOutcome, IncidentAction, IncidentDesk } from '../../correlation/incidentActions.ts';
import type { Incident, IncidentChange } from '../../model/incident.ts';
import type { MetricPoint } from '../../model/metric.ts';
import type { VigilEvent } from '../../model/event.ts';
import type { Consumer } from '../../pipeline/signals.ts';
import type { SharedRedis } from '../../extensions/redisState/sharedRedis.ts';
import { redisStateSchema, type RedisStateConfig } from '../../state/redisConfig.ts';
import { openStateBackend, type StateBackend } from '../../state/stateBackend.ts';
import type { Logger } from '../../telemetry/logger.ts';
import type { SelfMetrics } from '../../telemetry/selfMetrics.ts';
import type { RuleReset } from '../../correlation/ruleChange.ts';
import type { SilenceRecord } from '../../correlation/silences.ts';
import { IncidentOutlet } from './incidentOutlet.ts';
import { correlationMetrics, reportEngineStats, type CorrelationMetrics } from './metrics.ts';

export interface RuntimeOptions {
  logger: Logger;
  metrics: SelfMetrics;
  /** The incidents pipelines; undefined while none exists. */
  output: () => Consumer<IncidentChange> | undefined;
  clock?: () => number;
  /** The daemon's data directory: state survives restarts there (memory store); none keeps it in memory only. */
  dataDir?: string;
  /** The redis_state extension named by `state.extension`: state is shared through its connection and settings. */
  redis?: SharedRedis;
}

/** The rules, and where their state lives (default: in this agent's memory). */
export type RuntimeConfig = CorrelationConfig & { state?: RedisStateConfig };

/**
 * The imperative shell around the engine in the daemon: feeds it what the `correlation`
 * connector receives with the wall clock, drives its timers, hands its changes to the
 * `incidents` pipelines (holding them while those refuse), reloads rules and reports metrics.
 */
export class CorrelationRuntime implements IncidentDesk {
  readonly engine: CorrelationEngine;
  /** Where state lives (`correlation.state`), and whether this agent runs the timers. */
  readonly state: StateBackend;
  private config: RuntimeConfig;
  private readonly opts: RuntimeOptions;
  private readonly clock: () => number;
  private timer: NodeJS.Timeout | undefined;
  private readonly outlet: IncidentOutlet;
  private readonly metrics: CorrelationMetrics;
  private readonly watchers = new Set<(changes: readonly IncidentChange[]) => void>();

  constructor(config: RuntimeConfig, opts: RuntimeOptions) {
    this.config = config;
    this.opts = opts;
    this.clock = opts.clock ?? Date.now;
    const { redis } = opts;
    const state = redis
      ? {
          store: 'redis' as const,
          sharing: 'state' as const,
          partitions: 1,
          checkpoint_interval: 1000,
          replica_wait: 250,
          ...redis.config,
        }
      : (config.state ?? redisStateSchema.parse(undefined, 'state', [])!);
    this.state = openStateBackend(state, {
      logger: opts.logger,
      metrics: opts.metrics,
      clock: this.clock,
      dataDir: opts.dataDir,
      ...(redis ? { client: redis.client } : {}),
    });
    // Memory (or durable) state is this agent's alone; Redis's other agents write too.
    this.engine = new CorrelationEngine(ruleSetOf(config), this.state.store, { soleWriter: state.store === 'memory' });
    this.outlet = new IncidentOutlet({
      output: opts.output,
      logger: opts.logger,
      delivered: (changes) => this.state.delivered?.(changes),
      ...(this.state.stillOurs ? { recheck: (held) => this.state.stillOurs!(held) } : {}),
    });
    this.metrics = correlationMetrics(opts.metrics.registry);
    this.metrics.engines.add(this.engine);
  }

  async start(): Promise<void> {
    await this.state.start();
    // Durable state: what a crash kept from the incidents pipelines goes out first.
    this.outlet.hold(this.state.undelivered?.() ?? []);
    if (this.state.restored)
      this.opts.logger.info(
        { ...this.state.restored, openIncidents: this.engine.openIncidents().length, backlog: this.outlet.held },
        'correlation state restored',
      );
    this.schedule();
  }

  private schedule(): void {
    this.timer = setInterval(() => void this.tick(), this.config.tick_interval);
  }

  async consumeLogs(batch: VigilEvent[]): Promise<void> {
    const waiting = this.state.backpressure?.();
    if (waiting) await waiting;
    return this.deliver(this.engine.process(batch, this.clock()));
  }

  async consumeMetrics(batch: MetricPoint[]): Promise<void> {
    const waiting = this.state.backpressure?.();
    if (waiting) await waiting;
    return this.deliver(this.engine.processPoints(batch, this.clock()));
  }

  *incidents(): Iterable<Incident> {
    for (const rec of this.engine.eachIncident(false)) yield rec.incident;
  }

  watchIncidents(): () => [string, Incident | undefined][] {
    return this.engine.watchIncidents();
  }

  rules(): readonly RuleConfig[] {
    return this.engine.rules.map((r) => r.definition);
  }

  current(key: string): Incident | undefined {
    return this.engine.book.withTrail(key)?.incident;
  }

  incident(id: string): Incident | undefined {
    return this.engine.incidentById(id)?.incident;
  }

  parentOf(key: string): string {
    return this.engine.parentOf(key);
  }

  /** A person's action, made a change like the rules' own: delivered to storage and tickets, and journaled, before it resolves. */
  async act(id: string, actor: string, action: IncidentAction): Promise<ActionOutcome> {
    const waiting = this.state.backpressure?.();
    if (waiting) await waiting;
    const outcome = this.engine.act(id, actor, action, this.clock());
    if (!outcome.ok) return outcome;
    await this.deliver(outcome.changes);
    // The record lives on in the store; the answer is the incident as this action left it.
    return { ...outcome, incident: outcome.changes.at(-1)?.incident ?? outcome.incident };
  }

  watch(listener: (changes: readonly IncidentChange[]) => void): () => void {
    this.watchers.add(listener);
    return () => this.watchers.delete(listener);
  }

  nowMs(): number {
    return this.clock();
  }

  silences(): SilenceRecord[] {
    return this.engine.silences.list();
  }

  silence(id: string): SilenceRecord | undefined {
    return this.engine.silences.get(id);
  }

  /** Writes a silence, journaled with the incidents it suppresses or releases before it resolves. */
  async putSilence(silence: SilenceRecord): Promise<void> {
    const waiting = this.state.backpressure?.();
    if (waiting) await waiting;
    await this.deliver(this.engine.putSilence(silence, this.clock()));
  }

  /** Runs the timers, on one agent only when state is shared (the others' held changes still go out). */
  async tick(): Promise<void> {
    const now = this.clock();
    if (!this.state.leads()) {
      await this.deliver(this.engine.settle(now));
      this.metrics.ticks.inc({ role: 'settle' });
      return;
    }
    const taken = (await this.state.takeOvers?.()) ?? [];
    await this.deliver(this.engine.tick(this.state.timersAt?.(now) ?? now), this.stillNews(taken));
    this.metrics.ticks.inc({ role: 'timers' });
  }

  /**
   * Of the notifications taken over from an agent gone before sending them (a lease term late,
   * or more), those that still tell something: an opening, reopening or escalation of an incident
   * this agent's view has resolved since goes no further (marked sent): sent now, after its
   * resolution, it would open a ticket nothing resolves.
   */
  private stillNews(taken: IncidentChange[]): IncidentChange[] {
    if (taken.length === 0) return taken;
    const moot = taken.filter((c) => {
      if (c.kind === 'resolved') return false;
      const now = this.engine.incidentById(c.incident.id)?.incident;
      return now !== undefined && now.status === 'resolved' && now.resolvedAtMs >= c.atMs;
    });
    if (moot.length === 0) return taken;
    for (const c of moot)
      this.opts.logger.info(
        { incident: c.incident.id, key: c.incident.key, kind: c.kind },
        'notification taken over from an agent gone before sending it is not sent: the incident has resolved since',
      );
    this.state.delivered?.(moot);
    return taken.filter((c) => !moot.includes(c));
  }

  /** Swaps in new rules; state of unchanged rules stays (a changed `state:` needs a restart). Logs each rule that starts afresh. */
  async reload(config: RuntimeConfig): Promise<void> {
    const { changes, reset } = this.engine.reload(ruleSetOf(config), this.clock());
    const intervalChanged = config.tick_interval !== this.config.tick_interval;
    this.config = config;
    if (this.timer && intervalChanged) {
      clearInterval(this.timer);
      this.schedule();
    }
    // Each rule that starts afresh first, then the reload itself: whoever sees "reloaded" has them all.
    logRuleResets(this.opts.logger, reset);
    this.opts.logger.info({ rules: this.engine.rules.map((r) => r.name) }, 'correlation rules reloaded');
    await this.deliver(changes);
  }

  /** Stops the timer and hands over what is still held. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    this.metrics.engines.delete(this.engine);
    await this.deliver([]);
    await this.state.stop();
  }

  private countStats(): void {
    reportEngineStats(this.metrics, this.engine);
  }

  private async commitState(): Promise<void> {
    try {
      await this.state.commit?.();
    } catch (err) {
      // Losing state on a crash is better than withholding incidents: they still go out, and the store retries with a snapshot.
      this.opts.logger.error(
        { err },
        'correlation state could not be written to disk; incident changes are delivered anyway',
      );
    }
  }

  /** Hands on what the engine made (admitted first: see `StateBackend.admit`) and `claimed`, changes whose notifications are claimed already. */
  private async deliver(produced: IncidentChange[], claimed: IncidentChange[] = []): Promise<void> {
    for (const c of produced) {
      if (c.incident.mergedInto === undefined) continue;
      this.metrics.merged.inc();
      this.opts.logger.info(
        { key: c.incident.key, merged: c.incident.id, into: c.incident.mergedInto },
        'incident merged into the one another agent opened for the same key',
      );
    }
    const admitted = await this.state.admit(produced);
    const changes = claimed.length ? claimed.concat(admitted) : admitted;
    this.countStats();
    for (const c of changes) this.metrics.changes.inc({ kind: c.kind });
    // Durable state: the state that produced these changes, and the changes, are on disk before anyone hears of them.
    this.state.journal?.(changes);
    await this.commitState();
    if (changes.length > 0) for (const w of this.watchers) w(changes);
    await this.outlet.send(changes);
  }
}

/** Each rule a reload starts afresh, as the log says it: a regrouping (its open incidents resolved) as a warning. */
export function logRuleResets(logger: Logger, reset: readonly RuleReset[]): void {
  for (const { rule, reason, regrouped } of reset) {
    if (regrouped)
      logger.warn(
        { rule, reason },
        'correlation rule regrouped: its windows start afresh and its open incidents resolved',
      );
    else logger.info({ rule, reason }, 'correlation rule changed: its windows start afresh');
  }
}
