import type { Server as TlsServer } from 'node:tls';
import Fastify, { type FastifyInstance } from 'fastify';
import { createServer as createHttpServer, type RequestListener, type Server, type ServerOptions } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { Endpoint } from '../config/schema.ts';
import { ShuttingDownError, VigilError } from '../errors.ts';
import { httpAnswerFor, sendJsonError } from '../receivers/http/respond.ts';
import type { Registry } from 'prom-client';
import { guardHosts } from '../receivers/http/allowedHosts.ts';
import { lazySchemaController } from '../receivers/http/schemaCompilers.ts';
import type { HttpServerLimits } from '../receivers/http/serverConfig.ts';
import { capConnectionsPerPeer, defaultPerPeer } from '../receivers/peerConnections.ts';
import { DEFAULT_PEER_IPV6_PREFIX } from '../receivers/peerGroup.ts';
import type { TlsServerConfig } from '../config/tls.ts';
import { hardenTlsServer, loadTlsOptions } from '../receivers/http/tlsConfig.ts';
import type { Logger } from '../telemetry/logger.ts';
import { RateLimitedWarn } from '../telemetry/rateLimitedLog.ts';

/** Defaults for listeners built without receiver settings (tests, embedding). */
const DEFAULT_LIMITS: HttpServerLimits = {
  read_timeout: 30_000,
  read_header_timeout: 10_000,
  idle_timeout: 65_000,
  max_connections: 1000,
  peer_ipv6_prefix: DEFAULT_PEER_IPV6_PREFIX,
};
// How often Node looks for requests past their header or request timeout (its default is 30 s).
const TIMEOUT_CHECK_MS = 250;

interface Entry {
  server: FastifyInstance;
  tls: TlsServerConfig | undefined;
  limits: HttpServerLimits;
  endpoint: Endpoint;
}

/**
 * The Node server under Fastify, with the limits Fastify does not pass through. Node's own
 * request timeout backs up the receivers' body deadline (routes that never read the body), a
 * little later so that the receivers' 408 with an error body is what senders normally see.
 */
export function nodeServer(
  limits: HttpServerLimits,
  tls: TlsServerConfig | undefined,
  handler: RequestListener,
  maxHeaderSize?: number,
  onPeerRefused: (peer: string) => void = () => {},
): Server {
  const requestTimeout = limits.read_timeout > 0 ? limits.read_timeout + 1000 : 0;
  const options: ServerOptions = {
    connectionsCheckingInterval: TIMEOUT_CHECK_MS,
    // Node refuses a header timeout longer than the request timeout.
    headersTimeout:
      requestTimeout > 0 && limits.read_header_timeout > 0
        ? Math.min(limits.read_header_timeout, requestTimeout)
        : limits.read_header_timeout || requestTimeout,
    requestTimeout,
    // Keep-alive senders (OTel SDKs) reuse connections for a long time.
    keepAliveTimeout: limits.idle_timeout,
    ...(maxHeaderSize !== undefined ? { maxHeaderSize } : {}),
  };
  const server = tls
    ? createHttpsServer({ ...options, ...loadTlsOptions(tls) }, handler)
    : createHttpServer(options, handler);
  server.maxConnections = limits.max_connections;
  capConnectionsPerPeer(
    server,
    defaultPerPeer(limits.max_connections, limits.max_connections_per_peer),
    limits.peer_ipv6_prefix,
    onPeerRefused,
  );
  return server;
}

/**
 * HTTP servers shared by receivers on the same endpoint. Request bodies are left unread
 * (no content-type parsing) so each receiver reads, decompresses and size-limits the raw
 * stream itself.
 */
export class HttpListeners {
  private readonly entries = new Map<string, Entry>();
  private closing = false;
  private readonly warn: RateLimitedWarn | undefined;
  private readonly registry: Registry | undefined;

  constructor(logger?: Logger, registry?: Registry) {
    this.warn = logger ? new RateLimitedWarn(logger) : undefined;
    this.registry = registry;
  }

