import { createSocket } from 'node:dgram';
import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { QueueFullError, TooManyRecordsError } from '../../../src/errors.ts';
import type { SyslogIngest } from '../../../src/receivers/syslog/ingest.ts';
import { UdpBatchBuilder } from '../../../src/receivers/syslog/udpBatch.ts';
import { SyslogUdpListener } from '../../../src/receivers/syslog/udpListener.ts';
import type { VigilEvent } from '../../../src/model/event.ts';
import { waitFor } from '../../support/waitFor.ts';

/** An ingest whose pipeline has no room while `full`, recording what it parsed, took and dropped. */
function fakeIngest() {
  const seen = {
    full: true,
    admits: 0,
    parsed: [] as string[],
    delivered: [] as string[],
    dropped: {} as Record<string, number>,
    paused: 0,
    /** Refuse what was admitted (a pipeline that filled in between). */
    refuseAdmitted: false,
    /** The pipeline's queue_size: a batch of more is never admitted, as Pipeline.admit says. */
    capacity: Infinity,
    /** An error admit throws that is neither a refusal nor "too many". */
    failWith: undefined as Error | undefined,
    warnings: [] as [Record<string, unknown>, string][],
  };
  const ingest = {
    id: 'syslog',
    logger: {
      warn: (fields: Record<string, unknown>, msg: string) => void seen.warnings.push([fields, msg]),
      info: () => undefined,
      error: () => undefined,
    },
    metrics: {
      dropped: {
        inc: (l: { reason: string }, n = 1) => void (seen.dropped[l.reason] = (seen.dropped[l.reason] ?? 0) + n),
      },
      paused: { inc: () => void seen.paused++ },
    },
    refused: () => undefined,
    beginBatch: () => undefined,
    finishBatch: () => undefined,
    admit: (n: number) => {
      seen.admits++;
      if (seen.failWith) throw seen.failWith;
      if (n > seen.capacity) throw new TooManyRecordsError(`${n} records, over the queue_size`, n, seen.capacity);
      if (seen.full) throw new QueueFullError('logs', 10);
    },
    toRecordBytes: (bytes: Buffer, from: number, to: number) => {
      const line = bytes.toString('utf8', from, to);
      seen.parsed.push(line);
      return { body: line } as unknown as VigilEvent;
    },
    deliver: (events: VigilEvent[]) => {
      if (seen.refuseAdmitted) return Promise.reject(new QueueFullError('logs', 10));
      for (const e of events) seen.delivered.push(e.body as string);
      return Promise.resolve();
    },
  };
  return { seen, ingest: ingest as unknown as SyslogIngest };
}

const batch = (from: number, n: number) => {
  const b = new UdpBatchBuilder(n);
  for (let i = from; i < from + n; i++) b.add(Buffer.from(`line ${i}`), '127.0.0.1');
  return b.take();
};
const lines = (from: number, n: number) => Array.from({ length: n }, (_, i) => `line ${from + i}`);
/** Sends each text as one datagram to the port on the loopback. */
async function sendAll(port: number, texts: string[]): Promise<void> {
  const client = createSocket('udp4');
  try {
    for (const text of texts)
      await new Promise<void>((res, rej) => client.send(text, port, '127.0.0.1', (err) => (err ? rej(err) : res())));
  } finally {
    client.close();
  }
}
const config = (receiveBufferSize = 0) =>
  ({ endpoint: { host: '127.0.0.1', port: 0 }, receive_buffer_size: receiveBufferSize }) as never;

afterEach(() => {
  vi.useRealTimers();
});

