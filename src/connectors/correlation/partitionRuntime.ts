import { randomBytes } from 'node:crypto';
import type { RuleConfig } from '../../correlation/config.ts';
import { ruleSetOf } from '../../correlation/configSection.ts';
import { CorrelationEngine, nsToMs, type RuleSet } from '../../correlation/engine.ts';
import type { ActionOutcome, ActionRefusal, IncidentAction, IncidentDesk } from '../../correlation/incidentActions.ts';
import type { SilenceRecord } from '../../correlation/silences.ts';
import type { SharedRedis } from '../../extensions/redisState/sharedRedis.ts';
import { eventsFromRows, eventsToRows, exactInRows } from '../../model/eventRows.ts';
import { pointsFromJson, pointsToJson } from '../../model/pointJson.ts';
import type { VigilEvent } from '../../model/event.ts';
import type { Incident, IncidentChange } from '../../model/incident.ts';
import type { MetricPoint } from '../../model/metric.ts';
import { HEALTHY, type ComponentHealth } from '../../pipeline/health.ts';
import { ClusterReplicaWaits } from '../../state/clusterReplicaWaits.ts';
import {
  claimOutcomes,
  lastOfEachNotification,
  markAllNotified,
  type ClaimOutcome,
  type NotificationClaim,
} from '../../state/notificationClaims.ts';
import { createSubscriber, singleConnection, type RedisClient } from '../../state/redisConnection.ts';
import { RedisKeys } from '../../state/redisKeys.ts';
import { RedisStoreMetrics } from '../../state/redisStoreMetrics.ts';
import { PartitionOwnership, partitionOf } from '../../state/redisPartitions.ts';
import { IncidentOutlet } from './incidentOutlet.ts';
import { LocalHandoff } from './localHandoff.ts';
import { GroupPlacement, sharedOut, timedForPartitions } from './partitionPlacement.ts';
import { SharedSilences } from './sharedSilences.ts';
import { correlationMetrics, reportEngineStats, type CorrelationMetrics } from './metrics.ts';
import { IncidentsInView } from './incidentsInView.ts';
import { PartitionMirror } from './partitionMirror.ts';
import {
  actionEntry,
  PartitionOwner,
  PartitionSender,
  type OwnedPartition,
  type PartitionKeys,
} from './partitionOwner.ts';
import { partitionMetrics, type PartitionMetrics } from './partitionMetrics.ts';
import { logRuleResets, type RuntimeConfig, type RuntimeOptions } from './runtime.ts';
import type { RuleReset } from '../../correlation/ruleChange.ts';

/** How long, and how many, notifications claimed are kept to claim again after a failover. */
const CLAIMS_KEPT_MS = 60_000;
const CLAIMS_KEPT = 100_000;
/** How many sent marks Redis did not take are kept to make again (`PartitionRuntime.remark`). */
const UNMARKED_KEPT = 100_000;

/** How often an agent that forwarded an action looks for the answer. */
const FORWARD_POLL_MS = 25;

/** What the holder of a partition answers an action forwarded to it. */
type ForwardedAnswer = { ok: true; incident: Incident } | { ok: false; refusal: ActionRefusal; message: string };

/** Longest a stream read waits for entries: also how late a round or a checkpoint may come. */
const READ_BLOCK_MS = 100;
/**
 * How long a resolved source stays in view of the partitions' inhibition and topology (by its
 * resolution's time): a partition replaying its stream after a takeover sees the sources resolved
 * since the moments it replays, that far back.
 */
const RESOLVED_SEEN_MS = 10 * 60_000;
/** The partition table's field of the partition count the agents agree on (the step script reads only `x|` fields). */
const PARTITION_COUNT = 'count';
/** A notification this agent claimed, kept to claim again after a failover: pending until sent. */
interface KeptClaim {
  atMs: number;
  change: IncidentChange;
  writer: string;
  sent: boolean;
}

/**
 * A change an engine made, with the writer its notification is claimed as: the agent under the
 * term of the partition it was made in. A retry under that term goes through; the same change
 * made again under another term (a replay by the partition's next holder, this agent included
 * when it takes the partition back) finds the claim taken.
 */
interface Made {
  change: IncidentChange;
  writer: string;
}

/** A send waiting in turn: the time of its earliest record (Infinity for none). */
interface Queued {
  earliestMs: number;
}

/** The earliest time among `items` (ms), Infinity for none. */
function earliestMs(items: readonly { timeUnixNano: bigint }[]): number {
  let min = Infinity;
  for (const item of items) {
    const t = nsToMs(item.timeUnixNano);
    if (t < min) min = t;
  }
  return min;
}

/** How long a stop waits for the loop's step before it cuts the reads' connection. */
const STOP_WAIT_MS = 1_000;
/** Between two attempts of a send Redis refused. */
const SEND_RETRY_MS = 200;

/**
 * The correlation connector's runtime under `state.sharing: partitions` (the owners design,
 * docs/correlation.md): every agent puts the events it receives on the Redis streams of their
 * groups' partitions, and answers its senders once they are there; each partition has one owner
 * at a time, which runs an engine on its own memory, takes the partition's events from every
 * agent in time order, runs its timers as the agents' clocks go on, and checkpoints its state
 * under its term so that the next owner (a joining agent, or the survivors of a dead one) goes on
 * from there. The notifications an owner replays after a takeover are claimed in Redis, so each
 * goes out once.
 */
