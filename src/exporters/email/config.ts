import { bool, int, list, literalUnion, obj, optional, refine, str, type Infer } from '../../config/schema.ts';
import { DEFAULT_DESCRIPTION, incidentExporterFields, template } from '../tickets/config.ts';

/** `ops@example.com` or `Ops team <ops@example.com>`: what nodemailer and every MTA take. */
const ADDRESS = /^(?:[^<>\r\n]*<[^\s@<>]+@[^\s@<>]+>|[^\s@<>]+@[^\s@<>]+)$/;
const address = (doc?: string) =>
  str({ pattern: ADDRESS, patternHint: 'an address such as ops@example.com or "Ops <ops@example.com>"', doc });

export const DEFAULT_EMAIL_SUBJECT = '[{{incident.severity}}] {{incident.title}} ({{change.kind}})';

export const DEFAULT_EMAIL_HTML = [
  '<p><b>{{change.kind}}</b>: {{change.reason}}</p>',
  '<table cellpadding="4">',
  '<tr><th align="left">Incident</th><td>{{incident.key}}</td></tr>',
  '<tr><th align="left">Severity</th><td>{{incident.severity}}</td></tr>',
  '<tr><th align="left">Status</th><td>{{incident.status}}</td></tr>',
  '<tr><th align="left">Rule</th><td>{{incident.rule}}</td></tr>',
  '<tr><th align="left">Service</th><td>{{incident.service}}</td></tr>',
  '<tr><th align="left">Asset</th><td>{{incident.asset}}</td></tr>',
  '<tr><th align="left">Events</th><td>{{incident.event_count}} (first {{incident.first_seen}}, last {{incident.last_seen}})</td></tr>',
  '</table>',
  '<p>{{#labels}}<code>{{name}}={{value}}</code> {{/labels}}</p>',
].join('\n');

export const emailExporterSchema = refine(
  obj({
    host: str({ nonEmpty: true, doc: 'SMTP server (relay or submission server) host name.' }),
    port: optional(
      int({
        min: 1,
        max: 65535,
        doc: 'SMTP port; default 587 with `tls: starttls`, 465 with `implicit`, 25 with `none`.',
      }),
    ),
    tls: literalUnion(['starttls', 'implicit', 'none'], {
      default: 'starttls',
      doc: '`starttls`: plain connection upgraded with STARTTLS, which the server must offer (submission, port 587); `implicit`: TLS from the first byte (SMTPS, port 465); `none`: no TLS, for a relay on localhost only.',
    }),
    ca_file: optional(
      str({
        nonEmpty: true,
        doc: "PEM CA bundle that signed the server's certificate (a private CA); default: the system's CAs.",
      }),
    ),
    insecure_skip_verify: bool({
      default: false,
      doc: 'Accept any server certificate. For tests only: it lets anyone on the path read the mail and the password.',
    }),
    username: optional(str({ nonEmpty: true, doc: 'SMTP AUTH user (PLAIN or LOGIN, after TLS); no AUTH without it.' })),
    password: optional(str({ doc: 'SMTP AUTH password.' })),
    from: address('Sender, e.g. `Vigil <vigil@example.com>`.'),
    to: list(address(), { minItems: 1, doc: 'Recipients.' }),
    cc: list(address(), { default: [], doc: 'Copy recipients.' }),
    message_id_domain: optional(
      str({
        pattern: /^[A-Za-z0-9.-]+$/,
        patternHint: 'a domain name',
        doc: 'Right-hand side of the Message-IDs Vigil makes; default: the domain of `from`.',
      }),
    ),
    ...incidentExporterFields({ title: DEFAULT_EMAIL_SUBJECT, description: DEFAULT_DESCRIPTION }),
    html: template({
      default: DEFAULT_EMAIL_HTML,
      doc: 'HTML body template (values are HTML-escaped); the text body is `description`.',
    }),
  }),
  (c) =>
    c.password !== undefined && !c.username ? { path: 'username', message: 'is required with password' } : undefined,
  '`password` needs `username`.',
);

export type EmailExporterConfig = Infer<typeof emailExporterSchema>;
