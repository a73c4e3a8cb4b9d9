import type { MetricPoint } from '../../model/metric.ts';
import type { Span } from '../../model/span.ts';
import type { VigilEvent } from '../../model/event.ts';
import { decodeLogsJson, decodeLogsProto } from './logs.ts';
import { decodeMetricsJson, decodeMetricsProto } from './metrics.ts';
import { protoType } from './protos.ts';
import type { Decoded } from './rejections.ts';
import { decodeTracesJson, decodeTracesProto } from './traces.ts';
import { createReader, MalformedProtobufError } from './wireReader.ts';
import { parseJsonRequest } from './jsonValues.ts';
import { VigilError } from '../../errors.ts';

export type OtlpSignal = 'logs' | 'metrics' | 'traces';
export type OtlpItem = VigilEvent | MetricPoint | Span;

export interface SignalSpec {
  signal: OtlpSignal;
  httpPath: string;
  /** Fully qualified gRPC service name. */
  grpcService: string;
  responseType: string;
  /** The Export*PartialSuccess field counting rejected items. */
  rejectedField: string;
  decodeProto(body: Buffer, observed: bigint): Decoded<OtlpItem>;
  decodeJson(body: Buffer, observed: bigint): Decoded<OtlpItem>;
}

/** Runs a protobuf decoder; protobufjs's own range errors become invalid input too. */
function viaReader<T>(decode: (r: ReturnType<typeof createReader>) => Decoded<T>): (body: Buffer) => Decoded<T> {
  return (body) => {
    try {
      return decode(createReader(body));
    } catch (err) {
      if (err instanceof VigilError) throw err;
      throw new MalformedProtobufError((err as Error).message);
    }
  };
}

export const SIGNAL_SPECS: Record<OtlpSignal, SignalSpec> = {
  logs: {
    signal: 'logs',
    httpPath: '/v1/logs',
    grpcService: 'opentelemetry.proto.collector.logs.v1.LogsService',
    responseType: 'opentelemetry.proto.collector.logs.v1.ExportLogsServiceResponse',
    rejectedField: 'rejectedLogRecords',
    decodeProto: (body, observed) => viaReader((r) => decodeLogsProto(r, observed))(body),
    decodeJson: (body, observed) => decodeLogsJson(parseJsonRequest(body), observed),
  },
  metrics: {
    signal: 'metrics',
    httpPath: '/v1/metrics',
    grpcService: 'opentelemetry.proto.collector.metrics.v1.MetricsService',
    responseType: 'opentelemetry.proto.collector.metrics.v1.ExportMetricsServiceResponse',
    rejectedField: 'rejectedDataPoints',
    decodeProto: (body) => viaReader(decodeMetricsProto)(body),
    decodeJson: (body) => decodeMetricsJson(parseJsonRequest(body)),
  },
  traces: {
    signal: 'traces',
    httpPath: '/v1/traces',
    grpcService: 'opentelemetry.proto.collector.trace.v1.TraceService',
    responseType: 'opentelemetry.proto.collector.trace.v1.ExportTraceServiceResponse',
    rejectedField: 'rejectedSpans',
    decodeProto: (body) => viaReader(decodeTracesProto)(body),
    decodeJson: (body) => decodeTracesJson(parseJsonRequest(body)),
  },
};

export interface ExportOutcome {
  rejected: number;
  errorMessage: string;
}

const EMPTY = Buffer.alloc(0);

/** Export*ServiceResponse in protobuf: empty on full success, partial_success otherwise. */
export function encodeResponseProto(spec: SignalSpec, o: ExportOutcome): Buffer {
  if (o.rejected === 0 && o.errorMessage === '') return EMPTY;
  const T = protoType(spec.responseType);
  return Buffer.from(T.encode(T.fromObject({ partialSuccess: { [spec.rejectedField]: o.rejected, errorMessage: o.errorMessage } })).finish());
}

/** The same in OTLP/JSON (int64 as a string, as proto3 JSON writes it). */
export function responseJson(spec: SignalSpec, o: ExportOutcome): Record<string, unknown> {
  if (o.rejected === 0 && o.errorMessage === '') return {};
  return { partialSuccess: { [spec.rejectedField]: String(o.rejected), errorMessage: o.errorMessage } };
}
