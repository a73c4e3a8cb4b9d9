import { describe, expect, it } from 'vitest';
import { InvalidInputError } from '../../../src/errors.ts';
import { countJsonRecords, countProtoRecords, ProtoRecordCounter } from '../../../src/otlp/proto/recordCount.ts';
import { SIGNAL_SPECS, type DecodeGuard } from '../../../src/receivers/otlp/signals.ts';
import {
  emptyLogRecords,
  encode,
  LOGS_REQ,
  logsRequest,
  METRICS_REQ,
  TRACES_REQ,
} from '../../receivers/otlp/harness.ts';

const point = { timeUnixNano: '1', asDouble: 1 };
const metricsRequest = {
  resourceMetrics: [
    {
      scopeMetrics: [
        {
          metrics: [
            { name: 'g', gauge: { dataPoints: [point, point] } },
            { name: 's', sum: { dataPoints: [point], aggregationTemporality: 2 } },
            { name: 'h', histogram: { dataPoints: [{ count: 1 }, { count: 2 }, { count: 3 }] } },
            { name: 'e', exponentialHistogram: { dataPoints: [{ count: 1 }] } },
            { name: 'q', summary: { dataPoints: [{ count: 1 }] } },
            { name: 'empty' },
          ],
        },
      ],
    },
    { scopeMetrics: [{ metrics: [{ name: 'g2', gauge: { dataPoints: [point] } }] }, { metrics: [] }] },
  ],
};

describe('record counts taken before decoding', () => {
  it('counts log records, spans and the data points nested in each metric (protobuf)', () => {
    const logs = encode(LOGS_REQ, {
      resourceLogs: [
        logsRequest([{}, { body: { stringValue: 'x' } }]).resourceLogs,
        logsRequest([{}]).resourceLogs,
      ].flat(),
    });
    expect(countProtoRecords(logs, false)).toBe(3);
    expect(countProtoRecords(emptyLogRecords(5000), false)).toBe(5000);
    const spans = encode(TRACES_REQ, {
      resourceSpans: [{ scopeSpans: [{ spans: [{ name: 'a' }, { name: 'b' }] }, { spans: [{ name: 'c' }] }] }],
    });
    expect(countProtoRecords(spans, false)).toBe(3);
    expect(countProtoRecords(encode(METRICS_REQ, metricsRequest), true)).toBe(9);
    expect(countProtoRecords(Buffer.alloc(0), false)).toBe(0);
  });

  it('counts the same from OTLP/JSON list lengths, ignoring values of the wrong type', () => {
    expect(countJsonRecords(metricsRequest, ['resourceMetrics', 'scopeMetrics', 'metrics'], true)).toBe(9);
    expect(countJsonRecords(logsRequest([{}, {}, {}]), ['resourceLogs', 'scopeLogs', 'logRecords'], false)).toBe(3);
    expect(
      countJsonRecords(
        { resourceLogs: [{ scopeLogs: 'x' }, 3, null] },
        ['resourceLogs', 'scopeLogs', 'logRecords'],
        false,
      ),
    ).toBe(0);
  });

  it('stops just past a cap without reading further: the rest of a body over it is never walked', () => {
    expect(countProtoRecords(emptyLogRecords(2_000_000), false, 10_000)).toBe(10_001);
    // After the first resource block, a second that claims 127 bytes and holds none.
    const torn = Buffer.concat([emptyLogRecords(20), Buffer.from([0x0a, 0x7f])]);
    expect(countProtoRecords(torn, false, 10)).toBe(11);
    expect(() => countProtoRecords(torn, false, 20)).toThrow(InvalidInputError);
  });

  it('refuses a truncated or lying message as invalid protobuf', () => {
    const valid = emptyLogRecords(10);
    for (let n = 1; n < valid.length; n++) {
      let thrown: unknown;
      try {
        countProtoRecords(valid.subarray(0, n), false);
      } catch (err) {
        thrown = err;
      }
      expect(thrown, `cut at ${n}`).toBeDefined();
    }
    // A record claiming more bytes than its scope holds.
    expect(() => countProtoRecords(Buffer.from([0x0a, 0x04, 0x12, 0x02, 0x12, 0x05]), false)).toThrow(
      InvalidInputError,
    );
  });

  it('shows the decode guard the count before decoding, then samples memory every 4,096 records', () => {
    const calls: string[] = [];
    const guard: DecodeGuard = {
      maxRecords: 10_000,
      admit: (n) => calls.push(`admit ${n}`),
      checkpoint: () => calls.push('checkpoint'),
    };
    const d = SIGNAL_SPECS.logs.decodeProto(emptyLogRecords(10_000), 1n, guard);
    expect(d.items).toHaveLength(10_000);
    expect(calls).toEqual(['admit 10000', 'checkpoint', 'checkpoint']);

    const refusing: DecodeGuard = {
      maxRecords: 10_000,
      admit: () => {
        throw new Error('too many');
      },
      checkpoint: () => {},
    };
    expect(() => SIGNAL_SPECS.logs.decodeJson(Buffer.from(JSON.stringify(logsRequest([{}]))), 1n, refusing)).toThrow(
      'too many',
    );
    let checks = 0;
    const stopping: DecodeGuard = {
      maxRecords: 10_000,
      admit: () => {},
      checkpoint: () => {
        if (++checks === 1) throw new Error('memory short');
      },
    };
    expect(() =>
      SIGNAL_SPECS.metrics.decodeJson(
        Buffer.from(
          JSON.stringify({
            resourceMetrics: [
              {
                scopeMetrics: [
                  { metrics: Array.from({ length: 5000 }, () => ({ name: 'g', gauge: { dataPoints: [point] } })) },
                ],
              },
            ],
          }),
        ),
        1n,
        stopping,
      ),
    ).toThrow('memory short');
  });
});