export class PartitionRuntime implements IncidentDesk {
  readonly state: { health(): ComponentHealth };
  private config: RuntimeConfig;
  /** The rules the partitions' engines run: their open-incident limits shared out (`sharedOut`). */
  private set: RuleSet;
  /** The rules as configured, for those who show them. */
  private shown: RuleSet;
  /** Where each event's groups lie. */
  private placement: GroupPlacement;
  private readonly opts: RuntimeOptions;
  private readonly redis: SharedRedis;
  private readonly clock: () => number;
  private readonly count: number;
  private readonly redisKeys: RedisKeys;
  private readonly keys: PartitionKeys;
  private readonly reader: RedisClient;
  private readonly ownership: PartitionOwnership;
  private readonly owner: PartitionOwner;
  private readonly sender: PartitionSender;
  /** This agent's events to the partitions it holds, from its sender to its owner undecoded (exact ones only). */
  private readonly handoff = new LocalHandoff(exactInRows);
  private readonly outlet: IncidentOutlet;
  private readonly metrics: CorrelationMetrics;
  private readonly partitionMetrics: PartitionMetrics;
  private readonly storeMetrics: RedisStoreMetrics;
  private readonly watchers = new Set<(changes: readonly IncidentChange[]) => void>();
  private readonly silenceHash: SharedSilences;
  /** Changes made by the engines since the last delivery, in order. */
  private made: Made[] = [];
  private loop: Promise<void> | undefined;
  private stopping = false;
  /** Wall-clock times (rounds, checkpoints and idle marks are scheduled on it). */
  private nextRoundAt = 0;
  private nextCheckpointAt = 0;
  /** When this agent last marked its clock (a send marks too); 0 before its first round. */
  private markedAt = 0;
  /** Since when the rounds have failed (Redis out of reach). */
  private unreachableSince: number | undefined;
  /** The partition count is the one the agents agree on (checked once, in the first round Redis answers). */
  private agreed = false;
  /** Why not, when the count differs. */
  private disagreement: string | undefined;
  /** The last step failed (logged once until one succeeds). */
  private failing = false;
  /** Other agents' partitions' incidents, for the operators' API (`incidents`, `current`, `incident`). */
  private readonly mirror: PartitionMirror;
  private readonly mirrorClient: RedisClient;
  /** Where owners tell their incidents' changes. */
  private readonly incidentsChannel: string;
  /** The agents serving the API, each until a time (a sorted set): owners tell while one is. */
  private readonly servingKey: string;
  /** Some agent serves the API: each delivery's incidents are told (`tell`). */
  private telling = false;
  /** Actions other agents put on held partitions' streams, to apply in the next step. */
  private readonly forwarded: { partition: number; payload: string }[] = [];
  /** Forwarded actions applied, by reply key, until their deadline: one read again is not applied again. */
  private readonly applied = new Map<string, number>();
  /** Numbers this agent's forwarded actions' reply keys. */
  private replies = 0;
  /**
   * The notifications this agent claimed lately, while Redis had replicas: a failover to one that
   * missed the claims would let the next holder of a partition, replaying it, notify again.
   * They are claimed again when Redis turns out to be another dataset, and on every reconnect.
   */
  private readonly claimed: KeptClaim[] = [];
  /** Changes whose notification this agent claimed pending, not yet taken by the incidents pipelines: their claims. */
  private readonly unsent = new Map<IncidentChange, { writer: string; kept: KeptClaim | undefined }>();
  /**
   * Some changes made wait for their claims (`made` kept them back): a replay of their partition
   * (this agent holding it again under a new term) may make them again before they are claimed.
   */
  private heldBack = false;
  /** On a Cluster: the waits for the replicas of the masters a delivery's claims went to (made at the first). */
  private clusterWaits: ClusterReplicaWaits | undefined;
  /** Redis lost writes (`lostWrites`): the partitions held are checkpointed whole at the next step. */
  private rewrite = false;
  /** Sends and marks, one at a time (`inTurn`). */
  private sending: Promise<unknown> = Promise.resolve();
  /** Sends queued or going out, with their earliest record's time: what bounds a mark. */
  private readonly queued: Queued[] = [];
  /** One thing at a time touches the engines: the loop, an action, a reload. */
  private busy: Promise<unknown> = Promise.resolve();

  constructor(config: RuntimeConfig, opts: RuntimeOptions) {
    if (!opts.redis) throw new Error('state.sharing: partitions needs the state in Redis (state.store: redis)');
    this.config = config;
    this.opts = opts;
    this.redis = opts.redis;
    this.clock = opts.clock ?? Date.now;
    this.count = config.state?.partitions ?? 12;
    this.set = ruleSetOf(sharedOut(config, this.count));
    this.shown = ruleSetOf(config);
    this.placement = new GroupPlacement(this.set, this.count);
    this.redisKeys = new RedisKeys(this.redis.config.prefix);
    const held = this.redisKeys.partitionKeys();
    this.keys = { stream: (p) => held.held(`events:${p}`), checkpoint: (p) => held.held(`checkpoint:${p}`) };
    this.ownership = new PartitionOwnership({
      client: this.redis.client,
      table: held.table,
      // One name per process: a restarted agent is a new one, which restores what the old one checkpointed.
      agent: `${this.redis.agent}#${randomBytes(4).toString('hex')}`,
      partitions: this.count,
      // Terms are measured on the wall clock whatever the engines' clock says.
      termMs: this.redis.config.lease_ttl,
    });
    // Blocking reads on a connection of their own: the table's carries the sends and the marks.
    this.reader = createSubscriber(this.redis.client);
    // Its errors (an outage, a failover) are the connection's, logged there; unheard, ioredis prints each to stderr.
    this.reader.on('error', (err: Error) => opts.logger.debug({ err }, 'redis stream reader error'));
    this.metrics = correlationMetrics(opts.metrics.registry);
    this.partitionMetrics = partitionMetrics(opts.metrics.registry);
    this.storeMetrics = new RedisStoreMetrics(opts.metrics.registry);
    this.owner = new PartitionOwner({
      reader: this.reader,
      writer: this.redis.client,
      ownership: this.ownership,
      keys: this.keys,
      engine: (store, partition) =>
        new CorrelationEngine(this.set, store, {
          takes: this.placement.takesFor(partition),
          takesPoint: this.placement.takesPointFor(partition),
          overflowScope: { partition: String(partition) },
          elsewhere: (atMs) => this.incidentsBeside(partition, atMs),
          soleWriter: true,
        }),
      encode: (events) => eventsToRows(events),
      decode: eventsFromRows,
      handoff: this.handoff,
      encodePoints: pointsToJson,
      decodePoints: pointsFromJson,
      tickMs: config.tick_interval,
      changes: (changes, partition) => {
        this.noteOpen(changes, partition);
        const writer = this.writerIn(partition);
        for (const change of changes) this.made.push({ change, writer });
      },
      clockMarks: true,
      markCeiling: () => this.clock() + this.config.max_future_skew,
      lag: (ms) => this.partitionMetrics.lag.observe(ms / 1000),
      action: (partition, payload) => this.forwarded.push({ partition, payload }),
    });
    this.sender = new PartitionSender({
      ownership: this.ownership,
      keys: this.keys,
      partitionOf: (e) => this.placement.placeOf(e),
      encode: (events) => eventsToRows(events),
      handoff: this.handoff,
      partitionOfPoint: (m) => this.placement.placePoint(m),
      encodePoints: pointsToJson,
      replicaWaitMs: config.state?.replica_wait ?? 250,
      lostWrites: (resent) => {
        this.partitionMetrics.resent.inc({ outcome: 'resent' }, resent);
        this.rewrite = true;
        void this.reclaim();
        this.opts.logger.warn(
          { resent, held: this.held() },
          'redis is another dataset than the one written to (a failover to a replica, or a restart): the sends no replica had acknowledged were sent again, and the partitions held are checkpointed anew',
        );
      },
    });
    // A wait holds the connection the rounds renew the terms on (every third of lease_ttl).
    if (this.sender.replicaWaitMs * 2 >= this.ownership.termMs)
      opts.logger.warn(
        { replica_wait_ms: this.sender.replicaWaitMs, lease_ttl_ms: this.ownership.termMs },
        "state.replica_wait is half of lease_ttl or more: while a replica stops answering, one wait can hold this agent's rounds until its partitions' terms run out, and the others take them over",
      );
    this.outlet = new IncidentOutlet({
      output: opts.output,
      logger: opts.logger,
      delivered: (changes) => this.markSent(changes),
    });
    this.silenceHash = new SharedSilences(this.redis.client, held.held('silences'));
    this.incidentsChannel = held.held('incidents');
    this.servingKey = held.held('serving');
    this.mirrorClient = createSubscriber(this.redis.client);
    this.mirrorClient.on('error', (err: Error) => opts.logger.debug({ err }, 'redis incidents subscriber error'));
    this.mirror = new PartitionMirror({
      subscriber: this.mirrorClient,
      channel: this.incidentsChannel,
      logger: opts.logger,
      // The API's stream of changes shows the others' too (this agent's own went to it as made).
      told: (incidents) => {
        if (this.watchers.size === 0) return;
        const others = incidents.filter((inc) => this.holderOf(inc.key) === undefined);
        if (others.length === 0) return;
        const changes = others.map((incident): IncidentChange => ({
          kind: 'updated',
          reason: 'told by the agent holding its partition',
          atMs: this.clock(),
          incident,
          notify: false,
          eventIds: [],
        }));
        for (const w of this.watchers) w(changes);
      },
    });
    this.state = { health: () => this.health() };
  }

