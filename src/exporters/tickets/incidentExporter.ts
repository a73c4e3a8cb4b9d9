import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { Counter, Gauge, type Registry } from 'prom-client';
import { OPERATOR_UPDATE_KINDS, type Incident, type IncidentChange } from '../../model/incident.ts';
import { severityName } from '../../model/severity.ts';
import type { CreateSettings, TicketLink } from '../../pipeline/component.ts';
import { DEFAULT_HEALTH_SETTINGS, formatAge, outage, worse, type ComponentHealth } from '../../pipeline/health.ts';
import type { Infer } from '../../config/schema.ts';
import type { deliverySchema, ledgerSchema } from './config.ts';
import { ExporterTelemetry, type QueuedExporter } from '../helper/telemetry.ts';
import { DeliveryDeferredError, type Timers } from './delivery.ts';
import { pruneLimits, PruneReport } from '../helper/prune.ts';
import { DEFAULT_LEDGER_LIMITS, FileTicketLedger } from './fileLedger.ts';
import { ticketOfIncident, TicketLedgerUnavailableError, type TicketLedger, type TicketRecord } from './ledger.ts';
import type { Host } from '../../pipeline/host.ts';
import { GroupStage } from './groupStage.ts';
import { SharedGroupStage } from './sharedGroupStage.ts';
import type { SharedGroups } from './sharedGroups.ts';
import type { ChangeGroup, GroupMember, QueuedChange } from './notificationGroups.ts';
import { Outbox, type OutboxEntry, type OutboxItem } from './outbox.ts';
import type { RouteGrouping } from './routeGrouping.ts';
import { routed, type Matcher } from './routing.ts';
import type { RoutingTree } from './routingTree.ts';
import type { Template } from './template.ts';
import { PollLoop, RequestBudget } from './pollLoop.ts';
import { TicketSync, type TicketReader } from './ticketSync.ts';
import type { TicketWebhook, TicketWebhookParser } from './webhook.ts';
import { realTimers } from './delivery.ts';

/** One change, rendered for a destination. */
export interface Notice {
  change: IncidentChange;
  title: string;
  body: string;
  /** `vigil-<hex>` from the incident key: searchable in every tracker, the same on every instance. */
  marker: string;
  /** Unique per change and stable across retries and restarts: an idempotency key for receivers. */
  id: string;
  /** Set when the change is a group's (a route's `group_by`): its members, each rendered as its own notification would be. */
  group?: NoticeGroup;
}

/** A grouped notification's group: Alertmanager's group key and labels, and every member. */
export interface NoticeGroup {
  key: string;
  labels: Record<string, string>;
  members: (GroupMember & { title: string; body: string; marker: string })[];
}

/**
 * What a destination must do. The exporter decides which call a change needs from the
 * ledger; drivers only speak their protocol and throw DeliveryError on failure.
 */
export interface TicketDriver {
  /** Escapes inserted values for the body's markup (HTML, mrkdwn); identity for plain text. */
  escapeBody?(text: string): string;
  /** A still-open ticket carrying the marker: made by a run that crashed before storing its id, or one a shared ledger lost. */
  find(notice: Notice): Promise<string | undefined>;
  create(notice: Notice): Promise<string>;
  update(ref: string, notice: Notice): Promise<void>;
  /** Returns the tracker status it left the ticket in, when it knows it (kept as the record's `written`). */
  resolve(ref: string, notice: Notice): Promise<string | void>;
  /** Returns the tracker status it set, if it set one. */
  reopen(ref: string, notice: Notice): Promise<string | void>;
  /** The status a ticket this driver creates starts in, when known (GLPI: assigned when a group is). */
  readonly createdStatus?: string;
  /** The id of the tracker account Vigil writes as (undefined when it cannot tell now). */
  ownActorId?(): Promise<string | undefined>;
  /** The tracker's page for a ticket, for the operators' API. */
  ticketUrl?(ref: string): string;
  close?(): Promise<void>;
}

export interface IncidentExporterConfig {
  routes: { matchers: Matcher[] }[];
  title: Template;
  description: Template;
  delivery: Infer<typeof deliverySchema>;
  /** Limits of the file ledger; its defaults when absent. */
  ledger?: Infer<typeof ledgerSchema>;
}

export interface IncidentExporterOptions {
  timers?: Timers;
  random?: () => number;
  /** Another ledger (a shared store); defaults to a file under the data dir. */
  ledger?: TicketLedger;
  /** Tickets back to incidents (`sync:`): polled, or told by the tracker's webhooks. */
  sync?: TicketSyncSettings;
}

export type TicketSyncSettings =
  | { mode: 'poll'; reader: TicketReader; intervalMs: number; maxRequestsPerMinute: number; maxBackoffMs: number }
  | { mode: 'webhook'; parser: TicketWebhookParser };

/** The polling settings of a `sync:` block (`pollFields`) for a driver that reads tickets back. */
export function pollSync(
  reader: TicketReader,
  sync: { interval: number; max_requests_per_minute: number; max_backoff: number },
): TicketSyncSettings {
  return {
    mode: 'poll',
    reader,
    intervalMs: sync.interval,
    maxRequestsPerMinute: sync.max_requests_per_minute,
    maxBackoffMs: sync.max_backoff,
  };
}

