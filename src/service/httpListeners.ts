import type { Server as TlsServer } from 'node:tls';
import Fastify, { type FastifyInstance } from 'fastify';
import type { Endpoint } from '../config/schema.ts';
import { ShuttingDownError, VigilError } from '../errors.ts';
import { httpAnswerFor, sendJsonError } from '../receivers/http/respond.ts';
import { hardenTlsServer, loadTlsOptions, type TlsServerConfig } from '../receivers/http/tlsConfig.ts';

interface Entry {
  server: FastifyInstance;
  tls: TlsServerConfig | undefined;
  endpoint: Endpoint;
}

/**
 * HTTP servers shared by receivers on the same endpoint. Request bodies are left unread
 * (no content-type parsing) so each receiver reads, decompresses and size-limits the raw
 * stream itself.
 */
export class HttpListeners {
  private readonly entries = new Map<string, Entry>();
  private closing = false;

  get(endpoint: Endpoint, tls?: TlsServerConfig): FastifyInstance {
    const key = `${endpoint.host}:${endpoint.port}`;
    const existing = this.entries.get(key);
    if (existing) {
      if (JSON.stringify(existing.tls) !== JSON.stringify(tls)) {
        throw new VigilError('VIGIL_LISTENER_CONFLICT', `two receivers share ${key} with different tls settings; give them the same tls block or different ports`);
      }
      return existing.server;
    }
    const server = Fastify({
      logger: false,
      ...(tls ? { https: loadTlsOptions(tls) } : {}),
      // Keep-alive senders (OTel SDKs) reuse connections for a long time.
      keepAliveTimeout: 65_000,
      forceCloseConnections: 'idle',
      // Fastify's own closing answer has no Retry-After; the hook below gives Vigil's.
      return503OnClosing: false,
    }) as unknown as FastifyInstance;
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
    this.entries.set(key, { server, tls, endpoint });
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
