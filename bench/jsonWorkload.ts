/**
 * The JSON benchmarks' workload: monitoring events in requests of `batch`, posted by
 * `concurrency` keep-alive connections for `seconds`, so bench/json.ts and bench/peers.ts load
 * Vigil and the bare node:http baseline the same way.
 */
import { postFor } from './support.ts';

export function makeBody(batch: number): Buffer {
  const events = Array.from({ length: batch }, (_, i) => ({
    asset_unique_id: `host-${i % 500}`,
    event_title: 'CPU usage above threshold',
    event_type: i % 7 === 0 ? 'up' : 'down',
    event_level: 'CRITICAL',
    event_desc: `CPU usage at ${90 + (i % 10)}% on core ${i % 8}`,
    event_ts: '2026-11-23T10:00:00.123Z',
    service: 'billing',
    region: 'eu-west-1',
    team: 'payments',
    check: 'cpu',
  }));
  return Buffer.from(JSON.stringify(batch === 1 ? events[0] : events));
}

/** Closed-loop load on `/v1/events`: the events acknowledged and their rate per wall-clock second. */
export function postEventsFor(
  port: number,
  batch: number,
  seconds: number,
  concurrency: number,
): Promise<{ records: number; rate: number }> {
  return postFor(
    { port, path: '/v1/events', contentType: 'application/json' },
    makeBody(batch),
    batch,
    seconds,
    concurrency,
  );
}
