import { describe, expect, it } from 'vitest';
import { incidentId } from '../../src/correlation/incidentBook.ts';
import { formatIncidentKey, parseIncidentKey } from '../../src/correlation/fieldPath.ts';
import type { IncidentChange } from '../../src/model/incident.ts';
import { brief, engineFrom, ev, Timeline } from '../support/correlation.ts';

const rules = (defaults: string) => `
defaults: { allowed_lateness: 1m, ${defaults} }
rules:
  - { kind: pair, name: link, group_by: [asset] }
`;
const down = (t: number, sev = 13, text = 'WARN') =>
  ev(t, { asset: 'sw-1', type: 'down', severityNumber: sev, severityText: text });
const up = (t: number) => ev(t, { asset: 'sw-1', type: 'up' });

describe('incident notifications', () => {
  it('holds the first notification for group_wait, batches updates by group_interval, repeats by repeat_interval', () => {
    const tl = new Timeline(engineFrom(rules('group_wait: 30s, group_interval: 5m, repeat_interval: 1h')));
    tl.send([down(0)]);
    expect(tl.changes.map((c) => [c.kind, c.notify, c.reason])).toEqual([
      ['opened', false, 'down event; first notification after group_wait 30s'],
    ]);
    tl.send([down(10_000), down(20_000)]);
    tl.advance(30_000);
    expect(tl.changes.slice(1).map((c) => [c.kind, c.notify, c.atMs, c.reason])).toEqual([
      ['opened', true, 30_000, 'group_wait 30s elapsed: first notification (3 event(s))'],
    ]);
    // Updates within group_interval wait for it, then go out together.
    tl.send([down(60_000), down(120_000)]);
    tl.advance(329_000);
    expect(tl.changes).toHaveLength(2);
    tl.advance(330_000);
    expect(tl.changes.slice(2).map((c) => [c.kind, c.notify, c.reason])).toEqual([
      ['updated', true, 'group_interval 5m: 2 new event(s), 5 in all'],
    ]);
    // Nothing new: the next notification is the repeat, an hour after the last one.
    tl.advance(330_000 + 3_600_000);
    expect(tl.changes.slice(3).map((c) => [c.kind, c.atMs, c.reason])).toEqual([
      ['updated', 3_930_000, 'repeat_interval 1h: still open'],
    ]);
    // A resolve within group_interval of the repeat waits for it, in case it reopens.
    tl.send([up(4_000_000)]);
    expect(tl.changes.at(-1)).toMatchObject({ kind: 'resolved', notify: false });
    tl.advance(4_230_000);
    expect(tl.changes.at(-1)).toMatchObject({ kind: 'resolved', notify: true, atMs: 4_230_000 });
    expect(tl.changes.at(-1)!.incident.audit.map((a) => a.kind)).toEqual([
      'opened',
      'opened',
      'updated',
      'updated',
      'resolved',
      'resolved',
    ]);
  });

  it('coalesces a flapping incident: resolves within group_interval of the last notification wait, and a reopen cancels them', () => {
    const tl = new Timeline(engineFrom(rules('group_wait: 0s, group_interval: 1m, reopen_window: 5m')));
    for (let t = 0; t < 60_000; t += 20_000) tl.send([down(t), up(t + 10_000)]);
    tl.advance(59_000);
    // Six transitions in a minute: one notification, as the receiver never saw it recover.
    expect(tl.changes.filter((c) => c.notify).map((c) => [c.kind, c.atMs])).toEqual([['opened', 0]]);
    expect(tl.changes.map((c) => [c.kind, c.atMs, c.reason])).toEqual([
      ['opened', 0, 'down event'],
      [
        'resolved',
        10_000,
        'up event; notification held until group_interval 1m after the last one, in case it reopens',
      ],
      ['reopened', 20_000, 'down event; reopened within reopen_window 5m, before its resolution was notified'],
      [
        'resolved',
        30_000,
        'up event; notification held until group_interval 1m after the last one, in case it reopens',
      ],
      ['reopened', 40_000, 'down event; reopened within reopen_window 5m, before its resolution was notified'],
      [
        'resolved',
        50_000,
        'up event; notification held until group_interval 1m after the last one, in case it reopens',
      ],
    ]);
    // It stayed up: the resolution goes out once group_interval has passed, and only once.
    tl.advance(60_000);
    expect(tl.changes.slice(6).map((c) => [c.kind, c.notify, c.atMs, c.reason])).toEqual([
      ['resolved', true, 60_000, 'did not reopen: its held resolution is told (resolved at 1970-01-01T00:00:50.000Z)'],
    ]);
    tl.advance(600_000);
    expect(tl.changes).toHaveLength(7);
    const inc = tl.changes.at(-1)!.incident;
    expect(inc.audit.map((a) => a.kind)).toEqual([
      'opened',
      'resolved',
      'reopened',
      'resolved',
      'reopened',
      'resolved',
      'resolved',
    ]);
    expect(inc).toMatchObject({ status: 'resolved', resolvedAtMs: 50_000 });
  });

  it('notifies the final state of a flap that ends down once, and a resolve after a quiet group_interval at once', () => {
    const tl = new Timeline(engineFrom(rules('group_wait: 0s, group_interval: 1m, reopen_window: 5m')));
    tl.send([down(0)]);
    tl.send([up(10_000)]);
    tl.send([down(20_000)]);
    tl.advance(600_000);
    // The receiver was told it is open and it is open: nothing more to say until repeat_interval.
    expect(tl.changes.filter((c) => c.notify).map((c) => [c.kind, c.atMs])).toEqual([['opened', 0]]);
    tl.send([up(700_000)]);
    expect(brief(tl.changes.slice(-1))).toEqual(['resolved! link{asset="sw-1"}']);
    // Told it resolved, a reopen is news at once; the next resolve waits for group_interval again.
    tl.send([down(710_000)]);
    tl.send([up(720_000)]);
    tl.advance(800_000);
    expect(tl.changes.slice(-3).map((c) => [c.kind, c.notify, c.atMs])).toEqual([
      ['reopened', true, 710_000],
      ['resolved', false, 720_000],
      ['resolved', true, 770_000],
    ]);
  });

  it('notifies a resolve at once when the rule cannot reopen (reopen_window: 0s)', () => {
    const tl = new Timeline(engineFrom(rules('group_wait: 0s, group_interval: 1m, reopen_window: 0s')));
    tl.send([down(0)]);
    tl.send([up(10_000)]);
    expect(brief(tl.changes)).toEqual(['opened! link{asset="sw-1"}', 'resolved! link{asset="sw-1"}']);
  });

  it('holds a resolve only until reopen_window has passed when that comes before group_interval', () => {
    const tl = new Timeline(engineFrom(rules('group_wait: 0s, group_interval: 5m, reopen_window: 30s')));
    tl.send([down(0)]);
    tl.send([up(10_000)]);
    tl.advance(40_000);
    expect(tl.changes.slice(1).map((c) => [c.kind, c.notify, c.held, c.atMs, c.reason])).toEqual([
      [
        'resolved',
        false,
        true,
        10_000,
        'up event; notification held until reopen_window 30s has passed, in case it reopens',
      ],
      [
        'resolved',
        true,
        undefined,
        40_000,
        'did not reopen: its held resolution is told (resolved at 1970-01-01T00:00:10.000Z)',
      ],
    ]);
  });

  it('settles a held resolve that fell due before the next event, whether the event reopens or opens anew', () => {
    // No tick between the events: the event itself settles the hold first, dated when it fell due.
    const engine = engineFrom(rules('group_wait: 0s, group_interval: 1m, reopen_window: 5m'));
    const got: IncidentChange[] = [];
    for (const [e, t] of [
      [down(0), 0],
      [up(10_000), 10_000],
      [down(70_000), 70_000],
    ] as const)
      got.push(...engine.process([e], t));
    expect(got.map((c) => [c.kind, c.notify, c.atMs])).toEqual([
      ['opened', true, 0],
      ['resolved', false, 10_000],
      ['resolved', true, 60_000],
      ['reopened', true, 70_000],
    ]);

    // Beyond reopen_window a new incident takes the key: the old one's resolution is told first.
    const other = engineFrom(rules('group_wait: 0s, group_interval: 1m, reopen_window: 30s'));
    const changes: IncidentChange[] = [];
    for (const [e, t] of [
      [down(0), 0],
      [up(10_000), 10_000],
      [down(100_000), 100_000],
    ] as const)
      changes.push(...other.process([e], t));
    expect(changes.map((c) => [c.kind, c.notify, c.atMs])).toEqual([
      ['opened', true, 0],
      ['resolved', false, 10_000],
      ['resolved', true, 40_000],
      ['opened', true, 100_000],
    ]);
    expect(changes[2]!.incident.id).toBe(changes[0]!.incident.id);
    expect(changes[3]!.incident.id).not.toBe(changes[0]!.incident.id);
    expect(other.book.heldKeys()).toEqual([]);
  });

  // Issue #12: a link flapping every 2 s for 16 s sent 9 messages, 6 of them within the 16 s;
  // Alertmanager sends the first page and, if it ends up, one resolution.
  for (const groupWait of ['0s', '2s']) {
    for (const endsDown of [false, true]) {
      it(`sends a flapping asset's first page and at most one resolution (group_wait ${groupWait}, ends ${endsDown ? 'down' : 'up'})`, () => {
        const tl = new Timeline(engineFrom(rules(`group_wait: ${groupWait}, group_interval: 5m`)));
        for (let t = 0; t < 16_000; t += 4000) {
          tl.send([down(t)]);
          tl.send([up(t + 2000)]);
        }
        if (endsDown) tl.send([down(16_000)]);
        tl.advance(3_600_000);
        const firstMs = groupWait === '0s' ? 0 : 2000;
        expect(tl.changes.filter((c) => c.notify).map((c) => [c.kind, c.atMs])).toEqual([
          ['opened', firstMs],
          ...(endsDown ? [] : [['resolved', firstMs + 300_000]]),
        ]);
        // Every transition is still a change, recorded in the audit trail.
        const transitions = tl.changes.filter((c) => c.kind !== 'opened' || c.atMs === 0);
        expect(transitions.map((c) => c.kind)).toEqual([
          ...['opened', 'resolved', 'reopened', 'resolved', 'reopened', 'resolved', 'reopened', 'resolved'],
          ...(endsDown ? ['reopened'] : ['resolved']),
        ]);
        expect(tl.changes.at(-1)!.incident.audit).toHaveLength(tl.changes.length);
        expect(new Set(tl.changes.map((c) => c.incident.id)).size).toBe(1);
        // Only the silent resolves after the page are held; a ticket closes on the notified one alone.
        expect(
          tl.changes.filter((c) => c.held).every((c) => c.kind === 'resolved' && !c.notify && c.atMs >= firstMs),
        ).toBe(true);
        expect(tl.engine.book.heldKeys()).toEqual([]);
      });
    }
  }

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
