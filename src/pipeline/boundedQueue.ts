import { QueueFullError, TooManyRecordsError } from '../errors.ts';

export interface QueuedBatch<T> {
  items: T[];
  /** Called once the batch has left the pipeline (with the error if it failed), when the sender waits for that. */
  settled?: (err?: unknown) => void;
}

/**
 * A FIFO of batches bounded by the number of items it holds. `push` never waits: it either
 * accepts at once or throws QueueFullError, so receivers can answer 429 immediately instead
 * of holding sockets open. A batch larger than the whole capacity is refused for good (it
 * could never fit): accepting it into an empty queue let one request of tiny records hold any
 * number of them in memory.
 */
export class BoundedQueue<T> {
  readonly name: string;
  readonly capacity: number;
  private readonly entries: QueuedBatch<T>[] = [];
  private head = 0;
  private size_ = 0;
  private waiter: (() => void) | undefined;

  constructor(name: string, capacity: number) {
    this.name = name;
    this.capacity = capacity;
  }

  get size(): number {
    return this.size_;
  }

  get batches(): number {
    return this.entries.length - this.head;
  }

  hasRoomFor(n: number): boolean {
    return this.size_ + n <= this.capacity;
  }

  push(items: T[], settled?: (err?: unknown) => void): void {
    if (items.length > this.capacity)
      throw new TooManyRecordsError(
        `${items.length} records in one batch, over the capacity of queue "${this.name}" (${this.capacity})`,
        items.length,
        this.capacity,
      );
    if (!this.hasRoomFor(items.length)) throw new QueueFullError(this.name, this.capacity);
    this.entries.push(settled === undefined ? { items } : { items, settled });
    this.size_ += items.length;
    const w = this.waiter;
    if (w) {
      this.waiter = undefined;
      w();
    }
  }

  /** The oldest batch, left in the queue; undefined when empty. */
  peek(): QueuedBatch<T> | undefined {
    return this.head < this.entries.length ? this.entries[this.head] : undefined;
  }

  /** Takes the oldest batch, or undefined when empty. */
  shift(): QueuedBatch<T> | undefined {
    if (this.head >= this.entries.length) return undefined;
    const e = this.entries[this.head]!;
    this.entries[this.head] = undefined as unknown as QueuedBatch<T>;
    this.head++;
    if (this.head > 1024 && this.head * 2 > this.entries.length) {
      this.entries.splice(0, this.head);
      this.head = 0;
    }
    this.size_ -= e.items.length;
    return e;
  }

  /** Resolves when a batch is available (immediately if one already is). */
  whenNotEmpty(): Promise<void> {
    if (this.batches > 0) return Promise.resolve();
    return new Promise((resolve) => {
      this.waiter = resolve;
    });
  }

  /** Wakes a pending whenNotEmpty() so a stopping worker can exit. */
  wake(): void {
    const w = this.waiter;
    this.waiter = undefined;
    w?.();
  }
}
