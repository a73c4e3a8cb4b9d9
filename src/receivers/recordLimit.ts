import { int, type Schema } from '../config/schema.ts';
import { TooManyRecordsError } from '../errors.ts';

/**
 * The default cap on records in one request. A decoded record costs about 3 KB of heap however
 * small it was on the wire (an empty OTLP log record is 2 bytes, a JSON `{}` 3), so 10,000
 * records hold about 30 MB: half the default queue_size (20,000), so two full requests fit the
 * queue, and above what OTel SDKs (512) and the Collector's batch processor (8,192) send.
 */
export const DEFAULT_MAX_RECORDS_PER_REQUEST = 10_000;

/**
 * Records decoded between two memory samples while one request is decoded: about 12 MB of
 * empty log records, and a sample costs microseconds against milliseconds of decoding.
 */
export const CHECKPOINT_EVERY = 4096;

export function maxRecordsPerRequest(): Schema<number> {
  return int({
    default: DEFAULT_MAX_RECORDS_PER_REQUEST,
    min: 1,
    doc: 'Most records (log records, spans, metric data points, events) one request may carry; the whole request is refused above it, before its records are decoded (413 / RESOURCE_EXHAUSTED, not retryable). A record takes about 3 KB in memory however small on the wire, so the default, 10,000, holds about 30 MB and stays under half the default pipeline queue_size (20,000).',
  });
}

/**
 * The refusal for a request over the cap; `configPath` names the key to raise. `records` is how
 * far counting went: it stops just past the cap, so the answer says "more than".
 */
export function tooManyRecords(records: number, limit: number, configPath: string): TooManyRecordsError {
  return new TooManyRecordsError(
    `more than ${limit} records in one request, over max_records_per_request; send smaller batches or raise ${configPath}`,
    records,
    limit,
  );
}
