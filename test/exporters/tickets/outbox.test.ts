import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { DeliveryDeferredError, DeliveryError } from '../../../src/exporters/tickets/delivery.ts';
import { Outbox, type OutboxEntry, type OutboxOptions } from '../../../src/exporters/tickets/outbox.ts';
import { replayJournal, requestRetry } from '../../../src/exporters/tickets/outboxJournal.ts';
import { ManualTimers } from '../../support/fakes/timers.ts';

type Payload = { n: number };
const open: Outbox<Payload>[] = [];

async function outbox(
  dir: string,
  deliver: (e: OutboxEntry<Payload>) => Promise<void>,
  extra: Partial<OutboxOptions<Payload>> = {},
) {
  const box = new Outbox<Payload>({
    dir,
    fsync: true,
    maxAttempts: 5,
    backoff: { initialMs: 1000, maxMs: 60_000 },
    concurrency: 4,
    deliver,
    random: () => 0.5,
    ...extra,
  });
  await box.open();
  open.push(box);
  return box;
}

const tmp = () => mkdtempSync(join(tmpdir(), 'vigil-outbox-'));

afterEach(async () => {
  for (const b of open.splice(0)) await b.close();
});

describe('outbox', () => {
  it('writes appends made while the journal is busy together, with one fsync for all, each resolved once its line is on disk', async () => {
    const dir = tmp();
    const box = await outbox(dir, async () => {});
    const notOnDiskWhenResolved: number[] = [];
    await Promise.all(
      Array.from({ length: 50 }, (_, n) =>
        box.append([{ key: `k${n % 5}`, payload: { n } }]).then(() => {
          const { entries } = replayJournal<Payload>(readFileSync(join(dir, 'outbox.ndjson'), 'utf8'));
          if (!entries.some((e) => e.payload.n === n)) notOnDiskWhenResolved.push(n);
        }),
      ),
    );
    expect(box.fsyncs).toBeGreaterThanOrEqual(1);
    expect(box.fsyncs).toBeLessThanOrEqual(2);
    expect(notOnDiskWhenResolved).toEqual([]);
    const all = replayJournal<Payload>(readFileSync(join(dir, 'outbox.ndjson'), 'utf8')).entries;
    expect(all.map((e) => e.payload.n)).toEqual(Array.from({ length: 50 }, (_, n) => n));
    expect(new Set(all.map((e) => e.seq)).size).toBe(50);
  });

  it('loses no acknowledged append when the process is killed with appends in flight', async () => {
    const dir = tmp();
    const child = spawn(process.execPath, [join(import.meta.dirname, 'outboxAppender.ts'), dir, '40'], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_c, signal) => resolve(signal)));
    let out = '';
    child.stdout.on('data', (c: Buffer) => {
      out += c.toString();
      if (out.split('\n').length > 300) child.kill('SIGKILL');
    });
    expect(await exited).toBe('SIGKILL');
    const acked = out
      .split('\n')
      .filter((l) => l.startsWith('acked '))
      .map((l) => Number(l.slice(6)));
    expect(acked.length).toBeGreaterThanOrEqual(300);
    const box = await outbox(dir, async () => {});
    expect(box.depth).toBeGreaterThanOrEqual(acked.length);
    const onDisk = new Set(
      replayJournal<Payload>(readFileSync(join(dir, 'outbox.ndjson'), 'utf8')).entries.map((e) => e.payload.n),
    );
    expect(acked.filter((n) => !onDisk.has(n))).toEqual([]);
  });

  it('has the entries on disk when append resolves, and a restart delivers them', async () => {
    const dir = tmp();
    const first = await outbox(dir, async () => {});
    await first.append([
      { key: 'k1', payload: { n: 1 } },
      { key: 'k2', payload: { n: 2 } },
    ]);
    expect(readFileSync(join(dir, 'outbox.ndjson'), 'utf8')).toContain('"p":{"n":2}');
    // no close(): the process "dies" here with nothing delivered (afterEach closes its file)
    const seen: number[] = [];
    const second = await outbox(dir, async (e) => void seen.push(e.payload.n));
    expect(second.depth).toBe(2);
    second.start();
    await second.whenIdle();
    expect(seen.sort()).toEqual([1, 2]);
    await second.close();
    const third = await outbox(dir, async () => {});
    expect(third.depth).toBe(0);
  });

  it('delivers one key in order, one attempt at a time, while other keys go on', async () => {
    const timers = new ManualTimers();
    const log: string[] = [];
    let failFirst = true;
    const box = await outbox(
      tmp(),
      async (e) => {
        log.push(`${e.key}:${e.payload.n}`);
        if (e.key === 'a' && failFirst) {
          failFirst = false;
          throw new DeliveryError('503 from tracker', { retryable: true, status: 503 });
        }
      },
      { timers },
    );
    box.start();
    await box.append([
      { key: 'a', payload: { n: 1 } },
      { key: 'a', payload: { n: 2 } },
      { key: 'b', payload: { n: 3 } },
    ]);
    await vi.waitFor(() => expect(log).toEqual(['a:1', 'b:3']), { timeout: 5000 });
    expect(box.depth).toBe(2);
    timers.advance(timers.delays.at(-1)!);
    await box.whenIdle();
    expect(log).toEqual(['a:1', 'b:3', 'a:1', 'a:2']);
  });

  it('waits exactly the Retry-After the server asked for, and backs off exponentially without one', async () => {
    const timers = new ManualTimers();
    const errors = [
      new DeliveryError('429', { retryable: true, status: 429, retryAfterMs: 30_000 }),
      new DeliveryError('timeout', { retryable: true }),
      new DeliveryError('timeout', { retryable: true }),
    ];
    let attempts = 0;
    const box = await outbox(
      tmp(),
      async () => {
        attempts++;
        const err = errors.shift();
        if (err) throw err;
      },
      { timers },
    );
    box.start();
    await box.append([{ key: 'a', payload: { n: 1 } }]);
    await vi.waitFor(() => expect(timers.delays).toEqual([30_000]), { timeout: 5000 });
    timers.advance(29_999);
    await new Promise((r) => setImmediate(r));
    expect(attempts).toBe(1);
    timers.advance(1);
    // random() = 0.5 → the middle of the jitter: 1 s · 2^(attempt-1)
    await vi.waitFor(() => expect(timers.delays).toEqual([30_000, 2000]), { timeout: 5000 });
    timers.advance(2000);
    await vi.waitFor(() => expect(timers.delays).toEqual([30_000, 2000, 4000]), { timeout: 5000 });
    timers.advance(4000);
    await box.whenIdle();
    expect(attempts).toBe(4);
  });

  it('parks an entry with its reason after max attempts, or at once when retrying cannot help, and holds its key behind it', async () => {
    const timers = new ManualTimers();
    const dir = tmp();
    const delivered: number[] = [];
    const parkedReasons: string[] = [];
    let broken = true;
    const box = await outbox(
      dir,
      async (e) => {
        if (broken && e.payload.n === 1) throw new DeliveryError('HTTP 502', { retryable: true, status: 502 });
        if (broken && e.payload.n === 3)
          throw new DeliveryError('HTTP 400: project OPS does not exist', { retryable: false, status: 400 });
        delivered.push(e.payload.n);
      },
      { timers, maxAttempts: 3, onPark: (_e, reason) => parkedReasons.push(reason) },
    );
    box.start();
    await box.append([
      { key: 'a', payload: { n: 1 } },
      { key: 'a', payload: { n: 2 } },
      { key: 'b', payload: { n: 3 } },
      { key: 'c', payload: { n: 4 } },
    ]);
    for (let i = 0; i < 2; i++) {
      await vi.waitFor(() => expect(timers.delays.length).toBe(i + 1), { timeout: 5000 });
      timers.advance(timers.delays[i]!);
    }
    await box.whenIdle();
    // Other keys go on; the key of a parked entry waits behind it.
    expect(delivered).toEqual([4]);
    expect([box.depth, box.parked, box.waitingOnParked]).toEqual([0, 2, 1]);
    expect(parkedReasons.sort()).toEqual([
      'HTTP 400: project OPS does not exist',
      'gave up after 3 attempts: HTTP 502',
    ]);
    const parked = readFileSync(join(dir, 'parked.ndjson'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { reason: string; payload: Payload });
    expect(parked.map((p) => p.payload.n).sort()).toEqual([1, 3]);
    await box.close();

    // Still parked after a restart; a retry request for one entry moves that key only.
    broken = false;
    const again = await outbox(dir, async (e) => void delivered.push(e.payload.n));
    expect([again.depth, again.parked, again.waitingOnParked]).toEqual([0, 2, 1]);
    await requestRetry(dir, [{ seq: 1 }]);
    again.start();
    await again.checkRetryRequests();
    await again.whenIdle();
    expect(delivered).toEqual([4, 1, 2]);
    expect(again.parked).toBe(1);
    await requestRetry(dir, [{ all: true }]);
    await again.close();
    // A request made while stopped is taken at the next open.
    const third = await outbox(dir, async (e) => void delivered.push(e.payload.n));
    expect([third.depth, third.parked]).toEqual([1, 0]);
    third.start();
    await third.whenIdle();
    expect(delivered).toEqual([4, 1, 2, 3]);
    expect(readdirSync(dir).filter((n) => n.startsWith('retry-requests'))).toEqual([]);
  });

  it('reads the parked and waiting entries of a journal written in any order, and the legacy parked-and-dropped record', () => {
    const text = [
      '{"n":1}',
      '{"a":1,"k":"a","t":5,"p":{"n":1}}',
      '{"a":2,"k":"a","t":6,"p":{"n":2}}',
      '{"a":3,"k":"b","t":7,"p":{"n":3}}',
      '{"x":3}',
      '{"park":1,"at":9,"why":"HTTP 400","tries":1}',
      '{"retry":1}',
      '{"park":1,"at":10,"why":"HTTP 500","tries":4}',
      '{"a":4,"k":"a","t":1',
    ].join('\n');
    const { entries, nextSeq } = replayJournal<Payload>(text);
    expect(nextSeq).toBe(4);
    expect(entries).toEqual([
      { seq: 1, key: 'a', payload: { n: 1 }, enqueuedAtMs: 5, parked: { atMs: 10, reason: 'HTTP 500', attempts: 4 } },
      { seq: 2, key: 'a', payload: { n: 2 }, enqueuedAtMs: 6 },
    ]);
  });

  it('never reuses a sequence number after a restart, even with an empty journal', async () => {
    const dir = tmp();
    const seqs: number[] = [];
    const first = await outbox(dir, async (e) => void seqs.push(e.seq));
    first.start();
    await first.append([{ key: 'a', payload: { n: 1 } }]);
    await first.whenIdle();
    await first.close();
    const second = await outbox(dir, async (e) => void seqs.push(e.seq));
    second.start();
    await second.append([{ key: 'a', payload: { n: 2 } }]);
    await second.whenIdle();
    expect(seqs).toEqual([1, 2]);
  });

  it('skips a torn last line left by a crash mid-append', async () => {
    const dir = tmp();
    const first = await outbox(dir, async () => {});
    await first.append([{ key: 'a', payload: { n: 1 } }]);
    await first.close();
    const { appendFileSync } = await import('node:fs');
    appendFileSync(join(dir, 'outbox.ndjson'), '{"a":9,"k":"a","t":1,"p":{"n"');
    const second = await outbox(dir, async () => {});
    expect(second.depth).toBe(1);
  });

  it('keeps later appends replayable after a failed write left a torn line (disk full)', async () => {
    const dir = tmp();
    const box = await outbox(dir, async () => {});
    const journal = (box as unknown as { journal: { write(t: string): Promise<unknown> } }).journal;
    const write = journal.write.bind(journal);
    journal.write = async (text: string) => {
      await write(text.slice(0, 10));
      throw Object.assign(new Error('ENOSPC: no space left on device'), { code: 'ENOSPC' });
    };
    await expect(box.append([{ key: 'a', payload: { n: 1 } }])).rejects.toThrow('ENOSPC');
    journal.write = write;
    await box.append([{ key: 'a', payload: { n: 2 } }]);
    const seen: number[] = [];
    const restarted = await outbox(dir, async (e) => void seen.push(e.payload.n));
    restarted.start();
    await restarted.whenIdle();
    expect(seen).toEqual([2]);
  });

  it('holds every key while a deferral says all deliveries must wait, spending neither attempts nor rate-limit slots, and never parks', async () => {
    const timers = new ManualTimers();
    let reachable = false;
    const tried: string[] = [];
    const box = await outbox(
      tmp(),
      async (e) => {
        tried.push(e.key);
        if (!reachable) throw new DeliveryDeferredError('ledger unreachable', { retryAfterMs: 1000, allKeys: true });
      },
      { timers, maxAttempts: 2, maxPerMinute: 2 },
    );
    box.start();
    await box.append([
      { key: 'a', payload: { n: 1 } },
      { key: 'b', payload: { n: 2 } },
    ]);
    await vi.waitFor(() => expect(timers.delays).toContain(1000), { timeout: 5000 });
    for (let i = 0; i < 5; i++) {
      const asked = timers.delays.length;
      timers.advance(1000);
      await vi.waitFor(() => expect(timers.delays.length).toBeGreaterThan(asked), { timeout: 5000 });
    }
    expect(box.parked).toBe(0);
    expect(box.depth).toBe(2);
    // One round of tries per wait (the two keys start together), with max_per_minute 2 never reached.
    expect(tried).toHaveLength(2 * 6);
    reachable = true;
    timers.advance(1000);
    await box.whenIdle();
    expect(box.depth).toBe(0);
  });

  it('waits on one key only for a deferral of that key, while the others go on', async () => {
    const timers = new ManualTimers();
    const delivered: string[] = [];
    let claimed = false;
    const box = await outbox(
      tmp(),
      async (e) => {
        if (e.key === 'a' && !claimed)
          throw new DeliveryDeferredError('another instance holds the claim', { retryAfterMs: 1000, allKeys: false });
        delivered.push(e.key);
      },
      { timers, maxAttempts: 1 },
    );
    box.start();
    await box.append([
      { key: 'a', payload: { n: 1 } },
      { key: 'b', payload: { n: 2 } },
    ]);
    await vi.waitFor(() => expect(delivered).toEqual(['b']), { timeout: 5000 });
    expect(box.parked).toBe(0);
    claimed = true;
    timers.advance(1000);
    await box.whenIdle();
    expect(delivered).toEqual(['b', 'a']);
  });

  it('delivers a change handed over again, after a reopen, only once; remembers the latest ids only', async () => {
    const dir = tmp();
    const seen: number[] = [];
    const duplicates: number[] = [];
    const deliver = async (e: OutboxEntry<Payload>) => void seen.push(e.payload.n);
    const options = { rememberIds: 3, onDuplicate: (i: { payload: Payload }) => duplicates.push(i.payload.n) };
    const change = (n: number) => ({ key: n === 2 ? 'b' : 'a', payload: { n }, id: `change-${n}` });
    const first = await outbox(dir, deliver, options);
    first.start();
    await first.append([change(1), change(1)]);
    await first.whenIdle();
    await first.close();
    const second = await outbox(dir, deliver, options);
    await second.append([change(2)]);
    // no close(): the process "dies" with change-2 taken and undelivered
    for (let reopen = 0; reopen < 2; reopen++) {
      // open() rewrites the journal: the ids of delivered changes must survive that too.
      const again = await outbox(dir, deliver, options);
      again.start();
      await again.append([change(1), change(2)]);
      await again.whenIdle();
      await again.close();
    }
    expect(seen).toEqual([1, 2]);
    expect(duplicates).toEqual([1, 1, 2, 1, 2]);

    // Past `rememberIds` newer ids, the oldest is forgotten: the same id is a new change again.
    const last = await outbox(dir, deliver, options);
    last.start();
    await last.append([change(3), change(4), change(5)]);
    await last.append([change(1)]);
    await last.whenIdle();
    expect(seen.slice(2).sort()).toEqual([1, 3, 4, 5]);
  });

  it('does not take an id for a change whose append failed: handed over again, it is delivered', async () => {
    const dir = tmp();
    const seen: number[] = [];
    const box = await outbox(dir, async (e) => void seen.push(e.payload.n));
    const journal = (box as unknown as { journal: { write(t: string): Promise<unknown> } }).journal;
    const write = journal.write.bind(journal);
    journal.write = async () => {
      throw Object.assign(new Error('ENOSPC: no space left on device'), { code: 'ENOSPC' });
    };
    await expect(box.append([{ key: 'a', payload: { n: 1 }, id: 'change-1' }])).rejects.toThrow('ENOSPC');
    journal.write = write;
    box.start();
    await box.append([{ key: 'a', payload: { n: 1 }, id: 'change-1' }]);
    await box.whenIdle();
    expect(seen).toEqual([1]);
  });

  it('gives the next attempt what an earlier one recorded as done, across a restart and a compaction', async () => {
    const dir = tmp();
    const first = new Outbox<Payload, { ref: string }>({
      dir,
      fsync: true,
      maxAttempts: 5,
      backoff: { initialMs: 1000, maxMs: 60_000 },
      concurrency: 4,
      random: () => 0.5,
      timers: new ManualTimers(),
      deliver: async (e) => {
        await first.recordProgress(e, { ref: 'T-1' });
        throw new DeliveryError('could not store the ticket id', { retryable: true });
      },
    });
    await first.open();
    first.start();
    await first.append([{ key: 'a', payload: { n: 1 } }]);
    await vi.waitFor(() => expect(readFileSync(join(dir, 'outbox.ndjson'), 'utf8')).toContain('"progress":1'), {
      timeout: 5000,
    });
    await first.close();
    const seen: ({ ref: string } | undefined)[] = [];
    // open() rewrites the journal from memory: the progress must survive that too.
    for (let i = 0; i < 2; i++) {
      const again = new Outbox<Payload, { ref: string }>({
        dir,
        fsync: true,
        maxAttempts: 5,
        backoff: { initialMs: 1000, maxMs: 60_000 },
        concurrency: 4,
        deliver: async (e) => void seen.push(e.progress),
      });
      await again.open();
      if (i === 1) {
        again.start();
        await again.whenIdle();
      }
      await again.close();
    }
    expect(seen).toEqual([{ ref: 'T-1' }]);
  });
});
