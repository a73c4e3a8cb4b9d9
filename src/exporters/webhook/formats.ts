import { severityName } from '../../model/severity.ts';
import type { Notice, NoticeGroup } from '../tickets/incidentExporter.ts';
import { alertLabels } from '../tickets/notificationGroups.ts';
import type { Incident } from '../../model/incident.ts';

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
      ...(n.group ? { group: jsonGroup(n.group) } : {}),
    },
  };
}

/** A grouped notification's group in Vigil's JSON: its key, labels and every member with its status. */
function jsonGroup(g: NoticeGroup): object {
  return {
    key: g.key,
    labels: g.labels,
    members: g.members.map((m) => ({
      status: m.firing ? 'firing' : 'resolved',
      change: m.kind,
      title: m.title,
      marker: m.marker,
      incident: m.incident,
    })),
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

interface AmAlert {
  status: 'firing' | 'resolved';
  labels: Record<string, string>;
  annotations: Record<string, string>;
  startsAt: string;
  endsAt: string;
  generatorURL: string;
  fingerprint: string;
}

/** One incident as an Alertmanager alert, resolved with its end time. */
function amAlert(
  inc: Incident,
  resolvedAtMs: number | undefined,
  text: { title: string; body: string; kind: string },
  externalUrl: string,
): AmAlert {
  const labels = alertLabels(inc);
  return {
    status: resolvedAtMs === undefined ? 'firing' : 'resolved',
    labels,
    annotations: {
      summary: text.title,
      description: text.body,
      vigil_incident_key: inc.key,
      vigil_change: text.kind,
    },
    startsAt: iso(inc.openedAtMs),
    // Alertmanager's zero time while an alert fires.
    endsAt: resolvedAtMs === undefined ? '0001-01-01T00:00:00Z' : iso(resolvedAtMs),
    generatorURL: externalUrl,
    fingerprint: fingerprint(labels),
  };
}

/** The pairs every map has alike, as Alertmanager's `commonLabels` and `commonAnnotations`. */
function commonPairs(maps: Record<string, string>[]): Record<string, string> {
  const out: Record<string, string> = { ...maps[0] };
  for (const m of maps.slice(1)) for (const k of Object.keys(out)) if (m[k] !== out[k]) delete out[k];
  return out;
}

/**
 * The Alertmanager webhook payload (version 4). An incident's change: one alert, in a group of
 * its own. A group's (a route's `group_by`): every member as an alert with its status, the
 * group's key and labels, and the labels and annotations all members share.
 */
export function alertmanagerPayload(n: Notice, opts: { receiver: string; externalUrl: string }): object {
  const inc = n.change.incident;
  const alerts = n.group
    ? n.group.members.map((m) =>
        amAlert(m.incident, m.firing ? undefined : m.incident.resolvedAtMs || n.change.atMs, m, opts.externalUrl),
      )
    : [
        amAlert(
          inc,
          n.change.kind === 'resolved' ? inc.resolvedAtMs || n.change.atMs : undefined,
          { title: n.title, body: n.body, kind: n.change.kind },
          opts.externalUrl,
        ),
      ];
  return {
    version: '4',
    groupKey: n.group ? n.group.key : `{}:${inc.key}`,
    truncatedAlerts: 0,
    status: alerts.some((a) => a.status === 'firing') ? 'firing' : 'resolved',
    receiver: opts.receiver,
    groupLabels: n.group ? n.group.labels : { alertname: inc.rule },
    commonLabels: commonPairs(alerts.map((a) => a.labels)),
    commonAnnotations: commonPairs(alerts.map((a) => a.annotations)),
    externalURL: opts.externalUrl,
    alerts,
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
