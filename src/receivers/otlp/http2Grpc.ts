import {
  constants as http2Constants,
  createSecureServer,
  createServer,
  type Http2Server,
  type Http2Session,
  type IncomingHttpHeaders,
  type OutgoingHttpHeaders,
  type ServerHttp2Stream,
} from 'node:http2';
import type { AddressInfo, Socket } from 'node:net';
import { TooManyRecordsError } from '../../errors.ts';
import { nowNanos } from '../../model/event.ts';
import { UNLIMITED_RECEIVE_BUFFERS, type ReceiveLease } from '../../pipeline/receiveBuffers.ts';
import { capConnectionsPerPeer, defaultPerPeer } from '../peerConnections.ts';
import { peerLease } from '../peerShare.ts';
import { hardenTlsServer, loadTlsOptions } from '../http/tlsConfig.ts';
import { RateLimitedWarn } from '../../telemetry/rateLimitedLog.ts';
import type { OtlpGrpcConfig } from './config.ts';
import {
  ACCEPT_ENCODING,
  decodeMessage,
  frame,
  GrpcProtocolError,
  messageEncoding,
  percentEncode,
  readUnaryMessage,
} from './grpcFraming.ts';
import { decodeHealthCheckRequest, encodeHealthCheckResponse } from './healthProto.ts';
import type { ExportSink } from './exportSink.ts';
import { protoCountWhileRead, type SignalSpec } from './signals.ts';
import { encodePartialSuccess } from '../../otlp/proto/responses.ts';
import { encodeStatusProto, failureFor, GrpcCode, type OtlpFailure } from './status.ts';

const HEALTH_CHECK = '/grpc.health.v1.Health/Check';
const HEALTH_WATCH = '/grpc.health.v1.Health/Watch';
const ServingStatus = { SERVING: 1, NOT_SERVING: 2, SERVICE_UNKNOWN: 3 } as const;
// Collector and SDK clients keep one connection for hours; a ping now and then finds dead peers.
const KEEPALIVE_MS = 2 * 60 * 60 * 1000;
const PING_TIMEOUT_MS = 20_000;
const SHUTDOWN_GRACE_MS = 5000;
const IDLE_CLOSE_GRACE_MS = 1000;
// Larger than HTTP/2's 64 KiB default so that a 200 KB export is not sent in window-sized steps.
const WINDOW_BYTES = 4 * 1024 * 1024;

const RESPONSE_HEADERS: OutgoingHttpHeaders = {
  ':status': 200,
  'content-type': 'application/grpc',
  'grpc-accept-encoding': ACCEPT_ENCODING,
};

/**
 * OTLP/gRPC on node:http2: the three Export services plus grpc.health.v1.Health for
 * Kubernetes gRPC probes. The server speaks only what those unary calls (and Watch) need, which
 * makes it cheaper per request than a general gRPC server, and decompresses every message
 * encoding OTLP clients send (gzip, deflate, zstd, snappy).
 */
export class OtlpGrpcServer {
  private readonly config: OtlpGrpcConfig;
  private readonly receiver: ExportSink;
  private readonly server: Http2Server;
  private readonly exports = new Map<string, SignalSpec>();
  private readonly sessions = new Set<Http2Session>();
  private readonly watchers = new Set<ServerHttp2Stream>();
  serving = false;
  private readonly warn: RateLimitedWarn;
  private acceptedSocket: Socket | undefined;

  constructor(config: OtlpGrpcConfig, receiver: ExportSink) {
    this.config = config;
    this.receiver = receiver;
    for (const spec of receiver.specs) this.exports.set(`/${spec.grpcService}/Export`, spec);
    const options = {
      settings: { initialWindowSize: WINDOW_BYTES, maxConcurrentStreams: config.max_concurrent_streams },
    };
    if (config.tls) {
      const secure = createSecureServer({ ...options, ...loadTlsOptions(config.tls), ALPNProtocols: ['h2'] });
      hardenTlsServer(secure, config.tls);
      this.server = secure;
    } else this.server = createServer(options);
    // The raw socket of the session about to be created: http2 unbinds session.socket on close(),
    // and destroying a session whose peer never spoke HTTP/2 leaves its socket open.
    this.server.prependListener('connection', (socket: Socket) => (this.acceptedSocket = socket));
    this.server.on('session', (session) => this.track(session, this.acceptedSocket));
    this.server.on('stream', (stream, headers) => this.route(stream, headers));
    // A peer that is not speaking HTTP/2 (or fails the TLS handshake) only loses its connection.
    this.server.on('sessionError', () => {});
    this.server.maxConnections = config.max_connections;
    this.warn = new RateLimitedWarn(receiver.settings.logger);
    capConnectionsPerPeer(
      this.server,
      defaultPerPeer(config.max_connections, config.max_connections_per_peer),
      config.peer_ipv6_prefix,
      (peer) => this.warn.warn({ peer }, 'OTLP/gRPC connection refused: max_connections_per_peer reached'),
    );
    this.server.on('drop', () =>
      this.warn.warn(
        { max_connections: config.max_connections },
        'OTLP/gRPC connection refused: max_connections reached',
      ),
    );
  }

