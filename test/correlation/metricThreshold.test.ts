import { describe, expect, it } from 'vitest';
import type { SumPoint } from '../../src/model/metric.ts';
import { brief, engineFrom, point, Timeline } from '../support/correlation.ts';

const rule = (agg: string, extra = '') => `
defaults: { group_wait: 0s, allowed_lateness: 0s, reopen_window: 0s } # resolves are told at once (no hold), so the test sees the rule's own decisions
rules:
  - { kind: metric_threshold, name: cpu, metric: system.cpu.utilization, group_by: ['host=attributes["host"]'], aggregation: ${agg}, window: 1m, bucket: 10s, op: '>', value: 0.9 ${extra} }
`;
const cpu = (t: number, v: number, host = 'h1') => point(t, 'system.cpu.utilization', v, { host });

describe('metric_threshold rule', () => {
  it('avg over the window must exceed the value for the `for` duration, and resolves when it no longer does', () => {
    const tl = new Timeline(engineFrom(rule('avg', ', for: 30s')));
    tl.sendPoints([cpu(0, 0.5)]);
    for (let t = 10_000; t <= 50_000; t += 10_000) tl.sendPoints([cpu(t, 1)]);
    // avg over [0,60 s): at 10 s 0.75, at 20 s 0.833, at 30 s 0.875, at 40 s 0.9 (not > 0.9), at 50 s 0.917.
    expect(tl.changes).toEqual([]);
    for (let t = 60_000; t <= 80_000; t += 10_000) tl.sendPoints([cpu(t, 1)]);
    // Holding since 50 s; 30 s later it opens.
    expect(brief(tl.changes)).toEqual(['opened! cpu{host="h1"}']);
    expect(tl.changes[0]).toMatchObject({
      atMs: 80_000,
      reason: 'avg(system.cpu.utilization) over 1m = 1 > 0.9 for 30s',
    });
    for (let t = 90_000; t <= 140_000; t += 10_000) tl.sendPoints([cpu(t, 0.2)]);
    expect(brief(tl.changes)).toEqual(['opened! cpu{host="h1"}', 'resolved! cpu{host="h1"}']);
    // At 90 s the window [40 s, 100 s) averages (5 × 1 + 0.2) / 6 = 0.867.
    expect(tl.changes[1]!.atMs).toBe(90_000);
  });

  it('max, min and last', () => {
    const run = (agg: string, op: string, value: number, values: number[]) => {
      const tl = new Timeline(engineFrom(rule(agg).replace("op: '>', value: 0.9", `op: '${op}', value: ${value}`)));
      values.forEach((v, i) => tl.sendPoints([cpu(i * 10_000, v)]));
      return brief(tl.changes);
    };
    expect(run('max', '>', 0.9, [0.1, 0.95, 0.1])).toEqual(['opened! cpu{host="h1"}']);
    expect(run('max', '>', 0.9, [0.1, 0.85, 0.1])).toEqual([]);
    expect(run('min', '<', 0.1, [0.5, 0.05, 0.5])).toEqual(['opened! cpu{host="h1"}']);
    expect(run('last', '>', 0.9, [0.95, 0.1])).toEqual(['opened! cpu{host="h1"}', 'resolved! cpu{host="h1"}']);
  });

  it('rate of a cumulative counter, surviving a counter reset', () => {
    const tl = new Timeline(
      engineFrom(`
defaults: { group_wait: 0s, allowed_lateness: 0s, reopen_window: 0s } # resolves are told at once (no hold), so the test sees the rule's own decisions
rules:
  - { kind: metric_threshold, name: errs, metric: http.errors, aggregation: rate, window: 1m, op: '>=', value: 2.1 }
`),
    );
    const c = (t: number, v: number): SumPoint => ({
      ...point(t, 'http.errors', v),
      kind: 'sum',
      temporality: 2,
      isMonotonic: true,
    });
    // +30 per 10 s up to 40 s (2/s over the minute); then the process restarts and counts from 0.
    [0, 30, 60, 90, 120].forEach((v, i) => tl.sendPoints([c(i * 10_000, v)] as never));
    expect(tl.changes).toEqual([]);
    tl.sendPoints([c(50_000, 10)] as never);
    // increase 120 + 10 = 130 over 60 s: 2.17/s.
    expect(brief(tl.changes)).toEqual(['opened! errs{}']);
    expect(tl.changes[0]!.reason).toBe('rate(http.errors) over 1m = 2.167 >= 2.1');
  });

  it('resolves a series that stopped reporting after a whole window', () => {
    const tl = new Timeline(engineFrom(rule('last')));
    tl.sendPoints([cpu(0, 0.95)]);
    tl.advance(59_000);
    expect(tl.changes).toHaveLength(1);
    tl.advance(61_000);
    expect(tl.changes[1]).toMatchObject({ kind: 'resolved', reason: 'no system.cpu.utilization point for 1m' });
  });
});
