import { protoType } from '../otlpProtos.ts';
import type { Mutator } from './mutator.ts';

export type OtlpSignal = 'logs' | 'metrics' | 'traces';

export const REQUEST_TYPES: Record<OtlpSignal, string> = {
  logs: 'opentelemetry.proto.collector.logs.v1.ExportLogsServiceRequest',
  metrics: 'opentelemetry.proto.collector.metrics.v1.ExportMetricsServiceRequest',
  traces: 'opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest',
};

/** An OTLP AnyValue of any kind, with hostile keys in kvlists and edge numbers. */
function anyValue(m: Mutator, depth = 0): Record<string, unknown> {
  switch (depth > 3 ? m.int(4) : m.int(7)) {
    case 0:
      return { stringValue: m.string() };
    case 1:
      return { intValue: m.pick([0, -1, '9223372036854775807', '-9223372036854775808', 2 ** 53]) };
    case 2:
      return { doubleValue: m.number() };
    case 3:
      return { boolValue: m.chance(0.5) };
    case 4:
      return { bytesValue: Buffer.from([0xff, 0x00, 0x80]) };
    case 5:
      return { arrayValue: { values: Array.from({ length: m.int(4) }, () => anyValue(m, depth + 1)) } };
    default:
      return { kvlistValue: { values: attributes(m, depth + 1) } };
  }
}

function attributes(m: Mutator, depth = 0): Record<string, unknown>[] {
  return Array.from({ length: m.int(4) }, () => ({ key: m.name(), value: anyValue(m, depth) }));
}

const ID_BYTES = [0, 8, 16, 3, 32];
const id = (m: Mutator) => Buffer.alloc(m.pick(ID_BYTES), m.int(256));
const nanos = (m: Mutator) => m.pick([0, 1, '1764000000000000000', '18446744073709551615', 2 ** 53]);

function resource(m: Mutator): Record<string, unknown> {
  return {
    attributes: [
      { key: 'service.name', value: { stringValue: m.pick(['checkout', '', '__proto__']) } },
      ...attributes(m),
    ],
    droppedAttributesCount: m.pick([0, 4294967295]),
  };
}

function logs(m: Mutator): Record<string, unknown> {
  const record = () => ({
    timeUnixNano: nanos(m),
    observedTimeUnixNano: nanos(m),
    severityNumber: m.pick([0, 9, 17, 24, 25, 1000, -1]),
    severityText: m.pick(['INFO', '', m.string()]),
    body: anyValue(m),
    attributes: attributes(m),
    traceId: id(m),
    spanId: id(m),
    flags: m.pick([0, 1, 4294967295]),
    eventName: m.pick(['', 'e', '__proto__']),
  });
  return {
    resourceLogs: [
      {
        resource: resource(m),
        scopeLogs: [
          {
            scope: { name: m.name(), version: '1', attributes: attributes(m) },
            logRecords: Array.from({ length: m.int(4) }, record),
          },
        ],
      },
    ],
  };
}

function metrics(m: Mutator): Record<string, unknown> {
  const point = () => ({
    attributes: attributes(m),
    timeUnixNano: nanos(m),
    startTimeUnixNano: nanos(m),
    ...(m.chance(0.5) ? { asDouble: m.number() } : { asInt: m.pick([0, -1, '9223372036854775807']) }),
  });
  const hist = () => ({
    attributes: attributes(m),
    timeUnixNano: nanos(m),
    count: m.pick([0, 3, '18446744073709551615']),
    sum: m.number(),
    bucketCounts: [1, 2],
    explicitBounds: m.pick([[1], [1, 2, 3], [Number.NaN], []]),
  });
  const metric = () => {
    const base = { name: m.pick(['cpu', '', m.name()]), unit: '1', description: m.string().slice(0, 100) };
    switch (m.int(4)) {
      case 0:
        return { ...base, gauge: { dataPoints: Array.from({ length: m.int(3) }, point) } };
      case 1:
        return {
          ...base,
          sum: {
            dataPoints: Array.from({ length: m.int(3) }, point),
            aggregationTemporality: m.pick([0, 1, 2, 7]),
            isMonotonic: true,
          },
        };
      case 2:
        return {
          ...base,
          histogram: {
            dataPoints: Array.from({ length: m.int(3) }, hist),
            aggregationTemporality: m.pick([0, 1, 2, 99]),
          },
        };
      default:
        return {
          ...base,
          summary: {
            dataPoints: [{ count: 1, sum: m.number(), quantileValues: [{ quantile: m.number(), value: m.number() }] }],
          },
        };
    }
  };
  return {
    resourceMetrics: [
      {
        resource: resource(m),
        scopeMetrics: [{ scope: { name: 's' }, metrics: Array.from({ length: m.int(4) }, metric) }],
      },
    ],
  };
}