  /** The agent's name in the partition table. */
  get agent(): string {
    return this.ownership.agent;
  }

  /** The partitions this agent holds now. */
  held(): number[] {
    return this.ownership.owned().map((t) => t.partition);
  }

  /** Starts the rounds; Redis out of reach leaves the connector degraded until it answers. */
  async start(): Promise<void> {
    await this.watchOthers();
    await this.round().catch(() => undefined);
    // A reconnect may be to a promoted replica that missed the last claims: they are made again at once.
    this.redis.client.on('ready', this.onReady);
    this.loop = this.run();
  }
  private readonly onReady = () => void this.reclaim();

  /** Rules that inhibit, or suppress by topology, look at the other partitions' incidents: they are told them. */
  private async watchOthers(): Promise<void> {
    if (this.set.suppressor.looksAtOthers) await this.serve();
  }

  /**
   * The operators' API reads this agent (or its rules look at the other partitions' incidents,
   * `watchOthers`): it shows the other agents' partitions' incidents too, as
   * their owners tell them from now on (they tell while some agent serves, see `round`) and as
   * the checkpoints hold them (read again after a reconnect, and once the owners have heard).
   */
  async serve(): Promise<void> {
    if (this.serving) return;
    this.serving = true;
    this.mirrorClient.on('ready', () => void this.loadMirror());
    await this.mirror
      .start()
      .catch((err: unknown) => this.opts.logger.warn({ err }, 'incidents channel: subscribe failed'));
    await this.noteServing().catch(() => undefined);
    void this.loadMirror();
    // Owners start telling at their next round; what changed before is in the checkpoints by then.
    const again = setTimeout(
      () => void this.loadMirror(),
      this.ownership.termMs / 3 + (this.config.state?.checkpoint_interval ?? 1000) + READ_BLOCK_MS,
    );
    again.unref();
  }
  private serving = false;

  /** Says in Redis, for a while, that this agent serves the API: the owners tell their incidents meanwhile. */
  private async noteServing(): Promise<void> {
    await this.redis.client.zadd(this.servingKey, Date.now() + 3 * this.ownership.termMs, this.agent);
  }

  private async loadMirror(): Promise<void> {
    try {
      for (let p = 0; p < this.count; p++) await this.mirror.load(this.redis.client, this.keys.checkpoint(p));
    } catch (err) {
      this.opts.logger.debug({ err }, 'loading the partitions’ incidents failed; they show as they change');
    }
  }

  /**
   * Puts the events on their partitions' streams (timed as `timedForPartitions` says), and
   * resolves once Redis has them: the sender (a receiver, a queue) hears of success only then.
   */
  async consumeLogs(batch: VigilEvent[]): Promise<void> {
    const now = this.clock();
    const events = timedForPartitions(batch, now, this.config, this.metrics);
    await this.sendInTurn(now, events, []);
  }

  /**
   * Sends records in turn with the others. Its mark is the time before the clock when it was
   * queued, and no later than the earliest record of a send queued behind it (less one): the logs
   * and metrics pipelines feed this runtime side by side, and a batch waiting in turn may hold
   * records older than the one going out.
   */
  private async sendInTurn(nowMs: number, events: VigilEvent[], points: MetricPoint[]): Promise<void> {
    // Numbered once: tried again, the same send (an owner takes it once, should a try that failed have landed).
    const entries = this.sender.prepare(events, points);
    const job: Queued = { earliestMs: Math.min(earliestMs(events), earliestMs(points)) };
    this.queued.push(job);
    try {
      await this.inTurn(async () => {
        this.markedAt = Date.now();
        await this.sender.write(entries, Math.min(nowMs - 1, this.markBound(job)));
      });
    } finally {
      this.queued.splice(this.queued.indexOf(job), 1);
      this.noteUnacknowledged();
    }
  }

