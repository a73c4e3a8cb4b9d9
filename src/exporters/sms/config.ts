import {
  duration,
  int,
  list,
  literalUnion,
  obj,
  optional,
  record,
  refine,
  str,
  url,
  type Infer,
} from '../../config/schema.ts';
import type { TemplateShape } from '../tickets/template.ts';
import { deliverySchema, ledgerSchema, routesSchema, shapedTemplate, template } from '../tickets/config.ts';

/** What an SMS request body template may name. */
export const SMS_BODY_SHAPE: TemplateShape = { to: 'leaf', from: 'leaf', message: 'leaf', marker: 'leaf', id: 'leaf' };

const E164 = /^\+[1-9]\d{6,14}$/;
const phone = (doc?: string) =>
  str({ pattern: E164, patternHint: 'a phone number in E.164 form such as +14155550100', doc });

export const DEFAULT_SMS_MESSAGE =
  '{{change.kind}}: [{{incident.severity}}] {{incident.title}}{{#incident.asset}} on {{incident.asset}}{{/incident.asset}}';

export const smsExporterSchema = refine(
  obj({
    provider: literalUnion(['http', 'twilio'], {
      default: 'http',
      doc: "`http`: any SMS gateway with an HTTP API (`url`, `method`, `content_type`, `body`, `headers`, `username`/`password`); `twilio`: Twilio's Messages API (`account_sid`, `auth_token`).",
    }),
    url: optional(
      url({ doc: '`http`: the gateway endpoint. `twilio`: the API base, default `https://api.twilio.com`.' }),
    ),
    method: literalUnion(['POST', 'PUT'], { default: 'POST', doc: '`http`: request method.' }),
    content_type: literalUnion(['json', 'form'], {
      default: 'json',
      doc: '`http`: `json` (`application/json`) or `form` (`application/x-www-form-urlencoded`); values inserted into `body` are escaped for it.',
    }),
    body: optional(
      shapedTemplate(SMS_BODY_SHAPE, {
        doc: '`http`: request body template over `to`, `from`, `message`, `marker` and `id` (unique per change and recipient, stable across retries). Default for json: `{"to":"{{to}}","from":"{{from}}","text":"{{message}}"}`; for form: `to={{to}}&from={{from}}&text={{message}}`.',
      }),
    ),
    headers: record(str(), { doc: '`http`: extra request headers, e.g. `Authorization: Bearer …`.' }),
    username: optional(str({ nonEmpty: true, doc: '`http`: Basic auth user.' })),
    password: optional(str({ doc: '`http`: Basic auth password.' })),
    account_sid: optional(
      str({
        pattern: /^AC[0-9a-fA-F]{32}$/,
        patternHint: 'a Twilio Account SID (AC followed by 32 hex digits)',
        doc: '`twilio`: the Account SID, also the Basic auth user.',
      }),
    ),
    auth_token: optional(
      str({ nonEmpty: true, doc: "`twilio`: the Auth Token (or use an API key: `account_sid` stays the account's)." }),
    ),
    from: str({
      nonEmpty: true,
      doc: 'Sender: a number in E.164 form, an alphanumeric sender id, or for Twilio a Messaging Service SID (`MG…`, sent as `MessagingServiceSid`).',
    }),
    to: list(phone(), { minItems: 1, doc: 'Recipients in E.164 form; each gets its own message.' }),
    message: template({
      default: DEFAULT_SMS_MESSAGE,
      doc: 'The text of each SMS (see "Templates"); cut to `max_segments`.',
    }),
    max_segments: int({
      default: 2,
      min: 1,
      max: 10,
      doc: 'Most segments one message may take: 160 GSM-7 characters (or 70 UCS-2 ones) for one, 153 (67) per segment beyond. A longer text is cut and ends in `...` (GSM-7) or `…` (UCS-2).',
    }),
    rate_limit: obj({
      messages: int({
        default: 5,
        min: 1,
        doc: 'Most messages one recipient gets per `per` window (sliding). Past it, messages to that recipient are dropped and counted in `vigil_sms_dropped_total{reason="rate_limited"}`; the next message that goes out begins with how many were not sent.',
      }),
      per: duration({ default: '1h', doc: 'The rate-limit window.' }),
    }),
    routes: routesSchema,
    delivery: deliverySchema,
    ledger: ledgerSchema,
  }),
  (c) => {
    if (c.provider === 'twilio') {
      if (!c.account_sid) return { path: 'account_sid', message: 'is required with provider: twilio' };
      if (!c.auth_token) return { path: 'auth_token', message: 'is required with provider: twilio' };
      return undefined;
    }
    if (!c.url) return { path: 'url', message: 'is required with provider: http' };
    return c.password !== undefined && !c.username
      ? { path: 'username', message: 'is required with password' }
      : undefined;
  },
  'provider `twilio` needs `account_sid` and `auth_token`; provider `http` needs `url`; `password` needs `username`.',
);

export type SmsExporterConfig = Infer<typeof smsExporterSchema>;