export function incidentMarker(key: string): string {
  return `vigil-${createHash('sha256').update(key).digest('hex').slice(0, 16)}`;
}

/**
 * What makes a change the one it is: the same for the same change however often it is handed
 * over (correlation hands over again, after a restart, the changes it had not yet recorded as
 * taken), different for any two changes of an incident (each saves a new version).
 */
export function changeId(change: IncidentChange): string {
  const { incident: inc } = change;
  const fields = [
    inc.key,
    inc.id,
    inc.version,
    inc.status,
    inc.updatedAtMs,
    change.kind,
    change.atMs,
    change.reason,
    change.notify,
    change.held ?? false,
    change.actor ?? '',
    change.ticket ?? '',
    change.eventIds,
    inc.mergedInto ?? '',
  ];
  return createHash('sha256').update(JSON.stringify(fields)).digest('base64url').slice(0, 22);
}

function iso(ms: number): string {
  return ms > 0 ? new Date(ms).toISOString() : '';
}

/** What templates see; documented in the README's "Templates" section. */
export function templateContext(change: IncidentChange, marker: string, group?: ChangeGroup): object {
  const inc = change.incident;
  return {
    change: {
      kind: change.kind,
      reason: change.reason,
      at: iso(change.atMs),
      events: change.eventIds,
      actor: change.actor ?? '',
    },
    incident: {
      key: inc.key,
      id: inc.id,
      rule: inc.rule,
      title: inc.title,
      status: inc.status,
      assignee: inc.assignee ?? '',
      acknowledged_by: inc.acknowledgedBy ?? '',
      severity: inc.severityText || severityName(inc.severityNumber),
      severity_number: inc.severityNumber,
      service: inc.service,
      asset: inc.asset,
      tenant: inc.tenant,
      event_count: inc.eventCount,
      opened_at: iso(inc.openedAtMs),
      resolved_at: iso(inc.resolvedAtMs),
      first_seen: iso(inc.firstSeenMs),
      last_seen: iso(inc.lastSeenMs),
      sample_events: inc.sampleEventIds,
      merged_ids: inc.mergedIds ?? [],
      version: inc.version,
    },
    label: inc.labels,
    labels: labelList(inc.labels),
    marker,
    group: groupContext(group),
  };
}

function labelList(labels: Record<string, string>): { name: string; value: string }[] {
  return Object.keys(labels)
    .sort()
    .map((name) => ({ name, value: labels[name]! }));
}

/** A group's fields for templates; a notification about one incident has them empty, so one template serves both. */
function groupContext(group: ChangeGroup | undefined): object {
  const members = group?.members ?? [];
  const firing = members.filter((m) => m.firing).length;
  return {
    key: group?.key ?? '',
    label: group?.labels ?? {},
    labels: labelList(group?.labels ?? {}),
    firing,
    resolved: members.length - firing,
    total: members.length,
    members: members.map(({ incident: m, firing, kind }) => ({
      status: firing ? 'firing' : 'resolved',
      firing,
      change: kind,
      key: m.key,
      id: m.id,
      rule: m.rule,
      title: m.title,
      severity: m.severityText || severityName(m.severityNumber),
      service: m.service,
      asset: m.asset,
      tenant: m.tenant,
      opened_at: iso(m.openedAtMs),
      resolved_at: iso(m.resolvedAtMs),
      marker: incidentMarker(m.key),
      label: m.labels,
    })),
  };
}

/**
 * What the ledger keeps once `incident`'s change went to ticket `ref`: the incident's ticket,
 * with the ids merged into it, when `rec` is none or already its ticket (made for a twin that
 * merged into it); otherwise, still the ticket of `rec`'s incident.
 */
function ticketRecord(
  ref: string,
  resolved: boolean,
  incident: Incident,
  rec?: TicketRecord,
  written?: string,
): TicketRecord {
  const ours = rec === undefined || ticketOfIncident(rec, incident);
  const incidentId = ours ? incident.id : rec.incidentId;
  const ids = new Set([...(rec?.mergedIds ?? []), ...(ours ? (incident.mergedIds ?? []) : [])]);
  if (rec && ours) ids.add(rec.incidentId);
  ids.delete(incidentId);
  const out: TicketRecord =
    ids.size === 0 ? { ref, incidentId, resolved } : { ref, incidentId, resolved, mergedIds: [...ids].sort() };
  if (written !== undefined) out.written = written;
  return out;
}

/** A directory name for an exporter id such as `jira/ops`; reversible, so two ids never share one. */
function safeName(id: string): string {
  return encodeURIComponent(id);
}

/** Where an exporter keeps its outbox and ledger: `vigil tickets` finds them here too. */
export function incidentExporterDir(dataDir: string, id: string): string {
  return join(dataDir, INCIDENT_EXPORTERS_DIR, safeName(id));
}

export const INCIDENT_EXPORTERS_DIR = 'incident-exporters';

