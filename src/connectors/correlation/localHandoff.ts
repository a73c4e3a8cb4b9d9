import type { VigilEvent } from '../../model/event.ts';

/**
 * Stream entries kept for the owner at most: an owner keeps up within a few reads; an entry it
 * never reads (its partition moved on before) goes once this many came after it.
 */
const KEPT_ENTRIES = 256;

/**
 * The events an agent sends to partitions it holds itself, handed from its sender to its owner
 * as they were sent: the owner reads its own stream entries as it reads every other (in stream
 * order, once, checkpointed by position) but takes their events from here instead of decoding
 * what it wrote a moment before. Decoding parses every row of JSON, about a tenth of a runtime
 * agent's CPU, a third of it on its own events (docs/benchmarks.md).
 *
 * Only events the stream's encoding carries exactly are handed so (`exact`): an event read back
 * from Redis and one handed over are then the same to every rule, and no incident depends on
 * which agent received an event. Nothing changes them after they are sent: a pipeline whose
 * processors change records works on copies of its own (`FanOut`), and exporters only read. What
 * is not here (an entry sent again after a failover, read after its hand-off went, or sent while
 * another agent held its partition) is decoded as ever.
 */
export class LocalHandoff {
  private readonly exact: (events: readonly VigilEvent[]) => boolean;
  /** `stream \n seq` → the events of that entry, oldest first. */
  private readonly kept = new Map<string, readonly VigilEvent[]>();
  /** Events taken from here. */
  handed = 0;

  constructor(exact: (events: readonly VigilEvent[]) => boolean) {
    this.exact = exact;
  }

  /** Keeps a copy of the events of entry `seq` on `stream`, when their encoding carries them exactly. */
  offer(stream: string, seq: string, events: readonly VigilEvent[]): void {
    if (!this.exact(events)) return;
    this.kept.set(stream + '\n' + seq, events.slice());
    if (this.kept.size > KEPT_ENTRIES) this.kept.delete(this.kept.keys().next().value!);
  }

  /** The events of entry `seq` on `stream`, once; undefined when they were not kept (or went). */
  take(stream: string, seq: string): readonly VigilEvent[] | undefined {
    const key = stream + '\n' + seq;
    const events = this.kept.get(key);
    if (events === undefined) return undefined;
    this.kept.delete(key);
    this.handed += events.length;
    return events;
  }

  /** Entries kept, not taken yet. */
  get size(): number {
    return this.kept.size;
  }
}