describe('syslog UDP while the pipeline has no room', () => {
  it('holds the batches unparsed, in order, and hands each over once, when there is room again', () => {
    vi.useFakeTimers();
    const { seen, ingest } = fakeIngest();
    const udp = new SyslogUdpListener(config(), ingest);
    udp.take(batch(0, 100));
    udp.take(batch(100, 50));
    vi.advanceTimersByTime(200);
    udp.take(batch(150, 30));
    vi.advanceTimersByTime(200);
    expect(seen.parsed).toEqual([]);
    expect(seen.dropped).toEqual({});
    expect(seen.paused).toBe(1);
    // Asked again while full, but not in a loop: the wait doubles up to 50 ms.
    expect(seen.admits).toBeGreaterThan(5);
    expect(seen.admits).toBeLessThan(20);

    seen.full = false;
    vi.advanceTimersByTime(50);
    expect(seen.delivered).toEqual(lines(0, 180));
    expect(seen.parsed).toEqual(lines(0, 180));
    expect(seen.dropped).toEqual({});
    // With room, a batch goes straight through.
    udp.take(batch(180, 5));
    expect(seen.delivered).toEqual(lines(0, 185));
  });

  it('hands a batch larger than the whole queue over in pieces the queue can take', () => {
    vi.useFakeTimers();
    const { seen, ingest } = fakeIngest();
    seen.full = false;
    seen.capacity = 3;
    const udp = new SyslogUdpListener(config(), ingest);
    udp.take(batch(0, 10));
    expect(seen.delivered).toEqual(lines(0, 10));
    // Pieces wait for room like whole batches.
    seen.full = true;
    udp.take(batch(10, 7));
    vi.advanceTimersByTime(100);
    seen.full = false;
    vi.advanceTimersByTime(100);
    expect(seen.delivered).toEqual(lines(0, 17));
    expect(seen.dropped).toEqual({});
  });

  it('counts, and does not throw, a batch the pipeline fails with an error that is not a refusal', () => {
    const { seen, ingest } = fakeIngest();
    seen.failWith = new Error('not a refusal');
    const udp = new SyslogUdpListener(config(), ingest);
    expect(() => udp.take(batch(0, 4))).not.toThrow();
    expect(seen.dropped).toEqual({ refused: 4 });
    seen.failWith = undefined;
    seen.full = false;
    udp.take(batch(4, 2));
    expect(seen.delivered).toEqual(lines(4, 2));
  });

  it('counts as dropped what the pipeline refuses after it said it had room', async () => {
    const { seen, ingest } = fakeIngest();
    seen.full = false;
    seen.refuseAdmitted = true;
    new SyslogUdpListener(config(), ingest).take(batch(0, 7));
    await waitFor(() => seen.dropped.refused === 7, 'the refused batch counted');
  });

  it('drops and counts what arrives past the limit, and takes what waited once there is room', async () => {
    const { seen, ingest } = fakeIngest();
    const udp = new SyslogUdpListener(config(), ingest, { maxPending: 5, maxPendingBytes: 1 << 20 });
    const { port } = await udp.start();
    try {
      await sendAll(port, lines(0, 20));
      await waitFor(() => seen.dropped.overflow === 15, 'the 15 past the limit counted');
      expect(seen.parsed).toEqual([]);
      seen.full = false;
      await waitFor(() => seen.delivered.length === 5, 'the 5 that waited taken');
      expect(new Set(seen.delivered)).toEqual(new Set(lines(0, 5)));
      // Room again for the reader: new datagrams are read and taken.
      await sendAll(port, ['line 20']);
      await waitFor(() => seen.delivered.includes('line 20'), 'a datagram after the pause');
      expect(seen.dropped).toEqual({ overflow: 15 });
    } finally {
      await udp.close();
    }
  });

  it('gives what still waits one last offer when the receiver stops, and counts what the pipeline refuses', async () => {
    const { seen, ingest } = fakeIngest();
    const udp = new SyslogUdpListener(config(), ingest);
    const { port } = await udp.start();
    try {
      await sendAll(port, lines(0, 3));
      await waitFor(() => seen.paused === 1 && seen.admits > 1, 'the listener holding');
      seen.refuseAdmitted = true;
    } finally {
      await udp.close();
    }
    await waitFor(() => seen.dropped.refused === 3, 'the 3 counted at shutdown');
    expect(seen.delivered).toEqual([]);
  });

  it('warns at start when the kernel grants less receive buffer than receive_buffer_size asks, and only then', async () => {
    const rmemMax = Number(readFileSync('/proc/sys/net/core/rmem_max', 'utf8'));
    const warned = async (receiveBufferSize: number) => {
      const { seen, ingest } = fakeIngest();
      const udp = new SyslogUdpListener(config(receiveBufferSize), ingest);
      await udp.start();
      await udp.close();
      return seen.warnings.filter(([, msg]) => msg.includes('net.core.rmem_max'));
    };
    const over = await warned(2 * rmemMax);
    expect(over).toHaveLength(1);
    expect(over[0]![0]).toEqual({ listener: 'syslog UDP', receive_buffer_size: 2 * rmemMax, granted: rmemMax });
    expect(await warned(Math.min(65_536, rmemMax))).toEqual([]);
  });
});
