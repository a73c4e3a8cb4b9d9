import type { NativeMemorySink } from './memoryGuard.ts';
import type { EventStore } from '../api/eventStore.ts';
import type { ConfigIssue, Schema } from '../config/schema.ts';
import type { IncidentDesk } from '../correlation/incidentActions.ts';
import type { QueueBacklog } from '../exporters/helper/queue.ts';
import type { TicketLedger } from '../exporters/tickets/ledger.ts';
import type { TicketWebhook } from '../exporters/tickets/webhook.ts';
import type { Authenticator } from '../extensions/auth/principal.ts';
import type { SharedRedis } from '../extensions/redisState/sharedRedis.ts';
import type { Logger } from '../telemetry/logger.ts';
import type { SelfMetrics } from '../telemetry/selfMetrics.ts';
import type { Consumers, Signal, SignalItem } from './signals.ts';
import type { ComponentHealth, HealthSettings } from './health.ts';
import type { Host } from './host.ts';

/** Start/Shutdown lifecycle shared by every component, as in the OTel Collector. */
export interface Component {
  start(host: Host): Promise<void>;
  /** Stops taking work and releases resources; for exporters, after flushing what they hold. */
  shutdown(): Promise<void>;
  /**
   * For /readyz and `vigil_component_healthy`, read at every request and scrape: cheap, no I/O.
   * Without it the component counts as ok.
   */
  health?(): ComponentHealth;
}

export interface CreateSettings {
  /** The instance id as written in config: `otlp`, `filter/noisy`. */
  id: string;
  logger: Logger;
  metrics: SelfMetrics;
  dataDir: string;
  /** `service.telemetry.health`; DEFAULT_HEALTH_SETTINGS when absent (components built by tests). */
  health?: HealthSettings;
  /** The memory limiter's hard ceiling in bytes, for components that size native memory to it (embedded ClickHouse). */
  memoryLimitBytes?: number;
  /** The memory limiter, for components whose native engine tracks its own memory (embedded ClickHouse). */
  nativeMemory?: NativeMemorySink;
}

export type Receiver = Component;

/** A processor transforms a batch; returning fewer items drops them. */
export interface Processor<T = unknown> extends Partial<Component> {
  process(batch: T[]): T[] | Promise<T[]>;
  /**
   * False for a processor that never changes a record, only drops or passes it on (filter): a
   * pipeline of such processors shares its records with the other pipelines of its receivers.
   * Otherwise (the default) records change in place, and the pipeline gets copies of its own.
   */
  readonly changesRecords?: boolean;
}

export interface Exporter extends Component {
  consumeLogs?(batch: SignalItem['logs'][]): Promise<void>;
  consumeMetrics?(batch: SignalItem['metrics'][]): Promise<void>;
  consumeTraces?(batch: SignalItem['traces'][]): Promise<void>;
  consumeIncidents?(batch: SignalItem['incidents'][]): Promise<void>;
  /**
   * consumeLogs also takes a log record as the JSON line `eventToJson` makes of its event, in
   * UTF-8 ended by LF (a Uint8Array in place of the event), and does with it what it would do
   * with that line: a logs pipeline whose exporters all say so, with no processor, offers
   * receivers `consumeLines`. A record may hold the lines of the records after it, which are
   * then empty; and once consumeLogs has settled the exporter holds none of the bytes, which
   * the receiver may then write new lines over.
   */
  readonly takesLogLines?: boolean;
  /** A ticket exporter's ticket for this incident, when it made one: the operators' API links it. */
  ticketOf?(incident: { key: string; id: string; mergedIds?: string[] }): Promise<TicketLink | undefined>;
  /** A storage exporter's reads of the events and incident changes it stored, for the operators' API. */
  eventStore?(): EventStore;
  /** A ticket exporter's receiver of its tracker's webhooks, served on the operators' API listener. */
  ticketWebhook?(): TicketWebhook | undefined;
  /**
   * What a storage or forwarding exporter has accepted and not yet delivered (rows spooled
   * or being inserted, batches queued): the memory limiter counts the daemon at rest only
   * when none is left.
   */
  backlog?(): QueueBacklog;
}

/** The method of an exporter that takes each signal. */
export const CONSUME_METHOD = {
  logs: 'consumeLogs',
  metrics: 'consumeMetrics',
  traces: 'consumeTraces',
  incidents: 'consumeIncidents',
} as const satisfies Record<Signal, keyof Exporter>;

/** A ticket (or notification) made for an incident, as the API shows it. */
export interface TicketLink {
  exporter: string;
  /** The tracker's id: GLPI ticket id, Jira issue key. */
  ref: string;
  /** Where a person opens it, when the tracker has a page for it. */
  url?: string;
  resolved: boolean;
}