  /** The latest mark that passes no record of a send queued now (but `except`): its earliest, less one. */
  private markBound(except?: Queued): number {
    let bound = Infinity;
    for (const q of this.queued) if (q !== except && q.earliestMs - 1 < bound) bound = q.earliestMs - 1;
    return bound;
  }

  /**
   * Sends and marks one at a time, in order (a mark must not reach Redis before a send of an
   * earlier time), each tried again for up to `connect_timeout` while Redis refuses it (a
   * reconnect, a failover). Past that the send fails, having written nothing: the pipeline tells
   * its sender to retry (503, UNAVAILABLE) under `acknowledge: exported`, the default.
   */
  private inTurn(work: () => Promise<void>): Promise<void> {
    const attempt = async (): Promise<void> => {
      const giveUpAt = Date.now() + this.redis.config.connect_timeout;
      for (;;) {
        try {
          await work();
          return;
        } catch (err) {
          if (this.stopping || Date.now() >= giveUpAt)
            throw new Error(`correlation partitions: Redis did not take the events (${(err as Error).message})`, {
              cause: err,
            });
          await new Promise((r) => setTimeout(r, SEND_RETRY_MS));
        }
      }
    };
    const turn = this.sending.then(attempt, attempt);
    this.sending = turn.catch(() => undefined);
    return turn;
  }

  /** Puts the metric points on their groups' partitions' streams, as `consumeLogs` does events. */
  async consumeMetrics(batch: MetricPoint[]): Promise<void> {
    if (!this.placement.takesPoints) return;
    const now = this.clock();
    const points = timedForPartitions(batch, now, this.config, this.metrics);
    await this.sendInTurn(now, [], points);
  }

  /** One thing at a time on the engines. */
  private exclusive<T>(work: () => Promise<T>): Promise<T> {
    const done = this.busy.then(work, work);
    this.busy = done.catch(() => undefined);
    return done;
  }

  private async run(): Promise<void> {
    while (!this.stopping) {
      try {
        await this.exclusive(() => this.step());
        this.failing = false;
      } catch (err) {
        // Once per outage: /readyz and the degraded gauge say the rest.
        if (!this.failing) this.opts.logger.warn({ err }, 'correlation partitions: a step failed; trying again');
        this.failing = true;
        await new Promise((r) => setTimeout(r, READ_BLOCK_MS));
      }
    }
  }

  /** Rounds, marks and checkpoints when due, then a read of the partitions' streams. */
  private async step(): Promise<void> {
    const now = Date.now();
    if (now >= this.nextRoundAt) {
      await this.round();
      void this.remark();
    }
    if (now - this.markedAt >= this.redis.config.flush_interval) {
      // Idle, this agent's clock still moves the partitions' time on (absence is seen when nothing comes).
      this.markedAt = now;
      // In turn with the sends; one that fails is made again after the next interval.
      const through = this.clock() - 1;
      await (this.sending = this.sending
        .then(() => this.sender.mark(Math.min(through, this.markBound())))
        .catch(() => undefined));
      this.noteUnacknowledged();
    }
    if (this.rewrite) {
      this.rewrite = false;
      // What Redis held of them may be older than what they wrote since: their state, whole, to
      // be read again from their streams' start (`readAgain`; an action applied is not applied
      // again: `applied`).
      this.owner.readAgain();
      for (const o of [...this.owner.owned.values()]) await this.checkpoint(o, true);
    }
    if (now >= this.nextCheckpointAt) {
      this.nextCheckpointAt = now + (this.config.state?.checkpoint_interval ?? 1000);
      for (const o of [...this.owner.owned.values()]) await this.checkpoint(o);
    }
    const open = [...this.owner.owned.keys()].some((p) => this.ownership.fenceOf(p) !== undefined);
    if (!open) {
      await new Promise((r) => setTimeout(r, READ_BLOCK_MS));
      return;
    }
    await this.owner.poll(READ_BLOCK_MS);
    await this.deliver();
    if (this.forwarded.length) await this.applyForwarded();
    // The partitions' timers run within their reads, as their time goes on.
    this.metrics.ticks.inc({ role: 'partitions' });
  }

  /**
   * Whether this agent places the groups as the others do: a count that differs would restore
   * one partition's checkpoint into another. The first agent's count stands; an agent whose
   * count differs holds no partition and says why in /readyz and its log.
   */
  private async countAgreed(): Promise<boolean> {
    if (this.agreed) return true;
    const { client, config } = this.redis;
    const table = this.redisKeys.partitionKeys().table;
    await client.hsetnx(table, PARTITION_COUNT, String(this.count));
    const agreed = Number(await client.hget(table, PARTITION_COUNT));
    if (agreed === this.count) return (this.agreed = true);
    const reason = `correlation.state.partitions is ${this.count} here, but the agents sharing prefix "${config.prefix}" use ${agreed}: every agent must say the same (to change it, stop them all and delete the keys ${table}*); this agent holds no partition`;
    if (this.disagreement !== reason) this.opts.logger.error(reason);
    this.disagreement = reason;
    return false;
  }

  private async round(): Promise<void> {
    this.nextRoundAt = Date.now() + this.ownership.termMs / 3;
    if (!(await this.countAgreed())) return;
    // Whatever the engines made goes out before a partition's state is handed over.
    await this.deliver();
    const { round, restored } = await this.owner.round();
    if (round.dataLost) await this.writeBack();
    if (round.agents === 0) this.unreachableSince ??= this.clock();
    else this.unreachableSince = undefined;
    this.storeMetrics.degraded.set(this.unreachableSince === undefined ? 0 : 1);
    const m = this.partitionMetrics;
    if (round.gained.length) m.changes.inc({ change: 'gained' }, round.gained.length);
    if (round.lost.length) m.changes.inc({ change: 'lost' }, round.lost.length);
    if (round.surplus.length) m.changes.inc({ change: 'released' }, round.surplus.length);
    for (const r of restored) m.restoredEntries.inc(r.entries);
    if (round.gained.length || round.lost.length || round.surplus.length)
      this.opts.logger.info(
        {
          agent: this.agent,
          gained: round.gained.map((t) => t.partition),
          lost: round.lost,
          released: round.surplus,
          agents: round.agents,
          held: this.held(),
        },
        'correlation partitions changed hands',
      );
    this.syncEngines();
    this.mirror.prune(this.clock(), RESOLVED_SEEN_MS);
    if (this.serving) await this.noteServing();
    // Someone serves the API (within the last three terms): tell them the incidents.
    this.telling = (await this.redis.client.zcount(this.servingKey, Date.now(), '+inf')) > 0;
    // Silences made on any agent, for the partitions held (those just gained included).
    await this.applySilences(await this.silenceHash.load(this.clock()));
    // A round drops the marks of agents not live: this agent's first mark comes after its first round.
    if (this.markedAt === 0 && round.agents > 0) {
      this.markedAt = Date.now();
      await this.ownership.markSent(this.clock() - 1);
    }
  }

