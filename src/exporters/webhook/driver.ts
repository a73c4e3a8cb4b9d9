import type { Notice } from '../tickets/incidentExporter.ts';
import { MessageDriver } from '../tickets/messageDriver.ts';
import { httpFailure, redact, send } from '../tickets/http.ts';
import type { WebhookExporterConfig } from './config.ts';
import { alertmanagerPayload, escapeMrkdwn, jsonPayload, pagerDutyPayload, slackPayload } from './formats.ts';
import { signWebhook } from './signature.ts';

/** Posts every change as one request, in the configured format (signed when a secret is set). */
export class WebhookDriver extends MessageDriver {
  private readonly config: WebhookExporterConfig;
  private readonly now: () => number;

  constructor(config: WebhookExporterConfig, now: () => number = Date.now) {
    super();
    this.config = config;
    this.now = now;
  }

  escapeBody = (text: string): string => (this.config.format === 'slack' ? escapeMrkdwn(text) : text);

  private payload(n: Notice): object {
    switch (this.config.format) {
      case 'slack':
        return slackPayload(n);
      case 'alertmanager':
        return alertmanagerPayload(n, { receiver: this.config.receiver, externalUrl: this.config.external_url });
      case 'pagerduty':
        return pagerDutyPayload(n, { routingKey: this.config.routing_key!, externalUrl: this.config.external_url });
      default:
        return jsonPayload(n);
    }
  }

  protected async deliver(n: Notice): Promise<void> {
    const body = JSON.stringify(this.payload(n));
    const ts = Math.floor(this.now() / 1000);
    const headers: Record<string, string> = {
      ...this.config.headers,
      'content-type': 'application/json',
      'user-agent': 'Vigil',
      'idempotency-key': n.id,
      'webhook-id': n.id,
      'webhook-timestamp': String(ts),
    };
    if (this.config.secret) headers['webhook-signature'] = signWebhook(this.config.secret, n.id, ts, body);
    const res = await send({
      method: 'POST',
      url: this.config.url,
      headers,
      body,
      timeoutMs: this.config.delivery.timeout,
    });
    // Standard Webhooks and Slack both count only 2xx as delivered; redirects are failures.
    if (res.status < 200 || res.status >= 300) throw httpFailure(`POST ${redact(this.config.url)}`, res);
  }
}
