import type { Incident } from '../../model/incident.ts';

/**
 * Incidents by key as last seen, the open ones and those resolved lately: what the partitions'
 * inhibition and topology look at beside a partition's own (its engine judges, at each tick,
 * which were open at the tick's moment: `openAt`).
 */
export class IncidentsInView {
  readonly open = new Map<string, Incident>();
  private readonly resolved = new Map<string, Incident>();

  /** The latest state of an incident. */
  note(inc: Incident): void {
    if (inc.status === 'resolved') {
      this.open.delete(inc.key);
      this.resolved.set(inc.key, inc);
    } else {
      this.open.set(inc.key, inc);
      this.resolved.delete(inc.key);
    }
  }

  /** Forgets the incidents resolved before `sinceMs` (the open ones stay). */
  prune(sinceMs: number): void {
    for (const [key, inc] of this.resolved) if (inc.resolvedAtMs < sinceMs) this.resolved.delete(key);
  }

  /** The incidents resolved at or after `atMs` (and not pruned), on keys `mine` does not claim. */
  *resolvedSince(atMs: number, mine: (key: string) => boolean = () => false): Iterable<Incident> {
    for (const [key, inc] of this.resolved) if (inc.resolvedAtMs >= atMs && !mine(key)) yield inc;
  }
}
