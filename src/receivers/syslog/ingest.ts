import type { VigilEvent } from '../../model/event.ts';
import type { Consumer } from '../../pipeline/signals.ts';
import type { Logger } from '../../telemetry/logger.ts';
import type { SelfMetrics } from '../../telemetry/selfMetrics.ts';
import { syslogToEvent, unparsedToEvent, type Origin, type SyslogAttributeNames } from './mapping.ts';
import type { SyslogMetrics } from './metrics.ts';
import type { SyslogParser } from './parser.ts';
import { RateLimitedWarn } from '../../telemetry/rateLimitedLog.ts';

const MAX_LOGGED_LINE = 200;

/**
 * What every listener shares: a line in, an event out (parsed, or kept raw with its parse
 * error), counted; and a batch handed to the pipeline with the receiver counters kept.
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
  }

  beginBatch(): void {
    this.parser.beginBatch();
  }

  toEvent(line: string, truncated: boolean, origin: Origin, observedNs: bigint): VigilEvent {
    if (truncated) this.metrics.truncated.inc({ receiver: this.id, transport: origin.transport });
    const parsed = this.parser.parse(line);
    if (typeof parsed !== 'string')
      return syslogToEvent(parsed, origin, observedNs, truncated, this.attributeNames, line);
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

  /** Hands a batch to the pipeline; rejects (RefusedError) under back-pressure, having counted it. */
  deliver(events: VigilEvent[], transport: Origin['transport']): Promise<void> {
    return this.consumer.consume(events).then(
      () => {
        this.self.receiverAccepted.inc({ receiver: this.id, signal: 'logs', transport }, events.length);
      },
      (err: unknown) => {
        this.refused(events.length, transport);
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
