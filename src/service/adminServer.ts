import Fastify, { type FastifyInstance } from 'fastify';
import type { Endpoint } from '../config/schema.ts';
import { guardHosts } from '../receivers/http/allowedHosts.ts';
import { lazySchemaController } from '../receivers/http/schemaCompilers.ts';
import type { Logger } from '../telemetry/logger.ts';
import { RateLimitedWarn } from '../telemetry/rateLimitedLog.ts';
import type { SelfMetrics } from '../telemetry/selfMetrics.ts';
import type { ReadinessReport } from './readiness.ts';

const startedAt = Date.now();

/**
 * The admin listener: `/metrics` for Prometheus, `/healthz` (alive), `/readyz` (able to work:
 * every component's state and reason, 503 while one is failing).
 */
export class AdminServer {
  readonly server: FastifyInstance;
  private readonly endpoint: Endpoint;

  constructor(
    listen: { endpoint: Endpoint; allowed_hosts?: string[] | undefined },
    metrics: SelfMetrics,
    readiness: () => ReadinessReport,
    logger?: Logger,
  ) {
    this.endpoint = listen.endpoint;
    this.server = Fastify({ logger: false, schemaController: lazySchemaController() });
    guardHosts(this.server, {
      allowed: listen.allowed_hosts,
      endpoint: listen.endpoint,
      listener: 'admin',
      registry: metrics.registry,
      ...(logger ? { warn: new RateLimitedWarn(logger) } : {}),
    });
    this.server.get('/metrics', async (_req, reply) => {
      reply.type(metrics.registry.contentType);
      return metrics.metrics();
    });
    this.server.get('/healthz', async () => ({
      status: 'ok',
      uptimeSeconds: Math.round((Date.now() - startedAt) / 1000),
    }));
    this.server.get('/readyz', async (_req, reply) => {
      const { ready, status, components } = readiness();
      return reply.code(ready ? 200 : 503).send({ status, components });
    });
  }

  get address(): { host: string; port: number } | undefined {
    const a = this.server.server.address();
    return a && typeof a === 'object' ? { host: a.address, port: a.port } : undefined;
  }

  async start(logger?: Logger): Promise<void> {
    // accept() fails with EMFILE when the descriptor table is full: that scrape is lost, not the daemon.
    this.server.server.on('error', (err: NodeJS.ErrnoException) =>
      logger?.warn({ err: err.message }, 'admin listener error (connection not accepted)'),
    );
    await this.server.listen({ host: this.endpoint.host, port: this.endpoint.port });
  }

  async stop(): Promise<void> {
    await this.server.close();
  }
}