  /**
   * Redis lost its data (a FLUSHALL, a restart without persistence): the round wrote this agent's
   * terms back; the partitions' checkpoints are written whole at the next step, and the partition
   * count and the silences this agent knows go back too. Events sent but not yet taken are lost
   * with the streams.
   */
  private async writeBack(): Promise<void> {
    this.storeMetrics.epochChanges.inc();
    this.rewrite = true;
    this.agreed = false;
    await this.silenceHash.restore();
    this.opts.logger.warn(
      { held: this.held() },
      'redis lost the partitions’ data (a FLUSHALL, or a restart without persistence): this agent keeps the partitions it held and writes their state back',
    );
  }

  /** The metrics' engines are the partitions held. */
  private syncEngines(): void {
    const engines = this.metrics.engines;
    const mine = new Set([...this.owner.owned.values()].map((o) => o.engine));
    for (const e of this.known) if (!mine.has(e)) engines.delete(e);
    for (const e of mine) engines.add(e);
    this.known = mine;
    this.partitionMetrics.held.set(mine.size);
  }
  private known = new Set<CorrelationEngine>();
  /** Notifications sent whose claims Redis did not take the mark of (`mark`), and whether a try is under way. */
  private unmarked: NotificationClaim[] = [];
  private remarking: Promise<void> | undefined;
  /** Records none of this agent's rules took since the last warning of them, and when that was. */
  private untaken = 0;
  private untakenWarnedMs = Number.NEGATIVE_INFINITY;

  /** Who claims the notifications of changes made now in `partition`: this agent under its term there. */
  private writerIn(partition: number): string {
    return `${this.agent}@${partition}:${this.ownership.fenceOf(partition) ?? 'none'}`;
  }

  /** This agent's writer now in the partition of a change's incident. */
  private writerOf(m: Made): string {
    return this.writerIn(this.partitionOfKey(m.change.incident.key));
  }

  /** Keeps what a claim needs of a change this agent notified (only while Redis has replicas). */
  private keepClaim({ change: c, writer }: Made): KeptClaim | undefined {
    const now = Date.now();
    while (this.claimed.length && (this.claimed[0]!.atMs < now - CLAIMS_KEPT_MS || this.claimed.length >= CLAIMS_KEPT))
      this.claimed.shift();
    if (!this.sender.replicated) return undefined;
    const { key, id, mergedIds, openedAtMs, resolvedAtMs } = c.incident;
    const incident = { key, id, mergedIds, openedAtMs, resolvedAtMs } as Incident;
    const kept = { atMs: now, change: { kind: c.kind, atMs: c.atMs, incident } as IncidentChange, writer, sent: false };
    this.claimed.push(kept);
    return kept;
  }

  /**
   * Marks done the claims of notifications the incidents pipelines took (or that went nowhere):
   * until then a claim is pending, and the next holder of the partition takes it over if this agent
   * dies first, and notifies again. A mark Redis did not take is kept and made again at each round
   * (`remark`) and before the agent stops.
   */
  private markSent(changes: readonly IncidentChange[]): void {
    const sent: NotificationClaim[] = [];
    for (const c of changes) {
      const claim = this.unsent.get(c);
      if (claim === undefined) continue;
      this.unsent.delete(c);
      if (claim.kept) claim.kept.sent = true;
      sent.push({ writer: claim.writer, change: c });
    }
    if (sent.length) void this.mark(sent);
  }

  /** Marks `claims` sent; those Redis did not take are kept for the next try. */
  private async mark(claims: NotificationClaim[]): Promise<void> {
    try {
      await markAllNotified(this.redis.client, this.redisKeys, claims);
    } catch {
      this.unmarked.push(...claims);
      // A claim outlives its mark's tries only so long: past it, the oldest are given up.
      if (this.unmarked.length > UNMARKED_KEPT) this.unmarked.splice(0, this.unmarked.length - UNMARKED_KEPT);
    }
  }

  /**
   * Makes again the sent marks Redis did not take, one try at a time. A mark of a claim another
   * writer took over since changes nothing: the mark script marks only the writer's own claim.
   */
  private remark(): Promise<void> {
    if (this.remarking) return this.remarking;
    if (this.unmarked.length === 0) return Promise.resolve();
    return (this.remarking = this.mark(this.unmarked.splice(0)).finally(() => (this.remarking = undefined)));
  }

  /** Claims again what this agent notified lately (`claimed`): the same writer's claim goes through. */
  private async reclaim(): Promise<void> {
    const kept = [...this.claimed];
    if (kept.length === 0) return;
    // The sent ones claimed done, the others pending: in as few calls as their slots allow.
    const again = await claimOutcomes(
      this.redis.client,
      this.redisKeys,
      kept.map((k) => ({ writer: k.writer, change: k.change, state: k.sent ? 'done' : 'pending' })),
      'pending',
    );
    this.opts.logger.info(
      { claims: kept.length, failed: again.filter((x) => x === 'refused' || x instanceof Error).length },
      'notifications claimed again after a reconnect',
    );
  }

  private noteUnacknowledged(): void {
    this.partitionMetrics.unacknowledged.set(this.sender.unacknowledged);
    if (this.sender.dropped > this.droppedSeen) {
      this.partitionMetrics.resent.inc({ outcome: 'dropped' }, this.sender.dropped - this.droppedSeen);
      this.droppedSeen = this.sender.dropped;
    }
  }
  private droppedSeen = 0;

  private async checkpoint(o: OwnedPartition, whole = false): Promise<void> {
    try {
      const written = await this.owner.checkpoint(o, whole);
      this.partitionMetrics.checkpoints.inc({ outcome: written ? 'written' : 'refused' });
    } catch (err) {
      this.partitionMetrics.checkpoints.inc({ outcome: 'failed' });
      this.opts.logger.warn({ err, partition: o.partition }, 'correlation partition checkpoint failed');
    }
  }

