import { int, type Schema } from '../config/schema.ts';
import { TooManyRecordsError } from '../errors.ts';
import { JsonValueCounter, type RecordCounter } from './json/recordCount.ts';

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
    doc: 'Most records (log records, spans, metric data points, events) one request may carry; the whole request is refused above it, before its records are decoded (413 / RESOURCE_EXHAUSTED, not retryable). A record takes about 3 KB in memory however small on the wire, so the default, 10,000, holds about 30 MB and stays under half the default pipeline queue_size (20,000). A JSON body may also hold at most 100 objects and arrays per record of this cap, counted before it is parsed.',
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

/**
 * Objects and arrays a JSON body may hold per record of max_records_per_request, counted before
 * it is parsed. An OTLP/JSON log record with 40 attributes holds about 85; an empty object costs
 * JSON.parse some 60 bytes of heap, so the default cap (1 M) bounds a parse near 60 MB.
 */
export const JSON_CONTAINERS_PER_RECORD = 100;

/**
 * A check to run on each chunk of a JSON body as it arrives: it counts objects and arrays and
 * throws the refusal (413 / RESOURCE_EXHAUSTED) once past the cap. `records` is what the
 * refusal reports as rejected: the records counted so far, when known. Given the request's
 * record counter when it counts them too, it reads that count (the caller feeds the counter
 * each chunk first) instead of reading the body a second time.
 */
export function jsonContainerCap(
  maxRecords: number,
  configPath: string,
  records: RecordCounter | undefined = undefined,
): (chunk: Uint8Array) => void {
  const cap = maxRecords * JSON_CONTAINERS_PER_RECORD;
  const counted = records?.containers ? records : new JsonValueCounter();
  return (chunk) => {
    if (counted !== records) counted.feed(chunk);
    if (counted.containers!() > cap)
      throw new TooManyRecordsError(
        `more than ${cap} JSON objects and arrays in one request (${JSON_CONTAINERS_PER_RECORD} per record of max_records_per_request, ${maxRecords}); send smaller batches or raise ${configPath}`,
        records?.total() ?? 0,
        maxRecords,
      );
  };
}
