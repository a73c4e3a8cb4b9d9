import { severityName } from '../../model/severity.ts';
import type { Notice } from '../tickets/incidentExporter.ts';

export type WebhookFormat = 'json' | 'slack' | 'alertmanager' | 'pagerduty';

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

/** Vigil's own JSON shape, in the Standard Webhooks `{type, timestamp, data}` envelope. */
export function jsonPayload(n: Notice): object {
  const { change } = n;
  return {
    type: `incident.${change.kind}`,
    timestamp: iso(change.atMs),
    data: {
      title: n.title,
      body: n.body,
      marker: n.marker,
      change: {
        kind: change.kind,
        reason: change.reason,
        atMs: change.atMs,
        eventIds: change.eventIds,
        ...(change.actor === undefined ? {} : { actor: change.actor }),
      },
      incident: change.incident,
    },
  };
}

/** Slack's text fields cap: a header at 150 characters, a section at 3000. */
function cap(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

/** An incoming-webhook message: `text` is the notification fallback, blocks are what people see. */
export function slackPayload(n: Notice): object {
  const { change } = n;
  const state = change.kind === 'resolved' ? 'RESOLVED' : change.kind === 'opened' ? 'OPEN' : change.kind.toUpperCase();
  // `text` and the context are mrkdwn: a title like "<!channel>" or "<https://x|y>" would ping
  // everyone or hide a link, so values there are escaped (the body is escaped as it is rendered).
  const inc = change.incident;
  return {
    text: cap(`[${state}] ${escapeMrkdwn(n.title)}`, 3000),
    blocks: [
      { type: 'header', text: { type: 'plain_text', text: cap(`[${state}] ${n.title}`, 150) } },
      { type: 'section', text: { type: 'mrkdwn', text: cap(n.body || escapeMrkdwn(n.title), 3000) } },
      {
        type: 'context',
        elements: [
          { type: 'mrkdwn', text: cap(escapeMrkdwn(`${inc.severityText} · ${inc.rule} · ${n.marker}`), 3000) },
        ],
      },
    ],
  };
}

export function escapeMrkdwn(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** Alertmanager's label-set fingerprint: 64-bit FNV-1a over sorted name/value pairs, 0xff separated. */
export function fingerprint(labels: Record<string, string>): string {
  let h = 0xcbf29ce484222325n;
  const add = (b: number) => {
    h ^= BigInt(b);
    h = (h * 0x100000001b3n) & 0xffffffffffffffffn;
  };
  for (const name of Object.keys(labels).sort()) {
    for (const b of Buffer.from(name)) add(b);
    add(0xff);
    for (const b of Buffer.from(labels[name]!)) add(b);
    add(0xff);
  }
  return h.toString(16).padStart(16, '0');
}

/** The Alertmanager webhook payload (version 4): one alert per incident, resolved with its end time. */
export function alertmanagerPayload(n: Notice, opts: { receiver: string; externalUrl: string }): object {
  const inc = n.change.incident;
  const resolved = n.change.kind === 'resolved';
  const labels: Record<string, string> = {
    ...inc.labels,
    alertname: inc.rule,
    severity: (inc.severityText || 'unknown').toLowerCase(),
  };
  if (inc.service) labels.service = inc.service;
  if (inc.tenant) labels.tenant = inc.tenant;
  const annotations = {
    summary: n.title,
    description: n.body,
    vigil_incident_key: inc.key,
    vigil_change: n.change.kind,
  };
  const status = resolved ? 'resolved' : 'firing';
  return {
    version: '4',
    groupKey: `{}:${inc.key}`,
    truncatedAlerts: 0,
    status,
    receiver: opts.receiver,
    groupLabels: { alertname: inc.rule },
    commonLabels: labels,
    commonAnnotations: annotations,
    externalURL: opts.externalUrl,
    alerts: [
      {
        status,
        labels,
        annotations,
        startsAt: iso(inc.openedAtMs),
        // Alertmanager's zero time while an alert fires.
        endsAt: resolved ? iso(inc.resolvedAtMs || n.change.atMs) : '0001-01-01T00:00:00Z',
        generatorURL: opts.externalUrl,
        fingerprint: fingerprint(labels),
      },
    ],
  };
}

/** The severities PagerDuty's Events API v2 takes. */
const PD_SEVERITIES = new Set(['critical', 'error', 'warning', 'info']);
/** OpenTelemetry's severity names, as PagerDuty's. */
const OTEL_TO_PD: Record<string, string> = { fatal: 'critical', warn: 'warning', debug: 'info', trace: 'info' };

/**
 * PagerDuty's `severity` as Alertmanager's PagerDuty integration gives it: the alert's
 * `severity` label (the incident's label, or else its severity text), one of critical, error,
 * warning, info; Alertmanager's default, error, for any other value. OpenTelemetry's names
 * (FATAL, WARN, DEBUG, TRACE) count as the PagerDuty severity they mean.
 */
export function pagerDutySeverity(inc: Notice['change']['incident']): string {
  const label = (inc.labels.severity || inc.severityText || severityName(inc.severityNumber)).trim().toLowerCase();
  const name = OTEL_TO_PD[label.replace(/\d+$/, '')] ?? label.replace(/\d+$/, '');
  return PD_SEVERITIES.has(name) ? name : 'error';
}

/**
 * A PagerDuty Events API v2 event: trigger (open and every update, which refreshes the alert),
 * acknowledge, or resolve, all on one `dedup_key` so the incident stays one PagerDuty alert.
 */
export function pagerDutyPayload(n: Notice, opts: { routingKey: string; externalUrl: string }): object {
  const { change } = n;
  const inc = change.incident;
  const action = change.kind === 'resolved' ? 'resolve' : change.kind === 'acknowledged' ? 'acknowledge' : 'trigger';
  const event: Record<string, unknown> = { routing_key: opts.routingKey, event_action: action, dedup_key: n.marker };
  if (action === 'trigger') {
    event.payload = {
      summary: n.title.slice(0, 1024),
      source: inc.asset || inc.service || 'vigil',
      severity: pagerDutySeverity(inc),
      timestamp: iso(change.atMs),
      component: inc.service || undefined,
      group: inc.tenant || undefined,
      class: inc.rule,
      custom_details: {
        incident_key: inc.key,
        change: change.kind,
        reason: change.reason,
        labels: inc.labels,
        events: inc.eventCount,
        details: n.body,
      },
    };
    event.client = 'Vigil';
    if (opts.externalUrl) event.client_url = opts.externalUrl;
  }
  return event;
}
