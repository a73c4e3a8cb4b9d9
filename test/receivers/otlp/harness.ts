import { connect, type IncomingHttpHeaders, type OutgoingHttpHeaders } from 'node:http2';
import * as grpc from '@grpc/grpc-js';
import { registry } from '../../../src/components.ts';
import { parseConfig } from '../../../src/service/config/load.ts';
import type { OtlpReceiver } from '../../../src/receivers/otlp/receiver.ts';
import { protoType } from '../../support/otlpProtos.ts';
import { VigilService } from '../../../src/service/service.ts';
import { createLogger } from '../../../src/telemetry/logger.ts';
import { captureExporter, type Captured } from '../../support/captureExporter.ts';

export interface OtlpHarness {
  service: VigilService;
  captured: Captured;
  httpUrl(path: string): string;
  grpcAddress: string;
  /** Makes the exporter hold every batch until the returned function is called. */
  hold(): () => void;
  stop(): Promise<void>;
}

/**
 * An in-process Vigil with the otlp receiver (both protocols on port 0) feeding a capturing
 * exporter. `receiverYaml` is the body of `receivers.otlp`; `pipelines` picks the signals.
 */
export async function startOtlp(
  receiverYaml: string,
  opts: { queueSize?: number; acknowledge?: 'queued' | 'exported'; pipelines?: ('logs' | 'metrics' | 'traces')[] } = {},
): Promise<OtlpHarness> {
  const captured: Captured = { logs: [], metrics: [], traces: [] };
  const gate: { wait: Promise<void> | undefined } = { wait: undefined };
  const reg = { ...registry, exporters: [...registry.exporters, captureExporter(captured, gate)] };
  const pipelines = (opts.pipelines ?? ['logs', 'metrics', 'traces'])
    .map(
      (s) =>
        `    ${s}: { receivers: [otlp], exporters: [capture], queue_size: ${opts.queueSize ?? 100000}, acknowledge: ${opts.acknowledge ?? 'exported'} }`,
    )
    .join('\n');
  const cfg = parseConfig(
    `
receivers:
  otlp:
${receiverYaml.replace(/^/gm, '    ')}
exporters: { capture: {} }
service:
  pipelines:
${pipelines}
  telemetry: { metrics: { endpoint: 127.0.0.1:0 }, logs: { level: silent } }
`,
    reg,
    {},
  );
  const service = new VigilService(cfg, { dataDir: '/nonexistent', registry: reg, logger: createLogger('silent') });
  await service.start();
  const receiver = service.receiver('otlp') as OtlpReceiver;
  let stopped = false;
  let releaseGate: (() => void) | undefined;
  return {
    service,
    captured,
    httpUrl: (path) => `http://127.0.0.1:${service.httpAddresses[0]!.port}${path}`,
    grpcAddress: `127.0.0.1:${receiver.grpcPort}`,
    hold() {
      let release!: () => void;
      gate.wait = new Promise((r) => (release = r));
      releaseGate = () => {
        gate.wait = undefined;
        release();
      };
      return releaseGate;
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      releaseGate?.();
      await service.shutdown();
    },
  };
}

/** Encodes an OTLP message from a protobufjs-style object (camelCase keys) with the proto/ definitions. */
export function encode(type: string, value: Record<string, unknown>): Buffer {
  const T = protoType(type);
  return Buffer.from(T.encode(T.fromObject(value)).finish());
}

export function decode(type: string, body: Uint8Array): Record<string, unknown> {
  const T = protoType(type);
  return T.toObject(T.decode(body), { longs: Number, defaults: false }) as Record<string, unknown>;
}

export const LOGS_REQ = 'opentelemetry.proto.collector.logs.v1.ExportLogsServiceRequest';
export const LOGS_RES = 'opentelemetry.proto.collector.logs.v1.ExportLogsServiceResponse';
export const METRICS_REQ = 'opentelemetry.proto.collector.metrics.v1.ExportMetricsServiceRequest';
export const TRACES_REQ = 'opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest';
export const TRACES_RES = 'opentelemetry.proto.collector.trace.v1.ExportTraceServiceResponse';
export const LOGS_EXPORT = '/opentelemetry.proto.collector.logs.v1.LogsService/Export';

/** One gauge data point (`queue.depth` = 7), encoded. */
const oneMetricRequest = () =>
  encode(METRICS_REQ, {
    resourceMetrics: [
      {
        scopeMetrics: [
          {
            metrics: [
              { name: 'queue.depth', gauge: { dataPoints: [{ asInt: 7, timeUnixNano: '1763892000000000000' }] } },
            ],
          },
        ],
      },
    ],
  });

/** One span (`GET /cart`), encoded. */
const oneSpanRequest = () =>
  encode(TRACES_REQ, {
    resourceSpans: [
      {
        scopeSpans: [
          {
            spans: [
              {
                traceId: Buffer.from('5b8efff798038103d269b633813fc60c', 'hex'),
                spanId: Buffer.from('eee19b7ec3c1b174', 'hex'),
                name: 'GET /cart',
                startTimeUnixNano: '1763892000000000000',
                endTimeUnixNano: '1763892000100000000',
              },
            ],
          },
        ],
      },
    ],
  });