/** How soon a running daemon acts on `vigil tickets retry`. */
const RETRY_REQUEST_POLL_MS = 2000;

/**
 * How often changes waiting for the shared ticket ledger try again. The Redis client reconnects
 * within 2 s of Redis coming back, and a try while it is away fails at once without a request.
 */
const LEDGER_WAIT_MS = 1000;

/**
 * How long a new incident's first change waits while the ledger still holds its key's previous
 * incident's ticket open. Instances deliver each key's changes in order only among their own: the
 * previous incident's resolution may be on its way on another instance, and one instance alone
 * would have resolved that ticket before opening the next. A twin (the same trouble opened apart
 * by two agents) is recorded as merged into the ticket's incident within a reconciliation, long
 * before this; past it the change goes to the open ticket, as a twin's does.
 */
const PREVIOUS_RESOLUTION_WAIT_MS = 30_000;

interface RouteGroupCount {
  groups: number;
  firing: number;
  resolved: number;
}
type RouteGroupCounts = Map<string, RouteGroupCount>;

interface OutboxMetrics {
  sources: Map<string, () => { depth: number; ageSeconds: number }>;
  groupSources: Map<string, () => RouteGroupCounts>;
  parked: Counter<'exporter'>;
  throttled: Counter<'exporter'>;
  ledgerWaits: Counter<'exporter'>;
  duplicates: Counter<'exporter'>;
  groupRestores: Counter<'exporter'>;
}

const outboxMetricsByRegistry = new WeakMap<Registry, OutboxMetrics>();

/** Outbox gauges, read from every exporter of a service at scrape time. */
function outboxMetrics(registry: Registry): OutboxMetrics {
  let m = outboxMetricsByRegistry.get(registry);
  if (m) return m;
  const sources: OutboxMetrics['sources'] = new Map();
  const groupSources: OutboxMetrics['groupSources'] = new Map();
  const registers = [registry];
  const perExporter = (name: string, help: string, read: (v: { depth: number; ageSeconds: number }) => number) =>
    new Gauge({
      name,
      help,
      labelNames: ['exporter'],
      registers,
      collect() {
        for (const [id, get] of sources) this.set({ exporter: id }, read(get()));
      },
    });
  perExporter('vigil_exporter_outbox_depth', 'Incident changes waiting in the exporter outbox.', (v) => v.depth);
  perExporter(
    'vigil_exporter_outbox_oldest_age_seconds',
    'Age of the oldest undelivered incident change.',
    (v) => v.ageSeconds,
  );
  // Labelled by route key too: routes come from config, so the series stay few.
  const perRoute = (
    name: string,
    help: string,
    labelNames: string[],
    set: (g: Gauge, l: object, c: RouteGroupCount) => void,
  ) =>
    new Gauge({
      name,
      help,
      labelNames,
      registers,
      collect() {
        // Reset: an exporter a reload removed leaves no stale series.
        this.reset();
        for (const [exporter, get] of groupSources) for (const [route, c] of get()) set(this, { exporter, route }, c);
      },
    });
  perRoute(
    'vigil_route_groups',
    'Notification groups (routes with group_by) alive, waiting for or between notifications.',
    ['exporter', 'route'],
    (g, l, c) => g.set(l, c.groups),
  );
  perRoute(
    'vigil_route_group_members',
    'Incidents in notification groups: firing, or resolved and waiting for the group notification that reports it.',
    ['exporter', 'route', 'state'],
    (g, l, c) => {
      g.set({ ...l, state: 'firing' }, c.firing);
      g.set({ ...l, state: 'resolved' }, c.resolved);
    },
  );
  const parked = new Counter({
    name: 'vigil_exporter_outbox_parked_total',
    help: 'Incident changes given up on and parked in parked.ndjson.',
    labelNames: ['exporter'],
    registers,
  });
  const throttled = new Counter({
    name: 'vigil_exporter_throttled_changes_total',
    help: 'Incident changes that waited in the outbox for delivery.max_notifications_per_minute.',
    labelNames: ['exporter'],
    registers,
  });
  const ledgerWaits = new Counter({
    name: 'vigil_exporter_ledger_waits_total',
    help: "Delivery attempts put off, without spending one of delivery.max_attempts, because the shared ticket ledger was unreachable or another agent held the incident's claim.",
    labelNames: ['exporter'],
    registers,
  });
  const duplicates = new Counter({
    name: 'vigil_exporter_outbox_duplicates_total',
    help: 'Incident changes handed to the exporter again that its outbox had already taken (correlation repeats, after a restart, those it had not recorded as taken); dropped, not delivered twice.',
    labelNames: ['exporter'],
    registers,
  });
  const groupRestores = new Counter({
    name: 'vigil_exporter_group_epoch_changes_total',
    help: "Times this agent found that Redis had lost the exporter's shared notification groups (their generation key gone or replaced: a restart without persistence, a failover to a replica that missed writes, a FLUSHALL) and wrote back the groups it knew.",
    labelNames: ['exporter'],
    registers,
  });
  m = { sources, groupSources, parked, throttled, ledgerWaits, duplicates, groupRestores };
  outboxMetricsByRegistry.set(registry, m);
  return m;
}

