import { ExportFailedError, QueueFullError, ShuttingDownError, TooManyRecordsError } from '../errors.ts';
import type { VigilEvent } from '../model/event.ts';
import { copyEvents } from '../model/eventCopy.ts';
import type { Logger } from '../telemetry/logger.ts';
import type { SelfMetrics } from '../telemetry/selfMetrics.ts';
import { BoundedQueue } from './boundedQueue.ts';
import type { Processor } from './component.ts';
import type { MemoryGuard } from './memoryGuard.ts';
import type { Consumer, Signal } from './signals.ts';

/** Records the worker hands the processors and exporters at once, at most, when merging queued batches. */
const COALESCE_UP_TO = 8192;

export interface PipelineSink<T> {
  id: string;
  consume(batch: T[]): Promise<void>;
  /** Its consume takes a log record as its JSON line too (see `Exporter.takesLogLines`). */
  takesLines?: boolean;
}

export interface PipelineOptions<T> {
  name: string;
  signal: Signal;
  queueSize: number;
  /** `queued`: consume() resolves once the batch is queued. `exported`: once every exporter took it. */
  acknowledge: 'queued' | 'exported';
  processors: { id: string; processor: Processor<T> }[];
  sinks: PipelineSink<T>[];
  memory: MemoryGuard;
  logger: Logger;
  metrics: SelfMetrics;
}

/**
 * One `service.pipelines` entry at run time: a bounded queue in front, processors in order,
 * then every exporter of the pipeline. One worker drains the queue in order, so exporters see
 * batches in arrival order. consume() acknowledges when the batch is queued, or, with
 * `acknowledge: exported`, once every exporter has taken it (written, inserted or spooled), so
 * a crash can only lose what no sender was told is safe.
 */
export class Pipeline<T> implements Consumer<T> {
  readonly name: string;
  readonly signal: Signal;
  readonly queue: BoundedQueue<T>;
  private readonly opts: PipelineOptions<T>;
  private accepting = true;
  private worker: Promise<void> | undefined;
  private stopping = false;
  private readonly idleWaiters: (() => void)[] = [];
  private busy = false;
  /**
   * See `Consumer.consumeLines`: a logs pipeline with no processor whose every exporter takes
   * lines. Lines and events may then share a batch (another receiver sends events).
   */
  readonly consumeLines: ((lines: Uint8Array[], written?: () => void) => Promise<void>) | undefined;
  /** Its processors change records in place: fed beside other pipelines, it gets copies of its own (`FanOut`). */
  readonly changesRecords: boolean;

  constructor(opts: PipelineOptions<T>) {
    this.opts = opts;
    this.changesRecords = opts.processors.some((p) => p.processor.changesRecords !== false);
    this.consumeLines =
      opts.signal === 'logs' && opts.processors.length === 0 && opts.sinks.every((s) => s.takesLines === true)
        ? (lines, written) => this.consume(lines as T[], written)
        : undefined;
    this.name = opts.name;
    this.signal = opts.signal;
    this.queue = new BoundedQueue<T>(opts.name, opts.queueSize);
    opts.metrics.queueCapacity.set({ pipeline: opts.name }, opts.queueSize);
    opts.metrics.queueSize.set({ pipeline: opts.name }, 0);
  }

  /** Throws the error consume() would throw, without queueing; lets a fan-out check all targets first. */
  admit(n: number): void {
    if (!this.accepting) throw new ShuttingDownError();
    const capacity = this.queue.capacity;
    if (n > capacity) {
      throw new TooManyRecordsError(
        `${n} records in one request, over the queue_size (${capacity}) of pipeline "${this.name}"; send smaller batches or raise service.pipelines.${this.name}.queue_size`,
        n,
        capacity,
      );
    }
    this.opts.memory.admit();
    if (!this.queue.hasRoomFor(n)) throw new QueueFullError(this.name, capacity);
  }

  /** Nothing queued and nothing being handed to the exporters. */
  get idle(): boolean {
    return this.queue.batches === 0 && !this.busy;
  }

  checkMemory(): void {
    this.opts.memory.admitNow();
  }

  /** `written`: see `Consumer.consumeLines`; called once the exporters took the batch without a failure. */
  consume(batch: T[], written?: () => void): Promise<void> {
    if (batch.length === 0) {
      written?.();
      return Promise.resolve();
    }
    try {
      this.admit(batch.length);
    } catch (err) {
      return Promise.reject(err);
    }
    if (this.opts.acknowledge === 'queued') {
      this.queue.push(batch, written && ((err) => err === undefined && written()));
      this.opts.metrics.queueSize.set({ pipeline: this.name }, this.queue.size);
      return Promise.resolve();
    }
    return new Promise<void>((resolve, reject) => {
      this.queue.push(batch, (err) => {
        if (err !== undefined) return reject(err);
        written?.();
        resolve();
      });
      this.opts.metrics.queueSize.set({ pipeline: this.name }, this.queue.size);
    });
  }

  start(): void {
    this.worker = this.run();
  }

