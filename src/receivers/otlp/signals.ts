import type { MetricPoint } from '../../model/metric.ts';
import type { Span } from '../../model/span.ts';
import type { VigilEvent } from '../../model/event.ts';
import { decodeLogsJson } from '../../otlp/json/logs.ts';
import { decodeLogsProto } from '../../otlp/proto/logs.ts';
import { decodeMetricsJson } from '../../otlp/json/metrics.ts';
import { decodeMetricsProto } from '../../otlp/proto/metrics.ts';
import { countJsonRecords, countProtoRecords, ProtoRecordCounter } from '../../otlp/proto/recordCount.ts';
import type { Decoded } from '../../otlp/rejections.ts';
import type { Checkpoint } from '../../otlp/requestWalk.ts';
import { decodeTracesJson } from '../../otlp/json/traces.ts';
import { decodeTracesProto } from '../../otlp/proto/traces.ts';
import { createReader, MalformedProtobufError } from '../../otlp/proto/wireReader.ts';
import { parseJsonRequest } from '../../otlp/json/values.ts';
import { VigilError } from '../../errors.ts';

export type OtlpSignal = 'logs' | 'metrics' | 'traces';
export type OtlpItem = VigilEvent | MetricPoint | Span;

/** What the receiver checks while one request is decoded; each call throws to refuse it. */
export interface DecodeGuard {
  /** The request's cap: counting stops past it, since the request is refused whatever the rest holds. */
  maxRecords: number;
  /** The request's record count (up to just past maxRecords), taken before any record is allocated. */
  admit(records: number): void;
  /** Every few thousand records decoded (memory). */
  checkpoint: Checkpoint;
}

export interface SignalSpec {
  signal: OtlpSignal;
  httpPath: string;
  /** Fully qualified gRPC service name. */
  grpcService: string;
  /** The Export*PartialSuccess field counting rejected items, as OTLP/JSON names it. */
  rejectedField: string;
  /** `counted`: the body's record count taken while it was read (protoCountWhileRead), so it is not walked again. */
  decodeProto(body: Buffer, observed: bigint, guard?: DecodeGuard, counted?: number): Decoded<OtlpItem>;
  decodeJson(body: Buffer, observed: bigint, guard?: DecodeGuard): Decoded<OtlpItem>;
}

/**
 * Runs a protobuf decoder, after the guard has seen the record count; protobufjs's own range
 * errors become invalid input too.
 */
function viaReader<T>(
  decode: (r: ReturnType<typeof createReader>) => Decoded<T>,
): (body: Buffer, guard: DecodeGuard | undefined, metrics: boolean, counted: number | undefined) => Decoded<T> {
  return (body, guard, metrics, counted) => {
    try {
      if (guard) guard.admit(counted ?? countProtoRecords(body, metrics, guard.maxRecords));
      return decode(createReader(body));
    } catch (err) {
      if (err instanceof VigilError) throw err;
      throw new MalformedProtobufError((err as Error).message);
    }
  };
}

const LOGS_KEYS = ['resourceLogs', 'scopeLogs', 'logRecords'] as const;
const METRICS_KEYS = ['resourceMetrics', 'scopeMetrics', 'metrics'] as const;
const TRACES_KEYS = ['resourceSpans', 'scopeSpans', 'spans'] as const;

/** An OTLP/JSON request parsed, its record count shown to the guard before any record is mapped. */
function parsedJson(
  body: Buffer,
  keys: readonly [string, string, string],
  metrics: boolean,
  guard: DecodeGuard | undefined,
): Record<string, unknown> {
  const doc = parseJsonRequest(body);
  if (guard) guard.admit(countJsonRecords(doc, keys, metrics));
  return doc;
}

export const SIGNAL_SPECS: Record<OtlpSignal, SignalSpec> = {
  logs: {
    signal: 'logs',
    httpPath: '/v1/logs',
    grpcService: 'opentelemetry.proto.collector.logs.v1.LogsService',
    rejectedField: 'rejectedLogRecords',
    decodeProto: (body, observed, guard, counted) =>
      viaReader((r) => decodeLogsProto(r, observed, guard?.checkpoint))(body, guard, false, counted),
    decodeJson: (body, observed, guard) =>
      decodeLogsJson(parsedJson(body, LOGS_KEYS, false, guard), observed, guard?.checkpoint),
  },
  metrics: {
    signal: 'metrics',
    httpPath: '/v1/metrics',
    grpcService: 'opentelemetry.proto.collector.metrics.v1.MetricsService',
    rejectedField: 'rejectedDataPoints',
    decodeProto: (body, _observed, guard, counted) =>
      viaReader((r) => decodeMetricsProto(r, guard?.checkpoint))(body, guard, true, counted),
    decodeJson: (body, _observed, guard) =>
      decodeMetricsJson(parsedJson(body, METRICS_KEYS, true, guard), guard?.checkpoint),
  },
  traces: {
    signal: 'traces',
    httpPath: '/v1/traces',
    grpcService: 'opentelemetry.proto.collector.trace.v1.TraceService',
    rejectedField: 'rejectedSpans',
    decodeProto: (body, _observed, guard, counted) =>
      viaReader((r) => decodeTracesProto(r, guard?.checkpoint))(body, guard, false, counted),
    decodeJson: (body, _observed, guard) =>
      decodeTracesJson(parsedJson(body, TRACES_KEYS, false, guard), guard?.checkpoint),
  },
};

/** A protobuf body's record count, taken chunk by chunk while the body is read. */
export interface ProtoCountWhileRead {
  /** Sees each chunk of the (decompressed) body; throws the guard's refusal once past its cap. */
  inspect(chunk: Uint8Array): void;
  /** The count of the whole body, for decodeProto; throws if the body ended inside a message. */
  counted(): number;
}

/**
 * Counts the records of a protobuf request as it arrives, so one past the cap is refused
 * before the rest is read, inflated or joined (a 4 KB gzip message holds 2 M empty log
 * records), and a body within it is not walked a second time to be counted.
 */
export function protoCountWhileRead(spec: SignalSpec, guard: DecodeGuard): ProtoCountWhileRead {
  const counter = new ProtoRecordCounter(spec.signal === 'metrics', guard.maxRecords);
  return {
    inspect: (chunk) => {
      const n = counter.feed(chunk);
      if (n > guard.maxRecords) guard.admit(n);
    },
    counted: () => counter.finish(),
  };
}

export interface ExportOutcome {
  rejected: number;
  errorMessage: string;
}

/** The same in OTLP/JSON (int64 as a string, as proto3 JSON writes it). */
export function responseJson(spec: SignalSpec, o: ExportOutcome): Record<string, unknown> {
  if (o.rejected === 0 && o.errorMessage === '') return {};
  return { partialSuccess: { [spec.rejectedField]: String(o.rejected), errorMessage: o.errorMessage } };
}
