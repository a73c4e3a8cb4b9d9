import { describe, expect, it } from 'vitest';
import { splitBatch, UdpBatchBuilder } from '../../../src/receivers/syslog/udpBatch.ts';
import type { SyslogIngest } from '../../../src/receivers/syslog/ingest.ts';
import type { Origin } from '../../../src/receivers/syslog/mapping.ts';
import { SyslogUdpListener } from '../../../src/receivers/syslog/udpListener.ts';
import type { VigilEvent } from '../../../src/model/event.ts';

/** An ingest that records each message's text and sender as the listener hands them over. */
function recordingIngest() {
  const got: [string, string][] = [];
  const ingest = {
    id: 'syslog',
    logger: { warn: () => undefined, info: () => undefined, error: () => undefined },
    metrics: { dropped: { inc: () => undefined } },
    refused: () => undefined,
    beginBatch: () => undefined,
    finishBatch: () => undefined,
    admit: () => undefined,
    toRecordBytes: (bytes: Buffer, from: number, to: number, _truncated: boolean, origin: Origin) => {
      got.push([bytes.toString('utf8', from, to), origin.peerAddress]);
      return {} as VigilEvent;
    },
    deliver: () => Promise.resolve(),
  };
  return { got, ingest: ingest as unknown as SyslogIngest };
}

function listener(ingest: SyslogIngest) {
  return new SyslogUdpListener({ endpoint: { host: '127.0.0.1', port: 0 } } as never, ingest);
}

describe('UDP datagrams handed from the reader thread as one buffer', () => {
  it('gives each message back as its text, without the LF, CR or NUL a sender put after it, with its own sender', () => {
    const sent: [string, string][] = [
      ['<14>1 - h a - - - one\n', '10.0.0.1'],
      ['<14>1 - h a - - - two\r\n', '10.0.0.1'],
      ['<14>1 - h a - - - drei ü ✓ 🚀\0', '10.0.0.2'],
      ['', '10.0.0.2'],
      ['<14>1 - h a - - - four', '10.0.0.1'],
      ['<14>1 - h a - - - a\nb', '::1'],
    ];
    const b = new UdpBatchBuilder(16);
    for (const [text, peer] of sent) b.add(Buffer.from(text), peer);
    const batch = b.take();
    expect(b.count).toBe(0);
    const { got, ingest } = recordingIngest();
    listener(ingest).take(batch);
    expect(got).toEqual([
      ['<14>1 - h a - - - one', '10.0.0.1'],
      ['<14>1 - h a - - - two', '10.0.0.1'],
      ['<14>1 - h a - - - drei ü ✓ 🚀', '10.0.0.2'],
      ['', '10.0.0.2'],
      ['<14>1 - h a - - - four', '10.0.0.1'],
      ['<14>1 - h a - - - a\nb', '::1'],
    ]);
  });

  it('keeps bytes that are not UTF-8 as the replacement character, as decoding each datagram did', () => {
    const b = new UdpBatchBuilder(4);
    b.add(Buffer.from([0x3c, 0x31, 0x34, 0x3e, 0xff, 0x41]), '10.0.0.1');
    const { got, ingest } = recordingIngest();
    listener(ingest).take(b.take());
    expect(got).toEqual([['<14>\uFFFDA', '10.0.0.1']]);
  });

  it('owns the memory it hands over: later datagrams do not change a batch taken before them', () => {
    const b = new UdpBatchBuilder(4);
    b.add(Buffer.from('first'), 'a');
    const first = b.take();
    b.add(Buffer.from('SECOND'), 'b');
    const second = b.take();
    expect(Buffer.from(first.bytes).toString()).toBe('first');
    expect(Buffer.from(second.bytes).toString()).toBe('SECOND');
    // Transferable: each batch has buffers of its own, exactly its size.
    expect(first.bytes.buffer).not.toBe(second.bytes.buffer);
    expect(first.bytes.buffer.byteLength).toBe(5);
    expect([...first.ends]).toEqual([5]);
  });

  it('says when a datagram would not fit: past its message count, or the largest datagram after others', () => {
    const b = new UdpBatchBuilder(2);
    expect(b.fits(65_507)).toBe(true);
    b.add(Buffer.alloc(200_000, 0x61), 'a');
    expect(b.fits(65_507)).toBe(false);
    b.take();
    b.add(Buffer.from('x'), 'a');
    b.add(Buffer.from('y'), 'a');
    expect(b.fits(1)).toBe(false);
    const { got, ingest } = recordingIngest();
    listener(ingest).take(b.take());
    expect(got).toEqual([
      ['x', 'a'],
      ['y', 'a'],
    ]);
  });

  it('splits a batch into smaller ones that give the same messages with the same senders', () => {
    const sent: [string, string][] = [
      ['m0', 'a'],
      ['m1', 'a'],
      ['m2 ü', 'b'],
      ['m3', 'b'],
      ['m4', 'b'],
      ['', 'c'],
      ['m6', 'c'],
    ];
    for (const max of [1, 2, 3, 4, 7, 8]) {
      const b = new UdpBatchBuilder(16);
      for (const [text, peer] of sent) b.add(Buffer.from(text), peer);
      const pieces = splitBatch(b.take(), max);
      expect(pieces.map((p) => p.ends.length)).toEqual(
        Array.from({ length: Math.ceil(sent.length / max) }, (_, i) => Math.min(max, sent.length - i * max)),
      );
      const { got, ingest } = recordingIngest();
      const udp = listener(ingest);
      for (const p of pieces) udp.take(p);
      expect(got, `pieces of ${max}`).toEqual(sent);
    }
  });
});
