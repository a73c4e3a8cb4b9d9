import type { FastifyInstance } from 'fastify';
import type { Endpoint } from '../config/schema.ts';
import type { Logger } from '../telemetry/logger.ts';
import type { SelfMetrics } from '../telemetry/selfMetrics.ts';
import type { HttpServerLimits } from '../receivers/http/serverConfig.ts';
import type { TlsServerConfig } from '../config/tls.ts';
import type { ReceiveBuffers } from './receiveBuffers.ts';
import type { TicketLedger } from '../exporters/tickets/ledger.ts';
import type { RoutingTree } from '../exporters/tickets/routingTree.ts';
import type { Authenticator } from '../extensions/auth/principal.ts';
import type { SharedRedis } from '../extensions/redisState/sharedRedis.ts';
import type { IncidentDesk } from '../correlation/incidentActions.ts';

/** What a component may ask of the running service during start(). */
export interface Host {
  logger: Logger;
  metrics: SelfMetrics;
  dataDir: string;
  /**
   * The shared HTTP server for an endpoint, so the JSON and OTLP/HTTP receivers can both serve
   * port 4318 as one listener. Register routes during start(); the service listens after every
   * receiver has started.
   */
  httpListener(endpoint: Endpoint, tls?: TlsServerConfig, limits?: HttpServerLimits): FastifyInstance;
  /** The one budget for bytes held by requests still arriving, across every listener. */
  receiveBuffers: ReceiveBuffers;
  /** The top-level routing tree, when the config has one: incident exporters it names follow it. */
  routingTree?: RoutingTree;
  /**
   * The started extension `id` as an authenticator. The config loader has already checked that
   * every id a component refers to names a started authenticator, so this throws only on a
   * component that skipped declaring its references (`extensionRefs`).
   */
  authenticator(id: string): Authenticator;
  /** The started `redis_state` extension `id` (checked at load like an authenticator). */
  redisState(id: string): SharedRedis;
  /**
   * Exporter `exporter`'s ledger from the started `ticket_ledger` extension `id`: its tickets,
   * apart from other exporters' on the same ledger (checked at load like an authenticator).
   */
  ticketLedger(id: string, exporter: string): TicketLedger;
  /** The correlation runtime's incidents, once it runs: ticket exporters apply what people do in their tracker through it. */
  incidentDesk?(): IncidentDesk | undefined;
}