function traces(m: Mutator): Record<string, unknown> {
  const span = () => ({
    traceId: id(m),
    spanId: id(m),
    parentSpanId: id(m),
    name: m.pick(['GET /', '', m.string()]),
    kind: m.pick([0, 1, 5, 6, 99]),
    startTimeUnixNano: nanos(m),
    endTimeUnixNano: nanos(m),
    attributes: attributes(m),
    status: { code: m.pick([0, 1, 2, 3, 42]), message: m.string().slice(0, 100) },
    events: m.chance(0.3) ? [{ name: 'exception', timeUnixNano: nanos(m), attributes: attributes(m) }] : [],
    links: m.chance(0.2) ? [{ traceId: id(m), spanId: id(m), attributes: attributes(m) }] : [],
  });
  return {
    resourceSpans: [
      { resource: resource(m), scopeSpans: [{ scope: { name: 's' }, spans: Array.from({ length: m.int(4) }, span) }] },
    ],
  };
}

const BUILDERS: Record<OtlpSignal, (m: Mutator) => Record<string, unknown>> = { logs, metrics, traces };

/** A structurally valid request object (protobufjs camelCase form) with edge values in every field. */
export function otlpObject(m: Mutator, signal: OtlpSignal): Record<string, unknown> {
  return BUILDERS[signal](m);
}

/** The same, encoded with the proto/ definitions. */
export function otlpProtobuf(m: Mutator, signal: OtlpSignal): Buffer {
  const T = protoType(REQUEST_TYPES[signal]);
  return Buffer.from(T.encode(T.fromObject(otlpObject(m, signal))).finish());
}

function varint(v: number): Buffer {
  const out: number[] = [];
  for (; v > 0x7f; v = Math.floor(v / 128)) out.push((v % 128) | 0x80);
  out.push(v);
  return Buffer.from(out);
}

const field = (tag: number, payload: Buffer) =>
  Buffer.concat([Buffer.from([(tag << 3) | 2]), varint(payload.length), payload]);

const nestedValues = new Map<number, Buffer>();

/**
 * An AnyValue holding a kvlist `depth` levels deep. Built once per depth, and with every
 * length prefix computed from the inside out and the bytes copied once: wrapping the value level
 * by level copies it each time, which at 20,000 levels is a gigabyte per input.
 */
function nestedAnyValue(depth: number): Buffer {
  let value = nestedValues.get(depth);
  if (value) return value;
  const leaf = field(1, Buffer.from('leaf'));
  const heads: Buffer[] = [];
  let size = leaf.length;
  for (let i = 0; i < depth; i++)
    for (const tag of [1, 5]) {
      const head = Buffer.concat([Buffer.from([(tag << 3) | 2]), varint(size)]);
      heads.push(head);
      size += head.length;
    }
  value = Buffer.concat([...heads.reverse(), leaf]);
  nestedValues.set(depth, value);
  return value;
}

/** Logs requests no encoder writes: AnyValues nested `depth` deep, many empty records, a length that overruns. */
export function handBuiltLogs(m: Mutator): Buffer {
  const inScope = (record: Buffer) => field(1, field(2, field(2, record)));
  switch (m.int(3)) {
    case 0:
      return inScope(field(5, nestedAnyValue(m.pick([63, 64, 65, 500, 20_000]))));
    case 1: {
      const n = m.pick([10_000, 10_001, 200_000]);
      const records = Buffer.alloc(2 * n);
      for (let i = 0; i < n; i++) records[2 * i] = 0x12;
      return field(1, field(2, records));
    }
    default:
      // A length-delimited field that claims more bytes than the message has.
      return Buffer.concat([Buffer.from([0x0a]), m.varint(), Buffer.from([0x12, 0x05, 0x2a, 0x03])]);
  }
}
