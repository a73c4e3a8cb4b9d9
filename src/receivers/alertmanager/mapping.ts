import { setAttr } from '../../model/attributes.ts';
import { newEvent, type VigilEvent } from '../../model/event.ts';
import { severityFromText } from '../../model/severity.ts';
import { parseIsoNs } from '../../model/timestamp.ts';

export interface MappedAlert {
  ok: true;
  event: VigilEvent;
}
export interface RejectedAlert {
  ok: false;
  reason: string;
}

/** The `labelSet` of Alertmanager's API: an object of strings. Returns a reason when it is not one. */
function checkLabelSet(v: unknown, field: string): string | undefined {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return `${field} must be an object of strings`;
  for (const [name, value] of Object.entries(v as Record<string, unknown>)) {
    if (name === '') return `${field}: a name must not be empty`;
    if (typeof value !== 'string')
      return `${field}.${name} must be a string, got ${value === null ? 'null' : Array.isArray(value) ? 'an array' : typeof value}`;
  }
  return undefined;
}

/**
 * An RFC 3339 time of the alert, in ns; `null` when unset. Go's zero time
 * (`0001-01-01T00:00:00Z`, what Go senders write for an unset time.Time) and any time before
 * 1970 count as unset, as Alertmanager reads a zero time as "not given".
 */
function alertTime(v: unknown, field: string): bigint | null | string {
  if (v === undefined || v === null) return null;
  if (typeof v !== 'string') return `${field} must be an RFC 3339 date-time string`;
  const ns = parseIsoNs(v);
  if (ns === undefined)
    return `${field} is not an RFC 3339 date-time: ${JSON.stringify(v.length > 64 ? `${v.slice(0, 64)}…` : v)}`;
  return ns <= 0n ? null : ns;
}

/**
 * Turns one `postableAlert` of Alertmanager's API v2 into an event. An alert is a state that
 * its sender re-sends until it changes, not an occurrence: firing (no `endsAt`, or one still
 * ahead of `nowNs`) is a `down` event, resolved (`endsAt` passed) an `up`. The event is dated
 * when Vigil received it, so a re-send after a restart of Vigil still counts instead of being
 * too late for correlation; `startsAt` and `endsAt` are kept as attributes.
 *
 * Labels become attributes under their own names; annotations become `annotations.<name>`.
 * `alertname` gives the title, `instance` the asset, `job` the service, `severity` the
 * severity (a word such as critical or warning); the `summary` and `description` annotations
 * give the body. The extract and tag processors override any of these.
 */
export function mapAlert(input: unknown, nowNs: bigint): MappedAlert | RejectedAlert {
  if (input === null || typeof input !== 'object' || Array.isArray(input)) {
    return {
      ok: false,
      reason: `an alert must be a JSON object, got ${input === null ? 'null' : Array.isArray(input) ? 'an array' : typeof input}`,
    };
  }
  const alert = input as Record<string, unknown>;
  if (alert.labels === undefined) return { ok: false, reason: 'labels is required' };
  const badLabels = checkLabelSet(alert.labels, 'labels');
  if (badLabels) return { ok: false, reason: badLabels };
  const labels = alert.labels as Record<string, string>;
  const names = Object.keys(labels);
  if (names.length === 0) return { ok: false, reason: 'at least one label pair required' };
  if (alert.annotations !== undefined && alert.annotations !== null) {
    const bad = checkLabelSet(alert.annotations, 'annotations');
    if (bad) return { ok: false, reason: bad };
  }
  const annotations = (alert.annotations ?? {}) as Record<string, string>;
  if (alert.generatorURL !== undefined && alert.generatorURL !== null && typeof alert.generatorURL !== 'string') {
    return { ok: false, reason: 'generatorURL must be a string' };
  }
  const startsAt = alertTime(alert.startsAt, 'startsAt');
  if (typeof startsAt === 'string') return { ok: false, reason: startsAt };
  const endsAt = alertTime(alert.endsAt, 'endsAt');
  if (typeof endsAt === 'string') return { ok: false, reason: endsAt };
  if (startsAt !== null && endsAt !== null && endsAt < startsAt)
    return { ok: false, reason: 'start time must be before end time (startsAt is after endsAt)' };

  const firing = endsAt === null || endsAt > nowNs;
  const ev = newEvent({
    source: 'alertmanager',
    timeUnixNano: nowNs,
    observedTimeUnixNano: nowNs,
    type: firing ? 'down' : 'up',
  });
  const attrs = ev.attributes;
  attrs['alert.status'] = firing ? 'firing' : 'resolved';
  if (startsAt !== null) attrs.startsAt = new Date(Number(startsAt / 1_000_000n)).toISOString();
  if (endsAt !== null) attrs.endsAt = new Date(Number(endsAt / 1_000_000n)).toISOString();
  if (typeof alert.generatorURL === 'string' && alert.generatorURL !== '') attrs.generatorURL = alert.generatorURL;
  for (const name of Object.keys(annotations)) setAttr(attrs, `annotations.${name}`, annotations[name]!);
  // Set last, so a label is never hidden by a name Vigil adds.
  for (const name of names) setAttr(attrs, name, labels[name]!);

  ev.title = labels.alertname ?? '';
  ev.asset = labels.instance ?? '';
  ev.service = labels.job ?? '';
  const severity = labels.severity;
  if (severity !== undefined) {
    ev.severityText = severity;
    ev.severityNumber = severityFromText(severity);
  }
  const summary = annotations.summary;
  const description = annotations.description;
  ev.body =
    summary !== undefined && description !== undefined
      ? `${summary}\n${description}`
      : (summary ?? description ?? ev.title);
  if (ev.title === '') ev.title = summary ?? '';
  return { ok: true, event: ev };
}
