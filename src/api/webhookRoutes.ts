import type { FastifyInstance, FastifyRequest } from 'fastify';
import { WebhookRejectedError, type TicketWebhook } from '../exporters/tickets/webhook.ts';
import { ApiProblem } from './problem.ts';
import type { RouteDoc } from './openapi.ts';

export interface WebhookRoutesOptions {
  /** The webhook receiver of the exporter with this id, when it takes webhooks (`sync.mode: webhook`). */
  ticketWebhook: (exporterId: string) => TicketWebhook | undefined;
}

/** A tracker's webhook carries a whole issue: larger than any operator's request, still bounded. */
export const WEBHOOK_BODY_LIMIT = 1024 * 1024;

/**
 * `POST /api/v1/webhooks/<exporter id>` (`/api/v1/webhooks/jira/ops` for `jira/ops`): a tracker
 * tells of its tickets. No bearer token: the tracker signs the body with the exporter's secret,
 * so the body is read raw, verified, and only then parsed. Not in the OpenAPI document: its
 * caller is the tracker, whose payload is the tracker's, not Vigil's.
 */
export function registerWebhookRoutes(app: FastifyInstance, opts: WebhookRoutesOptions): void {
  void app.register(async (raw) => {
    raw.removeAllContentTypeParsers();
    raw.addContentTypeParser(
      'application/json',
      { parseAs: 'buffer', bodyLimit: WEBHOOK_BODY_LIMIT },
      (_req, body, done) => done(null, body),
    );
    const config: RouteDoc = { hidden: true };
    const receive = async (req: FastifyRequest, id: string) => {
      const hook = opts.ticketWebhook(id);
      if (!hook) throw new ApiProblem('VIGIL_ROUTE_NOT_FOUND', `no exporter ${id} takes webhooks (sync.mode: webhook)`);
      const body = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
      try {
        await hook.receive(body, req.headers);
      } catch (err) {
        if (!(err instanceof WebhookRejectedError)) throw err;
        throw new ApiProblem(err.code as 'VIGIL_UNAUTHENTICATED' | 'VIGIL_INVALID_REQUEST', err.message);
      }
    };
    raw.post<{ Params: { type: string } }>(
      '/api/v1/webhooks/:type',
      { config, bodyLimit: WEBHOOK_BODY_LIMIT },
      async (req, reply) => {
        await receive(req, req.params.type);
        return reply.code(204).send();
      },
    );
    raw.post<{ Params: { type: string; name: string } }>(
      '/api/v1/webhooks/:type/:name',
      { config, bodyLimit: WEBHOOK_BODY_LIMIT },
      async (req, reply) => {
        await receive(req, `${req.params.type}/${req.params.name}`);
        return reply.code(204).send();
      },
    );
  });
}
