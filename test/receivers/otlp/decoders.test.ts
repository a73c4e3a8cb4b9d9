import { describe, expect, it } from 'vitest';
import { InvalidInputError } from '../../../src/errors.ts';
import type {
  ExponentialHistogramPoint,
  HistogramPoint,
  MetricPoint,
  SummaryPoint,
} from '../../../src/model/metric.ts';
import { SIGNAL_SPECS } from '../../../src/receivers/otlp/signals.ts';
import { encode, LOGS_REQ, logsRequest, METRICS_REQ } from './harness.ts';

const logs = SIGNAL_SPECS.logs;
const metrics = SIGNAL_SPECS.metrics;
const traces = SIGNAL_SPECS.traces;
const json = (v: unknown) => Buffer.from(JSON.stringify(v));
const kv = (key: string, value: Record<string, unknown>) => ({ key, value });

describe('OTLP/JSON rules', () => {
  it('reads hex ids in any case, int64 as strings or numbers, bytes as base64 and special doubles', () => {
    const d = logs.decodeJson(
      json(
        logsRequest([
          {
            timeUnixNano: '1763892000123456789',
            observedTimeUnixNano: 1763892000123456,
            severityNumber: 13,
            traceId: '5B8EFFF798038103D269B633813FC60C',
            spanId: 'eee19b7ec3c1b174',
            body: {
              kvlistValue: {
                values: [
                  kv('n', { intValue: '9223372036854775807' }),
                  kv('m', { intValue: 42 }),
                  kv('nan', { doubleValue: 'NaN' }),
                  kv('b', { bytesValue: 'AAEC/w==' }),
                  kv('empty', {}),
                ],
              },
            },
            attributes: [
              kv('list', { arrayValue: { values: [{ stringValue: 'a' }, { boolValue: true }, { doubleValue: 1.5 }] } }),
            ],
          },
        ]),
      ),
      5n,
    );
    expect(d.rejected.count).toBe(0);
    const ev = d.items[0] as unknown as { [k: string]: unknown };
    expect(ev).toMatchObject({
      timeUnixNano: 1763892000123456789n,
      observedTimeUnixNano: 1763892000123456n,
      severityNumber: 13,
      traceId: '5b8efff798038103d269b633813fc60c',
      spanId: 'eee19b7ec3c1b174',
      service: 'checkout',
    });
    expect(ev.body).toEqual({
      n: 9223372036854775807n,
      m: 42,
      nan: NaN,
      b: new Uint8Array([0, 1, 2, 255]),
      empty: null,
    });
    expect(ev.attributes).toEqual({ list: ['a', true, 1.5] });
  });

  it('rejects only the record that breaks a rule: enum names, base64 ids, fractional int64, wrong types', () => {
    const d = logs.decodeJson(
      json(
        logsRequest([
          { body: { stringValue: 'kept' } },
          { severityNumber: 'SEVERITY_NUMBER_INFO' },
          { traceId: 'W47/95gDgQPSabYzgT/GDA==' },
          { timeUnixNano: 1.5 },
          { attributes: [kv('x', { intValue: '12abc' })] },
          { body: { stringValue: 7 } },
          { traceId: '00000000000000000000000000000000', body: { stringValue: 'zero ids mean none' } },
        ]),
      ),
      5n,
    );
    expect(d.items.map((e) => (e as { body: unknown }).body)).toEqual(['kept', 'zero ids mean none']);
    expect(d.rejected.count).toBe(5);
    expect(d.rejected.message()).toBe(
      '5 rejected: resourceLogs[0].scopeLogs[0].logRecords[1].severityNumber must be an integer enum value 0–24 (OTLP/JSON encodes enums as integers), got "SEVERITY_NUMBER_INFO"; ' +
        'resourceLogs[0].scopeLogs[0].logRecords[3].timeUnixNano must be an unsigned 64-bit integer (string or number), got 1.5; ' +
        'resourceLogs[0].scopeLogs[0].logRecords[4].attributes[0].value.intValue must be a 64-bit integer (string or number), got "12abc"; 2 more',
    );
  });

  it('fails the whole request when the envelope is wrong', () => {
    expect(() => logs.decodeJson(json([1, 2]), 1n)).toThrow(InvalidInputError);
    expect(() => logs.decodeJson(json({ resourceLogs: [{ resource: { attributes: 'x' } }] }), 1n)).toThrow(
      'resourceLogs[0].resource.attributes must be an array, got "x"',
    );
    expect(() => metrics.decodeJson(json({ resourceMetrics: [{ scopeMetrics: 3 }] }), 1n)).toThrow(
      'resourceMetrics[0].scopeMetrics must be an array, got 3',
    );
  });

  it('names a deeply nested wrong value in the error without overflowing the stack (found by the fuzz target)', () => {
    // 20,000 levels of arrays where an attribute's value object belongs: describing it used to JSON.stringify it whole.
    const deep = `${'['.repeat(20_000)}1${']'.repeat(20_000)}`;
    const body = Buffer.from(`{"resourceLogs":[{"resource":{"attributes":[{"key":"k","value":${deep}}]}}]}`);
    expect(() => logs.decodeJson(body, 1n)).toThrow(/must be an object, got \[\[\[\[\[\.\.\.\]\]\]\]\]$/);
  });

  it('maps every metric kind with temporality and exemplars, from JSON and from protobuf alike', () => {
    const exemplar = {
      timeUnixNano: '7',
      asInt: '3',
      spanId: 'eee19b7ec3c1b174',
      traceId: '5b8efff798038103d269b633813fc60c',
      filteredAttributes: [kv('k', { stringValue: 'v' })],
    };
    const base = { attributes: [kv('host', { stringValue: 'h1' })], startTimeUnixNano: '1', timeUnixNano: '2' };
    const request = {
      resourceMetrics: [
        {
          resource: { attributes: [kv('service.name', { stringValue: 'api' })] },
          scopeMetrics: [
            {
              scope: { name: 'meter', version: '1' },
              metrics: [
                { name: 'g', unit: 'C', gauge: { dataPoints: [{ ...base, asDouble: 21.5, exemplars: [exemplar] }] } },
                {
                  name: 's',
                  description: 'sum',
                  sum: {
                    aggregationTemporality: 1,
                    isMonotonic: true,
                    dataPoints: [{ ...base, asInt: '10', flags: 1 }],
                  },
                },
                {
                  name: 'h',
                  histogram: {
                    aggregationTemporality: 2,
                    dataPoints: [
                      {
                        ...base,
                        count: '3',
                        sum: 6,
                        bucketCounts: ['1', 1, '1'],
                        explicitBounds: [1, 2],
                        min: 1,
                        max: 3,
                      },
                    ],
                  },
                },
                {
                  name: 'e',
                  exponentialHistogram: {
                    aggregationTemporality: 2,
                    dataPoints: [
                      {
                        ...base,
                        count: 5,
                        sum: 2,
                        scale: -1,
                        zeroCount: '1',
                        zeroThreshold: 0.001,
                        positive: { offset: -2, bucketCounts: ['1', '2'] },
                        negative: { offset: 1, bucketCounts: [1] },
                      },
                    ],
                  },
                },
                {
                  name: 'q',
                  summary: {
                    dataPoints: [
                      {
                        ...base,
                        count: '4',
                        sum: 10,
                        quantileValues: [
                          { quantile: 0.5, value: 2 },
                          { quantile: 1, value: 4 },
                        ],
                      },
                    ],
                  },
                },
                { name: 'bad-h', histogram: { dataPoints: [{ ...base, bucketCounts: [1], explicitBounds: [1, 2] }] } },
                { name: 'nodata' },
              ],
            },
          ],
        },
      ],
    };
    // The same request through protobufjs's encoder (from proto/) and through OTLP/JSON.
    const protoReq = structuredClone(request) as typeof request;
    for (const m of protoReq.resourceMetrics[0]!.scopeMetrics[0]!.metrics as unknown as {
      [k: string]: { dataPoints: { exemplars?: { spanId: unknown; traceId: unknown }[] }[] };
    }[]) {
      for (const data of Object.values(m)) {
        if (typeof data !== 'object') continue;
        for (const p of data.dataPoints)
          for (const e of p.exemplars ?? [])
            Object.assign(e, {
              spanId: Buffer.from(e.spanId as string, 'hex'),
              traceId: Buffer.from(e.traceId as string, 'hex'),
            });
      }
    }
    const fromProto = metrics.decodeProto(encode(METRICS_REQ, protoReq), 1n);
    const fromJson = metrics.decodeJson(json(request), 1n);
    for (const d of [fromProto, fromJson]) {
      expect(d.rejected.count).toBe(2);
      expect(d.rejected.message()).toMatch(/metric "nodata" has no data/);
      expect(d.rejected.message()).toMatch(/metric "bad-h": histogram has 1 bucket counts for 2 bounds/);
      const byName = Object.fromEntries((d.items as MetricPoint[]).map((p) => [p.name, p]));
      const common = {
        attributes: { host: 'h1' },
        startTimeUnixNano: 1n,
        timeUnixNano: 2n,
        service: 'api',
        resource: { 'service.name': 'api' },
        scope: { name: 'meter', version: '1', attributes: {} },
      };
      expect(byName.g).toMatchObject({
        ...common,
        kind: 'gauge',
        value: 21.5,
        unit: 'C',
        exemplars: [
          {
            timeUnixNano: 7n,
            value: 3,
            spanId: 'eee19b7ec3c1b174',
            traceId: '5b8efff798038103d269b633813fc60c',
            filteredAttributes: { k: 'v' },
          },
        ],
      });
      expect(byName.s).toMatchObject({
        ...common,
        kind: 'sum',
        value: 10,
        temporality: 1,
        isMonotonic: true,
        flags: 1,
        description: 'sum',
      });
      expect(byName.h).toMatchObject({
        ...common,
        kind: 'histogram',
        count: 3,
        sum: 6,
        bucketCounts: [1, 1, 1],
        explicitBounds: [1, 2],
        min: 1,
        max: 3,
        temporality: 2,
      } satisfies Partial<HistogramPoint>);
      expect(byName.e).toMatchObject({
        kind: 'exponential_histogram',
        count: 5,
        sum: 2,
        scale: -1,
        zeroCount: 1,
        zeroThreshold: 0.001,
        positiveOffset: -2,
        positiveBucketCounts: [1, 2],
        negativeOffset: 1,
        negativeBucketCounts: [1],
        temporality: 2,
      } satisfies Partial<ExponentialHistogramPoint>);
      expect(byName.q).toMatchObject({
        kind: 'summary',
        count: 4,
        sum: 10,
        quantiles: [
          { quantile: 0.5, value: 2 },
          { quantile: 1, value: 4 },
        ],
      } satisfies Partial<SummaryPoint>);
    }
  });
});

