import { formatAge } from '../../pipeline/health.ts';

/** What waits in an exporter's durable queue, for gauges and /readyz. */
export interface QueueBacklog {
  /** Items accepted and not yet delivered or given up on, those being sent included. */
  readonly items: number;
  /** Their size on disk, where the queue keeps count (0 where it does not). */
  readonly bytes: number;
  /** When the oldest of them was accepted (wall-clock ms); undefined when none waits. */
  readonly oldestAcceptedAtMs: number | undefined;
}

/** A backlog in words for /readyz reasons, and the age of its oldest item (0 when none waits). */
export function describeBacklog(
  b: QueueBacklog,
  nowMs: number,
  words: { kept: string; accepted: string },
): { oldestAgeMs: number; text: string } {
  const oldestAgeMs = b.oldestAcceptedAtMs === undefined ? 0 : Math.max(0, nowMs - b.oldestAcceptedAtMs);
  const text =
    b.items === 0
      ? `nothing ${words.kept}`
      : `${b.items} batch(es), ${b.bytes} bytes ${words.kept}, the oldest ${words.accepted} ${formatAge(oldestAgeMs)} ago`;
  return { oldestAgeMs, text };
}

/**
 * An exporter's durable queue (the Collector's persistent queue): `put()` resolves only once
 * the item is on disk, so whoever acknowledges upstream after it may crash without losing it,
 * a restart replays what was left, and a full queue makes `put()` wait, which is the
 * back-pressure receivers turn into 429 / RESOURCE_EXHAUSTED. Delivery takes items out in
 * order, retrying with one RetryPolicy, and sets aside what the destination refuses for good.
 *
 * Three layouts stay behind it because their destinations differ for good reasons:
 * - ClickHouse's spool (clickhouse/spool.ts, driven by BatchWriter): rows appended per table to
 *   an open batch file, sealed by size or age, each batch with an insert_deduplication_token so
 *   a replay of a batch ClickHouse already stored is a no-op; set aside under `rejected/`.
 * - The ticket outbox (tickets/outbox.ts): one journal of changes, delivered one at a time per
 *   incident key, in order, because an update or resolve must never overtake the create;
 *   what keeps failing is parked, and its key's later changes wait behind it.
 * - The OTLP queue (otlp/diskQueue.ts): one file per encoded request, renamed into place,
 *   because protobuf has no line to cut a torn write back to; batches of a signal merge into
 *   one request as they leave.
 */
export interface DurableQueue<Item> {
  put(item: Item): Promise<void>;
  backlog(): QueueBacklog;
}
