import { describe, expect, it } from 'vitest';
import { brief, engineFrom, ev, rulesFrom, Timeline } from '../support/correlation.ts';

const yaml = (threshold: number, extra = '') => `
defaults: { group_wait: 0s, allowed_lateness: 5s, group_interval: 1m }
rules:
  - { kind: threshold, name: errors, group_by: [service], window: 1m, threshold: ${threshold} }
  - { kind: pair, name: link, group_by: [asset] }
${extra}`;

describe('rule reload', () => {
  it('keeps the windows of unchanged rules, restarts changed ones, resolves removed ones', () => {
    const engine = engineFrom(yaml(5));
    const tl = new Timeline(engine);
    for (let i = 0; i < 4; i++) tl.send([ev(i * 1000, { service: 'api' })]);
    tl.send([ev(4000, { asset: 'sw', type: 'down' })]);
    // Same rules: the fifth event completes the window counted before the reload.
    expect(engine.reload(rulesFrom(yaml(5)), 4500)).toEqual({ changes: [], reset: [] });
    expect(brief(tl.send([ev(5000, { service: 'api' })]))).toEqual(['opened! errors{service="api"}']);

    const other = engineFrom(yaml(5));
    const tl2 = new Timeline(other);
    for (let i = 0; i < 4; i++) tl2.send([ev(i * 1000, { service: 'api' })]);
    tl2.send([ev(4000, { asset: 'sw', type: 'down' })]);
    // errors changed: its window restarts; link was removed: its incident resolves.
    const { changes, reset } = other.reload(
      rulesFrom(`
defaults: { group_wait: 0s, allowed_lateness: 5s }
rules:
  - { kind: threshold, name: errors, group_by: [service], window: 1m, threshold: 2 }
`),
      4500,
    );
    expect(changes.map((c) => [c.kind, c.incident.key, c.reason])).toEqual([
      ['resolved', 'link{asset="sw"}', 'rule link was removed from the configuration'],
    ]);
    expect(reset).toEqual([{ rule: 'errors', reason: 'rule configuration changed: threshold', regrouped: false }]);
    expect(tl2.send([ev(5000, { service: 'api' })])).toEqual([]);
    expect(brief(tl2.send([ev(6000, { service: 'api' })]))).toEqual(['opened! errors{service="api"}']);
  });
  it('keeps attaching to the open incident of a changed window rule', () => {
    const engine = engineFrom(yaml(2));
    const tl = new Timeline(engine);
    tl.send([ev(0, { service: 'api' }), ev(1000, { service: 'api' })]);
    expect(engine.reload(rulesFrom(yaml(3)), 1500)).toEqual({
      changes: [],
      reset: [{ rule: 'errors', reason: 'rule configuration changed: threshold', regrouped: false }],
    });
    tl.send([ev(2000, { service: 'api' })]);
    expect(engine.book.get('errors{service="api"}')!.incident.eventCount).toBe(3);
    // Its window restarted with one event: below the new threshold of 3, so it resolves, 5 s after
    // its notification: told once group_interval (1m) has passed without a reopen.
    tl.advance(70_000);
    expect(brief(tl.changes)).toEqual([
      'opened! errors{service="api"}',
      'resolved errors{service="api"}',
      'resolved! errors{service="api"}',
    ]);
    expect(tl.changes.map((c) => [c.atMs, c.held])).toEqual([
      [1000, undefined],
      [6000, true],
      [61_000, undefined],
    ]);
    // The mark did not go below zero: the next storm reopens it (within the default reopen_window).
    for (let t = 80_000; t < 83_000; t += 1000) tl.send([ev(t, { service: 'api' })]);
    expect(brief(tl.changes).at(-1)).toBe('reopened! errors{service="api"}');
  });

  it('starts a rule whose group_by changed clean: its windows restart and its incidents under the old grouping resolve', () => {
    const engine = engineFrom(yaml(3));
    const tl = new Timeline(engine);
    tl.send([
      ev(0, { service: 'api', asset: 'h1' }),
      ev(1000, { service: 'api', asset: 'h1' }),
      ev(2000, { service: 'api', asset: 'h1' }),
    ]);
    tl.send([ev(2500, { service: 'web', asset: 'h2' }), ev(2600, { service: 'web', asset: 'h2' })]);
    tl.send([ev(2700, { asset: 'sw', type: 'down' })]);
    const regrouped = yaml(3).replace('group_by: [service], window', 'group_by: [asset], window');
    const { changes, reset } = engine.reload(rulesFrom(regrouped), 3000);
    expect(reset).toEqual([{ rule: 'errors', reason: 'group_by changed from [service] to [asset]', regrouped: true }]);
    // Nothing would ever match errors{service="api"} again, so nothing would resolve it.
    expect(changes.map((c) => [c.kind, c.incident.key, c.reason])).toEqual([
      [
        'resolved',
        'errors{service="api"}',
        'rule errors now groups by [asset]; incidents grouped by [service] can no longer match',
      ],
    ]);
    // The two web errors counted under the old grouping are gone; the unchanged pair rule kept its incident.
    expect(tl.send([ev(4000, { service: 'web', asset: 'h2' })])).toEqual([]);
    expect(engine.book.get('link{asset="sw"}')!.incident.status).toBe('open');
    expect(brief(tl.send([ev(4100, { asset: 'h2' }), ev(4200, { asset: 'h2' })]))).toEqual([
      'opened! errors{asset="h2"}',
    ]);
  });

  it('says which settings of a changed rule moved, and does not call a reordered group_by a regrouping', () => {
    const engine = engineFrom(`
rules:
  - { kind: threshold, name: errors, group_by: [service, asset], window: 1m, threshold: 5 }
`);
    const { reset } = engine.reload(
      rulesFrom(`
rules:
  - { kind: threshold, name: errors, group_by: [asset, service], window: 2m, threshold: 5, resolve_below: 2 }
`),
      0,
    );
    expect(reset).toEqual([
      { rule: 'errors', reason: 'rule configuration changed: group_by order, resolve_below, window', regrouped: false },
    ]);
  });
});