describe('protobuf decoding', () => {
  const valid = encode(
    LOGS_REQ,
    logsRequest([
      {
        timeUnixNano: '1763892000123456789',
        body: { stringValue: 'héllo wörld' },
        attributes: [kv('big', { intValue: '-9223372036854775808' }), kv('__proto__', { stringValue: 'plain key' })],
      },
    ]),
  );

  it('reads int64 extremes exactly and treats "__proto__" as a plain key', () => {
    const ev = logs.decodeProto(valid, 1n).items[0] as { body: unknown; attributes: Record<string, unknown> };
    expect(ev.body).toBe('héllo wörld');
    expect(ev.attributes.big).toBe(-9223372036854775808n);
    expect(Object.getOwnPropertyDescriptor(ev.attributes, '__proto__')?.value).toBe('plain key');
    expect(Object.getPrototypeOf(ev.attributes)).toBe(Object.prototype);
  });

  it('keeps attribute keys exact through the key cache, across slot collisions and non-ASCII keys', () => {
    const attributes = Array.from({ length: 3000 }, (_, i) => kv(i % 3 === 0 ? `clé.${i}` : `k${i}`, { intValue: i }));
    for (let round = 0; round < 2; round++) {
      const ev = logs.decodeProto(encode(LOGS_REQ, logsRequest([{ attributes }])), 1n).items[0] as {
        attributes: Record<string, unknown>;
      };
      expect(Object.keys(ev.attributes)).toHaveLength(3000);
      for (let i = 0; i < 3000; i++) expect(ev.attributes[i % 3 === 0 ? `clé.${i}` : `k${i}`]).toBe(i);
    }
  });

  it('keeps string values exact through the value cache: collisions, near-equal values, lengths 0–65, non-ASCII', () => {
    // Values that differ only in their last character, repeat across records and requests, and
    // straddle the 64-byte limit of the cache.
    const value = (i: number) =>
      i % 7 === 0 ? `välue-${i}` : i % 11 === 0 ? 'x'.repeat(i % 66) : `value-${String(i % 500).padStart(4, '0')}`;
    const records = Array.from({ length: 2000 }, (_, i) => ({
      severityText: i % 2 ? 'INFO' : 'INFO ',
      body: { stringValue: value(i + 1) },
      attributes: [kv('v', { stringValue: value(i) }), kv('w', { stringValue: value(i * 31) })],
    }));
    for (let round = 0; round < 2; round++) {
      const items = logs.decodeProto(encode(LOGS_REQ, logsRequest(records)), 1n).items as {
        severityText: string;
        body: unknown;
        attributes: Record<string, unknown>;
      }[];
      expect(items).toHaveLength(2000);
      items.forEach((ev, i) => {
        expect(ev.severityText).toBe(i % 2 ? 'INFO' : 'INFO ');
        expect(ev.body).toBe(value(i + 1));
        expect(ev.attributes).toEqual({ v: value(i), w: value(i * 31) });
      });
    }
  });

  it('accepts the resource after its records, as the wire format allows', () => {
    const resourceLast = Buffer.concat([
      encode('opentelemetry.proto.logs.v1.ResourceLogs', {
        scopeLogs: [{ logRecords: [{ body: { stringValue: 'x' } }] }],
      }),
      encode('opentelemetry.proto.logs.v1.ResourceLogs', {
        resource: { attributes: [kv('service.name', { stringValue: 'late' })] },
      }),
    ]);
    const request = Buffer.concat([Buffer.from([0x0a]), varint(resourceLast.length), resourceLast]);
    expect(logs.decodeProto(request, 1n).items).toMatchObject([{ service: 'late', body: 'x' }]);
  });

  it('fails every truncation of a valid message as invalid input, never with another error', () => {
    for (let n = 1; n < valid.length; n++) {
      try {
        logs.decodeProto(valid.subarray(0, n), 1n);
      } catch (err) {
        expect(err, `prefix of ${n} bytes`).toBeInstanceOf(InvalidInputError);
      }
    }
  });

  it('refuses values nested deeper than 64 levels instead of exhausting the stack', () => {
    let value: Record<string, unknown> = { stringValue: 'leaf' };
    for (let i = 0; i < 200; i++) value = { arrayValue: { values: [value] } };
    // AnyValue { array_value (5) = ArrayValue { values (1) = AnyValue ... } }, built by hand: protobufjs's own encoder stops at 100 levels.
    let any = Buffer.from([0x0a, 0x04, 0x6c, 0x65, 0x61, 0x66]);
    for (let i = 0; i < 200; i++) {
      const arr = Buffer.concat([Buffer.from([0x0a]), varint(any.length), any]);
      any = Buffer.concat([Buffer.from([0x2a]), varint(arr.length), arr]);
    }
    const record = Buffer.concat([Buffer.from([0x2a]), varint(any.length), any]);
    const scope = Buffer.concat([Buffer.from([0x12]), varint(record.length), record]);
    const resource = Buffer.concat([Buffer.from([0x12]), varint(scope.length), scope]);
    const body = Buffer.concat([Buffer.from([0x0a]), varint(resource.length), resource]);
    expect(() => logs.decodeProto(body, 1n)).toThrow(/nested deeper than 64 levels/);
    expect(() => logs.decodeJson(json(logsRequest([{ body: value }])), 1n)).not.toThrow();
    expect(logs.decodeJson(json(logsRequest([{ body: value }])), 1n).rejected.message()).toMatch(
      /nested deeper than 64 levels/,
    );
  });

  it('rejects spans without valid ids but keeps their neighbours', () => {
    const body = encode('opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest', {
      resourceSpans: [
        {
          scopeSpans: [
            {
              spans: [
                { name: 'no ids' },
                {
                  name: 'ok',
                  traceId: Buffer.alloc(16, 1),
                  spanId: Buffer.alloc(8, 2),
                  parentSpanId: Buffer.alloc(8, 3),
                  flags: 0x301,
                  status: { code: 2, message: 'boom' },
                },
              ],
            },
          ],
        },
      ],
    });
    const d = traces.decodeProto(body, 1n);
    expect(d.items).toMatchObject([
      {
        name: 'ok',
        traceId: '01'.repeat(16),
        spanId: '02'.repeat(8),
        parentSpanId: '03'.repeat(8),
        flags: 0x301,
        statusCode: 2,
        statusMessage: 'boom',
      },
    ]);
    expect(d.rejected.message()).toBe('1 rejected: span "no ids": traceId is required');
  });
});

function varint(n: number): Buffer {
  const out: number[] = [];
  while (n > 0x7f) {
    out.push((n & 0x7f) | 0x80);
    n >>>= 7;
  }
  out.push(n);
  return Buffer.from(out);
}