  /**
   * Hands what the engines made to the incidents pipelines. A notification goes out only with
   * its claim: the next owner of a partition replays what came after the last checkpoint, and
   * makes the same changes again, under the same ids and moments; their claims are taken.
   */
  private async deliver(extra: IncidentChange[] = []): Promise<void> {
    this.noteOpen(extra);
    let made = extra.length
      ? this.made.concat(
          extra.map((change) => ({ change, writer: this.writerIn(this.partitionOfKey(change.incident.key)) })),
        )
      : this.made;
    this.made = [];
    const retried = this.heldBack;
    if (retried) {
      this.heldBack = false;
      made = lastOfEachNotification(made);
    }
    if (made.length > 0) {
      // All claims at once (one script call, one per slot on a Cluster), answered in order.
      const notifying = made.filter((m) => m.change.notify);
      // Claimed pending: made under the term this agent holds now, or not kept back (`claimRetried`).
      const pending = notifying.map((m) => !retried || m.writer === this.writerOf(m));
      const outcomes = retried
        ? await this.claimRetried(notifying, pending)
        : await claimOutcomes(this.redis.client, this.redisKeys, notifying, 'pending');
      let next = 0;
      const claimedPending: boolean[] = [];
      const claims = made.map((m, i) => {
        if (!m.change.notify) return 'claimed' as const;
        claimedPending[i] = pending[next]!;
        const outcome = outcomes[next++];
        return outcome instanceof Error ? undefined : outcome;
      });
      const won = made.flatMap((m, i) =>
        claims[i] !== undefined && claims[i] !== 'refused' && m.change.notify ? [i] : [],
      );
      if (won.length > 0) {
        // A claim whose master went away during the wait may be lost with it, or on a promoted
        // replica: claimed again (the same writer's claim goes through) before it is sent.
        const unreached = await this.claimsOnReplica(won.map((i) => made[i]!));
        for (const j of unreached) claims[won[j]!] = undefined;
        // A term that ran out during the wait (a replica lagging past lease_ttl holds this agent's
        // rounds too): the partition's next holder may have taken a pending claim over and
        // notified. Kept back, the change is claimed again as done under its own term, which goes
        // through only if no one took the claim over since.
        for (const i of won)
          if (claimedPending[i] && made[i]!.writer !== this.writerOf(made[i]!)) claims[i] = undefined;
      }
      const changes: IncidentChange[] = [];
      for (let i = 0; i < made.length; i++) {
        const c = made[i]!.change;
        const claim = claims[i];
        if (claim === undefined) {
          // Redis out of reach: this change and those after it wait for their claims. If this
          // agent's term runs out meanwhile, the next owner makes the change again and claims it first.
          this.made = made.slice(i).concat(this.made);
          this.heldBack = true;
          break;
        }
        if (claim !== 'refused') {
          changes.push(c);
          if (c.notify) this.unsent.set(c, { writer: made[i]!.writer, kept: this.keepClaim(made[i]!) });
          if (typeof claim === 'object') {
            this.storeMetrics.notificationTakeovers.inc({ kind: c.kind });
            this.opts.logger.warn(
              {
                incident: c.incident.id,
                key: c.incident.key,
                kind: c.kind,
                from: claim.takenOverFrom,
                writer: made[i]!.writer,
              },
              'notification claim left pending by the last holder of its partition (it died before sending it): taken over, and sent',
            );
          }
        } else {
          this.storeMetrics.duplicateNotifications.inc({ kind: c.kind });
          changes.push({ ...c, notify: false, reason: `${c.reason}; already notified (replayed after a takeover)` });
        }
      }
      for (const c of changes) this.metrics.changes.inc({ kind: c.kind });
      for (const w of this.watchers) w(changes);
      await this.outlet.send(changes);
      this.tell(changes);
    } else await this.outlet.send([]);
    // Counted once what they made has gone out.
    let untaken = 0;
    for (const engine of this.known) untaken += reportEngineStats(this.metrics, engine);
    if (untaken > 0) this.warnUntaken(untaken);
  }

  /**
   * Warns, at most once a minute, of records placed with partitions held here that none of this
   * agent's rules took: the sender's rules group them otherwise (a rules change that has not
   * reached every agent yet), and no partition takes them for those rules until it has.
   */
  private warnUntaken(n: number): void {
    this.untaken += n;
    const now = this.clock();
    if (now - this.untakenWarnedMs < 60_000) return;
    this.untakenWarnedMs = now;
    this.opts.logger.warn(
      { records: this.untaken },
      'events placed with partitions held here that none of this agent’s rules take: do all agents run the same rules? A rules change that regroups a rule loses its events until every agent has it',
    );
    this.untaken = 0;
  }

  /**
   * Claims a delivery that holds changes kept back from an earlier one. A change made under a term
   * this agent no longer holds (its partition moved on, or came back under a new term) is claimed
   * done, not pending: the next holder, replaying, may make it again, and would take over a
   * pending claim of an earlier term and send it too. Done, the next holder's claim is refused;
   * claimed first by the next holder, this one is. `current`: whether each change's term is the
   * one this agent holds now (claimed pending).
   */
  private async claimRetried(notifying: Made[], current: readonly boolean[]): Promise<(ClaimOutcome | Error)[]> {
    return claimOutcomes(
      this.redis.client,
      this.redisKeys,
      notifying.map((m, i) => ({ writer: m.writer, change: m.change, state: current[i] ? 'pending' : 'done' })),
      'pending',
    );
  }

  /**
   * Waits until a replica has the claims of `notified`, before their notifications go out: while
   * a replica lags, the holder then waits here, where dying (alone, or with the master: a node
   * lost) leaves the notification to the next holder, rather than after notifying, where dying
   * with the master would lose the claim and have the next holder notify again. On one connection
   * one WAIT covers them all (the sender's, which knows whether replicas keep up); on a Cluster, a
   * WAIT on the master of each claim's slot. Returns the indexes in `notified` of the claims whose
   * master could not be asked (gone, or failing over): whether they stand is not known.
   */
  private async claimsOnReplica(notified: Made[]): Promise<number[]> {
    const client = this.redis.client;
    if (singleConnection(client))
      return (await this.sender.replicaWait()) === 'unreached' ? notified.map((_, i) => i) : [];
    const keys = notified.map((m) => this.redisKeys.notifiedKey(m.change.incident.key, ''));
    const { unreached } = await (this.clusterWaits ??= new ClusterReplicaWaits(
      client,
      this.sender.replicaWaitMs,
    )).waitFor(keys);
    if (unreached.length === 0) return [];
    const lost = new Set(unreached);
    return keys.flatMap((k, i) => (lost.has(k) ? [i] : []));
  }