/** Tag bytes of an unknown field 9 of each wire type, with a value, as a newer sender may add. */
const UNKNOWN_FIELDS = Buffer.from([
  // varint, 10 bytes (a negative int64)
  0x48, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01,
  // fixed64, fixed32
  0x49, 1, 2, 3, 4, 5, 6, 7, 8, 0x4d, 1, 2, 3, 4,
  // a group holding a varint, a string and a nested group, then its end
  0x4b, 0x08, 0x96, 0x01, 0x12, 0x02, 0x68, 0x69, 0x1b, 0x08, 0x01, 0x1c, 0x4c,
]);

/**
 * An ExportLogsServiceRequest of three resource blocks whose records and blocks have 1-, 2- and
 * 3-byte length prefixes, with unknown fields of every wire type between them.
 */
function awkwardLogs(): Buffer {
  const block = (records: Record<string, unknown>[]) => encode(LOGS_REQ, logsRequest(records));
  return Buffer.concat([
    UNKNOWN_FIELDS,
    block([{}, { body: { stringValue: 'x'.repeat(200) } }, {}]),
    UNKNOWN_FIELDS,
    block(Array.from({ length: 40 }, (_, i) => ({ body: { stringValue: `${i}`.repeat(500) } }))),
    block([{ severityNumber: 9 }]),
    UNKNOWN_FIELDS,
  ]);
}

/** Feeds `body` in the chunks that `cuts` (ascending offsets) make; returns the counter. */
function fedInChunks(body: Buffer, metrics: boolean, cuts: number[], stopAbove?: number): ProtoRecordCounter {
  const counter = new ProtoRecordCounter(metrics, stopAbove);
  let from = 0;
  for (const cut of [...cuts, body.length]) {
    counter.feed(body.subarray(from, cut));
    from = cut;
  }
  return counter;
}