/**
 * The part every incident exporter shares: routing, the durable outbox, the ticket ledger,
 * and turning each change into create / update / resolve / reopen calls so that an incident
 * gets exactly one ticket however often a change is retried or the process restarts.
 */
export class IncidentExporter implements QueuedExporter {
  /** Counts a change sent when the tracker took it, failed when it was parked. */
  readonly telemetry: ExporterTelemetry;
  /** Its entries' progress is the ledger record a tracker call made that the ledger could not yet take. */
  readonly outbox: Outbox<QueuedChange, TicketRecord>;
  /**
   * Incidents gathered into groups by routes with `group_by`, until their notification is queued
   * in the outbox: in Redis, shared by every agent, when the ledger is shared; else this process's.
   * Made by `start`, which learns which.
   */
  private stage: GroupStage | SharedGroupStage | undefined;
  ledger: TicketLedger;
  private readonly settings: CreateSettings;
  private readonly config: IncidentExporterConfig;
  private readonly driver: TicketDriver;
  private fileLedger: FileTicketLedger | undefined;
  private readonly parkedCounter: Counter<'exporter'>;
  private readonly timers: Timers | undefined;
  /** The config's routing tree: when it names this exporter, it decides instead of `routes`. */
  private tree: RoutingTree | undefined;
  /** Since when deliveries have failed without one succeeding, and what the last failure said. */
  private failingSince: number | undefined;
  private lastFailure = '';
  private lastParkReason = '';
  /** Since when changes wait for the shared ticket ledger, unreachable, and what it last said. */
  private ledgerDownSince: number | undefined;
  private ledgerDownReason = '';
  private readonly syncSettings: TicketSyncSettings | undefined;
  private sync: TicketSync | undefined;
  private poller: PollLoop | undefined;
  private pollFailure = '';
  private readonly random: () => number;

  constructor(
    settings: CreateSettings,
    config: IncidentExporterConfig,
    driver: TicketDriver,
    opts: IncidentExporterOptions = {},
  ) {
    this.settings = settings;
    this.config = config;
    this.driver = driver;
    this.timers = opts.timers;
    this.syncSettings = opts.sync;
    this.random = opts.random ?? Math.random;
    const dir = incidentExporterDir(settings.dataDir, settings.id);
    const d = config.delivery;
    const { metrics, id, logger } = settings;
    if (opts.ledger) this.ledger = opts.ledger;
    else
      this.ledger = this.fileLedger = new FileTicketLedger(join(dir, 'ledger.ndjson'), {
        limits: config.ledger ? pruneLimits(config.ledger) : DEFAULT_LEDGER_LIMITS,
        now: opts.timers ? () => opts.timers!.now() : undefined,
        report: new PruneReport(metrics.registry, logger, id, 'ledger'),
      });
    const telemetry = (this.telemetry = new ExporterTelemetry(metrics, id));
    this.outbox = new Outbox<QueuedChange, TicketRecord>({
      dir,
      fsync: d.fsync,
      maxAttempts: d.max_attempts,
      backoff: { initialMs: d.initial_backoff, maxMs: d.max_backoff },
      concurrency: d.concurrency,
      maxPerMinute: d.max_notifications_per_minute,
      timers: opts.timers,
      random: opts.random,
      deliver: (e) => this.deliver(e),
      retryRequestPollMs: RETRY_REQUEST_POLL_MS,
      // Counted only once the outbox has recorded it done: a crash from here on does not repeat it.
      onDelivered: () => telemetry.sent('incidents', 1),
      onRetry: (e, err, delayMs) => {
        this.ledgerAnswered();
        this.failed(err.message);
        telemetry.retried();
        logger.warn(
          { incident: e.key, kind: e.payload.kind, attempt: e.attempts, retryInMs: delayMs, err: err.message },
          'incident delivery failed; will retry',
        );
      },
      onPark: (e, reason) => {
        this.ledgerAnswered();
        this.failed(reason);
        this.lastParkReason = reason;
        telemetry.failed('incidents', 1);
        this.parkedCounter.inc({ exporter: id });
        logger.error(
          { incident: e.key, kind: e.payload.kind, attempts: e.attempts, seq: e.seq, reason },
          'incident change parked; later changes of the incident wait behind it until `vigil tickets retry`',
        );
      },
      onDeferred: (e, err) => {
        outboxMetrics(metrics.registry).ledgerWaits.inc({ exporter: id });
        // Only an unreachable ledger holds every key; a claim another agent holds is an answer.
        if (!err.allKeys) return this.ledgerAnswered();
        if (this.ledgerDownSince === undefined)
          logger.warn(
            { incident: e.key, kind: e.payload.kind, err: err.message, depth: this.outbox.depth },
            'shared ticket ledger unreachable; incident changes wait in the outbox until it answers, spending no attempt',
          );
        this.ledgerDownSince ??= (this.timers ?? Date).now();
        this.ledgerDownReason = err.message;
      },
      onDuplicate: (item) => {
        outboxMetrics(metrics.registry).duplicates.inc({ exporter: id });
        logger.info(
          { incident: item.key, kind: item.payload.kind },
          'incident change handed over again after a restart; the outbox has it already, not delivered twice',
        );
      },
      onRetryRequested: (e) =>
        logger.info(
          { incident: e.key, kind: e.payload.kind, seq: e.seq },
          'parked incident change moved back into delivery',
        ),
      onJournalError: (err) => logger.error({ err }, 'incident outbox journal write failed'),
      onThrottled: (e, waiting) => {
        outboxMetrics(metrics.registry).throttled.inc({ exporter: id });
        // Once per episode: the first change to wait since none was waiting.
        if (waiting === 1)
          logger.warn(
            { incident: e.key, kind: e.payload.kind, limit: d.max_notifications_per_minute, depth: this.outbox.depth },
            'notification rate limit reached (delivery.max_notifications_per_minute); changes wait in the outbox',
          );
      },
    });
    this.parkedCounter = outboxMetrics(metrics.registry).parked;
    outboxMetrics(metrics.registry).sources.set(id, () => {
      const oldest = this.outbox.oldestEnqueuedAtMs();
      return {
        depth: this.outbox.depth,
        ageSeconds: oldest === undefined ? 0 : ((this.timers ?? Date).now() - oldest) / 1000,
      };
    });
  }

