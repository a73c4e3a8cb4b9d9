import { describe, expect, it } from 'vitest';
import { setAttr, type AttrValue, type Attributes } from '../../../src/model/attributes.ts';
import { newEvent, type InstrumentationScope, type VigilEvent } from '../../../src/model/event.ts';
import type { MetricPoint } from '../../../src/model/metric.ts';
import type { Span } from '../../../src/model/span.ts';
import { encodeLogsRequest } from '../../../src/otlp/proto/logsEncode.ts';
import { encodeMetricsRequest } from '../../../src/otlp/proto/metricsEncode.ts';
import { ProtoWriter } from '../../../src/otlp/proto/protoWriter.ts';
import { encodeTracesRequest } from '../../../src/otlp/proto/tracesEncode.ts';
import { decodeLogsProto } from '../../../src/otlp/proto/logs.ts';
import { decodeMetricsProto } from '../../../src/otlp/proto/metrics.ts';
import { protoType } from '../../support/otlpProtos.ts';
import { decodeTracesProto } from '../../../src/otlp/proto/traces.ts';
import { createReader } from '../../../src/otlp/proto/wireReader.ts';
import { mulberry32 } from '../../support/seededRandom.ts';

type Rng = () => number;
const pick = <T>(rng: Rng, xs: readonly T[]): T => xs[Math.floor(rng() * xs.length)]!;
const hex = (rng: Rng, bytes: number) =>
  Array.from({ length: bytes }, () =>
    Math.floor(rng() * 256)
      .toString(16)
      .padStart(2, '0'),
  )
    .join('')
    .replace(/^0{2}/, 'a1');
const text = (rng: Rng) =>
  pick(rng, ['', 'a', 'disk full', 'héllo wörld ✓', 'x'.repeat(200), 'line1\nline2', '日本語'.repeat(30)]);

/** Every AnyValue kind, nested up to `depth`. */
function anyValue(rng: Rng, depth: number): AttrValue {
  const kinds = depth > 0 ? 9 : 7;
  switch (Math.floor(rng() * kinds)) {
    case 0:
      return text(rng);
    case 1:
      return rng() < 0.5;
    case 2:
      return pick(rng, [0, 1, -1, 42, 2 ** 31, -(2 ** 40), Number.MAX_SAFE_INTEGER, Number.MIN_SAFE_INTEGER]);
    case 3:
      return pick(rng, [0.5, -3.25, 1e300, Number.NaN, Number.POSITIVE_INFINITY, -0]);
    case 4:
      return pick(rng, [2n ** 62n, -(2n ** 63n), 9007199254740993n]);
    case 5:
      return new Uint8Array(Array.from({ length: Math.floor(rng() * 40) }, () => Math.floor(rng() * 256)));
    case 6:
      return null;
    case 7:
      return Array.from({ length: Math.floor(rng() * 4) }, () => anyValue(rng, depth - 1));
    default:
      return attributes(rng, depth - 1);
  }
}

function attributes(rng: Rng, depth = 2): Attributes {
  const out: Attributes = {};
  const n = Math.floor(rng() * 5);
  for (let i = 0; i < n; i++)
    setAttr(out, pick(rng, ['k', 'http.status_code', 'ünï', 'a.b.c', '__proto__', `key${i}`]), anyValue(rng, depth));
  return out;
}

function resourceAndScope(rng: Rng): { resource: Attributes; scope: InstrumentationScope | undefined } {
  const resource = pick<Attributes>(rng, [
    { 'service.name': 'checkout', 'host.name': 'web-1' },
    { 'service.name': 'db' },
    {},
    attributes(rng),
  ]);
  const scope = pick<InstrumentationScope | undefined>(rng, [
    undefined,
    { name: 'lib', version: '1.2.3', attributes: {} },
    { name: '', version: '', attributes: { a: 1 } },
  ]);
  return { resource, scope };
}

function event(rng: Rng): VigilEvent {
  const { resource, scope } = resourceAndScope(rng);
  return newEvent({
    source: 'otlp',
    timeUnixNano: pick(rng, [0n, 1_700_000_000_123_456_789n]),
    observedTimeUnixNano: 1_700_000_001_000_000_000n,
    severityNumber: Math.floor(rng() * 25),
    severityText: pick(rng, ['', 'ERROR', 'info']),
    body: pick(rng, [anyValue(rng, 2), 'plain body', '']),
    attributes: attributes(rng),
    resource,
    scope,
    traceId: pick(rng, ['', hex(rng, 16)]),
    spanId: pick(rng, ['', hex(rng, 8)]),
    flags: pick(rng, [0, 1, 0xffffffff]),
  });
}

