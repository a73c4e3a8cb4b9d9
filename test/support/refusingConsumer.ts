import { QueueFullError } from '../../src/errors.ts';
import type { Consumer } from '../../src/pipeline/signals.ts';

/** A pipeline stand-in that keeps what it takes, and refuses (as a full queue does) while `full` is set. */
export class RefusingConsumer<T> implements Consumer<T> {
  full = false;
  readonly taken: T[] = [];
  /** The queue a refusal names, and its limit. */
  readonly queue: string;
  readonly limit: number;

  constructor(queue: string, limit: number) {
    this.queue = queue;
    this.limit = limit;
  }

  consume(batch: T[]): Promise<void> {
    if (this.full) return Promise.reject(new QueueFullError(this.queue, this.limit));
    this.taken.push(...batch);
    return Promise.resolve();
  }
}
