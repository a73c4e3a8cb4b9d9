import { Counter, Registry } from 'prom-client';
import { DeliveryError, realTimers, type Timers } from '../tickets/delivery.ts';
import { credentialsFailure, httpFailure, redact, send, type HttpResult } from '../tickets/http.ts';
import type { Notice } from '../tickets/incidentExporter.ts';
import { MessageDriver } from '../tickets/messageDriver.ts';
import { compileTemplate, type Template } from '../tickets/template.ts';
import type { SmsExporterConfig } from './config.ts';
import { SMS_BODY_SHAPE } from './config.ts';
import { fitSegments, segmentCount } from './segments.ts';

const TWILIO_API = 'https://api.twilio.com';
const DEFAULT_BODY = {
  json: '{"to":"{{to}}","from":"{{from}}","text":"{{message}}"}',
  form: 'to={{to}}&from={{from}}&text={{message}}',
} as const;
const ESCAPE = {
  json: (v: string) => JSON.stringify(v).slice(1, -1),
  form: (v: string) => encodeURIComponent(v),
} as const;

interface SmsMetrics {
  dropped: Counter<'exporter' | 'reason'>;
  truncated: Counter<'exporter'>;
  segments: Counter<'exporter'>;
}

const metricsByRegistry = new WeakMap<Registry, SmsMetrics>();

function smsMetrics(registry: Registry): SmsMetrics {
  let m = metricsByRegistry.get(registry);
  if (m) return m;
  const registers = [registry];
  m = {
    dropped: new Counter({
      name: 'vigil_sms_dropped_total',
      help: 'SMS not sent to a recipient: reason="rate_limited" (over rate_limit) or "rejected" (the provider refused the recipient or the message).',
      labelNames: ['exporter', 'reason'],
      registers,
    }),
    truncated: new Counter({
      name: 'vigil_sms_truncated_total',
      help: 'SMS texts cut to max_segments.',
      labelNames: ['exporter'],
      registers,
    }),
    segments: new Counter({
      name: 'vigil_sms_segments_total',
      help: 'SMS segments sent (what providers bill).',
      labelNames: ['exporter'],
      registers,
    }),
  };
  metricsByRegistry.set(registry, m);
  return m;
}

/** Twilio's error body `{code, message, more_info, status}` as one line; the raw text otherwise. */
function twilioErrorText(res: HttpResult): string {
  try {
    const e = JSON.parse(res.text) as { code?: unknown; message?: unknown; more_info?: unknown };
    if (typeof e.message === 'string')
      return `${e.code ?? ''} ${e.message}${typeof e.more_info === 'string' ? ` (${e.more_info})` : ''}`.trim();
  } catch {
    // not JSON
  }
  return res.text;
}

export interface SmsDriverOptions {
  exporterId: string;
  registry?: Registry;
  timers?: Timers;
}

/**
 * One SMS per change and recipient, through Twilio's Messages API or any HTTP gateway. Nothing
 * to look up or update: like webhooks, the ledger records only that the incident was announced.
 * Each recipient gets at most `rate_limit.messages` per `rate_limit.per`; a recipient the
 * provider refuses is skipped (and counted) so the others still hear of the incident.
 */
export class SmsDriver extends MessageDriver {
  private readonly config: SmsExporterConfig;
  private readonly timers: Timers;
  private readonly exporterId: string;
  private readonly metrics: SmsMetrics;
  private readonly body: Template;
  /** Per recipient: when its recent messages went out (or were reserved), oldest first. */
  private readonly sentAt = new Map<string, number[]>();
  /** Per recipient: messages dropped by the rate limit since the last one that went out. */
  private readonly skipped = new Map<string, number>();
  /** Per change being delivered: the recipients already done with, so a retry does not text them twice. */
  private readonly handled = new Map<string, Set<string>>();

  constructor(config: SmsExporterConfig, opts: SmsDriverOptions) {
    super();
    this.config = config;
    this.timers = opts.timers ?? realTimers;
    this.exporterId = opts.exporterId;
    this.metrics = smsMetrics(opts.registry ?? new Registry());
    this.body = config.body ?? compileTemplate(DEFAULT_BODY[config.content_type], SMS_BODY_SHAPE);
  }

