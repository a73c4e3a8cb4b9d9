import { describe, expect, it } from 'vitest';
import type { StateDelta } from '../../src/correlation/stateStore.ts';
import { MemoryStateStore } from '../../src/state/memoryStore.ts';
import { brief, engineFrom, ev, Timeline } from '../support/correlation.ts';

const rules = (limit: string) => `
defaults: { allowed_lateness: 1m, group_wait: 0s, group_interval: 1m, reopen_window: 0s }
rules:
  - { kind: pair, name: link, group_by: [asset]${limit} }
`;
const down = (t: number, asset: string) => ev(t, { asset, type: 'down' });
const up = (t: number, asset: string) => ev(t, { asset, type: 'up' });
const OVERFLOW = 'link{overflow="true"}';

describe('max_open_incidents', () => {
  it('opens at most the limit, then one overflow incident counting the groups held back', () => {
    const tl = new Timeline(engineFrom(rules(', max_open_incidents: 3')));
    tl.send([down(0, 'a'), down(0, 'b'), down(0, 'c'), down(0, 'd'), down(0, 'e'), down(0, 'd')]);
    expect(brief(tl.changes)).toEqual([
      'opened! link{asset="a"}',
      'opened! link{asset="b"}',
      'opened! link{asset="c"}',
      `opened! ${OVERFLOW}`,
    ]);
    const overflow = tl.engine.book.get(OVERFLOW)!.incident;
    expect(overflow.labels).toEqual({ overflow: 'true' });
    expect(overflow.title).toBe('2 incidents of rule link held back: max_open_incidents 3 reached');
    expect(overflow.eventCount).toBe(3);
    expect(tl.engine.stats.ignored.get('link')?.get('max_open_incidents')).toBe(3);
    // More groups arrive: the count on the overflow incident follows, told once per group_interval.
    tl.send([down(10_000, 'f')]);
    expect(tl.engine.book.get(OVERFLOW)!.incident.title).toBe(
      '3 incidents of rule link held back: max_open_incidents 3 reached',
    );
    tl.advance(60_000);
    expect(tl.changes.at(-1)).toMatchObject({
      kind: 'updated',
      notify: true,
      incident: { key: OVERFLOW, title: '3 incidents of rule link held back: max_open_incidents 3 reached' },
    });
    // Back under the limit: the overflow incident resolves, and a held-back group may open again.
    tl.send([up(70_000, 'a')]);
    tl.advance(71_000);
    expect(brief(tl.changes.slice(-2))).toEqual(['resolved! link{asset="a"}', `resolved! ${OVERFLOW}`]);
    expect(tl.changes.at(-1)!.reason).toBe(
      'rule link is back under max_open_incidents 3 (2 open); 3 group(s) were held back',
    );
    tl.send([down(80_000, 'd')]);
    expect(brief(tl.changes.slice(-1))).toEqual(['opened! link{asset="d"}']);
    expect(
      tl.engine
        .openIncidents()
        .map((r) => r.incident.key)
        .sort(),
    ).toEqual(['link{asset="b"}', 'link{asset="c"}', 'link{asset="d"}']);
  });

  it('5,000 distinct downs in 0.31 s open the default 1,000 incidents and one overflow incident', () => {
    const tl = new Timeline(engineFrom(rules('')));
    const events = Array.from({ length: 5000 }, (_, i) => down(Math.floor((i * 310) / 5000), `sw-${i}`));
    tl.send(events, 310);
    const opened = tl.changes.filter((c) => c.kind === 'opened');
    expect(opened).toHaveLength(1001);
    expect(opened.at(-1)!.incident.key).toBe(OVERFLOW);
    expect(tl.engine.book.get(OVERFLOW)!.incident.title).toBe(
      '4000 incidents of rule link held back: max_open_incidents 1000 reached',
    );
    expect(tl.engine.stats.ignored.get('link')?.get('max_open_incidents')).toBe(4000);
  });

  it('keeps its bookkeeping in the state store: a restarted engine on the same store still holds back', () => {
    const store = new MemoryStateStore();
    const first = new Timeline(engineFrom(rules(', max_open_incidents: 2'), store));
    first.send([down(0, 'a'), down(0, 'b'), down(0, 'c')]);
    const second = new Timeline(engineFrom(rules(', max_open_incidents: 2'), store), 1000);
    second.send([down(1000, 'd')]);
    expect(brief(second.changes)).toEqual([]);
    expect(second.engine.book.get(OVERFLOW)!.incident.title).toBe(
      '2 incidents of rule link held back: max_open_incidents 2 reached',
    );
  });

  it('takes the limit from defaults, and 0 means no limit', () => {
    const tl = new Timeline(
      engineFrom(`
defaults: { group_wait: 0s, max_open_incidents: 1 }
rules:
  - { kind: pair, name: link, group_by: [asset] }
  - { kind: pair, name: free, group_by: [asset], max_open_incidents: 0 }
`),
    );
    tl.send([down(0, 'a'), down(0, 'b')]);
    expect(brief(tl.changes)).toEqual([
      'opened! link{asset="a"}',
      'opened! free{asset="a"}',
      `opened! ${OVERFLOW}`,
      'opened! free{asset="b"}',
    ]);
  });

  it('counts a held-back event of agents sharing state once, and ships the count, not the overflow incident', () => {
    const stores = ['agent-a', 'agent-b'].map((n) => new MemoryStateStore(n));
    const wire: StateDelta[][] = stores.map((s) => {
      const out: StateDelta[] = [];
      s.onDelta((d) => out.push(structuredClone(d)));
      return out;
    });
    const exchange = () => {
      const [fromA, fromB] = wire.map((w) => w.splice(0));
      for (const d of fromA!) stores[1]!.merge(structuredClone(d));
      for (const d of fromB!) stores[0]!.merge(structuredClone(d));
      return [...fromA!, ...fromB!];
    };
    const [a, b] = stores.map((s) => engineFrom(rules(', max_open_incidents: 1'), s));
    expect(a!.process([down(0, 'a'), down(0, 'b')], 0).map((c) => `${c.kind} ${c.incident.key}`)).toEqual([
      'opened link{asset="a"}',
      `opened ${OVERFLOW}`,
    ]);
    exchange();
    // A group already held back, on both agents, neither hearing of the other's.
    expect([...a!.process([down(1000, 'b')], 1000), ...b!.process([down(1500, 'b')], 1500)]).toEqual([]);
    expect(exchange().filter((d) => d.key.startsWith('i:'))).toEqual([]);
    for (const engine of [a!, b!])
      expect(engine.book.withTrail(OVERFLOW)!.incident).toMatchObject({
        eventCount: 3,
        lastSeenMs: 1500,
        title: '1 incidents of rule link held back: max_open_incidents 1 reached',
      });
    // A group held back for the first time changes the title: that is written.
    expect(b!.process([down(2000, 'c')], 2000)).toEqual([]);
    exchange();
    expect(a!.book.get(OVERFLOW)!.incident).toMatchObject({
      eventCount: 4,
      title: '2 incidents of rule link held back: max_open_incidents 1 reached',
    });
  });
});
