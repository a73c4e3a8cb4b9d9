import { connect, constants, type ClientHttp2Session, type IncomingHttpHeaders } from 'node:http2';
import { promisify } from 'node:util';
import { gunzip, zstdDecompress } from 'node:zlib';
import { GrpcCode as GrpcStatus } from '../../errors.ts';
import { decodePartialSuccess, decodeRpcStatus } from '../../otlp/proto/responses.ts';
import { SIGNAL_SPECS, type OtlpSignal } from '../../receivers/otlp/signals.ts';
import {
  compress,
  permanent,
  retryable,
  tlsClientOptions,
  USER_AGENT,
  type Compression,
  type ExportResult,
  type OtlpClient,
} from './client.ts';
import type { OtlpGrpcExporterConfig } from './config.ts';

/**
 * The codes the OTLP specification (and the Collector's exporter) retries. RESOURCE_EXHAUSTED
 * is retried only when the server says when, with RetryInfo.
 */
const RETRYABLE = new Set<number>([
  GrpcStatus.CANCELLED,
  GrpcStatus.DEADLINE_EXCEEDED,
  GrpcStatus.ABORTED,
  GrpcStatus.OUT_OF_RANGE,
  GrpcStatus.UNAVAILABLE,
  GrpcStatus.DATA_LOSS,
]);

/** An HTTP status with no grpc-status, as the gRPC HTTP/2 protocol document maps it. */
function codeForHttpStatus(status: number): number {
  if (status === 400) return GrpcStatus.INTERNAL;
  if (status === 401) return GrpcStatus.UNAUTHENTICATED;
  if (status === 403) return GrpcStatus.PERMISSION_DENIED;
  if (status === 404) return GrpcStatus.UNIMPLEMENTED;
  if (status === 429 || status === 502 || status === 503 || status === 504) return GrpcStatus.UNAVAILABLE;
  return GrpcStatus.UNKNOWN;
}

const gunzipAsync = promisify(gunzip);
const zstdDecompressAsync = promisify(zstdDecompress);

interface CallOutcome {
  status: number;
  message: string;
  headers: IncomingHttpHeaders;
  trailers: IncomingHttpHeaders;
  body: Buffer;
}

/**
 * OTLP/gRPC as a unary call over one HTTP/2 connection (node:http2): the gRPC framing is five
 * bytes and a few headers, which keeps @grpc/grpc-js out of the runtime dependencies. The
 * connection is made on first use and again after it drops.
 */
export class OtlpGrpcClient implements OtlpClient {
  private readonly authority: string;
  private readonly tls: ReturnType<typeof tlsClientOptions>;
  private readonly metadata: Record<string, string>;
  private readonly compression: Compression;
  private readonly timeoutMs: number;
  private session: ClientHttp2Session | undefined;

