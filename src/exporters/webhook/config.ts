import { literalUnion, obj, optional, record, refine, str, url, type Infer } from '../../config/schema.ts';
import { signingKey } from './signature.ts';
import { DEFAULT_DESCRIPTION, DEFAULT_TITLE, incidentExporterFields } from '../tickets/config.ts';

export const webhookExporterSchema = refine(
  obj({
    url: url({
      doc: 'Where to POST. For Slack, the incoming-webhook URL (keep it secret: `${env:SLACK_WEBHOOK_URL}`).',
    }),
    format: literalUnion(['json', 'slack', 'alertmanager', 'pagerduty'], {
      default: 'json',
      doc: "`json`: Vigil's incident payload; `slack`: an incoming-webhook message with blocks; `alertmanager`: the Alertmanager webhook payload, version 4; `pagerduty`: PagerDuty Events API v2 (url `https://events.pagerduty.com/v2/enqueue`).",
    }),
    routing_key: optional(
      str({
        pattern: /^[A-Za-z0-9]{32}$/,
        patternHint: 'a 32-character integration key',
        doc: 'PagerDuty: the Events API v2 integration key (required with `format: pagerduty`).',
      }),
    ),
    secret: optional(
      str({
        nonEmpty: true,
        doc: 'Adds the Standard Webhooks `webhook-signature: v1,<HMAC-SHA256>` header (`webhook-id` and `webhook-timestamp` are always sent). `whsec_<base64>`: the key is the base64 after the prefix, as the Standard Webhooks libraries read it; any other string: the key is its UTF-8 bytes.',
      }),
    ),
    headers: record(str(), { doc: 'Extra request headers, e.g. `Authorization`.' }),
    receiver: str({ default: 'vigil', doc: 'The `receiver` field of the Alertmanager payload.' }),
    external_url: str({
      default: '',
      doc: "`externalURL` / `generatorURL` of the Alertmanager payload, `client_url` of PagerDuty events: e.g. Vigil's UI.",
    }),
    ...incidentExporterFields({ title: DEFAULT_TITLE, description: DEFAULT_DESCRIPTION }),
  }),
  (c) => {
    if (c.format === 'pagerduty' && !c.routing_key)
      return { path: 'routing_key', message: 'is required with format: pagerduty' };
    if (c.secret?.startsWith('whsec_') && signingKey(c.secret).length === 0)
      return {
        path: 'secret',
        message:
          'after whsec_ must come the key in base64, as Standard Webhooks secrets are written; a secret without the prefix is used as it is',
      };
    return undefined;
  },
  'format `pagerduty` needs `routing_key`; a `whsec_` secret carries a base64 key after the prefix.',
);

export type WebhookExporterConfig = Infer<typeof webhookExporterSchema>;
