import { describe, expect, it } from 'vitest';
import { mapAlert } from '../../../src/receivers/alertmanager/mapping.ts';

const NOW_MS = Date.parse('2026-12-03T12:00:00Z');
const NOW = BigInt(NOW_MS) * 1_000_000n;
const iso = (offsetMs: number) => new Date(NOW_MS + offsetMs).toISOString();

/** As Prometheus sends it: endsAt is the end of its validity, a few minutes ahead, while firing. */
const prometheusAlert = {
  labels: { alertname: 'InstanceDown', instance: 'web-1:9100', job: 'node', severity: 'critical', team: 'ops' },
  annotations: { summary: 'web-1 is down', description: 'no scrape for 1 minute' },
  startsAt: iso(-60_000),
  endsAt: iso(240_000),
  generatorURL: 'http://prometheus:9090/graph?g0.expr=up+%3D%3D+0',
};

function mapped(alert: unknown) {
  const m = mapAlert(alert, NOW);
  if (!m.ok) throw new Error(`rejected: ${m.reason}`);
  return m.event;
}

function reason(alert: unknown): string {
  const m = mapAlert(alert, NOW);
  if (m.ok) throw new Error('accepted');
  return m.reason;
}

describe('alertmanager receiver: an alert becomes an event', () => {
  it('maps a firing Prometheus alert to a down event: labels as attributes, alertname, instance, job and severity as fields', () => {
    const ev = mapped(prometheusAlert);
    expect(ev).toMatchObject({
      source: 'alertmanager',
      type: 'down',
      title: 'InstanceDown',
      asset: 'web-1:9100',
      service: 'node',
      severityText: 'critical',
      severityNumber: 18,
      body: 'web-1 is down\nno scrape for 1 minute',
      timeUnixNano: NOW,
    });
    expect(ev.attributes).toEqual({
      alertname: 'InstanceDown',
      instance: 'web-1:9100',
      job: 'node',
      severity: 'critical',
      team: 'ops',
      'annotations.summary': 'web-1 is down',
      'annotations.description': 'no scrape for 1 minute',
      'alert.status': 'firing',
      startsAt: prometheusAlert.startsAt,
      endsAt: prometheusAlert.endsAt,
      generatorURL: prometheusAlert.generatorURL,
    });
  });

  it('is firing without endsAt, and resolved (up) once endsAt has passed', () => {
    expect(mapped({ labels: { alertname: 'A' } })).toMatchObject({
      type: 'down',
      attributes: { 'alert.status': 'firing' },
    });
    const resolved = mapped({ ...prometheusAlert, endsAt: iso(-1000) });
    expect(resolved).toMatchObject({
      type: 'up',
      title: 'InstanceDown',
      asset: 'web-1:9100',
      attributes: { 'alert.status': 'resolved' },
    });
  });

  it("reads Go's zero time as unset, and RFC 3339 offsets and nanoseconds", () => {
    expect(mapped({ labels: { a: 'b' }, startsAt: '0001-01-01T00:00:00Z', endsAt: '0001-01-01T00:00:00Z' }).type).toBe(
      'down',
    );
    expect(mapped({ labels: { a: 'b' }, endsAt: '2026-12-03T12:59:59.999999999+01:00' }).type).toBe('up');
    expect(mapped({ labels: { a: 'b' }, endsAt: '2026-12-03T13:00:00.000000001+01:00' }).type).toBe('down');
  });

  it('takes the summary as title when there is no alertname, and leaves severity unset without a severity label', () => {
    const ev = mapped({ labels: { job: 'x' }, annotations: { summary: 'disk full' } });
    expect(ev).toMatchObject({
      title: 'disk full',
      body: 'disk full',
      severityNumber: 0,
      severityText: '',
      asset: '',
      service: 'x',
    });
  });

  it('never hides a label behind a name it adds', () => {
    expect(mapped({ labels: { 'alert.status': 'mine', startsAt: 'label' } }).attributes).toMatchObject({
      'alert.status': 'mine',
      startsAt: 'label',
    });
  });

  it('keeps label names from the wire as data', () => {
    const ev = mapped(JSON.parse('{"labels":{"__proto__":"x","alertname":"A"}}'));
    expect(Object.getPrototypeOf(ev.attributes)).toBe(Object.prototype);
    expect(Object.keys(ev.attributes)).toContain('__proto__');
  });

  it('rejects what Alertmanager rejects, saying why', () => {
    expect(reason({ annotations: {} })).toBe('labels is required');
    expect(reason({ labels: {} })).toBe('at least one label pair required');
    expect(reason({ labels: { a: 1 } })).toBe('labels.a must be a string, got number');
    expect(reason({ labels: ['a'] })).toBe('labels must be an object of strings');
    expect(reason({ labels: { '': 'x' } })).toBe('labels: a name must not be empty');
    expect(reason({ labels: { a: 'b' }, annotations: { s: null } })).toBe('annotations.s must be a string, got null');
    expect(reason({ labels: { a: 'b' }, startsAt: 'yesterday' })).toBe(
      'startsAt is not an RFC 3339 date-time: "yesterday"',
    );
    expect(reason({ labels: { a: 'b' }, endsAt: 17 })).toBe('endsAt must be an RFC 3339 date-time string');
    expect(reason({ labels: { a: 'b' }, startsAt: iso(0), endsAt: iso(-1) })).toBe(
      'start time must be before end time (startsAt is after endsAt)',
    );
    expect(reason({ labels: { a: 'b' }, generatorURL: 5 })).toBe('generatorURL must be a string');
    expect(reason('InstanceDown')).toBe('an alert must be a JSON object, got string');
    expect(reason(null)).toBe('an alert must be a JSON object, got null');
  });
});
