import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import nodemailer, { type Transporter } from 'nodemailer';
import type SMTPTransport from 'nodemailer/lib/smtp-transport/index.js';
import { DeliveryError } from '../tickets/delivery.ts';
import { templateContext, type Notice, type TicketDriver } from '../tickets/incidentExporter.ts';
import { escapeHtml } from '../tickets/template.ts';
import type { EmailExporterConfig } from './config.ts';

const DEFAULT_PORT = { starttls: 587, implicit: 465, none: 25 } as const;

/** What nodemailer puts on its errors: its own `code`, and the SMTP reply when the server answered. */
interface SmtpError extends Error {
  code?: string;
  responseCode?: number;
  response?: string;
}

/**
 * Whether a failed send can succeed later. SMTP says so itself: 4xx replies are transient, 5xx
 * permanent (RFC 5321 §4.2.1), except refused credentials (530, 534, 535, 538), which an
 * operator fixes like a revoked API token. No reply at all (refused, DNS, TLS, timeout) is an
 * outage: retried.
 */
export function smtpFailure(err: unknown, server: string): DeliveryError {
  const e = err as SmtpError;
  const reply = e.response ? ` (server said: ${e.response.slice(0, 200)})` : '';
  if (e.code === 'EAUTH' || (e.responseCode !== undefined && [530, 534, 535, 538].includes(e.responseCode))) {
    return new DeliveryError(`SMTP ${server}: authentication failed${reply} (check username and password)`, {
      retryable: true,
      cause: err,
    });
  }
  if (e.responseCode !== undefined && e.responseCode >= 500) {
    return new DeliveryError(`SMTP ${server} refused the message: ${e.message}${reply}`, {
      retryable: false,
      cause: err,
    });
  }
  const hint =
    e.code === 'ETLS' || /certificate|self.signed|tls|ssl/i.test(e.message)
      ? ' (check tls, ca_file, and that the server offers STARTTLS)'
      : '';
  return new DeliveryError(`SMTP ${server}: ${e.message}${hint}`, { retryable: true, cause: err });
}

function domainOf(from: string): string {
  const m = /@([^>\s]+)>?\s*$/.exec(from);
  return m ? m[1]! : 'vigil.invalid';
}

/**
 * One mail per change, threaded per incident: the first mail's Message-ID is the "ticket", and
 * every later mail names it in In-Reply-To and References, so mail clients show one
 * conversation per incident. Message-IDs come from the incident and the change, so a retry sends
 * the same one again (clients and Mailpit show such a repeat as the same message).
 */
export class EmailDriver implements TicketDriver {
  private readonly config: EmailExporterConfig;
  private readonly transport: Transporter<SMTPTransport.SentMessageInfo>;
  private readonly domain: string;
  private readonly server: string;

  constructor(config: EmailExporterConfig) {
    this.config = config;
    const port = config.port ?? DEFAULT_PORT[config.tls];
    this.server = `${config.host}:${port}`;
    this.domain = config.message_id_domain ?? domainOf(config.from);
    this.transport = nodemailer.createTransport({
      host: config.host,
      port,
      secure: config.tls === 'implicit',
      requireTLS: config.tls === 'starttls',
      ignoreTLS: config.tls === 'none',
      auth: config.username ? { user: config.username, pass: config.password ?? '' } : undefined,
      tls: {
        ca: config.ca_file ? readFileSync(config.ca_file) : undefined,
        rejectUnauthorized: !config.insecure_skip_verify,
      },
      connectionTimeout: config.delivery.timeout,
      greetingTimeout: config.delivery.timeout,
      socketTimeout: config.delivery.timeout,
    });
  }

  /** The thread root of one occurrence of an incident: the same on every attempt and every instance. */
  rootMessageId(n: Notice): string {
    const occurrence = createHash('sha256').update(n.change.incident.id).digest('hex').slice(0, 12);
    return `<${n.marker}.${occurrence}@${this.domain}>`;
  }

  async find(): Promise<undefined> {
    // A mailbox cannot be searched; a first mail sent again after a lost ledger record keeps its Message-ID.
    return undefined;
  }

  async create(n: Notice): Promise<string> {
    const id = this.rootMessageId(n);
    await this.send(n, id);
    return id;
  }

  update = (ref: string, n: Notice): Promise<void> => this.send(n, `<${n.id}@${this.domain}>`, ref);
  resolve = (ref: string, n: Notice): Promise<void> => this.send(n, `<${n.id}@${this.domain}>`, ref);
  reopen = (ref: string, n: Notice): Promise<void> => this.send(n, `<${n.id}@${this.domain}>`, ref);

  private async send(n: Notice, messageId: string, root?: string): Promise<void> {
    const c = this.config;
    try {
      await this.transport.sendMail({
        from: c.from,
        to: c.to,
        cc: c.cc.length ? c.cc : undefined,
        subject: n.title,
        text: n.body,
        html: c.html.render(templateContext(n.change, n.marker, n.group), escapeHtml),
        messageId,
        inReplyTo: root,
        references: root ? [root] : undefined,
        headers: { 'X-Vigil-Incident': n.marker, 'Auto-Submitted': 'auto-generated' },
      });
    } catch (err) {
      throw smtpFailure(err, this.server);
    }
  }

  async close(): Promise<void> {
    this.transport.close();
  }
}