  start(): Promise<number> {
    const { host, port } = this.config.endpoint;
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => {
        this.server.removeListener('error', reject);
        // accept() fails with EMFILE when the descriptor table is full; that connection is lost, not the daemon.
        this.server.on('error', (err: Error) =>
          this.warn.warn({ err: err.message }, 'OTLP/gRPC listener error (connection not accepted)'),
        );
        this.serving = true;
        resolve((this.server.address() as AddressInfo).port);
      });
    });
  }

  async shutdown(): Promise<void> {
    this.serving = false;
    for (const w of this.watchers) endStream(w, GrpcCode.OK, '');
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    // GOAWAY: calls in flight finish, new ones go elsewhere.
    for (const s of this.sessions) s.close();
    let timer: NodeJS.Timeout | undefined;
    const grace = new Promise<void>((resolve) => (timer = setTimeout(resolve, SHUTDOWN_GRACE_MS)));
    await Promise.race([closed, grace]);
    clearTimeout(timer);
    for (const s of this.sessions) s.destroy();
    await closed;
  }

  private track(session: Http2Session, socket: Socket | undefined): void {
    this.sessions.add(session);
    session.setLocalWindowSize(WINDOW_BYTES);
    const keepalive = setInterval(() => {
      const dead = setTimeout(() => session.destroy(), PING_TIMEOUT_MS);
      session.ping((err) => (err ? session.destroy() : clearTimeout(dead)));
    }, KEEPALIVE_MS);
    keepalive.unref();
    session.on('error', () => {});
    // Idle means no call open, not no frames: a slow call is read_timeout's business.
    const idleMs = this.config.keepalive.server_parameters.max_connection_idle;
    let open = 0;
    let idle: NodeJS.Timeout | undefined;
    const armIdle = () => {
      if (idleMs <= 0) return;
      idle = setTimeout(() => {
        // GOAWAY first; a peer that never answers (or never spoke HTTP/2) is dropped after a grace.
        session.close();
        setTimeout(() => {
          session.destroy();
          socket?.destroy();
        }, IDLE_CLOSE_GRACE_MS).unref();
      }, idleMs);
    };
    armIdle();
    session.on('stream', (stream: ServerHttp2Stream) => {
      open++;
      clearTimeout(idle);
      stream.once('close', () => {
        if (--open === 0 && !session.closed) armIdle();
      });
    });
    session.on('close', () => {
      clearTimeout(idle);
      clearInterval(keepalive);
      this.sessions.delete(session);
    });
  }

  private route(stream: ServerHttp2Stream, headers: IncomingHttpHeaders): void {
    stream.on('error', () => {});
    const path = headers[':path'] ?? '';
    const contentType = headers['content-type'] ?? '';
    if (headers[':method'] !== 'POST' || !/^application\/grpc(?:[+;]|$)/.test(contentType)) {
      // Not gRPC: an HTTP status other HTTP/2 clients understand, the gRPC one for gRPC clients.
      const status = headers[':method'] !== 'POST' ? 405 : 415;
      return trailersOnly(
        stream,
        {
          grpc: GrpcCode.INTERNAL,
          message: `gRPC requires POST with content-type application/grpc, got ${headers[':method']} ${JSON.stringify(contentType)}`,
          http: status,
        },
        status,
      );
    }
    const spec = this.exports.get(path);
    if (spec) return void this.export(spec, stream, headers);
    if (path === HEALTH_CHECK || path === HEALTH_WATCH) return void this.health(stream, headers, path === HEALTH_WATCH);
    trailersOnly(stream, { grpc: GrpcCode.UNIMPLEMENTED, message: `unknown method ${path}`, http: 404 });
  }

  private async readRequest(
    stream: ServerHttp2Stream,
    headers: IncomingHttpHeaders,
    lease: ReceiveLease,
    inspect: (chunk: Buffer) => void,
  ): Promise<Buffer> {
    const encoding = messageEncoding(headers['grpc-encoding']);
    const limit = this.config.max_recv_msg_size;
    return decodeMessage(
      await readUnaryMessage(stream, limit, {
        timeoutMs: this.config.read_timeout,
        minBytesPerSecond: this.config.min_body_rate,
        lease,
        inspect,
      }),
      encoding,
      limit,
      lease,
      inspect,
    );
  }

  private async export(spec: SignalSpec, stream: ServerHttp2Stream, headers: IncomingHttpHeaders): Promise<void> {
    const observed = nowNanos();
    const peer = stream.session?.socket?.remoteAddress;
    const lease = peerLease(this.receiver.receiveBuffers, peer, this.config.peer_ipv6_prefix);
    try {
      const auth = headers.authorization;
      const tenant = await this.receiver.authenticate(typeof auth === 'string' ? auth : undefined);
      this.receiver.admit(spec, peer, this.config.peer_ipv6_prefix);
      const guard = this.receiver.decodeGuard(spec, 'grpc', this.config.max_records_per_request);
      const count = protoCountWhileRead(spec, guard);
      const request = await this.readRequest(stream, headers, lease, count.inspect);
      const decoded = spec.decodeProto(request, observed, guard, count.counted());
      const outcome = await this.receiver.export(spec, 'grpc', decoded, tenant, observed);
      respond(stream, encodePartialSuccess(outcome));
    } catch (err) {
      // The client is gone (cancelled, or its deadline passed): there is no one to answer.
      if (stream.closed) return;
      const f = grpcFailure(err);
      if (
        f.grpc === GrpcCode.INVALID_ARGUMENT ||
        f.grpc === GrpcCode.UNAUTHENTICATED ||
        err instanceof GrpcProtocolError ||
        err instanceof TooManyRecordsError
      )
        this.receiver.countInvalid();
      else if (f.grpc === GrpcCode.INTERNAL) this.receiver.settings.logger.error({ err }, 'OTLP/gRPC export failed');
      trailersOnly(stream, f);
      // A sender past its deadline is not drained: the stream is reset so it stops holding a slot.
      if (f.grpc === GrpcCode.DEADLINE_EXCEEDED) stream.close(http2Constants.NGHTTP2_CANCEL);
    } finally {
      lease.release();
    }
  }

  private async health(stream: ServerHttp2Stream, headers: IncomingHttpHeaders, watch: boolean): Promise<void> {
    let status: number | undefined;
    try {
      // Probes are tiny and must answer even while the budget refuses exports.
      const request = await this.readRequest(stream, headers, UNLIMITED_RECEIVE_BUFFERS.lease(), () => {});
      try {
        status = this.healthStatus(request);
      } catch {
        throw new GrpcProtocolError(GrpcCode.INVALID_ARGUMENT, 'malformed HealthCheckRequest');
      }
    } catch (err) {
      return trailersOnly(stream, grpcFailure(err));
    }
    if (!watch) {
      if (status === undefined)
        return trailersOnly(stream, { grpc: GrpcCode.NOT_FOUND, message: 'unknown service', http: 404 });
      return respond(stream, encodeHealthCheckResponse(status));
    }
    // Watch reports SERVICE_UNKNOWN rather than failing, per the health-checking protocol.
    if (stream.closed) return;
    stream.respond(RESPONSE_HEADERS, { waitForTrailers: true });
    stream.write(frame(encodeHealthCheckResponse(status ?? ServingStatus.SERVICE_UNKNOWN)));
    this.watchers.add(stream);
    stream.on('close', () => this.watchers.delete(stream));
  }

  private healthStatus(request: Buffer): number | undefined {
    const req = decodeHealthCheckRequest(request);
    const known = req.service === '' || this.receiver.specs.some((s) => s.grpcService === req.service);
    if (!known) return undefined;
    return this.serving ? ServingStatus.SERVING : ServingStatus.NOT_SERVING;
  }
}

