import { describe, expect, it } from 'vitest';
import { InvalidInputError } from '../../../src/errors.ts';
import { countJsonRecords, countProtoRecords } from '../../../src/receivers/otlp/recordCount.ts';
import { SIGNAL_SPECS, type DecodeGuard } from '../../../src/receivers/otlp/signals.ts';
import { emptyLogRecords, encode, LOGS_REQ, logsRequest, METRICS_REQ, TRACES_REQ } from './harness.ts';

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
