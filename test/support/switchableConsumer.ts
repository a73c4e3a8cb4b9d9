import { QueueFullError } from '../../src/errors.ts';
import type { Consumer } from '../../src/pipeline/signals.ts';

/** A pipeline stand-in that refuses (as a full queue does) while `full` is set, and keeps what it takes. */
export class SwitchableConsumer<T> implements Consumer<T> {
  full = false;
  refusals = 0;
  readonly accepted: T[] = [];
  admit(): void {
    if (this.full) {
      this.refusals++;
      throw new QueueFullError('logs', 10);
    }
  }
  consume(batch: T[]): Promise<void> {
    if (this.full) {
      this.refusals++;
      return Promise.reject(new QueueFullError('logs', 10));
    }
    for (const e of batch) this.accepted.push(e);
    return Promise.resolve();
  }
}
