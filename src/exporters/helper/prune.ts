import { Counter, type Registry } from 'prom-client';
import { bytes, duration, obj, type Infer } from '../../config/schema.ts';
import type { Logger } from '../../telemetry/logger.ts';

/** How much a store an exporter keeps beside its data may hold; 0 lifts a limit. */
export interface PruneLimits {
  maxAgeMs: number;
  maxBytes: number;
}

/** `max_age` and `max_bytes` of a store kept beside an exporter's data, with its defaults. */
export function pruneLimitsSchema(o: { what: string; maxAge: string; maxBytes: string; doc: string }) {
  return obj(
    {
      max_age: duration({
        default: o.maxAge,
        doc: `${o.what} older than this are deleted, oldest first; 0 keeps them whatever their age.`,
      }),
      max_bytes: bytes({
        default: o.maxBytes,
        doc: `Past this size the oldest ${o.what.toLowerCase()} are deleted until it fits; 0: no size limit.`,
      }),
    },
    { doc: o.doc },
  );
}

export function pruneLimits(c: Infer<ReturnType<typeof pruneLimitsSchema>>): PruneLimits {
  return { maxAgeMs: c.max_age, maxBytes: c.max_bytes };
}

/** One thing a store may drop: its size and when it was last written (wall-clock ms). */
export interface Prunable {
  readonly bytes: number;
  readonly atMs: number;
}

export interface PruneChoice<T> {
  /** Oldest first. */
  remove: T[];
  /** Of those, how many went for their age; the rest went to bring the total under maxBytes. */
  byAge: number;
}

/**
 * What to drop from `items` (all of them droppable) so that none is older than maxAgeMs and
 * `keptBytes` (what stays that may not be dropped) plus the rest fit in maxBytes: the oldest
 * first in both cases, so what is left is always the most recent.
 */
export function choosePrune<T extends Prunable>(
  items: readonly T[],
  limits: PruneLimits,
  nowMs: number,
  keptBytes = 0,
): PruneChoice<T> {
  const sorted = [...items].sort((a, b) => a.atMs - b.atMs);
  let total = keptBytes;
  for (const it of sorted) total += it.bytes;
  let n = 0;
  let byAge = 0;
  while (n < sorted.length) {
    const it = sorted[n]!;
    const old = limits.maxAgeMs > 0 && nowMs - it.atMs > limits.maxAgeMs;
    const over = limits.maxBytes > 0 && total > limits.maxBytes;
    if (!old && !over) break;
    if (old) byAge++;
    total -= it.bytes;
    n++;
  }
  return { remove: sorted.slice(0, n), byAge };
}

export interface PruneOutcome {
  removed: number;
  bytes: number;
  byAge: number;
  /** What the store still holds afterwards. */
  kept: number;
  keptBytes: number;
}

const prunedByRegistry = new WeakMap<Registry, Counter<'exporter' | 'store'>>();

/**
 * Counts and logs what an exporter's side store (the ClickHouse spool's `rejected/`, a ticket
 * ledger) dropped to stay within its limits: `vigil_exporter_pruned_total{exporter,store}`, and
 * one log line per prune with the counts, never one per item.
 */
export class PruneReport {
  private readonly counter: Counter<'exporter' | 'store'>;
  private readonly logger: Logger;
  private readonly exporter: string;
  private readonly store: string;

  constructor(registry: Registry, logger: Logger, exporter: string, store: string) {
    let counter = prunedByRegistry.get(registry);
    if (!counter) {
      counter = new Counter({
        name: 'vigil_exporter_pruned_total',
        help: 'Items an exporter dropped from a store it keeps beside its data (store: rejected, the ClickHouse batches set aside; ledger, resolved tickets) for their age or to stay under its max_bytes.',
        labelNames: ['exporter', 'store'],
        registers: [registry],
      });
      prunedByRegistry.set(registry, counter);
    }
    this.counter = counter;
    this.counter.inc({ exporter, store }, 0);
    this.logger = logger;
    this.exporter = exporter;
    this.store = store;
  }

  record(outcome: PruneOutcome, what: string): void {
    if (outcome.removed === 0) return;
    this.counter.inc({ exporter: this.exporter, store: this.store }, outcome.removed);
    this.logger.info(
      {
        exporter: this.exporter,
        store: this.store,
        removed: outcome.removed,
        removedBytes: outcome.bytes,
        removedForAge: outcome.byAge,
        removedForSize: outcome.removed - outcome.byAge,
        kept: outcome.kept,
        keptBytes: outcome.keptBytes,
      },
      `pruned ${outcome.removed} ${what}, oldest first`,
    );
  }
}