function span(rng: Rng): Span {
  const { resource, scope } = resourceAndScope(rng);
  return {
    traceId: hex(rng, 16),
    spanId: hex(rng, 8),
    parentSpanId: pick(rng, ['', hex(rng, 8)]),
    traceState: pick(rng, ['', 'vendor=a,other=b']),
    flags: pick(rng, [0, 1, 0x301]),
    name: pick(rng, ['GET /', 'query', 'é']),
    kind: Math.floor(rng() * 6),
    startTimeUnixNano: 1_700_000_000_000_000_000n,
    endTimeUnixNano: 1_700_000_000_500_000_000n,
    attributes: attributes(rng),
    resource,
    scope,
    events: Array.from({ length: Math.floor(rng() * 3) }, () => ({
      timeUnixNano: 1_700_000_000_100_000_000n,
      name: pick(rng, ['exception', 'retry']),
      attributes: attributes(rng),
    })),
    links: Array.from({ length: Math.floor(rng() * 3) }, () => ({
      traceId: hex(rng, 16),
      spanId: hex(rng, 8),
      traceState: pick(rng, ['', 'x=y']),
      attributes: attributes(rng),
    })),
    statusCode: Math.floor(rng() * 3),
    statusMessage: pick(rng, ['', 'boom']),
    service: '',
    tenant: '',
  };
}

function point(rng: Rng): MetricPoint {
  const { resource, scope } = resourceAndScope(rng);
  const base = {
    name: pick(rng, ['requests', 'latency', 'temp']),
    description: pick(rng, ['', 'how many']),
    unit: pick(rng, ['', 'ms', '{request}']),
    resource,
    scope,
    attributes: attributes(rng),
    startTimeUnixNano: pick(rng, [0n, 1_699_999_999_000_000_000n]),
    timeUnixNano: 1_700_000_000_000_000_000n,
    flags: pick(rng, [0, 1]),
    exemplars: Array.from({ length: Math.floor(rng() * 2) }, () => ({
      timeUnixNano: 1_700_000_000_000_000_001n,
      value: 3.5,
      spanId: pick(rng, ['', hex(rng, 8)]),
      traceId: pick(rng, ['', hex(rng, 16)]),
      filteredAttributes: attributes(rng, 0),
    })),
    service: '',
    tenant: '',
  };
  switch (Math.floor(rng() * 5)) {
    case 0:
      return { ...base, kind: 'gauge', value: pick(rng, [0, -1.5, 1e12]) };
    case 1:
      return { ...base, kind: 'sum', value: 7, temporality: pick(rng, [0, 1, 2] as const), isMonotonic: rng() < 0.5 };
    case 2:
      return {
        ...base,
        kind: 'histogram',
        count: 6,
        sum: 12.5,
        min: pick(rng, [undefined, 0.1]),
        max: pick(rng, [undefined, 9]),
        bucketCounts: [1, 2, 3],
        explicitBounds: [1, 5],
        temporality: pick(rng, [1, 2] as const),
      };
    case 3:
      return {
        ...base,
        kind: 'exponential_histogram',
        count: 10,
        sum: 40,
        min: 0,
        max: 12,
        scale: pick(rng, [-3, 0, 5]),
        zeroCount: pick(rng, [0, 2]),
        zeroThreshold: pick(rng, [0, 0.001]),
        positiveOffset: pick(rng, [-2, 0, 7]),
        positiveBucketCounts: [1, 0, 2 ** 40],
        negativeOffset: 1,
        negativeBucketCounts: pick(rng, [[], [3]]),
        temporality: 2,
      };
    default:
      // SummaryDataPoint has no exemplars field.
      return {
        ...base,
        exemplars: [],
        kind: 'summary',
        count: 4,
        sum: 8,
        quantiles: [
          { quantile: 0, value: 1 },
          { quantile: 0.99, value: 3 },
        ],
      };
  }
}

/** What crosses the wire: the model minus fields a receiver derives or stamps itself. */
function wireOf<T extends object>(rec: T, drop: string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(rec)) if (!drop.includes(k)) out[k] = v;
  return out;
}
const sortById = <T>(xs: T[], key: (x: T) => string) =>
  [...xs].sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));