/**
 * The exporter end of one pipeline and the receiver end of others, as in the Collector
 * (`connector/connector.go`): the correlation connector takes logs and metrics and emits
 * incident changes into the `incidents` pipelines that list it as their receiver.
 */
export interface Connector extends Exporter {
  /** Swaps in the config of a reloaded file, keeping what it can; without it, a change needs a restart. */
  reload?(config: unknown): Promise<void>;
  /** The incidents it holds and a person's actions on them, for the operators' API; undefined before it starts. */
  incidentDesk?(): IncidentDesk | undefined;
}

/** What an extension offers the components that look it up by id. */
export type ExtensionCapability = 'authenticator' | 'redis_state' | 'ticket_ledger';

/** A reference from a component's config to an extension, checked when the config is loaded. */
export interface ExtensionRef {
  /** The id as written, e.g. `authenticator/ops`. */
  id: string;
  /** What the referring component needs the extension to be. */
  capability: ExtensionCapability;
  /** The YAML path of the reference below the component, e.g. `auth.authenticator`. */
  path: string;
}

interface FactoryBase<C> {
  /** The config key before any `/name`: `otlp`, `file`, `filter`. */
  type: string;
  /** For a connector, the signals it takes as an exporter of pipelines. */
  signals: readonly Signal[];
  configSchema: Schema<C>;
  /** One line for the generated reference docs. */
  description: string;
  /** The extensions a parsed config refers to, so a wrong id fails at load with its YAML path. */
  extensionRefs?(config: C): ExtensionRef[];
  /**
   * Checks a schema-valid config further (say, compiling rules, or that an optional package it
   * needs is installed); issue paths start with `path`.
   */
  validate?(config: C, path: string): ConfigIssue[];
  /**
   * Imports the modules `create` needs (see `lazyModule`); awaited before the first `create`,
   * so a config that does not use the component never loads its code.
   */
  load?(): Promise<void>;
}

export interface ReceiverFactory<C = unknown> extends FactoryBase<C> {
  kind: 'receiver';
  create(settings: CreateSettings, config: C, consumers: Consumers): Receiver;
}

export interface ProcessorFactory<C = unknown> extends FactoryBase<C> {
  kind: 'processor';
  create<S extends Signal>(
    settings: CreateSettings & { signal: S; pipeline: string },
    config: C,
  ): Processor<SignalItem[S]>;
}

export interface ExporterFactory<C = unknown> extends FactoryBase<C> {
  kind: 'exporter';
  create(settings: CreateSettings, config: C): Exporter;
}

export interface ConnectorFactory<C = unknown> extends FactoryBase<C> {
  kind: 'connector';
  /** The signals it emits, as the receiver of pipelines. */
  emits: readonly Signal[];
  /**
   * A top-level config section that is shorthand for this connector (`correlation:`): the
   * section is the config of the connector `type`, an exporter id of this type in a pipeline
   * names it, and pipelines of the emitted signals with no receivers get it as their receiver.
   */
  shorthand?: {
    section: string;
    /** Heading of the section's table in the generated reference. */
    title: string;
    /** The error for an exporter id of this type when the section is missing. */
    whenSectionMissing: string;
  };
  /** `consumers` are the pipelines that list it as a receiver, by signal. */
  create(settings: CreateSettings, config: C, consumers: Consumers): Connector;
}

/**
 * A shared resource outside the pipelines, looked up by id through `Host` (the Collector's
 * `extensions:`): started before every pipeline and shut down after them.
 */
export interface Extension extends Component {
  /** Present on an extension whose factory provides `authenticator`. */
  authenticator?(): Authenticator;
  /** Present on an extension whose factory provides `redis_state`. */
  redisState?(): SharedRedis;
  /**
   * Present on an extension whose factory provides `ticket_ledger`: exporter `exporter`'s ledger,
   * for it to use and not close. `users`: every exporter of the config keeping tickets in it.
   */
  ticketLedger?(exporter: string, users: readonly string[]): TicketLedger;
}

export interface ExtensionFactory<C = unknown> extends FactoryBase<C> {
  kind: 'extension';
  /** What the extension can be looked up as. */
  provides: readonly ExtensionCapability[];
  create(settings: CreateSettings, config: C): Extension;
}

export type AnyFactory = ReceiverFactory | ProcessorFactory | ExporterFactory | ConnectorFactory | ExtensionFactory;

/** Splits `filter/noisy` into its type `filter`. */
export function componentType(id: string): string {
  const slash = id.indexOf('/');
  return slash === -1 ? id : id.slice(0, slash);
}
