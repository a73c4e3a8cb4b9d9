import { literalUnion, obj, optional, record, str, url, type Infer } from '../../config/schema.ts';
import { DEFAULT_DESCRIPTION, DEFAULT_TITLE, incidentExporterFields } from '../tickets/config.ts';

export const webhookExporterSchema = obj({
  url: url({ doc: 'Where to POST. For Slack, the incoming-webhook URL (keep it secret: `${env:SLACK_WEBHOOK_URL}`).' }),
  format: literalUnion(['json', 'slack', 'alertmanager'], { default: 'json', doc: '`json`: Vigil\'s incident payload; `slack`: an incoming-webhook message with blocks; `alertmanager`: the Alertmanager webhook payload, version 4.' }),
  secret: optional(str({ nonEmpty: true, doc: 'Adds the Standard Webhooks `webhook-signature: v1,<HMAC-SHA256>` header (`webhook-id` and `webhook-timestamp` are always sent). `whsec_<base64>` or any string.' })),
  headers: record(str(), { doc: 'Extra request headers, e.g. `Authorization`.' }),
  receiver: str({ default: 'vigil', doc: 'The `receiver` field of the Alertmanager payload.' }),
  external_url: str({ default: '', doc: '`externalURL` / `generatorURL` of the Alertmanager payload, e.g. Vigil\'s UI.' }),
  ...incidentExporterFields({ title: DEFAULT_TITLE, description: DEFAULT_DESCRIPTION }),
});

export type WebhookExporterConfig = Infer<typeof webhookExporterSchema>;
