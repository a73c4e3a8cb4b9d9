import type { IncidentChange, MetricPoint, Span, VigilEvent } from '../model/index.ts';

export type Signal = 'logs' | 'metrics' | 'traces' | 'incidents';
export const SIGNALS: readonly Signal[] = ['logs', 'metrics', 'traces', 'incidents'];

export interface SignalItem {
  logs: VigilEvent;
  metrics: MetricPoint;
  traces: Span;
  incidents: IncidentChange;
}

/**
 * The one interface between stages. The promise resolves when the batch is accepted (queued
 * or written); it rejects with a RefusedError when the next stage is full, which is how
 * back-pressure reaches receivers.
 */
export interface Consumer<T> {
  consume(batch: T[]): Promise<void>;
  /**
   * Throws the RefusedError that consume() of `n` records would reject with now. Receivers ask
   * before reading a request, so a saturated daemon refuses in microseconds instead of parsing
   * and mapping a body it will throw away: under overload that wasted work is what sinks it.
   */
  admit?(n: number): void;
  /**
   * Samples memory now and throws MemoryLimitError above the soft limit. Receivers call it every
   * few thousand records while decoding one request, which the periodic check cannot interrupt.
   */
  checkMemory?(): void;
  /**
   * Logs only, and present only when every pipeline behind this consumer has no processor and
   * hands its records to exporters that all write a log record as its JSON line (`eventToJson`)
   * and nothing else (the file exporter): a receiver may then give each record as that line in
   * UTF-8 ended by LF, made from what it decoded without building the event, which no one would
   * read. A line may hold, after its own, the lines of the records that follow it, which are
   * then empty: a batch's lines in one piece. Same answers as consume().
   *
   * `written`, when given, is called once every exporter behind this consumer has written the
   * lines, whatever `acknowledge` says, and never when they were refused or an exporter failed:
   * from then on nothing holds their bytes, and the receiver may write new lines over them.
   */
  consumeLines?(lines: Uint8Array[], written?: () => void): Promise<void>;
}

export type Consumers = { [S in Signal]?: Consumer<SignalItem[S]> };
