import { describe, expect, it } from 'vitest';
import { brief, engineFrom, ev, Timeline } from '../support/correlation.ts';

describe('dedup rule', () => {
  it('folds repeats of one fingerprint into one incident and resolves after a quiet window', () => {
    const tl = new Timeline(
      engineFrom(`
defaults: { group_wait: 0s, allowed_lateness: 0s, reopen_window: 0s } # resolves are told at once (no hold), so the test sees the rule's own decisions
rules:
  - { kind: dedup, name: disk, dedup_window: 1m }
`),
    );
    const e = (t: number, fp: string) => ev(t, { fingerprint: fp, title: `disk ${fp}` });
    tl.send([e(0, 'full:/var'), e(0, 'full:/tmp')]);
    for (let t = 10_000; t <= 100_000; t += 10_000) tl.send([e(t, 'full:/var')]);
    // /tmp was seen once: it resolves a minute later; /var keeps repeating.
    expect(brief(tl.changes)).toEqual([
      'opened! disk{fingerprint="full:/var"}',
      'opened! disk{fingerprint="full:/tmp"}',
      'resolved! disk{fingerprint="full:/tmp"}',
    ]);
    expect(tl.changes[2]!.atMs).toBe(60_000);
    tl.advance(170_000);
    expect(brief(tl.changes.slice(3))).toEqual(['resolved! disk{fingerprint="full:/var"}']);
    const v = tl.changes.at(-1)!;
    expect(v.incident.eventCount).toBe(11);
    expect(v.reason).toBe('no repeat within dedup_window 1m (11 occurrence(s))');
    expect(v.atMs).toBe(160_000);
  });
});

describe('spike rule', () => {
  const rules = `
defaults: { group_wait: 0s, allowed_lateness: 0s, reopen_window: 0s } # resolves are told at once (no hold), so the test sees the rule's own decisions
rules:
  - { kind: spike, name: login_fail, group_by: [service], window: 1m, ratio: 3, min_count: 5 }
`;
  const fail = (t: number) => ev(t, { service: 'auth' });

  it('opens when the current window reaches ratio × the previous one, and resolves after a calm window', () => {
    const tl = new Timeline(engineFrom(rules));
    for (let i = 0; i < 4; i++) tl.send([fail(i * 10_000)]);
    // 4 in [0,60 s); the next window needs 12.
    for (let i = 0; i < 11; i++) tl.send([fail(60_000 + i * 1000)]);
    expect(tl.changes).toEqual([]);
    const opened = tl.send([fail(75_000)]);
    expect(brief(opened)).toEqual(['opened! login_fail{service="auth"}']);
    expect(opened[0]!.reason).toBe('12 events in 1m vs 4 in the window before (ratio ≥ 3)');
    // Next window: 5 events, no spike against 12; resolves when it is complete.
    for (let i = 0; i < 5; i++) tl.send([fail(120_000 + i * 1000)]);
    tl.advance(179_000);
    expect(tl.changes).toHaveLength(1);
    tl.advance(181_000);
    expect(brief(tl.changes.slice(1))).toEqual(['resolved! login_fail{service="auth"}']);
    expect(tl.changes[1]!.incident.eventCount).toBe(17);
  });

  it('needs min_count even when the previous window was empty', () => {
    const tl = new Timeline(engineFrom(rules));
    for (let i = 0; i < 4; i++) tl.send([fail(i * 1000)]);
    expect(tl.changes).toEqual([]);
    expect(brief(tl.send([fail(5000)]))).toEqual(['opened! login_fail{service="auth"}']);
  });
});
