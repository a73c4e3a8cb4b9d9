import { context, trace, SpanKind, SpanStatusCode, TraceFlags } from '@opentelemetry/api';
import type { Attributes as OtelAttributes } from '@opentelemetry/api';
import { SeverityNumber } from '@opentelemetry/api-logs';
import { OTLPLogExporter as LogsGrpc } from '@opentelemetry/exporter-logs-otlp-grpc';
import { OTLPLogExporter as LogsHttp } from '@opentelemetry/exporter-logs-otlp-http';
import { OTLPLogExporter as LogsProto } from '@opentelemetry/exporter-logs-otlp-proto';
import { OTLPMetricExporter as MetricsGrpc } from '@opentelemetry/exporter-metrics-otlp-grpc';
import { OTLPMetricExporter as MetricsHttp } from '@opentelemetry/exporter-metrics-otlp-http';
import { OTLPMetricExporter as MetricsProto } from '@opentelemetry/exporter-metrics-otlp-proto';
import { OTLPTraceExporter as TracesGrpc } from '@opentelemetry/exporter-trace-otlp-grpc';
import { OTLPTraceExporter as TracesHttp } from '@opentelemetry/exporter-trace-otlp-http';
import { OTLPTraceExporter as TracesProto } from '@opentelemetry/exporter-trace-otlp-proto';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { LoggerProvider, SimpleLogRecordProcessor } from '@opentelemetry/sdk-logs';
import { AggregationType, MeterProvider, PeriodicExportingMetricReader } from '@opentelemetry/sdk-metrics';
import { SimpleSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';

import type { RunningDaemon } from '../../support/daemon.ts';

export type Protocol = 'grpc' | 'http/json' | 'http/protobuf';
export const PROTOCOLS: readonly Protocol[] = ['grpc', 'http/json', 'http/protobuf'];

export interface Endpoints {
  grpc: string;
  http: string;
}

/** The stock OTel JS exporters for one protocol, pointed at Vigil as an application would. */
function exporters(protocol: Protocol, ep: Endpoints, compression: 'gzip' | 'none') {
  const c = compression as never;
  switch (protocol) {
    case 'grpc':
      return {
        logs: new LogsGrpc({ url: ep.grpc, compression: c }),
        metrics: new MetricsGrpc({ url: ep.grpc, compression: c }),
        traces: new TracesGrpc({ url: ep.grpc, compression: c }),
      };
    case 'http/json':
      return {
        logs: new LogsHttp({ url: `${ep.http}/v1/logs`, compression: c }),
        metrics: new MetricsHttp({ url: `${ep.http}/v1/metrics`, compression: c }),
        traces: new TracesHttp({ url: `${ep.http}/v1/traces`, compression: c }),
      };
    case 'http/protobuf':
      return {
        logs: new LogsProto({ url: `${ep.http}/v1/logs`, compression: c }),
        metrics: new MetricsProto({ url: `${ep.http}/v1/metrics`, compression: c }),
        traces: new TracesProto({ url: `${ep.http}/v1/traces`, compression: c }),
      };
  }
}

export const TRACE_ID = '5b8efff798038103d269b633813fc60c';
export const SPAN_ID = 'eee19b7ec3c1b174';
/** 2025-11-23T10:00:00.123456789Z in ns, as an OTel HrTime. */
export const HR_TIME: [number, number] = [1763892000, 123456789];
export const TIME_NS = '1763892000123456789';

export const LOG_ATTRIBUTES: OtelAttributes = {
  'http.method': 'GET',
  'http.status_code': 503,
  'duration.ms': 12.5,
  retry: true,
  tags: ['a', 'b'],
  ports: [80, 443],
};

/** Sends one app's worth of logs, metrics and spans over `protocol` and waits until each export returned. */
export async function sendEverything(
  protocol: Protocol,
  ep: Endpoints,
  service: string,
  compression: 'gzip' | 'none' = 'none',
): Promise<void> {
  const ex = exporters(protocol, ep, compression);
  const resource = resourceFromAttributes({
    'service.name': service,
    'host.name': `${service}-host`,
    'deployment.environment': 'test',
  });

  const logs = new LoggerProvider({ resource, processors: [new SimpleLogRecordProcessor({ exporter: ex.logs })] });
  const logger = logs.getLogger('vigil-test', '1.2.3');
  const ctx = trace.setSpanContext(context.active(), {
    traceId: TRACE_ID,
    spanId: SPAN_ID,
    traceFlags: TraceFlags.SAMPLED,
  });
  logger.emit({
    timestamp: HR_TIME,
    severityNumber: SeverityNumber.ERROR,
    severityText: 'ERROR',
    body: 'payment gateway timed out\nretrying',
    attributes: LOG_ATTRIBUTES,
    context: ctx,
  });
  logger.emit({
    timestamp: HR_TIME,
    severityNumber: SeverityNumber.INFO,
    body: { order: { id: 42, items: ['x', 'y'] }, raw: new Uint8Array([1, 2, 255]) } as never,
    attributes: { bytes: new Uint8Array([0, 1, 2]) as never },
  });
  await logs.forceFlush();
  await logs.shutdown();

  const meters = new MeterProvider({
    resource,
    readers: [new PeriodicExportingMetricReader({ exporter: ex.metrics, exportIntervalMillis: 3_600_000 })],
    views: [{ instrumentName: 'latency.exp', aggregation: { type: AggregationType.EXPONENTIAL_HISTOGRAM } }],
  });
  const meter = meters.getMeter('vigil-test');
  meter.createCounter('requests', { unit: '1', description: 'Requests served' }).add(5, { route: '/pay' });
  meter.createUpDownCounter('inflight').add(-2);
  const hist = meter.createHistogram('latency', { unit: 'ms', advice: { explicitBucketBoundaries: [10, 100] } });
  for (const v of [5, 50, 500]) hist.record(v, { route: '/pay' });
  const exp = meter.createHistogram('latency.exp', { unit: 'ms' });
  for (const v of [1, 2, 4, 8]) exp.record(v);
  meter.createGauge('temperature').record(21.5, { room: 'lab' });
  // shutdown() collects and exports once; a forceFlush() before it would export the cumulative points twice.
  await meters.shutdown();

  const tracer = new TracerProvider({ resource, spanProcessors: [new SimpleSpanProcessor({ exporter: ex.traces })] });
  const t = tracer.getTracer('vigil-test');
  const parent = t.startSpan('POST /pay', {
    kind: SpanKind.SERVER,
    startTime: HR_TIME,
    attributes: { 'http.route': '/pay' },
  });
  const child = t.startSpan(
    'charge card',
    { kind: SpanKind.CLIENT, links: [{ context: parent.spanContext(), attributes: { why: 'retry' } }] },
    trace.setSpan(context.active(), parent),
  );
  child.addEvent('attempt', { n: 1 });
  child.recordException(Object.assign(new Error('card declined'), { name: 'DeclinedError' }));
  child.setStatus({ code: SpanStatusCode.ERROR, message: 'card declined' });
  child.end();
  parent.setStatus({ code: SpanStatusCode.OK });
  parent.end();
  await tracer.forceFlush();
  await tracer.shutdown();
}

/**
 * A daemon config with the otlp receiver on the given addresses (ephemeral by default) and
 * each pipeline writing to its file: events.ndjson, metrics.ndjson, spans.ndjson.
 */
export function otlpToFilesConfig(grpc = '127.0.0.1:0', http = '127.0.0.1:0'): string {
  return `
receivers:
  otlp:
    protocols:
      grpc: { endpoint: ${grpc} }
      http: { endpoint: ${http} }
exporters:
  file/events: { path: events.ndjson }
  file/metrics: { path: metrics.ndjson }
  file/spans: { path: spans.ndjson }
service:
  pipelines:
    logs: { receivers: [otlp], exporters: [file/events] }
    metrics: { receivers: [otlp], exporters: [file/metrics] }
    traces: { receivers: [otlp], exporters: [file/spans] }
  telemetry: { metrics: { endpoint: 127.0.0.1:0 }, logs: { level: info } }
`;
}

/** The bound gRPC port, from the receiver's start-up log line. */
export function grpcPort(d: RunningDaemon): number {
  for (const line of d.logs) {
    const rec = JSON.parse(line) as { msg?: string; grpc?: { port: number } };
    if (rec.msg === 'OTLP gRPC listening') return rec.grpc!.port;
  }
  throw new Error('no "OTLP gRPC listening" line in the daemon log');
}
