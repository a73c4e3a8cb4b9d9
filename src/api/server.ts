import type { Server as TlsServer } from 'node:tls';
import Fastify, { type FastifyError, type FastifyInstance, type FastifyReply } from 'fastify';
import type { IncidentDesk } from '../correlation/incidentActions.ts';
import {
  AuthenticationError,
  ForbiddenError,
  roleAllows,
  type Authenticator,
  type Principal,
  type Role,
} from '../extensions/auth/principal.ts';
import type { Incident } from '../model/incident.ts';
import type { TicketLink } from '../pipeline/component.ts';
import type { Registry } from 'prom-client';
import { guardHosts } from '../receivers/http/allowedHosts.ts';
import { hardenTlsServer } from '../receivers/http/tlsConfig.ts';
import { nodeServer } from '../service/httpListeners.ts';

const MAX_HEADER_BYTES = 256 * 1024;
import type { Logger } from '../telemetry/logger.ts';
import { RateLimitedWarn } from '../telemetry/rateLimitedLog.ts';
import { principalResolver } from './auth.ts';
import type { ApiConfig } from './config.ts';
import { renderDocsPage } from './docsPage.ts';
import { registerDryRunRoutes, type RuleReplayer } from './dryRunRoutes.ts';
import { registerEventRoutes } from './eventRoutes.ts';
import type { EventStore } from './eventStore.ts';
import { registerIncidentRoutes } from './incidentRoutes.ts';
import { registerMaintenanceRoutes } from './maintenanceRoutes.ts';
import { registerPipelineHealthRoutes } from './pipelineHealthRoutes.ts';
import { registerRuleRoutes } from './ruleRoutes.ts';
import { registerSilenceRoutes } from './silenceRoutes.ts';
import { registerConsoleRoutes } from './consoleRoutes.ts';
import { ConsoleSignIn, registerSignInOptions } from './consoleSignIn.ts';
import { registerIncidentStream } from './incidentStream.ts';
import { registerStatsRoutes } from './statsRoutes.ts';
import { registerTopologyRoutes } from './topologyRoutes.ts';
import { registerWebhookRoutes } from './webhookRoutes.ts';
import type { TicketWebhook } from '../exporters/tickets/webhook.ts';
import { OpenApiCollector, type RouteDoc } from './openapi.ts';
import { ApiProblem, PROBLEM_CONTENT_TYPE, problemOf, type Problem, type ProblemCode } from './problem.ts';

declare module 'fastify' {
  interface FastifyContextConfig {
    role?: Role;
    optionalBody?: boolean;
    produces?: string;
    hidden?: boolean;
  }
  interface FastifyRequest {
    principal: Principal;
  }
}

export interface ApiServerOptions {
  config: ApiConfig;
  /** The correlation runtime's incidents; undefined when no correlation runs. */
  desk: () => IncidentDesk | undefined;
  /** The tickets exporters made for an incident (none by default). */
  ticketsOf?: (incident: Incident) => Promise<TicketLink[]>;
  /** The clickhouse exporter's tables that `api.event_store` names; undefined when none. */
  eventStore?: () => EventStore | undefined;
  /** The running rules, for dry runs; undefined when none are configured. */
  replayer?: () => RuleReplayer | undefined;
  /** The webhook receiver of a ticket exporter, by id (none by default). */
  ticketWebhook?: (exporterId: string) => TicketWebhook | undefined;
  /** Who calls; without one, every request is anonymous with `config.anonymous_role`. */
  authenticator?: Authenticator;
  logger?: Logger;
  /** Where the count of requests refused for their Host header goes. */
  registry?: Registry;
}

const BODY_LIMIT = 64 * 1024;

/** Fastify's own errors (body parsing, limits) as Vigil's codes. */
function fastifyProblem(err: FastifyError): Problem {
  if (err.validation) {
    const errors = err.validation.map((v) => ({
      path: `${err.validationContext ?? ''}${v.instancePath}`,
      message: v.message ?? 'is not valid',
    }));
    return problemOf(
      'VIGIL_INVALID_REQUEST',
      `${errors[0]!.path || err.validationContext || 'request'} ${errors[0]!.message}`,
      errors,
    );
  }
  const status = err.statusCode ?? 500;
  const code: ProblemCode =
    status === 413
      ? 'VIGIL_PAYLOAD_TOO_LARGE'
      : status === 415
        ? 'VIGIL_UNSUPPORTED_MEDIA_TYPE'
        : status >= 400 && status < 500
          ? 'VIGIL_INVALID_REQUEST'
          : 'VIGIL_INTERNAL';
  return problemOf(code, code === 'VIGIL_INTERNAL' ? 'internal error; see the Vigil logs' : err.message);
}

