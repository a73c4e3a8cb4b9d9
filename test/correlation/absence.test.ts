import { describe, expect, it } from 'vitest';
import { brief, engineFrom, ev, Timeline } from '../support/correlation.ts';

const rules = `
defaults: { group_wait: 0s, allowed_lateness: 5s }
rules:
  - { kind: absence, name: heartbeat, match: 'attributes["check"] == "heartbeat"', group_by: [asset], interval: 1m }
`;
const beat = (t: number, asset = 'db-1') => ev(t, { asset, attributes: { check: 'heartbeat' } });

describe('absence rule', () => {
  it('opens when a host goes quiet for the interval and resolves on its return', () => {
    const tl = new Timeline(engineFrom(rules));
    for (let t = 0; t <= 120_000; t += 30_000) tl.send([beat(t), beat(t, 'db-2')]);
    expect(tl.changes).toEqual([]);
    // db-1 stops after 120 s; db-2 goes on.
    for (let t = 150_000; t <= 300_000; t += 30_000) tl.send([beat(t, 'db-2')]);
    expect(brief(tl.changes)).toEqual(['opened! heartbeat{asset="db-1"}']);
    const opened = tl.changes[0]!;
    expect(opened).toMatchObject({ atMs: 180_000, reason: 'no event for 1m (last at 1970-01-01T00:02:00.000Z)' });
    expect(opened.incident).toMatchObject({
      openedAtMs: 180_000,
      labels: { asset: 'db-1' },
      title: 'No events from db-1 for 1m',
      asset: 'db-1',
    });
    tl.advance(600_000);
    // One incident per silent host: db-2 fell silent after 300 s.
    expect(brief(tl.changes)).toEqual(['opened! heartbeat{asset="db-1"}', 'opened! heartbeat{asset="db-2"}']);
    // The return resolves once the allowed lateness (5 s) has passed it: no earlier heartbeat can still end the silence.
    expect(tl.send([beat(610_000)])).toEqual([]);
    const back = tl.advance(615_000);
    expect(brief(back)).toEqual(['resolved! heartbeat{asset="db-1"}']);
    expect(back[0]).toMatchObject({ atMs: 610_000, reason: 'event received after 8m10s of silence' });
  });

  it('opens again on the next silence, and ignores events the rule does not match', () => {
    const tl = new Timeline(engineFrom(rules.replace('defaults: {', 'defaults: { reopen_window: 0s,')));
    tl.send([beat(0)]);
    tl.send([ev(30_000, { asset: 'db-1' })]);
    tl.advance(70_000);
    tl.send([beat(80_000)]);
    tl.advance(200_000);
    expect(brief(tl.changes)).toEqual([
      'opened! heartbeat{asset="db-1"}',
      'resolved! heartbeat{asset="db-1"}',
      'opened! heartbeat{asset="db-1"}',
    ]);
  });

  it('does not open while a late heartbeat is still allowed to arrive', () => {
    const tl = new Timeline(engineFrom(rules));
    tl.send([beat(0)]);
    tl.advance(62_000);
    // Happened at 59 s, arrives 3 s late: within the lateness, so no silence was ever declared.
    tl.send([beat(59_000)], 63_000);
    tl.advance(100_000);
    expect(tl.changes).toEqual([]);
  });
});