  /** This process's groups, in groups.ndjson; `holding`: only while the shared groups cannot be reached. */
  private localGroups(holding: boolean): GroupStage {
    const { logger, dataDir, id } = this.settings;
    return new GroupStage({
      path: join(incidentExporterDir(dataDir, id), 'groups.ndjson'),
      fsync: this.config.delivery.fsync,
      timers: this.timers ?? realTimers,
      emit: (items) => this.outbox.append(items),
      onError: (err) => logger.error({ err }, 'notification groups: writing or queueing failed; retrying'),
      holding,
    });
  }

  /** The groups in Redis, when the ledger shares them; changes wait in groups.ndjson while Redis is away. */
  private sharedGroups(shared: SharedGroups): SharedGroupStage {
    const { logger } = this.settings;
    return new SharedGroupStage({
      shared,
      local: this.localGroups(true),
      timers: this.timers ?? realTimers,
      emit: (items) => this.outbox.append(items),
      onError: (err) => logger.error({ err }, 'shared notification groups: flushing failed; retrying'),
      onHeld: (held, groups) => {
        if (held)
          logger.warn(
            { groups },
            'shared notification groups unreachable (Redis); group changes wait on disk and join the shared groups once it answers',
          );
        else logger.info('group changes that waited for Redis joined the shared notification groups');
      },
      onRestored: (groups) => {
        outboxMetrics(this.settings.metrics.registry).groupRestores.inc({ exporter: this.settings.id });
        logger.warn(
          { groups },
          'redis lost the shared notification groups (their generation changed): wrote back the groups this agent knew, with their last notification',
        );
      },
    });
  }

  /** The notification groups; there are none before `start`. */
  get groups(): GroupStage | SharedGroupStage {
    if (!this.stage) throw new Error(`exporter ${this.settings.id} has not started: it has no notification groups yet`);
    return this.stage;
  }

  async start(host?: Host): Promise<void> {
    this.tree = host?.routingTree;
    // A ledger extension (in Redis) is shared by every agent using it: one ticket per incident among them.
    const extension = this.config.ledger?.extension;
    const shared =
      this.fileLedger && extension !== undefined ? host?.ticketLedger(extension, this.settings.id) : undefined;
    if (shared) {
      this.ledger = shared;
      this.fileLedger = undefined;
    }
    // Every grouping route that notifies this exporter has its series, at 0 until a group forms.
    const routes = new Set(this.tree?.groupingRoutes(this.settings.id));
    // An exporter no route groups for has no group to share, and looks for none in Redis.
    const sharedGroups = routes.size > 0 ? this.ledger.groups : undefined;
    const stage = (this.stage = sharedGroups ? this.sharedGroups(sharedGroups) : this.localGroups(false));
    outboxMetrics(this.settings.metrics.registry).groupSources.set(this.settings.id, () => {
      const counts = stage.countsByRoute();
      for (const r of counts.keys()) routes.add(r);
      for (const r of routes) if (!counts.has(r)) counts.set(r, { groups: 0, firing: 0, resolved: 0 });
      return counts;
    });
    await this.fileLedger?.open();
    await this.outbox.open();
    await stage.open();
    this.outbox.start();
    stage.start();
    if (this.syncSettings) this.startSync(this.syncSettings, host);
  }