  get(endpoint: Endpoint, tls?: TlsServerConfig, limits: HttpServerLimits = DEFAULT_LIMITS): FastifyInstance {
    const key = `${endpoint.host}:${endpoint.port}`;
    const existing = this.entries.get(key);
    if (existing) {
      if (JSON.stringify(existing.tls) !== JSON.stringify(tls)) {
        throw new VigilError(
          'VIGIL_LISTENER_CONFLICT',
          `two receivers share ${key} with different tls settings; give them the same tls block or different ports`,
        );
      }
      if (JSON.stringify(existing.limits) !== JSON.stringify(limits)) {
        throw new VigilError(
          'VIGIL_LISTENER_CONFLICT',
          `two receivers share ${key} with different read_timeout, read_header_timeout, idle_timeout, max_connections, max_connections_per_peer, peer_ipv6_prefix or allowed_hosts; give them the same values or different ports`,
        );
      }
      return existing.server;
    }
    const server = Fastify({
      logger: false,
      schemaController: lazySchemaController(),
      serverFactory: (handler) =>
        nodeServer(limits, tls, handler, undefined, (peer) =>
          this.warn?.warn({ listener: key, peer }, 'HTTP connection refused: max_connections_per_peer reached'),
        ),
      keepAliveTimeout: limits.idle_timeout,
      forceCloseConnections: 'idle',
      // Fastify's own closing answer has no Retry-After; the hook below gives Vigil's.
      return503OnClosing: false,
    }) as unknown as FastifyInstance;
    guardHosts(server, {
      allowed: limits.allowed_hosts,
      endpoint,
      listener: key,
      ...(this.registry ? { registry: this.registry } : {}),
      ...(this.warn ? { warn: this.warn } : {}),
    });
    // A request that arrives on a keep-alive connection while shutting down is told when to
    // retry (and that the connection closes), so SDKs retry elsewhere instead of giving up.
    server.addHook('onRequest', async (_req, reply) => {
      if (!this.closing) return;
      reply.header('connection', 'close');
      return sendJsonError(reply, httpAnswerFor(new ShuttingDownError()));
    });
    if (tls) hardenTlsServer(server.server as unknown as TlsServer, tls);
    server.removeAllContentTypeParsers();
    server.addContentTypeParser('*', (_req, _payload, done) => done(null, undefined));
    // accept() fails with EMFILE when the descriptor table is full; that connection is lost, not the daemon.
    server.server.on('error', (err: NodeJS.ErrnoException) => {
      // Before it listens, an error (EADDRINUSE) fails the start, which says so itself.
      if (server.server.listening)
        this.warn?.warn({ err: err.message, listener: key }, 'HTTP listener error (connection not accepted)');
    });
    server.server.on('drop', () =>
      this.warn?.warn(
        { listener: key, max_connections: limits.max_connections },
        'HTTP connection refused: max_connections reached',
      ),
    );
    this.entries.set(key, { server, tls, limits, endpoint });
    return server;
  }

  async listenAll(): Promise<void> {
    for (const e of this.entries.values()) {
      await e.server.listen({ host: e.endpoint.host, port: e.endpoint.port });
    }
  }

  /** Actual bound ports (for `:0` endpoints in tests), keyed by configured host:port. */
  addresses(): { host: string; port: number }[] {
    const out: { host: string; port: number }[] = [];
    for (const e of this.entries.values()) {
      const addr = e.server.server.address();
      if (addr && typeof addr === 'object') out.push({ host: addr.address, port: addr.port });
    }
    return out;
  }

  get allListening(): boolean {
    for (const e of this.entries.values()) if (!e.server.server.listening) return false;
    return true;
  }

  /** Drops every connection, busy or not: the last step of a shutdown that ran out of time. */
  forceCloseAll(): void {
    for (const e of this.entries.values()) e.server.server.closeAllConnections();
  }

  async closeAll(): Promise<void> {
    this.closing = true;
    await Promise.all(
      [...this.entries.values()].map(async (e) => {
        const closing = e.server.close();
        // close() drops only the keep-alive connections idle at that moment; one busy then turns
        // idle once its response is out and would hold shutdown until the keep-alive timeout.
        const sweeper = setInterval(() => e.server.server.closeIdleConnections(), 20);
        try {
          await closing;
        } finally {
          clearInterval(sweeper);
        }
      }),
    );
  }
}
