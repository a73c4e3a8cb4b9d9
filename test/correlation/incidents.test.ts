import { describe, expect, it } from 'vitest';
import { incidentId } from '../../src/correlation/incidentBook.ts';
import { formatIncidentKey, parseIncidentKey } from '../../src/correlation/fieldPath.ts';
import { brief, engineFrom, ev, Timeline } from '../support/correlation.ts';

const rules = (defaults: string) => `
defaults: { allowed_lateness: 1m, ${defaults} }
rules:
  - { kind: pair, name: link, group_by: [asset] }
`;
const down = (t: number, sev = 13, text = 'WARN') => ev(t, { asset: 'sw-1', type: 'down', severityNumber: sev, severityText: text });
const up = (t: number) => ev(t, { asset: 'sw-1', type: 'up' });

describe('incident notifications', () => {
  it('holds the first notification for group_wait, batches updates by group_interval, repeats by repeat_interval', () => {
    const tl = new Timeline(engineFrom(rules('group_wait: 30s, group_interval: 5m, repeat_interval: 1h')));
    tl.send([down(0)]);
    expect(tl.changes.map((c) => [c.kind, c.notify, c.reason])).toEqual([['opened', false, 'down event; first notification after group_wait 30s']]);
    tl.send([down(10_000), down(20_000)]);
    tl.advance(30_000);
    expect(tl.changes.slice(1).map((c) => [c.kind, c.notify, c.atMs, c.reason])).toEqual([['opened', true, 30_000, 'group_wait 30s elapsed: first notification (3 event(s))']]);
    // Updates within group_interval wait for it, then go out together.
    tl.send([down(60_000), down(120_000)]);
    tl.advance(329_000);
    expect(tl.changes).toHaveLength(2);
    tl.advance(330_000);
    expect(tl.changes.slice(2).map((c) => [c.kind, c.notify, c.reason])).toEqual([['updated', true, 'group_interval 5m: 2 new event(s), 5 in all']]);
    // Nothing new: the next notification is the repeat, an hour after the last one.
    tl.advance(330_000 + 3_600_000);
    expect(tl.changes.slice(3).map((c) => [c.kind, c.atMs, c.reason])).toEqual([['updated', 3_930_000, 'repeat_interval 1h: still open']]);
    tl.send([up(4_000_000)]);
    expect(tl.changes.at(-1)).toMatchObject({ kind: 'resolved', notify: true });
    expect(tl.changes.at(-1)!.incident.audit.map((a) => a.kind)).toEqual(['opened', 'opened', 'updated', 'updated', 'resolved']);
  });

  it('resolves an incident never notified (within group_wait) without notifying', () => {
    const tl = new Timeline(engineFrom(rules('group_wait: 30s')));
    tl.send([down(0)]);
    tl.send([up(5000)]);
    tl.advance(60_000);
    expect(tl.changes.map((c) => [c.kind, c.notify, c.reason])).toEqual([
      ['opened', false, 'down event; first notification after group_wait 30s'],
      ['resolved', false, 'up event (never notified)'],
    ]);
  });

  it('escalates at once on a higher severity and keeps the highest', () => {
    const tl = new Timeline(engineFrom(rules('group_wait: 0s')));
    tl.send([down(0)]);
    tl.send([down(1000, 21, 'FATAL')]);
    tl.send([down(2000, 9, 'INFO')]);
    expect(tl.changes.map((c) => `${c.kind} ${c.incident.severityText}`)).toEqual(['opened WARN', 'escalated FATAL']);
    expect(tl.changes[1]!.reason).toBe('severity raised to FATAL (21)');
    expect(tl.engine.book.get('link{asset="sw-1"}')!.incident.severityNumber).toBe(21);
  });

  it('keeps a bounded sample of event ids, oldest first', () => {
    const tl = new Timeline(engineFrom(rules('group_wait: 0s, sample_size: 3')));
    const events = [down(0), down(1), down(2), down(3), down(4)];
    for (const e of events) tl.send([e]);
    const inc = tl.engine.book.get('link{asset="sw-1"}')!.incident;
    expect(inc.sampleEventIds).toEqual(events.slice(0, 3).map((e) => e.id));
    expect(inc.eventCount).toBe(5);
  });

  it('derives the id from the key and the opening time, so two agents agree', () => {
    const a = new Timeline(engineFrom(rules('group_wait: 0s')));
    const b = new Timeline(engineFrom(rules('group_wait: 0s')));
    a.send([down(5000)]);
    b.send([down(5000)], 6000);
    expect(a.changes[0]!.incident.id).toBe(b.changes[0]!.incident.id);
    expect(a.changes[0]!.incident.id).toBe(incidentId('link{asset="sw-1"}', 5000));
  });
});

describe('incident keys', () => {
  it('print labels sorted and escaped, and parse back', () => {
    const labels = { service: 'api "v2"', asset: 'web\\1\nb' };
    const key = formatIncidentKey('errors', labels);
    expect(key).toBe('errors{asset="web\\\\1\\nb",service="api \\"v2\\""}');
    expect(parseIncidentKey(key)).toEqual({ rule: 'errors', labels });
    expect(parseIncidentKey('errors{}')).toEqual({ rule: 'errors', labels: {} });
    expect(parseIncidentKey('errors{a="1"')).toBeUndefined();
  });

  it('are the same whatever the order of group_by', () => {
    const yaml = (order: string) => `
defaults: { group_wait: 0s }
rules:
  - { kind: pair, name: link, group_by: [${order}] }
`;
    const e = ev(0, { asset: 'a', service: 's', type: 'down' });
    const one = new Timeline(engineFrom(yaml('asset, service'))).send([e]);
    const two = new Timeline(engineFrom(yaml('service, asset'))).send([e]);
    expect(brief(one)).toEqual(brief(two));
    expect(brief(one)).toEqual(['opened! link{asset="a",service="s"}']);
  });
});