  private startSync(sync: TicketSyncSettings, host: Host | undefined): void {
    const { id, logger, metrics } = this.settings;
    this.sync = new TicketSync({
      exporterId: id,
      ledger: () => this.ledger,
      desk: () => host?.incidentDesk?.(),
      logger,
      registry: metrics.registry,
      ownActorId: this.driver.ownActorId ? () => this.driver.ownActorId!() : undefined,
      groups: () => this.groups.list(),
    });
    if (sync.mode !== 'poll') return;
    const timers = this.timers ?? realTimers;
    const budget = new RequestBudget(sync.maxRequestsPerMinute, timers);
    const ticketSync = this.sync;
    this.poller = new PollLoop({
      intervalMs: sync.intervalMs,
      maxBackoffMs: sync.maxBackoffMs,
      timers,
      random: this.random,
      pass: () => ticketSync.poll(sync.reader, budget),
      cancel: () => budget.cancel(),
      onFailure: (err, failures, retryInMs) => {
        this.pollFailure = err.message;
        logger.warn({ err: err.message, failures, retryInMs }, 'reading tickets back failed; polling backs off');
      },
      onRecovered: () => logger.info('reading tickets back works again'),
    });
    this.poller.start();
  }

  /** The receiving end of the tracker's webhooks, when `sync.mode` is `webhook`. */
  ticketWebhook(): TicketWebhook | undefined {
    const sync = this.syncSettings;
    if (sync?.mode !== 'webhook') return undefined;
    return {
      receive: async (body, headers) => {
        const seen = sync.parser.parse(body, headers);
        if (!seen || !this.sync) return;
        if ('comment' in seen) await this.sync.applyCommentTo(seen.ref, seen.comment);
        else await this.sync.applyTo(seen);
      },
    };
  }

  /**
   * Resolves once every routed change is on disk, in the outbox or in its notification group:
   * the pipeline may forget them.
   */
  async consumeIncidents(batch: IncidentChange[]): Promise<void> {
    const items: OutboxItem<QueuedChange>[] = [];
    const grouped: { grouping?: RouteGrouping; change: IncidentChange }[] = [];
    for (const change of batch) {
      // A resolve goes through even when not notifying, so a ticket never stays open; it is a no-op if no ticket exists.
      // A held one does not: the incident may reopen silently, and a notifying resolve follows if it does not.
      if (!change.notify && (change.kind !== 'resolved' || change.held)) continue;
      if (!this.tree?.exporters.has(this.settings.id)) {
        if (routed(this.config.routes, change))
          items.push({ key: change.incident.key, payload: change, id: changeId(change) });
        continue;
      }
      const routes = this.tree.routesTo(this.settings.id, change, change.atMs);
      // A route that does not group notifies of the incident itself; each grouping route, of its group.
      if (routes.some((r) => !r.grouping))
        items.push({ key: change.incident.key, payload: change, id: changeId(change) });
      const keys = new Set<string>();
      for (const { grouping } of routes)
        if (grouping && !keys.has(grouping.routeKey)) {
          keys.add(grouping.routeKey);
          grouped.push({ grouping, change });
        }
      // Groups that formed under an earlier config may hold the incident: they hear of its end.
      if (keys.size === 0 && change.kind === 'resolved' && this.groups.size > 0) grouped.push({ change });
    }
    await Promise.all([this.outbox.append(items), this.groups.add(grouped)]);
  }

  /** The ticket this exporter made for the incident, if the ledger knows one (a notification without a ticket is none). */
  async ticketOf(incident: { key: string; id: string; mergedIds?: string[] }): Promise<TicketLink | undefined> {
    if (!this.driver.ticketUrl) return undefined;
    let rec = await this.ledger.get(incident.key);
    if (rec && !ticketOfIncident(rec, incident)) rec = undefined;
    // A grouped incident's ticket is its group's, while the group holds it.
    for (const key of rec ? [] : (this.stage?.groupsHolding(incident) ?? [])) {
      const group = await this.ledger.get(key);
      if (group && !group.resolved) rec = group;
    }
    if (!rec) return undefined;
    return { exporter: this.settings.id, ref: rec.ref, url: this.driver.ticketUrl(rec.ref), resolved: rec.resolved };
  }

  async shutdown(): Promise<void> {
    await this.poller?.stop();
    outboxMetrics(this.settings.metrics.registry).sources.delete(this.settings.id);
    outboxMetrics(this.settings.metrics.registry).groupSources.delete(this.settings.id);
    await this.stage?.close();
    await this.outbox.close();
    await this.driver
      .close?.()
      .catch((err: unknown) => this.settings.logger.warn({ err }, 'closing the tracker session failed'));
    await this.ledger.close();
  }

  /** Any outcome but a deferral for an unreachable ledger means the ledger answered this attempt. */
  private ledgerAnswered(): void {
    if (this.ledgerDownSince === undefined) return;
    this.ledgerDownSince = undefined;
    this.settings.logger.info(
      { depth: this.outbox.depth },
      'shared ticket ledger reachable again; delivering the changes that waited for it',
    );
  }

  private failed(what: string): void {
    this.failingSince ??= (this.timers ?? Date).now();
    this.lastFailure = what;
  }

