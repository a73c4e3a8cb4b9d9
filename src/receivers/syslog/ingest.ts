import type { VigilEvent } from '../../model/event.ts';
import type { Consumer } from '../../pipeline/signals.ts';
import type { Logger } from '../../telemetry/logger.ts';
import type { SelfMetrics } from '../../telemetry/selfMetrics.ts';
import { syslogToEvent, unparsedToEvent, type Origin, type SyslogAttributeNames } from './mapping.ts';
import type { SyslogMetrics } from './metrics.ts';
import type { SyslogParser } from './parser.ts';
import { RateLimitedWarn } from '../../telemetry/rateLimitedLog.ts';
import { JOINED } from '../lineBuffers.ts';
import { SyslogLineEncoder } from './eventLine.ts';

/**
 * What a listener hands the pipeline for a message: its event, or its event's JSON line (UTF-8,
 * ended by LF) when the pipeline takes lines.
 */
export type SyslogRecord = VigilEvent | Uint8Array;

const MAX_LOGGED_LINE = 200;

/**
 * What every listener shares: a line in, an event out (parsed, or kept raw with its parse
 * error), counted; and a batch handed to the pipeline with the receiver counters kept. When
 * every pipeline behind the consumer writes only JSON lines with no processor before (see
 * `Consumer.consumeLines`), a message becomes its event's line and the event is never built.
 */
export class SyslogIngest {
  readonly id: string;
  readonly consumer: Consumer<VigilEvent>;
  readonly metrics: SyslogMetrics;
  readonly self: SelfMetrics;
  readonly logger: Logger;
  private readonly parser: SyslogParser;
  private readonly attributeNames: SyslogAttributeNames;
  private readonly parseWarn: RateLimitedWarn;
  /** Present when the consumer takes lines: then toRecord gives lines and deliver hands them over as such. */
  private readonly lines: SyslogLineEncoder | undefined;
  /** Whether lines are tried from the bytes first: they may be RFC 5424 (`SyslogLineEncoder.encodeBytes`). */
  private readonly bytesFirst: boolean;

  constructor(opts: {
    id: string;
    parser: SyslogParser;
    attributeNames?: SyslogAttributeNames;
    consumer: Consumer<VigilEvent>;
    metrics: SyslogMetrics;
    self: SelfMetrics;
    logger: Logger;
  }) {
    this.id = opts.id;
    this.parser = opts.parser;
    this.attributeNames = opts.attributeNames ?? 'vigil';
    this.consumer = opts.consumer;
    this.metrics = opts.metrics;
    this.self = opts.self;
    this.logger = opts.logger;
    this.parseWarn = new RateLimitedWarn(opts.logger);
    this.lines = opts.consumer.consumeLines ? new SyslogLineEncoder(this.attributeNames) : undefined;
    this.bytesFirst = this.lines !== undefined && this.parser.protocol !== 'rfc3164';
  }

  /** Starts a batch of messages; `toRecord` makes them, `finishBatch` ends it. */
  beginBatch(): void {
    this.parser.beginBatch();
    this.lines?.beginBatch();
  }

  /**
   * Ends the batch: `records`, what `toRecord` gave for each of its messages in order, ready to
   * deliver (lines get their bytes: see `LineBuffers.finishBatch`).
   */
  finishBatch(records: SyslogRecord[]): void {
    this.lines?.finishBatch(records);
  }

  /**
   * `toRecord` of the message in `bytes` from `from` to `to` (UTF-8). A line the pipeline takes
   * is made from the bytes where it can (`SyslogLineEncoder.encodeBytes`), without the text.
   */
  toRecordBytes(
    bytes: Buffer,
    from: number,
    to: number,
    truncated: boolean,
    origin: Origin,
    observedNs: bigint,
  ): SyslogRecord {
    if (this.bytesFirst && this.lines!.encodeBytes(bytes, from, to, origin, observedNs, truncated)) {
      if (truncated) this.metrics.truncated.inc({ receiver: this.id, transport: origin.transport });
      return JOINED;
    }
    return this.toRecord(bytes.toString('utf8', from, to), truncated, origin, observedNs);
  }

  /**
   * What a message is handed to the pipeline as: its event, or that event's JSON line when the
   * pipeline takes lines (its bytes once the batch is finished).
   */
  toRecord(line: string, truncated: boolean, origin: Origin, observedNs: bigint): SyslogRecord {
    if (truncated) this.metrics.truncated.inc({ receiver: this.id, transport: origin.transport });
    const parsed = this.parser.parse(line);
    const lines = this.lines;
    if (typeof parsed === 'string') {
      const event = this.unparsed(line, parsed, truncated, origin, observedNs);
      if (lines === undefined) return event;
      lines.line(event);
      return JOINED;
    }
    if (lines === undefined) return syslogToEvent(parsed, origin, observedNs, truncated, this.attributeNames, line);
    lines.encode(parsed, origin, observedNs, truncated, line);
    return JOINED;
  }

  private unparsed(line: string, parsed: string, truncated: boolean, origin: Origin, observedNs: bigint): VigilEvent {
    this.metrics.parseErrors.inc({ receiver: this.id, transport: origin.transport });
    this.parseWarn.warn(
      {
        peer: origin.peerAddress,
        transport: origin.transport,
        error: parsed,
        line: line.length > MAX_LOGGED_LINE ? `${line.slice(0, MAX_LOGGED_LINE)}…` : line,
      },
      'syslog message could not be parsed; kept as a raw event with attribute syslog.parse_error',
    );
    return unparsedToEvent(line, parsed, origin, observedNs, truncated, this.attributeNames);
  }

  /** Throws the RefusedError that delivering `n` messages would meet now (see Consumer.admit). */
  admit(n: number): void {
    this.consumer.admit?.(n);
  }

  /** Hands a batch to the pipeline; rejects (RefusedError) under back-pressure, having counted it. */
  deliver(records: SyslogRecord[], transport: Origin['transport']): Promise<void> {
    const { consumer } = this;
    // toRecord gave lines exactly when the consumer takes them.
    const lines = this.lines;
    const taken =
      lines === undefined
        ? consumer.consume(records as VigilEvent[])
        : consumer.consumeLines!(records as Uint8Array[], () => lines.written(records as Uint8Array[]));
    return taken.then(
      () => {
        this.self.receiverAccepted.inc({ receiver: this.id, signal: 'logs', transport }, records.length);
      },
      (err: unknown) => {
        this.refused(records.length, transport);
        this.self.countMemoryRefusal(this.id, err);
        throw err;
      },
    );
  }

  /** Counts messages refused by the pipeline, or dropped unparsed while it refuses (UDP). */
  refused(n: number, transport: Origin['transport']): void {
    this.self.receiverRefused.inc({ receiver: this.id, signal: 'logs', transport }, n);
  }
}