type QuerySchema = { properties?: Record<string, { type?: string }> };

/**
 * A query string's values are text: an integer parameter is read as a number when it is one,
 * and a list parameter given once as a list of one. Anything else is left for validation to refuse.
 */
function coerceQuery(schema: QuerySchema, query: Record<string, unknown>): void {
  for (const [name, p] of Object.entries(schema.properties ?? {})) {
    const v = query[name];
    if (v === undefined) continue;
    if (p.type === 'integer' && typeof v === 'string' && /^-?[0-9]+$/.test(v)) query[name] = Number(v);
    else if (p.type === 'array' && !Array.isArray(v)) query[name] = [v];
  }
}

function sendProblem(reply: FastifyReply, problem: Problem): FastifyReply {
  if (problem.status === 401) reply.header('www-authenticate', 'Bearer');
  return reply.code(problem.status).type(PROBLEM_CONTENT_TYPE).send(JSON.stringify(problem));
}

/**
 * The operators' API on its own listener: incidents over REST (`/api/v1/…`), the OpenAPI
 * document generated from the routes (`/openapi.json`) and a page of it (`/docs`). Every request
 * to `/api/` is authenticated first, then its role checked, then its input validated; every
 * error is a problem document.
 */
export class ApiServer {
  readonly app: FastifyInstance;
  readonly openapi: OpenApiCollector;
  private readonly config: ApiConfig;
  private closing = false;