/** A request of each signal, encoded, for the encoding tests: one log record with `logBody`, one data point, one span. */
export function oneOfEachSignal(logBody: string): { logs: Buffer; metrics: Buffer; traces: Buffer } {
  return {
    logs: encode(
      LOGS_REQ,
      logsRequest([{ timeUnixNano: '1763892000123456789', severityNumber: 17, body: { stringValue: logBody } }]),
    ),
    metrics: oneMetricRequest(),
    traces: oneSpanRequest(),
  };
}

export function logsRequest(records: Record<string, unknown>[], service = 'checkout'): Record<string, unknown> {
  return {
    resourceLogs: [
      {
        resource: { attributes: [{ key: 'service.name', value: { stringValue: service } }] },
        scopeLogs: [{ scope: { name: 'test' }, logRecords: records }],
      },
    ],
  };
}

export interface GrpcResult {
  error: grpc.ServiceError | null;
  response: Buffer | undefined;
}

/** One raw unary call, as an OTLP/gRPC client makes it. */
export function grpcCall(
  address: string,
  path: string,
  body: Buffer,
  opts: {
    metadata?: Record<string, string>;
    credentials?: grpc.ChannelCredentials;
    channelOptions?: grpc.ChannelOptions;
  } = {},
): Promise<GrpcResult> {
  const client = new grpc.Client(address, opts.credentials ?? grpc.credentials.createInsecure(), opts.channelOptions);
  const md = new grpc.Metadata();
  for (const [k, v] of Object.entries(opts.metadata ?? {})) md.set(k, v);
  return new Promise((resolve) => {
    client.makeUnaryRequest(
      path,
      (b: Buffer) => b,
      (b: Buffer) => b,
      body,
      md,
      { deadline: Date.now() + 10_000 },
      (error, response) => {
        client.close();
        resolve({ error: error ?? null, response });
      },
    );
  });
}

/** A gRPC length-prefixed message with any flag and declared length. */
export function prefixed(message: Buffer, flag = 0, length = message.length): Buffer {
  const head = Buffer.alloc(5);
  head[0] = flag;
  head.writeUInt32BE(length, 1);
  return Buffer.concat([head, message]);
}

export interface RawAnswer {
  httpStatus: number;
  headers: IncomingHttpHeaders;
  grpcStatus: number;
  grpcMessage: string;
  body: Buffer;
}

/**
 * One call on a bare HTTP/2 client, so that the test controls every byte a gRPC library would
 * write for it (and can send what no gRPC client sends). A list of pieces is written one write at
 * a time, each after the previous was handed to the session; with `end: false` the request is
 * left open, so an answer can only come from what was sent.
 */
export function rawCall(
  address: string,
  body: Buffer | Buffer[],
  headers: OutgoingHttpHeaders = {},
  end = true,
): Promise<RawAnswer> {
  const session = connect(`http://${address}`);
  return new Promise((resolve, reject) => {
    session.on('error', reject);
    const req = session.request({
      ':method': 'POST',
      ':path': LOGS_EXPORT,
      'content-type': 'application/grpc',
      te: 'trailers',
      ...headers,
    });
    let head: IncomingHttpHeaders = {};
    let trailers: IncomingHttpHeaders = {};
    const chunks: Buffer[] = [];
    req.on('response', (h) => (head = h));
    req.on('trailers', (t) => (trailers = t));
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('error', reject);
    req.on('close', () => {
      session.close();
      const status = trailers['grpc-status'] ?? head['grpc-status'];
      const message = String(trailers['grpc-message'] ?? head['grpc-message'] ?? '');
      resolve({
        httpStatus: Number(head[':status']),
        headers: head,
        grpcStatus: Number(status),
        grpcMessage: decodeURIComponent(message),
        body: Buffer.concat(chunks),
      });
    });
    const pieces = Array.isArray(body) ? body : [body];
    let i = 0;
    const next = (): void => {
      if (i < pieces.length) req.write(pieces[i++], next);
      else if (end) req.end();
    };
    next();
  });
}

/** Hand-built ExportLogsServiceRequest of `n` empty log records (`0x12 0x00` each) in one ScopeLogs. */
export function emptyLogRecords(n: number): Buffer {
  const varint = (v: number) => {
    const out: number[] = [];
    for (; v > 0x7f; v >>>= 7) out.push((v & 0x7f) | 0x80);
    out.push(v);
    return Buffer.from(out);
  };
  const records = Buffer.alloc(2 * n);
  for (let i = 0; i < n; i++) records[2 * i] = 0x12;
  const scope = Buffer.concat([Buffer.from([0x12]), varint(records.length), records]);
  return Buffer.concat([Buffer.from([0x0a]), varint(scope.length), scope]);
}