/** A text of a record independent of key order, to compare decoded and sent records as sets. */
function canonical(v: unknown): string {
  return JSON.stringify(v, (_k, x: unknown) => {
    if (typeof x === 'bigint') return `${x}n`;
    if (x === undefined) return 'undefined';
    if (typeof x === 'number' && !Number.isFinite(x)) return String(x);
    if (x instanceof Uint8Array) return [...x];
    if (x !== null && typeof x === 'object' && !Array.isArray(x))
      return Object.fromEntries(
        Object.keys(x)
          .sort()
          .map((k) => [k === '__proto__' ? ' __proto__' : k, (x as Record<string, unknown>)[k]]),
      );
    return x;
  });
}

describe('OTLP protobuf encoders, read back by the receiver decoders', () => {
  it('logs keep every field, every attribute type and every body kind', () => {
    for (let seed = 1; seed <= 200; seed++) {
      const rng = mulberry32(seed);
      const events = Array.from({ length: 1 + Math.floor(rng() * 8) }, () => event(rng));
      const decoded = decodeLogsProto(createReader(encodeLogsRequest(events)), 0n);
      expect(decoded.rejected.count, `seed ${seed}`).toBe(0);
      const drop = ['id', 'asset', 'title', 'type', 'service', 'tenant', 'fingerprint', 'source'];
      // Records regroup by resource and scope on the wire; compare as sets keyed by content.
      expect(
        sortById(
          decoded.items.map((e) => wireOf(e, drop)),
          canonical,
        ),
        `seed ${seed}`,
      ).toEqual(
        sortById(
          events.map((e) => wireOf(e, drop)),
          canonical,
        ),
      );
    }
  });

  it('spans keep events, links, status, flags and trace state', () => {
    for (let seed = 1; seed <= 200; seed++) {
      const rng = mulberry32(seed);
      const spans = Array.from({ length: 1 + Math.floor(rng() * 6) }, () => span(rng));
      const decoded = decodeTracesProto(createReader(encodeTracesRequest(spans)));
      expect(decoded.rejected.count, `seed ${seed}`).toBe(0);
      expect(
        sortById(
          decoded.items.map((s) => wireOf(s, ['service'])),
          (s) => s.spanId as string,
        ),
        `seed ${seed}`,
      ).toEqual(
        sortById(
          spans.map((s) => wireOf(s, ['service'])),
          (s) => s.spanId as string,
        ),
      );
    }
  });

  it('metric points of every kind keep their values, temporality and exemplars', () => {
    for (let seed = 1; seed <= 200; seed++) {
      const rng = mulberry32(seed);
      const points = Array.from({ length: 1 + Math.floor(rng() * 8) }, () => point(rng));
      const decoded = decodeMetricsProto(createReader(encodeMetricsRequest(points)));
      expect(decoded.rejected.count, `seed ${seed}`).toBe(0);
      const norm = (p: MetricPoint) =>
        wireOf({ ...p, min: 'min' in p ? p.min : undefined, max: 'max' in p ? p.max : undefined }, ['service']);
      expect(sortById(decoded.items.map(norm), canonical), `seed ${seed}`).toEqual(
        sortById(points.map(norm), canonical),
      );
    }
  });

  it('writes what protobufjs reads from the .proto files, long strings and big messages included', () => {
    const big = newEvent({
      source: 'json',
      body: 'é'.repeat(70_000),
      attributes: { n: 300, list: ['a', 1, true] },
      resource: { 'service.name': 's' },
    });
    const T = protoType('opentelemetry.proto.collector.logs.v1.ExportLogsServiceRequest');
    const msg = T.toObject(T.decode(encodeLogsRequest([big], new ProtoWriter(16))), { longs: String }) as {
      resourceLogs: {
        scopeLogs: {
          logRecords: {
            body: { stringValue: string };
            attributes: { key: string; value: Record<string, unknown> }[];
          }[];
        }[];
      }[];
    };
    const rec = msg.resourceLogs[0]!.scopeLogs[0]!.logRecords[0]!;
    expect(rec.body.stringValue).toBe('é'.repeat(70_000));
    expect(rec.attributes).toEqual([
      { key: 'n', value: { intValue: '300' } },
      {
        key: 'list',
        value: { arrayValue: { values: [{ stringValue: 'a' }, { intValue: '1' }, { boolValue: true }] } },
      },
    ]);
  });
});
