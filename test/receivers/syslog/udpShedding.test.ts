import { describe, expect, it } from 'vitest';
import type { SyslogIngest } from '../../../src/receivers/syslog/ingest.ts';
import { UdpBatchBuilder } from '../../../src/receivers/syslog/udpBatch.ts';
import { SyslogUdpListener } from '../../../src/receivers/syslog/udpListener.ts';
import type { VigilEvent } from '../../../src/model/event.ts';

/** An ingest whose pipeline refuses while `full`, counting what it parsed, delivered and dropped. */
function fakeIngest() {
  const seen = { parsed: 0, delivered: 0, refused: 0, dropped: 0, full: true };
  const ingest = {
    id: 'syslog',
    logger: { warn: () => undefined, info: () => undefined, error: () => undefined },
    metrics: { dropped: { inc: (_l: unknown, n = 1) => void (seen.dropped += n) } },
    refused: (n: number) => void (seen.refused += n),
    beginBatch: () => undefined,
    toRecord: (line: string) => {
      seen.parsed++;
      return { body: line } as unknown as VigilEvent;
    },
    deliver: (events: VigilEvent[]) => {
      if (seen.full) {
        ingest.refused(events.length);
        return Promise.reject(new Error('queue full'));
      }
      seen.delivered += events.length;
      return Promise.resolve();
    },
  };
  return { seen, ingest: ingest as unknown as SyslogIngest };
}

const batch = (n: number) => {
  const b = new UdpBatchBuilder(n);
  for (let i = 0; i < n; i++) b.add(Buffer.from(`<14>1 - h a - - - line ${i}`), '127.0.0.1');
  return b.take();
};
const settle = () => new Promise((r) => setImmediate(r));

describe('syslog UDP under a pipeline that refuses', () => {
  it('drops what arrives just after a refusal unparsed, counts it, and parses again once the moment has passed', async () => {
    let nowMs = 1000;
    const { seen, ingest } = fakeIngest();
    const udp = new SyslogUdpListener(
      { endpoint: { host: '127.0.0.1', port: 0 }, receive_buffer_size: 0 } as never,
      ingest,
      () => nowMs,
    );
    udp.take(batch(100));
    await settle();
    expect(seen).toMatchObject({ parsed: 100, refused: 100, dropped: 100 });
    // Within the shedding moment: dropped and counted as refused, not parsed.
    nowMs += 2;
    udp.take(batch(50));
    await settle();
    expect(seen).toMatchObject({ parsed: 100, refused: 150, dropped: 150 });
    // Past it, with room again: parsed and delivered.
    nowMs += 10;
    seen.full = false;
    udp.take(batch(30));
    await settle();
    expect(seen).toMatchObject({ parsed: 130, delivered: 30, refused: 150, dropped: 150 });
  });
});