  /**
   * Degraded once a delivery fails, failing when none has succeeded for `failing_after`; the
   * outbox backlog and the changes parked meanwhile in the reason. A success clears it. Waiting
   * for an unreachable shared ledger is degraded only, however long: the tracker is not at
   * fault, nothing is lost, and the state store already reports the outage.
   */
  health(): ComponentHealth {
    const now = (this.timers ?? Date).now();
    const oldest = this.outbox.oldestEnqueuedAtMs();
    const oldestAgeMs = oldest === undefined ? 0 : Math.max(0, now - oldest);
    const details = {
      waiting: this.outbox.depth,
      oldestAgeSeconds: Math.round(oldestAgeMs / 100) / 10,
      parked: this.outbox.parked,
      waitingOnParked: this.outbox.waitingOnParked,
    };
    const groupsWaiting = this.stage?.waiting ?? 0;
    if (
      this.failingSince === undefined &&
      this.ledgerDownSince === undefined &&
      !this.poller?.failing &&
      groupsWaiting === 0
    )
      return { status: 'ok', details };
    const waiting = this.outbox.depth
      ? `${this.outbox.depth} change(s) waiting, the oldest for ${formatAge(oldestAgeMs)}`
      : 'no change waiting';
    let health: ComponentHealth = { status: 'ok', details };
    if (this.failingSince !== undefined) {
      const parked = this.outbox.parked
        ? `; ${this.outbox.parked} change(s) parked, ${this.outbox.waitingOnParked} waiting behind them (last: ${this.lastParkReason}; see vigil tickets list)`
        : '';
      health = outage(
        this.failingSince,
        now,
        this.settings.health ?? DEFAULT_HEALTH_SETTINGS,
        `deliveries fail: ${this.lastFailure}; ${waiting}${parked}`,
        details,
      );
    }
    if (this.poller?.failing) {
      const reason = `reading tickets back fails (${this.poller.failing} pass(es) in a row): ${this.pollFailure}; incidents are not told of tickets people close meanwhile`;
      health = worse(health, { status: 'degraded', reason, details });
    }
    if (this.ledgerDownSince !== undefined) {
      const reason = `waiting for the shared ticket ledger (${this.ledgerDownReason}); ${waiting}, none given up on: they go out once it answers (for ${formatAge(now - this.ledgerDownSince)})`;
      health = worse(health, { status: 'degraded', reason, since: this.ledgerDownSince, details });
    }
    if (groupsWaiting > 0) {
      const reason = `changes to ${groupsWaiting} notification group(s) wait on disk for the shared groups (Redis unreachable); the groups notify once they have joined`;
      health = worse(health, { status: 'degraded', reason, details });
    }
    return health;
  }

  private notice(entry: OutboxEntry<QueuedChange>): Notice {
    const { group, ...change } = entry.payload;
    const rendered = this.render(change, group);
    const out: Notice = {
      change,
      ...rendered,
      id: `${rendered.marker}-${change.incident.version}-${change.kind}-${entry.seq}`,
    };
    if (group) out.group = this.noticeGroup(group, change.atMs);
    return out;
  }

  private render(change: IncidentChange, group?: ChangeGroup): { marker: string; title: string; body: string } {
    const marker = incidentMarker(change.incident.key);
    const ctx = templateContext(change, marker, group);
    return {
      marker,
      title: this.config.title.render(ctx).replace(/\s+/g, ' ').trim(),
      body: this.config.description.render(ctx, this.driver.escapeBody),
    };
  }

  /** Each member rendered as its own notification would be, with its last change in the group. */
  private noticeGroup(group: ChangeGroup, atMs: number): NoticeGroup {
    return {
      key: group.key,
      labels: group.labels,
      members: group.members.map((m) => ({
        ...m,
        ...this.render({ kind: m.kind, reason: '', atMs, incident: m.incident, notify: true, eventIds: [] }),
      })),
    };
  }

  private async deliver(entry: OutboxEntry<QueuedChange, TicketRecord>): Promise<void> {
    const started = performance.now();
    try {
      await this.deliverChange(entry);
      this.telemetry.answered('incidents', started);
      this.failingSince = undefined;
      this.ledgerAnswered();
    } catch (err) {
      if (err instanceof TicketLedgerUnavailableError)
        throw new DeliveryDeferredError(err.message, { retryAfterMs: LEDGER_WAIT_MS, allKeys: true, cause: err });
      throw err;
    }
  }

