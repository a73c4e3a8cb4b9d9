import type { VigilEvent } from '../../model/event.ts';

/**
 * Events kept for the owner at most (and entries: an entry of one event costs a map slot too):
 * an owner keeps up within a few reads; past this, the oldest entries go (one never read, its
 * partition moved on before; or sent while the owner was catching up), to be decoded if read.
 */
const KEPT_EVENTS = 65_536;
const KEPT_ENTRIES = 4_096;

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
  /** Events kept, not taken yet. */
  private keptEvents = 0;

  constructor(exact: (events: readonly VigilEvent[]) => boolean) {
    this.exact = exact;
  }

  /** Keeps a copy of the events of entry `seq` on `stream`, when their encoding carries them exactly. */
  offer(stream: string, seq: string, events: readonly VigilEvent[]): void {
    if (!this.exact(events)) return;
    this.kept.set(stream + '\n' + seq, events.slice());
    this.keptEvents += events.length;
    while (this.keptEvents > KEPT_EVENTS || this.kept.size > KEPT_ENTRIES) {
      const [oldest, held] = this.kept.entries().next().value!;
      this.kept.delete(oldest);
      this.keptEvents -= held.length;
    }
  }

  /** The events of entry `seq` on `stream`, once; undefined when they were not kept (or went). */
  take(stream: string, seq: string): readonly VigilEvent[] | undefined {
    const key = stream + '\n' + seq;
    const events = this.kept.get(key);
    if (events === undefined) return undefined;
    this.kept.delete(key);
    this.keptEvents -= events.length;
    this.handed += events.length;
    return events;
  }

  /** Entries kept, not taken yet. */
  get size(): number {
    return this.kept.size;
  }

  /** Events kept, not taken yet. */
  get events(): number {
    return this.keptEvents;
  }
}