  private health(): ComponentHealth {
    if (this.disagreement !== undefined) return { status: 'failing', reason: this.disagreement };
    // A round waits for Redis while it is away: the connection's state tells it first.
    if (this.redis.client.status !== 'ready') this.unreachableSince ??= this.clock();
    if (this.unreachableSince === undefined) return HEALTHY;
    return {
      status: 'degraded',
      reason:
        'Redis unreachable: this agent holds no correlation partition and cannot put events on their streams until it is back',
      since: this.unreachableSince,
    };
  }

  // The incident desk: the incidents of the partitions this agent holds.

  *incidents(): Iterable<Incident> {
    for (const o of this.owner.owned.values()) for (const rec of o.engine.eachIncident(false)) yield rec.incident;
    yield* this.mirror.incidents((key) => this.holderOf(key) !== undefined);
  }

  /**
   * What inhibition and topology see beside a partition's own incidents, for its tick at `atMs`:
   * the others this agent holds, from their engines (fed side by side with it, a tick apart at
   * most), and the other agents', as last told (a delivery behind); open ones, and those resolved
   * lately, which the engine counts as open if resolved at or after `atMs` (a partition replaying
   * its stream after a takeover judges its past by the sources as they were then).
   */
  private *incidentsBeside(partition: number, atMs: number): Iterable<Incident> {
    for (const o of this.owner.owned.values()) {
      if (o.partition === partition) continue;
      let index = this.openHeld.get(o.partition);
      if (index?.engine !== o.engine) {
        index = { engine: o.engine, view: new IncidentsInView() };
        for (const rec of o.engine.eachIncident(false)) index.view.note(rec.incident);
        this.openHeld.set(o.partition, index);
      }
      index.view.prune(atMs - RESOLVED_SEEN_MS);
      yield* index.view.open.values();
      yield* index.view.resolvedSince(atMs);
    }
    const mine = (key: string) => this.holderOf(key) !== undefined;
    yield* this.mirror.openIncidents(mine);
    yield* this.mirror.resolvedSince(atMs, mine);
  }

  /**
   * The open incidents of each partition held, and those resolved lately, for `incidentsBeside`:
   * indexed from its engine when first asked for (and again when its engine is another, the
   * partition taken anew), then kept current with the changes made in it.
   */
  private readonly openHeld = new Map<number, { engine: CorrelationEngine; view: IncidentsInView }>();

  private noteOpen(changes: readonly IncidentChange[], partition?: number): void {
    if (this.openHeld.size === 0) return;
    for (const c of changes) this.openHeld.get(partition ?? this.partitionOfKey(c.incident.key))?.view.note(c.incident);
  }

  rules(): readonly RuleConfig[] {
    return this.shown.rules.map((r) => r.definition);
  }

  /**
   * The partition held here whose engine has the incident on `key`: its group's, or for an
   * overflow incident (which stands for no group) the one its `partition` label names.
   */
  private holderOf(key: string): OwnedPartition | undefined {
    return this.owner.owned.get(this.partitionOfKey(key));
  }

  current(key: string): Incident | undefined {
    const o = this.holderOf(key);
    return o ? o.engine.book.withTrail(key)?.incident : this.mirror.get(key);
  }

  incident(id: string): Incident | undefined {
    for (const o of this.owner.owned.values()) {
      const rec = o.engine.incidentById(id);
      if (rec) return rec.incident;
    }
    const told = this.mirror.byId(id);
    // One of another agent's partitions (one that moved here answers above).
    return told && this.holderOf(told.key) === undefined ? told : undefined;
  }