  private async deliverChange(entry: OutboxEntry<QueuedChange, TicketRecord>): Promise<void> {
    const notice = this.notice(entry);
    const { incident, kind } = notice.change;
    const key = incident.key;
    // The tracker call was made by an earlier attempt; only the ledger has yet to hear of it.
    if (entry.progress) return this.storeMade(key, entry.progress);
    // An incident that merged into another agent's twin goes on as that one: its ticket, if it
    // had one, is the survivor's now, open or not as it was; the survivor's changes decide.
    if (incident.mergedInto !== undefined) return this.ledger.merge(key, incident.id, incident.mergedInto);
    let rec = await this.ledger.get(key);
    // A twin's change made before its agent heard of the merge: the survivor's changes carry the ticket.
    if (rec && rec.incidentId !== incident.id && rec.mergedIds?.includes(incident.id)) return;
    // A resolved ticket of an earlier incident on the same key stays closed; the new incident gets its own.
    if (rec && rec.resolved && !ticketOfIncident(rec, incident)) rec = undefined;
    if (OPERATOR_UPDATE_KINDS.has(kind)) {
      // A person's acknowledgement, comment or assignment follows up on the open ticket; it never opens (or reopens) one.
      // A comment read back from this very ticket is there already.
      if (rec && !rec.resolved && notice.change.ticket !== `${this.settings.id}#${rec.ref}`)
        await this.driver.update(rec.ref, notice);
      return;
    }
    if (kind === 'resolved') {
      if (rec?.resolved) return;
      // A shared ledger can lose its records with Redis: ask the tracker before leaving a ticket open.
      const ref = rec?.ref ?? (this.fileLedger ? undefined : await this.driver.find(notice));
      if (ref === undefined) return;
      const written = (await this.driver.resolve(ref, notice)) ?? rec?.written;
      await this.store(entry, key, ticketRecord(ref, true, incident, rec, written));
    } else if (!rec) {
      await this.createOnce(entry, key, notice);
    } else if (
      kind === 'opened' &&
      !rec.resolved &&
      !ticketOfIncident(rec, incident) &&
      (this.timers ?? Date).now() - entry.enqueuedAtMs < PREVIOUS_RESOLUTION_WAIT_MS
    ) {
      throw new DeliveryDeferredError(
        `the ticket of ${key} is still open for its previous incident ${rec.incidentId}; waiting for its resolution (or for ${incident.id} to merge into it)`,
        { retryAfterMs: LEDGER_WAIT_MS, allKeys: false },
      );
    } else if (rec.resolved) {
      const written = (await this.driver.reopen(rec.ref, notice)) ?? rec.written;
      await this.store(entry, key, ticketRecord(rec.ref, false, incident, rec, written));
    } else {
      await this.driver.update(rec.ref, notice);
    }
  }

  private async createOnce(entry: OutboxEntry<QueuedChange, TicketRecord>, key: string, notice: Notice): Promise<void> {
    if (!(await this.ledger.claim(key))) {
      // Another agent is creating it: waiting for it is not a failure of the tracker, and costs no attempt.
      throw new DeliveryDeferredError(
        `another instance is creating the ticket for ${key}; retrying once it has stored it`,
        { retryAfterMs: LEDGER_WAIT_MS, allKeys: false },
      );
    }
    let ref: string;
    let found: string | undefined;
    try {
      found = await this.driver.find(notice);
      ref = found ?? (await this.driver.create(notice));
      // Found after the ledger lost its record (Redis restarted empty): this change must still reach the ticket.
      if (found !== undefined && notice.change.kind !== 'opened') await this.driver.update(found, notice);
    } catch (err) {
      await this.releaseClaim(key);
      throw err;
    }
    const written = found === undefined ? this.driver.createdStatus : undefined;
    await this.store(entry, key, ticketRecord(ref, false, notice.change.incident, undefined, written));
  }

  /**
   * Records what a tracker call did. When the ledger cannot take it (Redis went away after the
   * call), the outbox journals it, so the retry stores it instead of calling the tracker again.
   */
  private async store(entry: OutboxEntry<QueuedChange, TicketRecord>, key: string, rec: TicketRecord): Promise<void> {
    try {
      await this.ledger.put(key, rec);
    } catch (err) {
      await this.releaseClaim(key);
      try {
        await this.outbox.recordProgress(entry, rec);
      } catch (journalErr) {
        // Not kept: the retry repeats the call, and a creation finds its ticket by the marker.
        this.settings.logger.error(
          { err: journalErr, incident: key },
          'could not journal the ticket made for an incident before storing it',
        );
      }
      throw err;
    }
  }

  /**
   * Stores a record an earlier attempt made, unless the ledger meanwhile holds another open
   * ticket, which stays: a later incident's, when ours resolved an older one; otherwise another
   * agent created a second while ours waited (the ledger lost our claim with Redis, and the
   * tracker's search did not show ours yet).
   */
  private async storeMade(key: string, rec: TicketRecord): Promise<void> {
    const current = await this.ledger.get(key);
    // Our ticket, handed meanwhile to the incident ours merged into: it keeps that, with our call's
    // outcome, including the status our call left the ticket in (or a poll would read it as a person's).
    if (current && current.ref === rec.ref && current.mergedIds?.includes(rec.incidentId))
      return this.ledger.put(key, {
        ...current,
        resolved: rec.resolved,
        ...(rec.written === undefined ? {} : { written: rec.written }),
      });
    if (current && !current.resolved && (current.ref !== rec.ref || current.incidentId !== rec.incidentId)) {
      if (!rec.resolved)
        this.settings.logger.warn(
          { incident: key, ours: rec.ref, recorded: current.ref },
          'another agent recorded another ticket for this incident while ours waited for the ledger; keeping the recorded one, ours is a duplicate',
        );
      return;
    }
    await this.ledger.put(key, rec);
  }

  /** A claim not given back (the ledger unreachable) lapses with its time to live. */
  private async releaseClaim(key: string): Promise<void> {
    await this.ledger.release(key).catch((err: unknown) => {
      if (!(err instanceof TicketLedgerUnavailableError)) throw err;
    });
  }
}
