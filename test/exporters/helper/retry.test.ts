import { describe, expect, it } from 'vitest';
import { ExportError, isPermanent, parseRetryAfter } from '../../../src/exporters/helper/exportError.ts';
import { FailureLog, RetryPolicy } from '../../../src/exporters/helper/retry.ts';
import { RetryWait } from '../../../src/exporters/helper/timers.ts';
import { DeliveryError } from '../../../src/exporters/tickets/delivery.ts';
import { ClickHouseError } from '../../../src/exporters/clickhouse/backend.ts';
import { ComponentShutDownError, QueueFullError } from '../../../src/errors.ts';
import { ManualTimers } from '../../support/fakes/timers.ts';

const retryable = new ExportError('HTTP 503');

/** Runs failures through the policy on a manual clock, one wait after another, as an exporter's loop does. */
function schedule(policy: RetryPolicy, timers: ManualTimers, errors: unknown[]): (number | string)[] {
  const first = timers.now();
  const out: (number | string)[] = [];
  for (const [i, err] of errors.entries()) {
    const next = policy.decide(err, i + 1, timers.now() - first);
    if (!next.retry) {
      out.push(next.reason);
      break;
    }
    out.push(next.delayMs);
    timers.advance(next.delayMs);
  }
  return out;
}

describe('RetryPolicy', () => {
  it('doubles from the initial interval up to the maximum, with jitter of a fifth each way', () => {
    const timers = new ManualTimers();
    const middle = new RetryPolicy({ initialIntervalMs: 1000, maxIntervalMs: 30_000 }, () => 0.5);
    expect(schedule(middle, timers, Array(8).fill(retryable))).toEqual([
      1000, 2000, 4000, 8000, 16_000, 30_000, 30_000, 30_000,
    ]);
    const low = new RetryPolicy({ initialIntervalMs: 1000, maxIntervalMs: 30_000 }, () => 0);
    const high = new RetryPolicy({ initialIntervalMs: 1000, maxIntervalMs: 30_000 }, () => 0.999999);
    expect([low.backoff(1), low.backoff(3), low.backoff(9)]).toEqual([800, 3200, 24_000]);
    // Never past the maximum interval, jitter included.
    expect([high.backoff(1), high.backoff(3), high.backoff(9)]).toEqual([1200, 4800, 30_000]);
  });

  it("waits what the server's Retry-After asks, shorter or longer than its own backoff", () => {
    const timers = new ManualTimers();
    const policy = new RetryPolicy({ initialIntervalMs: 1000, maxIntervalMs: 5000 }, () => 0.5);
    const throttled = (ms: number) => new ExportError('HTTP 429', { retryAfterMs: ms });
    expect(schedule(policy, timers, [throttled(120_000), retryable, retryable, throttled(500)])).toEqual([
      120_000, 2000, 4000, 500,
    ]);
    const res = new DeliveryError('HTTP 429', { retryable: true, retryAfterMs: parseRetryAfter('7', timers.now()) });
    expect(policy.decide(res, 1, 0)).toEqual({ retry: true, delayMs: 7000 });
  });

  it('gives up once max elapsed time has passed since the first attempt: the failure then counts as permanent', () => {
    const timers = new ManualTimers();
    const policy = new RetryPolicy({ initialIntervalMs: 1000, maxIntervalMs: 1000, maxElapsedMs: 2500 }, () => 0.5);
    // Attempts at 0, 1 s, 2 s and 3 s; the fourth fails 3 s after the first, past 2.5 s.
    expect(schedule(policy, timers, Array(10).fill(retryable))).toEqual([1000, 1000, 1000, 'max_elapsed']);
  });

  it('gives up after max attempts, and at once on a permanent error', () => {
    const timers = new ManualTimers();
    const policy = new RetryPolicy({ initialIntervalMs: 10, maxIntervalMs: 100, maxAttempts: 3 }, () => 0.5);
    expect(schedule(policy, timers, Array(5).fill(retryable))).toEqual([10, 20, 'max_attempts']);
    expect(schedule(policy, timers, [new ExportError('HTTP 400', { permanent: true })])).toEqual(['permanent']);
  });

  it('reads retryability the same way for every exporter, from the error code table', () => {
    expect(isPermanent(new ExportError('bad request', { permanent: true }))).toBe(true);
    expect(isPermanent(new DeliveryError('HTTP 400', { retryable: false }))).toBe(true);
    expect(isPermanent(new DeliveryError('HTTP 502', { retryable: true }))).toBe(false);
    expect(isPermanent(new ClickHouseError(27, 'Cannot parse input'))).toBe(true);
    expect(isPermanent(new ComponentShutDownError('exporter', 'file'))).toBe(true);
    expect(isPermanent(new QueueFullError('logs', 1))).toBe(false);
    // Not Vigil's own: a network error, a disk error, a bug. Retried: losing data is worse than waiting.
    expect(isPermanent(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }))).toBe(false);
    expect(new ExportError('x', { permanent: true }).permanent).toBe(true);
  });
});

describe('RetryWait', () => {
  it('resolves after the wait on the injected clock, or at once when ended', async () => {
    const timers = new ManualTimers();
    const wait = new RetryWait(timers);
    let done = false;
    const p = wait.wait(5000).then(() => (done = true));
    timers.advance(4999);
    await Promise.resolve();
    expect(done).toBe(false);
    timers.advance(1);
    await p;
    expect(wait.waiting).toBe(false);
    let cut = false;
    const q = wait.wait(60_000).then(() => (cut = true));
    expect(wait.waiting).toBe(true);
    wait.end();
    await q;
    expect(cut).toBe(true);
  });
});

describe('FailureLog', () => {
  it('asks for a line at the first failure, a new error, and the 2nd, 4th, 8th… attempt', () => {
    const log = new FailureLog();
    const worth = ['down', 'down', 'down', 'down', 'refused', 'refused', 'refused', 'refused'].map((m) =>
      log.record(m),
    );
    expect(worth).toEqual([true, true, false, true, true, false, false, true]);
    expect(log.reset()).toBe(8);
    expect(log.record('down')).toBe(true);
  });
});
