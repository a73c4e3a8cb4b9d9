/**
 * Group commit for an append-only file: writes that arrive while one batch is on its way to
 * disk wait and go together in the next, as one write and at most one fsync. An fsync costs
 * the same for one line as for a hundred, so in an alert storm this turns a queue of fsyncs,
 * each waiting for the one before, into one per batch. The first write after a quiet spell
 * goes at once: nothing waits to gather company.
 *
 * Each caller's promise settles with its batch: resolved only after `flush` returned, so
 * nothing is acknowledged before it is on disk (and fsynced when the caller or another in the
 * batch asked for it); rejected, for every caller of the batch, when `flush` threw.
 */
export class GroupCommit<Op> {
  private readonly flush: (ops: Op[]) => Promise<void>;
  private queue: { op: Op; resolve: () => void; reject: (err: unknown) => void }[] = [];
  private draining = false;
  private drained: Promise<void> = Promise.resolve();

  /** `flush` writes a batch, in arrival order; it is never called again before it settled. */
  constructor(flush: (ops: Op[]) => Promise<void>) {
    this.flush = flush;
  }

  add(op: Op): Promise<void> {
    return new Promise((resolve, reject) => {
      this.queue.push({ op, resolve, reject });
      if (!this.draining) {
        this.draining = true;
        this.drained = this.drain();
      }
    });
  }

  /** Resolves once every write added so far has settled. */
  async settled(): Promise<void> {
    await this.drained;
  }

  private async drain(): Promise<void> {
    // Writes added in the step that started the drain belong to its first batch.
    await Promise.resolve();
    while (this.queue.length > 0) {
      const batch = this.queue;
      this.queue = [];
      try {
        await this.flush(batch.map((b) => b.op));
        for (const b of batch) b.resolve();
      } catch (err) {
        for (const b of batch) b.reject(err);
      }
    }
    // Cleared in the same step as the empty queue was seen: a write added after it starts a new drain.
    this.draining = false;
  }
}
