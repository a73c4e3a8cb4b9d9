import { describe, expect, it } from 'vitest';
import { compareIncidents, type IncidentOutline } from '../../src/service/rulesBacktest.ts';

const T = Date.parse('2026-12-01T10:00:00Z');
const UNTIL = T + 3_600_000;
const incident = (key: string, openedMin: number, more: Partial<IncidentOutline> = {}): IncidentOutline => ({
  key,
  id: `${key}@${openedMin}`,
  rule: key.split('{')[0]!,
  openedAtMs: T + openedMin * 60_000,
  resolvedAtMs: 0,
  severityNumber: 17,
  eventCount: 1,
  ...more,
});

describe('compareIncidents', () => {
  it('pairs incidents of one key that are open at the same time, and says what differs', () => {
    const actual = [
      incident('errors{service="a"}', 0, { resolvedAtMs: T + 10 * 60_000 }),
      incident('errors{service="b"}', 5),
      incident('link{asset="sw-1"}', 20, { resolvedAtMs: T + 25 * 60_000 }),
      incident('link{asset="sw-1"}', 40),
    ];
    const backtest = [
      // Same opening (within a minute), same everything: the same.
      incident('errors{service="a"}', 0.5, { resolvedAtMs: T + 12 * 60_000 }),
      // Opens 3 minutes later, critical, and resolves.
      incident('errors{service="b"}', 8, { severityNumber: 21, resolvedAtMs: T + 30 * 60_000 }),
      // The second link incident only: the first one is missing.
      incident('link{asset="sw-1"}', 41),
      incident('link{asset="sw-2"}', 41),
    ];
    const diff = compareIncidents(actual, backtest, UNTIL);
    expect(diff.same).toBe(2);
    expect(diff.new.map((i) => i.key)).toEqual(['link{asset="sw-2"}']);
    expect(diff.missing.map((i) => [i.key, i.openedAtMs])).toEqual([['link{asset="sw-1"}', T + 20 * 60_000]]);
    expect(diff.changed.map((c) => [c.actual.key, c.differences])).toEqual([
      ['errors{service="b"}', ['opens 3m later', 'severity 17 → 21', 'resolves (stayed open)']],
    ]);
  });

  it('does not pair incidents of one key whose times open do not meet', () => {
    const diff = compareIncidents(
      [incident('x{}', 0, { resolvedAtMs: T + 60_000 })],
      [incident('x{}', 30, { resolvedAtMs: T + 31 * 60_000 })],
      UNTIL,
    );
    expect([diff.new.length, diff.missing.length, diff.changed.length, diff.same]).toEqual([1, 1, 0, 0]);
  });
});
