import { readFileSync } from 'node:fs';
import {
  createServer,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import {
  createSecureServer,
  createServer as createH2Server,
  type Http2SecureServer,
  type Http2Server,
  type ServerHttp2Stream,
} from 'node:http2';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { gunzipSync, zstdDecompressSync } from 'node:zlib';
import { SIGNAL_SPECS, type OtlpItem, type OtlpSignal } from '../../../src/receivers/otlp/signals.ts';
import { protoType } from '../otlpProtos.ts';

const RESPONSE_TYPES: Record<OtlpSignal, string> = {
  logs: 'opentelemetry.proto.collector.logs.v1.ExportLogsServiceResponse',
  metrics: 'opentelemetry.proto.collector.metrics.v1.ExportMetricsServiceResponse',
  traces: 'opentelemetry.proto.collector.trace.v1.ExportTraceServiceResponse',
};

/** Export*ServiceResponse encoded by reflection from the .proto files, apart from Vigil's own writer. */
function encodeResponse(signal: OtlpSignal, p: { rejected: number; errorMessage: string }): Buffer {
  if (p.rejected === 0 && p.errorMessage === '') return Buffer.alloc(0);
  const T = protoType(RESPONSE_TYPES[signal]);
  const partialSuccess = { [SIGNAL_SPECS[signal].rejectedField]: p.rejected, errorMessage: p.errorMessage };
  return Buffer.from(T.encode(T.fromObject({ partialSuccess })).finish());
}

/** One Export call the fake received, decoded by Vigil's receiver decoders. */
export interface ReceivedExport {
  signal: OtlpSignal;
  headers: IncomingHttpHeaders;
  items: OtlpItem[];
}

/**
 * What to answer instead of success, in the order the test queued them. HTTP: a status with
 * optional Retry-After and google.rpc.Status message. gRPC: a status code with optional
 * RetryInfo delay. Either: `partial` answers success with partial_success.
 */
export type OtlpFault =
  | { http: number; retryAfter?: string; message?: string }
  | { grpc: number; message?: string; retryDelayMs?: number }
  | { partial: { rejected: number; message: string } };

export interface FakeTls {
  cert: string;
  key: string;
  /** When set, clients must present a certificate this CA signed. */
  clientCa?: string;
}

const SIGNAL_BY_PATH = new Map<string, OtlpSignal>();
for (const spec of Object.values(SIGNAL_SPECS)) {
  SIGNAL_BY_PATH.set(spec.httpPath, spec.signal);
  SIGNAL_BY_PATH.set(`/${spec.grpcService}/Export`, spec.signal);
}

function decompress(body: Buffer, encoding: string | string[] | undefined): Buffer {
  if (encoding === 'gzip') return gunzipSync(body);
  if (encoding === 'zstd') return zstdDecompressSync(body);
  return body;
}

function rpcStatus(code: number, message: string, retryDelayMs?: number): Buffer {
  const Status = protoType('google.rpc.Status');
  const details = [];
  if (retryDelayMs !== undefined) {
    const RetryInfo = protoType('google.rpc.RetryInfo');
    const seconds = Math.floor(retryDelayMs / 1000);
    const value = RetryInfo.encode(
      RetryInfo.fromObject({ retryDelay: { seconds, nanos: (retryDelayMs - seconds * 1000) * 1e6 } }),
    ).finish();
    details.push({ type_url: 'type.googleapis.com/google.rpc.RetryInfo', value });
  }
  return Buffer.from(Status.encode(Status.fromObject({ code, message, details })).finish());
}

/**
 * An OTLP server as the specification describes it (OTLP/HTTP with protobuf bodies, or OTLP/gRPC
 * over HTTP/2), optionally over TLS, that records every Export and answers faults on demand.
 */
export class FakeOtlpServer {
  readonly received: ReceivedExport[] = [];
  readonly faults: OtlpFault[] = [];
  private server: Server | Http2Server | Http2SecureServer | undefined;
  port = 0;

  readonly protocol: 'http' | 'grpc';
  readonly tls: FakeTls | undefined;
  private readonly sessions = new Set<{ destroy(): void }>();

  constructor(protocol: 'http' | 'grpc', tls?: FakeTls) {
    this.protocol = protocol;
    this.tls = tls;
  }

  get records(): OtlpItem[] {
    return this.received.flatMap((r) => r.items);
  }

  async start(): Promise<void> {
    const tlsOpts = this.tls && {
      cert: readFileSync(this.tls.cert),
      key: readFileSync(this.tls.key),
      ca: this.tls.clientCa ? readFileSync(this.tls.clientCa) : undefined,
      requestCert: !!this.tls.clientCa,
      rejectUnauthorized: !!this.tls.clientCa,
    };
    if (this.protocol === 'http') {
      const handler = (req: IncomingMessage, res: ServerResponse) => void this.onHttp(req, res);
      this.server = tlsOpts ? createHttpsServer(tlsOpts, handler) : createServer(handler);
    } else {
      const s = tlsOpts ? createSecureServer(tlsOpts) : createH2Server();
      s.on('stream', (stream, headers) => void this.onGrpc(stream, headers));
      s.on('session', (session) => {
        this.sessions.add(session);
        session.on('close', () => this.sessions.delete(session));
      });
      this.server = s;
    }
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as AddressInfo).port;
  }

  private decode(signal: OtlpSignal, headers: IncomingHttpHeaders, body: Buffer): void {
    this.received.push({ signal, headers, items: SIGNAL_SPECS[signal].decodeProto(body, 0n).items });
  }

  private async onHttp(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const signal = SIGNAL_BY_PATH.get(req.url ?? '');
    if (req.method !== 'POST' || !signal || req.headers['content-type'] !== 'application/x-protobuf') {
      res.writeHead(404).end();
      return;
    }
    this.decode(signal, req.headers, decompress(Buffer.concat(chunks), req.headers['content-encoding']));
    const fault = this.faults.shift();
    if (fault && 'http' in fault) {
      const headers: Record<string, string> = { 'content-type': 'application/x-protobuf' };
      if (fault.retryAfter !== undefined) headers['retry-after'] = fault.retryAfter;
      res
        .writeHead(fault.http, headers)
        .end(rpcStatus(fault.http === 429 ? 8 : 3, fault.message ?? `status ${fault.http}`));
      return;
    }
    const partial =
      fault && 'partial' in fault
        ? { rejected: fault.partial.rejected, errorMessage: fault.partial.message }
        : { rejected: 0, errorMessage: '' };
    res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end(encodeResponse(signal, partial));
  }

  private async onGrpc(stream: ServerHttp2Stream, headers: IncomingHttpHeaders): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of stream) chunks.push(c as Buffer);
    const framed = Buffer.concat(chunks);
    const signal = SIGNAL_BY_PATH.get(String(headers[':path']));
    if (!signal || !String(headers['content-type']).startsWith('application/grpc') || framed.length < 5) {
      stream.respond(
        { ':status': 200, 'content-type': 'application/grpc', 'grpc-status': '12', 'grpc-message': 'unknown method' },
        { endStream: true },
      );
      return;
    }
    const message = framed.subarray(5, 5 + framed.readUInt32BE(1));
    this.decode(signal, headers, framed[0] === 1 ? decompress(message, headers['grpc-encoding']) : message);
    const fault = this.faults.shift();
    if (fault && 'grpc' in fault) {
      const trailers: Record<string, string> = {
        'grpc-status': String(fault.grpc),
        'grpc-message': encodeURIComponent(fault.message ?? `status ${fault.grpc}`),
      };
      if (fault.retryDelayMs !== undefined)
        trailers['grpc-status-details-bin'] = rpcStatus(fault.grpc, fault.message ?? '', fault.retryDelayMs).toString(
          'base64',
        );
      // Trailers-only, as servers answer an error.
      stream.respond({ ':status': 200, 'content-type': 'application/grpc', ...trailers }, { endStream: true });
      return;
    }
    const partial =
      fault && 'partial' in fault
        ? { rejected: fault.partial.rejected, errorMessage: fault.partial.message }
        : { rejected: 0, errorMessage: '' };
    const response = encodeResponse(signal, partial);
    const out = Buffer.alloc(5 + response.length);
    out.writeUInt32BE(response.length, 1);
    response.copy(out, 5);
    stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
    stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
    stream.end(out);
  }

  async stop(): Promise<void> {
    const s = this.server;
    if (!s) return;
    if ('closeAllConnections' in s) s.closeAllConnections();
    for (const session of this.sessions) session.destroy();
    await new Promise<void>((resolve) => s.close(() => resolve()));
  }
}