  constructor(config: OtlpGrpcExporterConfig) {
    const plain =
      config.endpoint.startsWith('http://') ||
      (!config.endpoint.startsWith('https://') && config.tls?.insecure === true);
    const hostPort = config.endpoint.replace(/^https?:\/\//, '').replace(/\/$/, '');
    this.authority = `${plain ? 'http' : 'https'}://${hostPort}`;
    this.tls = tlsClientOptions(config.tls);
    this.compression = config.compression;
    this.timeoutMs = config.timeout;
    this.metadata = {};
    for (const [k, v] of Object.entries(config.headers)) this.metadata[k.toLowerCase()] = v;
  }

  private connection(): ClientHttp2Session {
    if (this.session && !this.session.closed && !this.session.destroyed) return this.session;
    const s = connect(this.authority, { ...this.tls, ALPNProtocols: ['h2'] });
    // Errors surface on the calls; an idle connection that fails is simply dropped.
    s.on('error', () => undefined);
    s.on('goaway', () => {
      if (this.session === s) this.session = undefined;
    });
    s.on('close', () => {
      if (this.session === s) this.session = undefined;
    });
    s.unref();
    this.session = s;
    return s;
  }

  async export(signal: OtlpSignal, body: Buffer): Promise<ExportResult> {
    const message = await compress(body, this.compression);
    const framed = Buffer.allocUnsafe(5 + message.length);
    framed[0] = this.compression === 'none' ? 0 : 1;
    framed.writeUInt32BE(message.length, 1);
    message.copy(framed, 5);
    const path = `/${SIGNAL_SPECS[signal].grpcService}/Export`;
    let out: CallOutcome;
    try {
      out = await this.call(path, framed);
    } catch (err) {
      return retryable(`${path} at ${this.authority}: ${(err as Error).message}`);
    }
    if (out.status === GrpcStatus.OK) {
      try {
        const partial = decodePartialSuccess(await unframe(out.body, out.headers['grpc-encoding']));
        return { kind: 'ok', rejected: partial.rejected, message: partial.errorMessage };
      } catch {
        return { kind: 'ok', rejected: 0, message: '' };
      }
    }
    const retryDelayMs = retryInfo(out.trailers['grpc-status-details-bin'] ?? out.headers['grpc-status-details-bin']);
    const said = `${path} at ${this.authority}: gRPC status ${out.status}${out.message ? ` (${out.message})` : ''}`;
    if (RETRYABLE.has(out.status) || (out.status === GrpcStatus.RESOURCE_EXHAUSTED && retryDelayMs !== undefined))
      return retryable(said, retryDelayMs);
    return permanent(said);
  }

  private call(path: string, framed: Buffer): Promise<CallOutcome> {
    return new Promise((resolve, reject) => {
      let session: ClientHttp2Session;
      try {
        session = this.connection();
      } catch (err) {
        reject(err as Error);
        return;
      }
      const headers: Record<string, string> = {
        ...this.metadata,
        ':method': 'POST',
        ':path': path,
        'content-type': 'application/grpc',
        te: 'trailers',
        'user-agent': USER_AGENT,
        'grpc-timeout': `${this.timeoutMs}m`,
        'grpc-accept-encoding': 'identity,gzip,zstd',
      };
      if (this.compression !== 'none') headers['grpc-encoding'] = this.compression;
      const stream = session.request(headers);
      let resHeaders: IncomingHttpHeaders = {};
      let trailers: IncomingHttpHeaders = {};
      const chunks: Buffer[] = [];
      let failed: Error | undefined;
      const timer = setTimeout(() => {
        failed = new Error(`no answer within ${this.timeoutMs} ms (timeout)`);
        stream.close(constants.NGHTTP2_CANCEL);
      }, this.timeoutMs);
      stream.on('response', (h) => (resHeaders = h));
      stream.on('trailers', (t) => (trailers = t));
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('error', (err) => (failed ??= err));
      stream.on('close', () => {
        clearTimeout(timer);
        const raw = trailers['grpc-status'] ?? resHeaders['grpc-status'];
        if (raw === undefined) {
          const httpStatus = Number(resHeaders[':status'] ?? 0);
          if (failed || httpStatus === 0) {
            reject(failed ?? new Error(`stream closed without a status (HTTP/2 code ${stream.rstCode})`));
            return;
          }
          resolve({
            status: codeForHttpStatus(httpStatus),
            message: `HTTP ${httpStatus}`,
            headers: resHeaders,
            trailers,
            body: Buffer.alloc(0),
          });
          return;
        }
        const rawMessage = trailers['grpc-message'] ?? resHeaders['grpc-message'];
        resolve({
          status: Number(raw),
          message: typeof rawMessage === 'string' ? safeDecode(rawMessage) : '',
          headers: resHeaders,
          trailers,
          body: Buffer.concat(chunks),
        });
      });
      stream.end(framed);
    });
  }

  close(): Promise<void> {
    const s = this.session;
    this.session = undefined;
    if (!s || s.closed) return Promise.resolve();
    return new Promise((resolve) => {
      s.close(() => resolve());
      // A call still open would hold close() back; the exporter has stopped waiting for it.
      setTimeout(() => {
        s.destroy();
        resolve();
      }, 1000).unref();
    });
  }
}

/** grpc-message is percent-encoded (gRPC HTTP/2 protocol document). */
function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/** The response message out of its length prefix, decompressed as the response's grpc-encoding says. */
async function unframe(body: Buffer, encoding: string | string[] | undefined): Promise<Buffer> {
  if (body.length < 5) return Buffer.alloc(0);
  const len = body.readUInt32BE(1);
  const msg = body.subarray(5, 5 + len);
  if (body[0] !== 1) return msg;
  if (encoding === 'gzip') return gunzipAsync(msg);
  if (encoding === 'zstd') return zstdDecompressAsync(msg);
  return Buffer.alloc(0);
}

function retryInfo(header: string | string[] | undefined): number | undefined {
  if (typeof header !== 'string') return undefined;
  try {
    return decodeRpcStatus(Buffer.from(header, 'base64')).retryDelayMs;
  } catch {
    return undefined;
  }
}
