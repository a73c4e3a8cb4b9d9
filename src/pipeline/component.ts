import type { Schema } from '../config/schema.ts';
import type { Logger } from '../telemetry/logger.ts';
import type { SelfMetrics } from '../telemetry/selfMetrics.ts';
import type { Consumers, Signal, SignalItem } from './signals.ts';
import type { Host } from './host.ts';

/** Start/Shutdown lifecycle shared by every component, as in the OTel Collector. */
export interface Component {
  start(host: Host): Promise<void>;
  /** Stops taking work and releases resources; for exporters, after flushing what they hold. */
  shutdown(): Promise<void>;
}

export interface CreateSettings {
  /** The instance id as written in config: `otlp`, `filter/noisy`. */
  id: string;
  logger: Logger;
  metrics: SelfMetrics;
  dataDir: string;
}

export type Receiver = Component;

/** A processor transforms a batch; returning fewer items drops them. */
export interface Processor<T = unknown> extends Partial<Component> {
  process(batch: T[]): T[] | Promise<T[]>;
}

export interface Exporter extends Component {
  consumeLogs?(batch: SignalItem['logs'][]): Promise<void>;
  consumeMetrics?(batch: SignalItem['metrics'][]): Promise<void>;
  consumeTraces?(batch: SignalItem['traces'][]): Promise<void>;
  consumeIncidents?(batch: SignalItem['incidents'][]): Promise<void>;
  /** For /readyz: false while the exporter cannot write (e.g. its database is down and the spool is full). */
  ready?(): boolean;
}

interface FactoryBase<C> {
  /** The config key before any `/name`: `otlp`, `file`, `filter`. */
  type: string;
  signals: readonly Signal[];
  configSchema: Schema<C>;
  /** One line for the generated reference docs. */
  description: string;
}

export interface ReceiverFactory<C = unknown> extends FactoryBase<C> {
  kind: 'receiver';
  create(settings: CreateSettings, config: C, consumers: Consumers): Receiver;
}

export interface ProcessorFactory<C = unknown> extends FactoryBase<C> {
  kind: 'processor';
  create<S extends Signal>(settings: CreateSettings & { signal: S; pipeline: string }, config: C): Processor<SignalItem[S]>;
}

export interface ExporterFactory<C = unknown> extends FactoryBase<C> {
  kind: 'exporter';
  create(settings: CreateSettings, config: C): Exporter;
}

export type AnyFactory = ReceiverFactory | ProcessorFactory | ExporterFactory;

/** Splits `filter/noisy` into its type `filter`. */
export function componentType(id: string): string {
  const slash = id.indexOf('/');
  return slash === -1 ? id : id.slice(0, slash);
}