  /** The partition of an incident's key: its group's, or for an overflow incident the one its label names. */
  private partitionOfKey(key: string): number {
    const scoped = /[{,]overflow="true".*[{,]?partition="(\d+)"/.exec(key);
    return scoped ? Number(scoped[1]) : partitionOf(key, this.count);
  }

  /** Tells the other agents of the incidents these changes leave (each key's latest). */
  private tell(changes: readonly IncidentChange[]): void {
    if (changes.length === 0 || !this.telling) return;
    const latest = new Map<string, Incident>();
    for (const c of changes) latest.set(c.incident.key, c.incident);
    this.redis.client
      .publish(this.incidentsChannel, JSON.stringify([...latest.values()]))
      .catch((err: unknown) => this.opts.logger.debug({ err }, 'telling the incidents failed'));
  }

  parentOf(key: string): string {
    return this.holderOf(key)?.engine.parentOf(key) ?? '';
  }

  /**
   * A person's action on an incident, checkpointed with its partition before it resolves, so that
   * the next owner has it. An incident of a partition another agent holds: the action goes on the
   * partition's stream, its holder applies it and answers (`unavailable` when it does not in
   * time: a takeover under way, Redis away).
   */
  async act(id: string, actor: string, action: IncidentAction): Promise<ActionOutcome> {
    const here = await this.exclusive(async () => {
      const o = [...this.owner.owned.values()].find((p) => p.engine.incidentById(id));
      return o ? this.actOn(o, id, actor, action) : undefined;
    });
    if (here) return here;
    const told = this.mirror.byId(id);
    if (!told) return { ok: false, refusal: 'not_found', message: `no incident has id ${id}` };
    const partition = this.partitionOfKey(told.key);
    const reply = this.redisKeys.partitionKeys().held(`reply:${this.agent}:${++this.replies}`);
    const waitMs = this.redis.config.lease_ttl + this.redis.config.connect_timeout;
    // Past it, the holder leaves the action be: an answer of 503 means it was not applied.
    const deadline = Date.now() + waitMs;
    try {
      await this.redis.client.xadd(
        this.keys.stream(partition),
        '*',
        ...actionEntry(this.agent, JSON.stringify({ id, actor, action, reply, deadline })),
      );
      // A little past the deadline: an answer made just before it is on its way.
      for (const giveUpAt = deadline + 1000; Date.now() < giveUpAt;) {
        const answer = await this.redis.client.lpop(reply);
        if (answer !== null) {
          const a = JSON.parse(answer) as ForwardedAnswer;
          return a.ok ? { ok: true, incident: a.incident, changes: [] } : a;
        }
        await new Promise((r) => setTimeout(r, FORWARD_POLL_MS));
      }
    } catch (err) {
      this.opts.logger.debug({ err }, 'forwarding an action failed');
    }
    return {
      ok: false,
      refusal: 'unavailable',
      message: `incident ${id} is in partition ${partition}, which another agent holds, and no answer came within ${waitMs} ms; try again`,
    };
  }

  private async actOn(o: OwnedPartition, id: string, actor: string, action: IncidentAction): Promise<ActionOutcome> {
    const outcome = o.engine.act(id, actor, action, Math.max(o.doneMs, this.clock()));
    if (!outcome.ok) return outcome;
    await this.deliver(outcome.changes);
    await this.checkpoint(o);
    return { ...outcome, incident: outcome.changes.at(-1)?.incident ?? outcome.incident };
  }

  /** Applies the actions other agents put on held partitions' streams, and answers each. */
  private async applyForwarded(): Promise<void> {
    for (const { partition, payload } of this.forwarded.splice(0)) {
      let asked: { id: string; actor: string; action: IncidentAction; reply: string; deadline: number };
      try {
        asked = JSON.parse(payload) as typeof asked;
      } catch {
        continue;
      }
      // Its sender answered 503 (or will): left be, so that "try again" holds (a replay after a takeover comes here too).
      if (Date.now() > asked.deadline) continue;
      // Read again (the streams read from their start after a failover): applied and answered once.
      if (this.applied.has(asked.reply)) continue;
      for (const [reply, deadline] of this.applied) if (deadline < Date.now()) this.applied.delete(reply);
      this.applied.set(asked.reply, asked.deadline);
      const o = this.owner.owned.get(partition);
      const outcome: ActionOutcome =
        o && o.engine.incidentById(asked.id)
          ? await this.actOn(o, asked.id, asked.actor, asked.action)
          : { ok: false, refusal: 'not_found', message: `no incident has id ${asked.id}` };
      const answer: ForwardedAnswer = outcome.ok ? { ok: true, incident: outcome.incident } : outcome;
      await this.redis.client
        .multi()
        .rpush(asked.reply, JSON.stringify(answer))
        .pexpire(asked.reply, 60_000)
        .exec()
        .catch((err: unknown) => this.opts.logger.debug({ err }, 'answering a forwarded action failed'));
    }
  }

  watch(listener: (changes: readonly IncidentChange[]) => void): () => void {
    this.watchers.add(listener);
    return () => this.watchers.delete(listener);
  }

  nowMs(): number {
    return this.clock();
  }

  silences(): SilenceRecord[] {
    return this.silenceHash.list();
  }

  silence(id: string): SilenceRecord | undefined {
    return this.silenceHash.get(id);
  }

  /**
   * Writes a silence for every agent (Redis first), then applies it to the partitions held here;
   * the others' holders apply it in their next round, as do the holders of partitions to come.
   */
  async putSilence(silence: SilenceRecord): Promise<void> {
    await this.silenceHash.put(silence);
    await this.exclusive(() => this.applySilences([silence]));
  }

  /** Each partition held applies the silences its engine has not at their version. */
  private async applySilences(silences: readonly SilenceRecord[]): Promise<void> {
    const changes: IncidentChange[] = [];
    for (const o of this.owner.owned.values())
      for (const s of silences) {
        if (o.engine.silences.get(s.id)?.updatedAtMs === s.updatedAtMs) continue;
        for (const c of o.engine.putSilence(s, Math.max(o.doneMs, this.clock()))) changes.push(c);
      }
    if (changes.length) await this.deliver(changes);
  }

  /** New rules for every partition held, and for those taken later. */
  reload(config: RuntimeConfig): Promise<void> {
    return this.exclusive(async () => {
      this.config = config;
      this.set = ruleSetOf(sharedOut(config, this.count));
      this.shown = ruleSetOf(config);
      this.placement = new GroupPlacement(this.set, this.count);
      await this.watchOthers();
      const changes: IncidentChange[] = [];
      let resets: readonly RuleReset[] = [];
      for (const o of this.owner.owned.values()) {
        const { changes: made, reset } = o.engine.reload(this.set, Math.max(o.doneMs, 0));
        for (const c of made) changes.push(c);
        resets = reset;
      }
      // Every partition's engine resets the same rules: said once.
      logRuleResets(this.opts.logger, resets);
      this.opts.logger.info({ rules: this.set.rules.map((r) => r.name) }, 'correlation rules reloaded');
      await this.deliver(changes);
    });
  }

  /** Delivers what is made, checkpoints every partition held and gives the terms back, for the others to take at once. */
  async stop(): Promise<void> {
    this.stopping = true;
    // A read waits out a Redis outage on its connection: cut it, and the loop ends.
    let timer: NodeJS.Timeout | undefined;
    const ended = await Promise.race([
      this.loop?.then(() => true),
      new Promise<boolean>((r) => (timer = setTimeout(() => r(false), STOP_WAIT_MS))),
    ]);
    clearTimeout(timer);
    if (!ended) this.reader.disconnect();
    await this.loop;
    await this.sending;
    await this.exclusive(async () => {
      // It sends nothing more: its mark no longer holds the others back.
      await this.ownership.markSent(Number.MAX_SAFE_INTEGER).catch(() => undefined);
      await this.deliver();
      // Before the partitions go (their next holders take over a claim left pending, and notify
      // again): the try under way, if any, then one of what is left.
      await this.remarking;
      await this.remark();
      for (const o of [...this.owner.owned.values()]) {
        // Whole, as any hand-over (see PartitionOwner.round).
        await this.checkpoint(o, true);
        await this.ownership.release(o.partition).catch(() => false);
      }
    });
    for (const e of this.known) this.metrics.engines.delete(e);
    this.redis.client.off('ready', this.onReady);
    this.reader.disconnect();
    this.mirrorClient.disconnect();
  }
}