describe('time policy', () => {
  it('counts far-future events at arrival by default, or drops them', () => {
    const engine = engineFrom(yaml(1));
    const tl = new Timeline(engine, 1_000_000);
    const changes = tl.send([ev(1_000_000 + 3_600_000, { service: 'api' })], 1_000_000);
    expect(changes[0]).toMatchObject({ kind: 'opened', atMs: 1_000_000 });
    expect(engine.stats.future).toBe(1);

    const dropping = engineFrom(yaml(1, 'future_events: drop\nmax_future_skew: 1m'));
    const tl2 = new Timeline(dropping, 1_000_000);
    expect(tl2.send([ev(1_000_000 + 61_000, { service: 'api' })], 1_000_000)).toEqual([]);
    expect(tl2.send([ev(1_000_000 + 59_000, { service: 'api' })], 1_000_000)).toHaveLength(1);
    expect(dropping.stats).toMatchObject({ future: 1, dropped: 1 });
  });

  it('counts too-late events at arrival under late_events: arrival', () => {
    const engine = engineFrom(yaml(2, 'late_events: arrival'));
    const tl = new Timeline(engine, 0);
    tl.send([ev(100_000, { service: 'api' })]);
    // An hour late: counted now, so it lands in the current window with the first.
    expect(brief(tl.send([ev(100_000 - 3_600_000, { service: 'api' })], 100_000))).toEqual([
      'opened! errors{service="api"}',
    ]);
    expect(engine.stats).toMatchObject({ late: 1, dropped: 0 });
  });

  it('time: arrival ignores the event clock entirely', () => {
    const engine = engineFrom(`
defaults: { group_wait: 0s, allowed_lateness: 0s }
rules:
  - { kind: threshold, name: errors, group_by: [service], window: 1m, threshold: 2, time: arrival }
`);
    const tl = new Timeline(engine, 0);
    // Clocks a day apart, arriving a second apart: one window.
    tl.send([ev(0, { service: 'api' })], 500_000);
    expect(brief(tl.send([ev(86_400_000, { service: 'api' })], 501_000))).toEqual(['opened! errors{service="api"}']);
    expect(engine.stats).toMatchObject({ late: 0, future: 0 });
  });
});
