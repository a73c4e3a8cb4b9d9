import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { nowNanos } from '../../model/event.ts';
import type { ReceiveLease } from '../../pipeline/receiveBuffers.ts';
import { peerLease } from '../peerShare.ts';
import { readRequestBody } from '../http/requestBody.ts';
import { closeIfBodyUnread } from '../http/respond.ts';
import { encodePartialSuccess } from '../../otlp/proto/responses.ts';
import { jsonContainerCap } from '../recordLimit.ts';
import type { OtlpCorsConfig, OtlpHttpConfig } from './config.ts';
import type { ExportSink } from './exportSink.ts';
import { protoCountWhileRead, responseJson, type ProtoCountWhileRead, type SignalSpec } from './signals.ts';
import { encodeStatusProto, failureFor, statusJson, UnsupportedMediaTypeError } from './status.ts';

type Format = 'proto' | 'json';

const PROTOBUF = 'application/x-protobuf';
const JSON_TYPE = 'application/json';

function formatOf(contentType: string): Format | undefined {
  const base = contentType.split(';', 1)[0]!.trim().toLowerCase();
  if (base === PROTOBUF) return 'proto';
  if (base === JSON_TYPE) return 'json';
  return undefined;
}

/** Origin patterns with `*` wildcards, as the Collector's confighttp matches them. */
function originMatcher(cors: OtlpCorsConfig): (origin: string) => boolean {
  const patterns = cors.allowed_origins.map(
    (o) =>
      new RegExp(
        `^${o
          .split('*')
          .map((p) => p.replace(/[.+?^${}()|[\]\\/]/g, '\\$&'))
          .join('.*')}$`,
        'i',
      ),
  );
  return (origin) => patterns.some((p) => p.test(origin));
}

const BASE_CORS_HEADERS = ['content-type', 'content-encoding', 'authorization'];

/**
 * POST /v1/logs, /v1/metrics, /v1/traces on the shared HTTP listener. Bodies are read raw,
 * decompressed and size-limited after decompression; answers are in the request's encoding
 * (protobuf or JSON), errors as google.rpc.Status.
 */
export function registerHttpRoutes(server: FastifyInstance, config: OtlpHttpConfig, receiver: ExportSink): void {
  const cors = config.cors;
  const allowOrigin = cors ? originMatcher(cors) : undefined;
  const allowHeaders = cors
    ? [...BASE_CORS_HEADERS, ...cors.allowed_headers.map((h) => h.toLowerCase())].join(', ')
    : '';

  const corsHeaders = (req: FastifyRequest, reply: FastifyReply): boolean => {
    const origin = req.headers.origin;
    if (!allowOrigin || typeof origin !== 'string' || !allowOrigin(origin)) return false;
    reply
      .header('access-control-allow-origin', origin)
      .header('access-control-allow-credentials', 'true')
      .header('vary', 'Origin');
    return true;
  };

  for (const spec of receiver.specs) {
    server.route({
      method: 'POST',
      url: spec.httpPath,
      handler: (req, reply) => {
        corsHeaders(req, reply);
        return handle(spec, req, reply);
      },
    });
    server.route({
      method: ['GET', 'PUT', 'DELETE', 'PATCH'],
      url: spec.httpPath,
      handler: (req, reply) => {
        req.raw.resume();
        return reply.code(405).header('allow', 'POST').type('text/plain').send('method not allowed, supported: [POST]');
      },
    });
    if (cors) {
      server.route({
        method: 'OPTIONS',
        url: spec.httpPath,
        handler: (req, reply) => {
          if (!corsHeaders(req, reply)) return reply.code(403).send();
          reply.header('access-control-allow-methods', 'POST').header('access-control-allow-headers', allowHeaders);
          if (cors.max_age > 0) reply.header('access-control-max-age', String(Math.floor(cors.max_age / 1000)));
          return reply.code(204).send();
        },
      });
    }
  }

  async function handle(spec: SignalSpec, req: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
    const contentType = String(req.headers['content-type'] ?? '');
    const format = formatOf(contentType);
    const lease = peerLease(receiver.receiveBuffers, req.socket.remoteAddress, config.peer_ipv6_prefix);
    try {
      return await handleLeased(spec, req, reply, format, contentType, lease);
    } finally {
      lease.release();
    }
  }

  async function handleLeased(
    spec: SignalSpec,
    req: FastifyRequest,
    reply: FastifyReply,
    format: Format | undefined,
    contentType: string,
    lease: ReceiveLease,
  ): Promise<FastifyReply> {
    let body: Buffer;
    let tenant: string;
    const guard = receiver.decodeGuard(spec, 'http', config.max_records_per_request);
    let protoCount: ProtoCountWhileRead | undefined;
    try {
      if (!format) throw new UnsupportedMediaTypeError(contentType);
      tenant = await receiver.authenticate(req.headers.authorization);
      receiver.admit(spec, req.socket.remoteAddress, config.peer_ipv6_prefix);
      if (format === 'proto') protoCount = protoCountWhileRead(spec, guard);
      body = await readRequestBody(req.raw, {
        limit: config.max_request_body_size,
        timeoutMs: config.read_timeout,
        minBytesPerSecond: config.min_body_rate,
        lease,
        // Records are counted as the body arrives; JSON.parse allocates every object before
        // the records can be counted, so for JSON the objects are bounded first.
        inspect:
          protoCount?.inspect ??
          jsonContainerCap(
            config.max_records_per_request,
            `receivers.${receiver.settings.id}.protocols.http.max_records_per_request`,
          ),
      });
    } catch (err) {
      closeIfBodyUnread(req.raw, reply);
      // Refusals were counted by admit(); everything else here is the sender's mistake.
      if (failureFor(err).retryAfterSeconds === undefined) receiver.countInvalid();
      return fail(reply, format ?? 'json', err);
    }
    const observed = nowNanos();
    try {
      const decoded = protoCount
        ? spec.decodeProto(body, observed, guard, protoCount.counted())
        : spec.decodeJson(body, observed, guard);
      const outcome = await receiver.export(spec, 'http', decoded, tenant, observed);
      if (format === 'proto') return reply.code(200).type(PROTOBUF).send(encodePartialSuccess(outcome));
      return reply.code(200).type(JSON_TYPE).send(responseJson(spec, outcome));
    } catch (err) {
      const f = failureFor(err);
      if (f.http === 400 || f.http === 413) receiver.countInvalid();
      if (f.http === 500) receiver.settings.logger.error({ err }, 'OTLP/HTTP export failed');
      return fail(reply, format, err);
    }
  }
}

function fail(reply: FastifyReply, format: Format, err: unknown): FastifyReply {
  const f = failureFor(err);
  if (f.retryAfterSeconds !== undefined) reply.header('retry-after', String(f.retryAfterSeconds));
  if (f.http === 401) reply.header('www-authenticate', 'Bearer');
  if (format === 'proto') return reply.code(f.http).type(PROTOBUF).send(encodeStatusProto(f));
  return reply.code(f.http).type(JSON_TYPE).send(statusJson(f));
}