  constructor(opts: ApiServerOptions) {
    const { config } = opts;
    this.config = config;
    const limits = {
      read_timeout: config.read_timeout,
      read_header_timeout: config.read_header_timeout,
      idle_timeout: config.idle_timeout,
      max_connections: config.max_connections,
      max_connections_per_peer: config.max_connections_per_peer,
      peer_ipv6_prefix: config.peer_ipv6_prefix,
    };
    const app = Fastify({
      logger: false,
      bodyLimit: BODY_LIMIT,
      // Room for the longest request the route schemas allow (a full list query, percent-encoded):
      // past Node's default 16 KiB such a request would get a bare 431 instead of its answer.
      serverFactory: (handler) => nodeServer(limits, config.tls, handler, MAX_HEADER_BYTES),
      keepAliveTimeout: config.idle_timeout,
      forceCloseConnections: 'idle',
      return503OnClosing: false,
      // Ids longer than the schema allows get its 400, not the router's 414.
      routerOptions: { maxParamLength: 1000 },
      frameworkErrors: (err, _req, reply) => sendProblem(reply, problemOf('VIGIL_INVALID_REQUEST', err.message)),
      // Unknown fields are refused, not dropped: a misspelt `reason` should not vanish. No
      // coercion either: a body's `"reason": 1` is a mistake; query strings are coerced below.
      ajv: { customOptions: { removeAdditional: false, coerceTypes: false, useDefaults: true } },
    }) as unknown as FastifyInstance;
    this.app = app;
    guardHosts(app, {
      allowed: config.allowed_hosts,
      endpoint: config.endpoint,
      listener: 'api',
      ...(opts.registry ? { registry: opts.registry } : {}),
      ...(opts.logger ? { warn: new RateLimitedWarn(opts.logger) } : {}),
    });
    if (config.tls) hardenTlsServer(app.server as unknown as TlsServer, config.tls);
    this.openapi = new OpenApiCollector(
      {
        title: "Vigil operators' API",
        version: '1',
        description:
          "Incidents over REST: list, read, acknowledge, resolve, reopen, comment and assign; silences as Alertmanager's API v2 (amtool works against it). Errors are RFC 9457 problem documents with a stable `code`. See docs/api.md.",
      },
      opts.authenticator !== undefined,
    );
    app.addHook('onRoute', (route) => this.openapi.add(route));
    app.decorateRequest('principal', undefined as unknown as Principal);
    const resolve = principalResolver(opts.authenticator, config.anonymous_role);
    const signIn = ConsoleSignIn.create(config, opts.authenticator, { logger: opts.logger });
    // Before the body is read or validated: a stranger learns nothing from a 400, and a viewer gets 403 whatever it sent.
    app.addHook('onRequest', async (req, reply) => {
      if (this.closing) {
        reply.header('connection', 'close').header('retry-after', '5');
        return sendProblem(
          reply,
          problemOf('VIGIL_SHUTTING_DOWN', 'Vigil is shutting down; retry against another instance or later'),
        );
      }
      if (req.is404) {
        const allowed = this.openapi.methodsOf(req.url.split('?')[0]!);
        if (allowed.length === 0) return;
        reply.header('allow', allowed.join(', '));
        return sendProblem(
          reply,
          problemOf(
            'VIGIL_METHOD_NOT_ALLOWED',
            `${req.url.split('?')[0]} takes ${allowed.join(', ')}, not ${req.method}`,
          ),
        );
      }
      const need = (req.routeOptions.config as RouteDoc | undefined)?.role;
      if (need === undefined) return;
      // A bearer credential speaks for itself; without one, the console's session cookie may.
      req.principal =
        (req.headers.authorization === undefined ? await signIn?.principalOf(req) : undefined) ??
        (await resolve(req.headers.authorization));
      if (!roleAllows(req.principal.role, need)) throw new ForbiddenError(need, req.principal.role);
    });
    app.addHook('preValidation', async (req) => {
      if ((req.routeOptions.config as RouteDoc | undefined)?.optionalBody && req.body === undefined) req.body = {};
      const query = (req.routeOptions.schema as { querystring?: QuerySchema } | undefined)?.querystring;
      if (query) coerceQuery(query, req.query as Record<string, unknown>);
    });
    app.setErrorHandler((err: FastifyError, _req, reply) => {
      if (err instanceof ApiProblem)
        return sendProblem(reply, problemOf(err.code as ProblemCode, err.message, err.errors));
      if (err instanceof AuthenticationError)
        return sendProblem(reply, problemOf('VIGIL_UNAUTHENTICATED', err.message));
      if (err instanceof ForbiddenError) return sendProblem(reply, problemOf('VIGIL_FORBIDDEN', err.message));
      const problem = fastifyProblem(err);
      if (problem.status >= 500) opts.logger?.error({ err }, "operators' API request failed");
      return sendProblem(reply, problem);
    });
    app.setNotFoundHandler((req, reply) =>
      sendProblem(
        reply,
        problemOf('VIGIL_ROUTE_NOT_FOUND', `no route ${req.method} ${req.url.split('?')[0]}; see /docs`),
      ),
    );

    registerIncidentRoutes(app, { desk: opts.desk, ticketsOf: opts.ticketsOf ?? (() => Promise.resolve([])) });
    registerSilenceRoutes(app, { desk: opts.desk });
    registerMaintenanceRoutes(app, { desk: opts.desk });
    registerIncidentStream(app, { desk: opts.desk, ticketsOf: opts.ticketsOf });
    registerConsoleRoutes(app);
    registerSignInOptions(app, signIn);
    signIn?.register(app);
    const events = { eventStore: opts.eventStore ?? (() => undefined), logger: opts.logger };
    registerEventRoutes(app, events);
    registerStatsRoutes(app, { ...events, desk: opts.desk });
    registerTopologyRoutes(app, events);
    registerDryRunRoutes(app, { replayer: opts.replayer ?? (() => undefined) });
    registerRuleRoutes(app, { desk: opts.desk });
    registerPipelineHealthRoutes(app, { registry: opts.registry });
    registerWebhookRoutes(app, { ticketWebhook: opts.ticketWebhook ?? (() => undefined) });
    app.get(
      '/openapi.json',
      {
        schema: {
          operationId: 'openapi',
          summary: "This API's OpenAPI 3.1 document",
          response: { 200: { description: 'The document', type: 'object', additionalProperties: true } },
        },
      },
      async (_req, reply) => {
        reply.type('application/json');
        return JSON.stringify(this.openapi.document);
      },
    );
    app.get(
      '/docs',
      {
        config: { produces: 'text/html' },
        schema: {
          operationId: 'docs',
          summary: "This API's reference as a page",
          response: { 200: { description: 'An HTML page', type: 'string' } },
        },
      },
      async (_req, reply) => {
        reply.type('text/html; charset=utf-8').header('content-security-policy', "default-src 'none'");
        return renderDocsPage(this.openapi.document);
      },
    );
  }

  get address(): { host: string; port: number } | undefined {
    const a = this.app.server.address();
    return a && typeof a === 'object' ? { host: a.address, port: a.port } : undefined;
  }

  async start(logger?: Logger): Promise<void> {
    this.app.server.on('error', (err: NodeJS.ErrnoException) => {
      if (this.app.server.listening)
        logger?.warn({ err: err.message }, "operators' API listener error (connection not accepted)");
    });
    await this.app.listen({ host: this.config.endpoint.host, port: this.config.endpoint.port });
  }

  async stop(): Promise<void> {
    this.closing = true;
    await this.app.close();
  }
}