  private async run(): Promise<void> {
    const { metrics } = this.opts;
    while (true) {
      await this.queue.whenNotEmpty();
      const entry = this.queue.shift();
      if (entry === undefined) {
        if (this.stopping) return;
        continue;
      }
      this.busy = true;
      // Small batches that queued up while the exporters were busy leave as one: one file write
      // or insert instead of one per sender request (bench/json.ts at one event per request).
      let items = entry.items;
      const settle = entry.settled === undefined ? [] : [entry.settled];
      if (this.queue.batches > 0 && items.length < COALESCE_UP_TO) {
        items = items.slice();
        let next = this.queue.peek();
        while (next !== undefined && items.length + next.items.length <= COALESCE_UP_TO) {
          this.queue.shift();
          for (const it of next.items) items.push(it);
          if (next.settled !== undefined) settle.push(next.settled);
          next = this.queue.peek();
        }
      }
      metrics.queueSize.set({ pipeline: this.name }, this.queue.size);
      const failure = await this.process(items);
      for (const s of settle) s(failure);
      this.busy = false;
      if (this.queue.batches === 0) {
        for (const w of this.idleWaiters.splice(0)) w();
        if (this.stopping) return;
      }
    }
  }

  /** Resolves with the first exporter failure, if any: the waiting sender is told to retry. */
  private async process(input: T[]): Promise<unknown> {
    const { processors, sinks, logger, metrics } = this.opts;
    let batch = input;
    for (const { id, processor } of processors) {
      const before = batch.length;
      try {
        batch = await processor.process(batch);
      } catch (err) {
        // A processor bug must not lose the batch: pass it on unprocessed and say so loudly.
        logger.error({ err, processor: id, pipeline: this.name }, 'processor failed; batch passed on unprocessed');
        continue;
      }
      if (batch.length < before)
        metrics.processorDropped.inc({ processor: id, pipeline: this.name }, before - batch.length);
      if (batch.length === 0) return undefined;
    }
    if (sinks.length === 1) return this.deliver(sinks[0]!, batch);
    const failures = await Promise.all(sinks.map((s) => this.deliver(s, batch)));
    return failures.find((f) => f !== undefined);
  }

  private async deliver(sink: PipelineSink<T>, batch: T[]): Promise<unknown> {
    try {
      await sink.consume(batch);
      return undefined;
    } catch (err) {
      // Exporters own their retries and spools; what reaches here is final for this batch.
      this.opts.logger.error(
        { err, exporter: sink.id, pipeline: this.name, records: batch.length },
        'exporter failed to take a batch',
      );
      return new ExportFailedError(sink.id, err);
    }
  }

  /** Stops accepting, then resolves once everything queued has been handed to the exporters. */
  async drain(): Promise<void> {
    this.accepting = false;
    if (this.queue.batches > 0 || this.busy) {
      await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
    }
    this.stopping = true;
    this.queue.wake();
    await this.worker;
  }
}

/** Deep copies of a batch's records, for a pipeline that changes them (only logs processors do today). */
function copies<T>(signal: Signal, batch: T[]): T[] {
  return signal === 'logs'
    ? (copyEvents(batch as unknown as VigilEvent[]) as unknown as T[])
    : batch.map((r) => structuredClone(r));
}

/**
 * A receiver feeding several pipelines of one signal: every pipeline is checked first, so a
 * refusal refuses the whole batch and a sender's retry never duplicates into the pipelines
 * that had room. A pipeline whose processors change records gets copies of its own.
 */
export class FanOut<T> implements Consumer<T> {
  private readonly targets: Pipeline<T>[];
  /** Only when every target takes lines: one that needs events gets events from every receiver. */
  readonly consumeLines: ((lines: Uint8Array[], written?: () => void) => Promise<void>) | undefined;

  constructor(targets: Pipeline<T>[]) {
    this.targets = targets;
    this.consumeLines = targets.every((t) => t.consumeLines !== undefined)
      ? (lines, written) => this.consume(lines as T[], written)
      : undefined;
  }
  admit(n: number): void {
    for (const t of this.targets) t.admit(n);
  }

  checkMemory(): void {
    // One guard serves every pipeline: asking the first is asking them all.
    this.targets[0]?.checkMemory();
  }

  /** `written`: see `Consumer.consumeLines`; called once every target's exporters took the batch. */
  consume(batch: T[], written?: () => void): Promise<void> {
    if (this.targets.length === 1) return this.targets[0]!.consume(batch, written);
    try {
      for (const t of this.targets) t.admit(batch.length);
    } catch (err) {
      return Promise.reject(err);
    }
    let left = this.targets.length;
    const each = written && (() => --left === 0 && written());
    // A pipeline whose processors change records in place works on copies of its own, so that
    // no other pipeline sees its changes (or sees them or not, as the pipelines' workers happen
    // to run): the pipelines that only read share the batch, and when none does, the first
    // that changes takes it.
    let taken = this.targets.some((t) => !t.changesRecords);
    return Promise.all(
      this.targets.map((t) => {
        if (!t.changesRecords || !taken) {
          taken = true;
          return t.consume(batch, each);
        }
        return t.consume(copies(t.signal, batch), each);
      }),
    ).then(() => undefined);
  }
}