function grpcFailure(err: unknown): OtlpFailure {
  if (err instanceof GrpcProtocolError) return { grpc: err.grpcCode, message: err.message, http: 400 };
  return failureFor(err);
}

function statusTrailers(code: number, message: string): OutgoingHttpHeaders {
  return message === ''
    ? { 'grpc-status': String(code) }
    : { 'grpc-status': String(code), 'grpc-message': percentEncode(message) };
}

/** A successful unary answer: headers, the one message, then grpc-status 0 in trailers. */
function respond(stream: ServerHttp2Stream, message: Buffer): void {
  if (stream.closed || stream.headersSent) return;
  stream.respond(RESPONSE_HEADERS, { waitForTrailers: true });
  stream.once('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
  stream.end(frame(message));
}

/** Ends a streaming answer whose headers are out. */
function endStream(stream: ServerHttp2Stream, code: number, message: string): void {
  if (stream.closed) return;
  stream.once('wantTrailers', () => stream.sendTrailers(statusTrailers(code, message)));
  stream.end();
}

/**
 * A failure as gRPC's Trailers-Only response: status and message in the only HEADERS frame.
 * RetryInfo in grpc-status-details-bin makes RESOURCE_EXHAUSTED retryable for OTLP clients
 * (specification, "Failures").
 */
function trailersOnly(stream: ServerHttp2Stream, f: OtlpFailure, httpStatus = 200): void {
  if (stream.closed || stream.headersSent) {
    if (!stream.readableEnded) stream.resume();
    return;
  }
  const headers: OutgoingHttpHeaders = {
    ...RESPONSE_HEADERS,
    ':status': httpStatus,
    ...statusTrailers(f.grpc, f.message),
  };
  if (f.retryAfterSeconds !== undefined)
    headers['grpc-status-details-bin'] = encodeStatusProto(f).toString('base64').replace(/=+$/, '');
  stream.respond(headers, { endStream: true });
  // A client still sending is asked to stop, without error, once its answer is out (RFC 9113
  // §8.1; grpc-go does the same): draining instead read every refused byte, so 192 refused
  // 4 MiB streams made the listener take in 768 MiB for nothing while other senders waited.
  if (!stream.readableEnded) stream.close(http2Constants.NGHTTP2_NO_ERROR);
}
