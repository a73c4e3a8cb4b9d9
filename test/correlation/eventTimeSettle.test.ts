import { describe, expect, it } from 'vitest';
import type { IncidentChange } from '../../src/model/incident.ts';
import { newEvent } from '../../src/model/event.ts';
import { engineFrom, ev, Timeline } from '../support/correlation.ts';

/** `<kind> <key> @<atMs>`: the decision, not when the clock emitted it. */
const decisions = (changes: IncidentChange[]) => changes.map((c) => `${c.kind} ${c.incident.key} @${c.atMs}`);

const absence = (lateness: string) => `
defaults: { group_wait: 0s, allowed_lateness: ${lateness} }
rules:
  - { kind: absence, name: beat, group_by: [asset], interval: 30s }
`;
const beat = (t: number) => ev(t, { asset: 'db-1' });

// reopen_window 0s: resolves are told at once, with no held notification following them.
const pair = (lateness: string) => `
defaults: { group_wait: 0s, allowed_lateness: ${lateness}, reopen_window: 0s }
rules:
  - { kind: pair, name: link, group_by: [asset], deadline: 2m }
`;
const down = (t: number) => ev(t, { asset: 'sw-1', type: 'down' });
const up = (t: number) => ev(t, { asset: 'sw-1', type: 'up' });

const threshold = (lateness: string) => `
defaults: { group_wait: 0s, allowed_lateness: ${lateness}, reopen_window: 0s }
rules:
  - { kind: threshold, name: errors, group_by: [service], window: 60s, threshold: 6, resolve_below: 1 }
`;
const err = (t: number) => ev(t, { service: 'api', severityText: 'ERROR', severityNumber: 17 });

/** Events arrive at their own time on a clock ticking every second; time then runs on 5 minutes. */
function run(yaml: string, events: ReturnType<typeof ev>[]): string[] {
  const tl = new Timeline(engineFrom(yaml));
  for (const e of events) tl.send([e]);
  tl.advance(tl.nowMs + 300_000);
  return decisions(tl.changes);
}

describe("timers follow the events' own times, whatever the allowed lateness", () => {
  it('absence: one 45 s gap in 10 s heartbeats opens and resolves an incident', () => {
    const beats = [0, 10_000, 20_000, 30_000, 75_000, 85_000, 95_000].map(beat);
    const expected = ['opened beat{asset="db-1"} @60000', 'resolved beat{asset="db-1"} @75000'];
    for (const lateness of ['0s', '10s', '30s']) {
      const tl = new Timeline(engineFrom(absence(lateness)));
      for (const e of beats) tl.send([e]);
      // The return at 75 s resolves once the watermark (clock less lateness) has passed it.
      tl.advance(95_000 + Number(lateness.slice(0, -1)) * 1000);
      expect(decisions(tl.changes), `allowed_lateness ${lateness}`).toEqual(expected);
    }
  });

  it('pair: an up 130 s after its down escalates (deadline 2m) before it resolves', () => {
    for (const lateness of ['0s', '30s']) {
      expect(run(pair(lateness), [down(0), up(130_000)]), `allowed_lateness ${lateness}`).toEqual([
        'opened link{asset="sw-1"} @0',
        'escalated link{asset="sw-1"} @120000',
        'resolved link{asset="sw-1"} @130000',
      ]);
    }
  });

  it('threshold: two storms separated by a quiet minute are two incidents', () => {
    const storm = (from: number) => Array.from({ length: 6 }, (_, i) => err(from + i * 5000));
    for (const lateness of ['0s', '30s']) {
      expect(run(threshold(lateness), [...storm(0), ...storm(95_000)]), `allowed_lateness ${lateness}`).toEqual([
        'opened errors{service="api"} @25000',
        // Default bucket 6 s: the window 30 s..90 s is the first after the event at 25 s (bucket 24..30 s) with none.
        'resolved errors{service="api"} @90000',
        'opened errors{service="api"} @120000',
        'resolved errors{service="api"} @186000',
      ]);
    }
  });
});

describe('boundaries: exactly at the interval or deadline decides; 1 ms before does not', () => {
  for (const lateness of ['0s', '30s']) {
    it(`absence at allowed_lateness ${lateness}`, () => {
      const gap = (g: number) => {
        const tl = new Timeline(engineFrom(absence(lateness)));
        tl.send([beat(1000)]);
        tl.send([beat(1000 + g)]);
        // The heartbeat that ends the gap resolves once the watermark has passed it (the next tick after the lateness).
        tl.advance(tl.nowMs + Number(lateness.slice(0, -1)) * 1000 + 1000);
        return decisions(tl.changes);
      };
      expect(gap(29_999)).toEqual([]);
      expect(gap(30_000)).toEqual(['opened beat{asset="db-1"} @31000', 'resolved beat{asset="db-1"} @31000']);
      expect(gap(30_001)).toEqual(['opened beat{asset="db-1"} @31000', 'resolved beat{asset="db-1"} @31001']);
    });

    it(`pair deadline at allowed_lateness ${lateness}`, () => {
      const after = (d: number) => run(pair(lateness), [down(1000), up(1000 + d)]);
      expect(after(119_999)).toEqual(['opened link{asset="sw-1"} @1000', 'resolved link{asset="sw-1"} @120999']);
      expect(after(120_000)).toEqual([
        'opened link{asset="sw-1"} @1000',
        'escalated link{asset="sw-1"} @121000',
        'resolved link{asset="sw-1"} @121000',
      ]);
      expect(after(120_001)).toEqual([
        'opened link{asset="sw-1"} @1000',
        'escalated link{asset="sw-1"} @121000',
        'resolved link{asset="sw-1"} @121001',
      ]);
    });

    it(`threshold window end at allowed_lateness ${lateness}`, () => {
      // Six errors in bucket 0 (0..6 s): the window 6 s..66 s is the first without them.
      const storm = Array.from({ length: 6 }, (_, i) => err(i * 1000));
      const next = (t: number) =>
        run(threshold(lateness), [...storm, ...Array.from({ length: 6 }, (_, i) => err(t + i))]);
      expect(next(65_999)).toEqual(['opened errors{service="api"} @5000', 'resolved errors{service="api"} @132000']);
      expect(next(66_000)).toEqual([
        'opened errors{service="api"} @5000',
        'resolved errors{service="api"} @66000',
        'opened errors{service="api"} @66005',
        'resolved errors{service="api"} @132000',
      ]);
      expect(next(66_001)).toEqual([
        'opened errors{service="api"} @5000',
        'resolved errors{service="api"} @66000',
        'opened errors{service="api"} @66006',
        'resolved errors{service="api"} @132000',
      ]);
    });
  }
});

describe('event times in whole milliseconds', () => {
  it('never floors a timestamp below its millisecond, so lateness 0s drops no event arriving on time', () => {
    const engine = engineFrom(`
defaults: { group_wait: 0s, allowed_lateness: 0s }
rules:
  - { kind: pair, name: link, group_by: [asset] }
`);
    // 1763632804346 ms: as a double of ns, 1763632804346000000 / 1e6 floors to ...345.
    const ns = 1_763_632_804_346_000_000n;
    const nowMs = 1_763_632_804_346;
    const changes = engine.process(
      [newEvent({ source: 'test', asset: 'sw-1', type: 'down', timeUnixNano: ns, observedTimeUnixNano: ns })],
      nowMs,
    );
    expect(engine.stats.late).toBe(0);
    expect(changes.map((c) => [c.kind, c.atMs])).toEqual([['opened', nowMs]]);
  });
});