  protected async deliver(n: Notice): Promise<void> {
    const handled = this.handled.get(n.id) ?? new Set<string>();
    this.handled.set(n.id, handled);
    const refusals: string[] = [];
    for (const to of this.config.to) {
      if (handled.has(to)) continue;
      if (!this.reserve(to)) {
        this.skipped.set(to, (this.skipped.get(to) ?? 0) + 1);
        this.metrics.dropped.inc({ exporter: this.exporterId, reason: 'rate_limited' });
        handled.add(to);
        continue;
      }
      const skipped = this.skipped.get(to) ?? 0;
      const fitted = fitSegments((skipped ? `(+${skipped} not sent) ` : '') + n.body.trim(), this.config.max_segments);
      try {
        await this.sendOne(to, fitted.text, n);
      } catch (err) {
        this.unreserve(to);
        if (!(err instanceof DeliveryError) || err.retryable) throw err;
        refusals.push(`${to}: ${err.message}`);
        this.metrics.dropped.inc({ exporter: this.exporterId, reason: 'rejected' });
        handled.add(to);
        continue;
      }
      this.skipped.delete(to);
      if (fitted.truncated) this.metrics.truncated.inc({ exporter: this.exporterId });
      this.metrics.segments.inc({ exporter: this.exporterId }, segmentCount(fitted.text));
      handled.add(to);
    }
    this.handled.delete(n.id);
    // One refused number must not hold the incident's later messages back; all refused is a config to fix.
    if (refusals.length === this.config.to.length)
      throw new DeliveryError(`every recipient refused: ${refusals.join('; ')}`, { retryable: false });
  }

  /** Takes a slot of the recipient's window, or says the window is full. */
  private reserve(to: string): boolean {
    const now = this.timers.now();
    const recent = (this.sentAt.get(to) ?? []).filter((t) => t > now - this.config.rate_limit.per);
    if (recent.length >= this.config.rate_limit.messages) {
      this.sentAt.set(to, recent);
      return false;
    }
    recent.push(now);
    this.sentAt.set(to, recent);
    return true;
  }

  private unreserve(to: string): void {
    this.sentAt.get(to)?.pop();
  }

  private async sendOne(to: string, message: string, n: Notice): Promise<void> {
    // Unique per change and recipient, the same on every retry: gateways that honour it drop repeats.
    const id = `${n.id}-${to.slice(1)}`;
    const c = this.config;
    if (c.provider === 'twilio') {
      const base = (c.url ?? TWILIO_API).replace(/\/+$/, '');
      const form = new URLSearchParams({
        To: to,
        [c.from.startsWith('MG') ? 'MessagingServiceSid' : 'From']: c.from,
        Body: message,
      });
      const res = await send({
        method: 'POST',
        url: `${base}/2010-04-01/Accounts/${c.account_sid}/Messages.json`,
        headers: {
          Authorization: `Basic ${Buffer.from(`${c.account_sid}:${c.auth_token}`).toString('base64')}`,
          'Content-Type': 'application/x-www-form-urlencoded',
          Accept: 'application/json',
        },
        body: form.toString(),
        timeoutMs: c.delivery.timeout,
      });
      if (res.status !== 201 && res.status !== 200)
        throw credentialsFailure(
          httpFailure(`Twilio message to ${to}`, { ...res, text: twilioErrorText(res) }),
          'check account_sid and auth_token',
        );
      return;
    }
    const headers: Record<string, string> = {
      ...c.headers,
      'Content-Type': c.content_type === 'json' ? 'application/json' : 'application/x-www-form-urlencoded',
      'Idempotency-Key': id,
    };
    if (c.username)
      headers.Authorization = `Basic ${Buffer.from(`${c.username}:${c.password ?? ''}`).toString('base64')}`;
    const body = this.body.render({ to, from: c.from, message, id, marker: n.marker }, ESCAPE[c.content_type]);
    const res = await send({ method: c.method, url: c.url!, headers, body, timeoutMs: c.delivery.timeout });
    if (res.status < 200 || res.status >= 300)
      throw credentialsFailure(
        httpFailure(`${c.method} ${redact(c.url!)} (SMS to ${to})`, res),
        'check the gateway credentials',
      );
  }
}
