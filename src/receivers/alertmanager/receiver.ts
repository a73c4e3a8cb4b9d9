import type { FastifyInstance, FastifyReply } from 'fastify';
import type { VigilEvent } from '../../model/event.ts';
import { nowNanos } from '../../model/event.ts';
import type { CreateSettings, Receiver } from '../../pipeline/component.ts';
import type { Host } from '../../pipeline/host.ts';
import type { Consumer } from '../../pipeline/signals.ts';
import { JsonIntake, type AdmittedBody } from '../http/jsonIntake.ts';
import { sendJsonError } from '../http/respond.ts';
import { httpServerLimits } from '../http/serverConfig.ts';
import { JsonValueCounter } from '../json/recordCount.ts';
import type { AlertmanagerReceiverConfig } from './config.ts';
import { mapAlert } from './mapping.ts';

/** The path Prometheus, vmalert and Grafana post to (API v1 is gone from Alertmanager since 0.27). */
export const ALERTS_PATH = '/api/v2/alerts';

/** application/json (and `+json` types), parameters allowed: what Alertmanager's API consumes. */
const JSON_MEDIA_TYPE = /^\s*application\/(?:json|[\w.+-]*\+json)\s*(?:;.*)?$/i;

/**
 * Alertmanager's probes, answered as Alertmanager does, for senders and load balancers that
 * check them before sending. Once per listener: several receivers may share one.
 */
function serveProbes(server: FastifyInstance): void {
  for (const url of ['/-/healthy', '/-/ready']) {
    if (server.hasRoute({ method: 'GET', url })) continue;
    server.route({
      method: ['GET', 'HEAD'],
      url,
      handler: (_req, reply) => reply.code(200).type('text/plain; charset=utf-8').send('OK'),
    });
  }
}

/**
 * `POST /api/v2/alerts` as Alertmanager takes it: a JSON array of alerts. As Alertmanager, it
 * keeps every valid alert of a request, and answers 400 naming the invalid ones when there
 * were any (200 with an empty body otherwise).
 */
export class AlertmanagerReceiver implements Receiver {
  private readonly config: AlertmanagerReceiverConfig;
  private readonly intake: JsonIntake;

  constructor(settings: CreateSettings, config: AlertmanagerReceiverConfig, consumer: Consumer<VigilEvent>) {
    this.config = config;
    this.intake = new JsonIntake(settings, consumer, {
      mediaType: JSON_MEDIA_TYPE,
      mediaHint: 'application/json',
      emptyBody: 'a JSON array of alerts',
      recordCounter: () => new JsonValueCounter(),
      max_request_body_size: config.max_request_body_size,
      max_records_per_request: config.max_records_per_request,
      read_timeout: config.read_timeout,
      min_body_rate: config.min_body_rate,
      peer_ipv6_prefix: config.peer_ipv6_prefix,
    });
  }

  async start(host: Host): Promise<void> {
    const server = host.httpListener(this.config.endpoint, this.config.tls, httpServerLimits(this.config));
    this.intake.route(server, host.receiveBuffers, ALERTS_PATH, (_req, reply, body) => this.handle(reply, body));
    serveProbes(server);
  }

  async shutdown(): Promise<void> {}

  private async handle(reply: FastifyReply, { body }: AdmittedBody): Promise<FastifyReply> {
    const intake = this.intake;
    let alerts: unknown;
    try {
      alerts = JSON.parse(body.toString('utf8'));
    } catch (err) {
      intake.countInvalid();
      return sendJsonError(reply, {
        status: 400,
        code: 'VIGIL_INVALID_INPUT',
        message: `body is not valid JSON: ${(err as Error).message}`,
      });
    }
    if (!Array.isArray(alerts)) {
      intake.countInvalid();
      return sendJsonError(reply, {
        status: 400,
        code: 'VIGIL_INVALID_INPUT',
        message: `the body must be a JSON array of alerts (Alertmanager API v2 postableAlerts), got ${alerts === null ? 'null' : typeof alerts}`,
      });
    }
    const now = nowNanos();
    const rejected: { index: number; reason: string }[] = [];
    const indexed = alerts.map((value: unknown, index) => ({ index, value }));
    const events = intake.mapAll(
      reply,
      indexed,
      (a) => mapAlert(a.value, now),
      (a, reason) => rejected.push({ index: a.index, reason }),
    );
    if (!Array.isArray(events)) return events;
    if (events.length > 0) {
      if (!(await intake.deliver(reply, events))) return reply;
    }
    if (rejected.length === 0) return reply.code(200).send();
    if (events.length === 0) intake.countInvalid();
    const reasons =
      rejected
        .slice(0, 5)
        .map((r) => `alert ${r.index}: ${r.reason}`)
        .join('; ') + (rejected.length > 5 ? '; …' : '');
    return sendJsonError(
      reply,
      {
        status: 400,
        code: 'VIGIL_INVALID_INPUT',
        message: `${rejected.length} of ${alerts.length} alerts rejected (the others were accepted): ${reasons}`,
      },
      { accepted: events.length, rejected },
    );
  }
}