describe('record counts taken while a protobuf body streams in', () => {
  const logs = awkwardLogs();
  const metrics = encode(METRICS_REQ, metricsRequest);
  const spans = encode(TRACES_REQ, {
    resourceSpans: [
      { scopeSpans: [{ spans: [{ name: 'a'.repeat(300) }, { name: 'b' }] }, { spans: [{ name: 'c' }] }] },
    ],
  });
  const bodies = [
    ['logs', logs, false, 44],
    ['metrics', metrics, true, 9],
    ['traces', spans, false, 3],
  ] as const;

  it('counts what the decoder decodes, however the body is cut: every split point, every byte alone', () => {
    for (const [signal, body, isMetrics, records] of bodies) {
      // The decoder is the reference: the count must be what it decodes, kept or rejected (the
      // metric with no data is rejected whole, and holds no data point).
      const decoded = SIGNAL_SPECS[signal].decodeProto(body, 1n);
      expect(decoded.items.length + decoded.rejected.count - (isMetrics ? 1 : 0), signal).toBe(records);
      expect(countProtoRecords(body, isMetrics), signal).toBe(records);
      for (let cut = 0; cut <= body.length; cut++)
        expect(fedInChunks(body, isMetrics, [cut]).finish(), `${signal} cut at ${cut}`).toBe(records);
      const bytes = Array.from({ length: body.length }, (_, i) => i);
      expect(fedInChunks(body, isMetrics, bytes).finish(), `${signal} byte by byte`).toBe(records);
    }
  });

  it('counts the same over every pair of cuts within a 10-byte varint and the lengths around it', () => {
    // The unknown varint field's 11 bytes and the first block's length prefix, cut twice in every way.
    const end = UNKNOWN_FIELDS.length + 4;
    for (let a = 1; a < end; a++)
      for (let b = a; b < end; b++) expect(fedInChunks(logs, false, [a, b]).finish(), `cuts ${a},${b}`).toBe(44);
  });

  it('stops just past the cap, wherever the chunk ends: one under is accepted, one over refused', () => {
    for (const [signal, body, isMetrics, records] of bodies) {
      for (let cut = 0; cut <= body.length; cut += 7) {
        expect(fedInChunks(body, isMetrics, [cut], records).finish(), `${signal} at the cap`).toBe(records);
        const over = fedInChunks(body, isMetrics, [cut], records - 1);
        expect(over.total(), `${signal} over the cap`).toBe(records);
        expect(over.finish()).toBe(records);
      }
    }
    // Past the cap, the rest is not read: not even a lie right after the record that passed it.
    const torn = Buffer.concat([emptyLogRecords(20), Buffer.from([0x0a, 0x7f])]);
    expect(fedInChunks(torn, false, [5, 41], 10).finish()).toBe(11);
  });

  it('refuses a body cut short or lying about a length, in any chunking', () => {
    const one = encode(LOGS_REQ, logsRequest([{}, { body: { stringValue: 'y'.repeat(150) } }]));
    for (let n = 1; n < one.length; n++) {
      const cut = one.subarray(0, n);
      expect(() => fedInChunks(cut, false, [Math.floor(n / 2)]).finish(), `cut at ${n}`).toThrow(InvalidInputError);
    }
    // A record claiming more bytes than its scope holds: refused as soon as it is read, before the end.
    const lying = new ProtoRecordCounter(false);
    expect(() => lying.feed(Buffer.from([0x0a, 0x04, 0x12, 0x02, 0x12, 0x05]))).toThrow(
      /field length 5 at offset 6 runs past its enclosing message/,
    );
    // A tag of field 0, and an end-group with no group.
    expect(() => new ProtoRecordCounter(false).feed(Buffer.from([0x00]))).toThrow(/invalid tag 0 at offset 1/);
    expect(() => new ProtoRecordCounter(false).feed(Buffer.from([0x4c]))).toThrow(/invalid tag 76/);
  });

  it('hands the decoder the count it took, so the body is not walked twice', () => {
    const admitted: number[] = [];
    const guard: DecodeGuard = { maxRecords: 100, admit: (n) => admitted.push(n), checkpoint: () => {} };
    // A count the body does not hold shows it was taken from the argument, not recounted.
    SIGNAL_SPECS.logs.decodeProto(logs, 1n, guard, 7);
    SIGNAL_SPECS.logs.decodeProto(logs, 1n, guard);
    expect(admitted).toEqual([7, 44]);
  });
});
