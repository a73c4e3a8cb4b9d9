import { describe, expect, it } from 'vitest';
import { brief, engineFrom, ev, rulesFrom, Timeline } from '../support/correlation.ts';

const down = (t: number, asset = 'sw-1', extra = {}) =>
  ev(t, { asset, type: 'down', title: `${asset} link down`, severityText: 'ERROR', severityNumber: 17, ...extra });
const up = (t: number, asset = 'sw-1', extra = {}) => ev(t, { asset, type: 'up', title: `${asset} link up`, ...extra });

const link = (extra = '') => `
defaults: { group_wait: 0s, allowed_lateness: 10s, reopen_window: 0s }
rules:
  - kind: pair
    name: link
    group_by: [asset]
    ${extra}
`;

describe('pair rule', () => {
  it('opens on down, attaches repeated downs, resolves on up', () => {
    const tl = new Timeline(engineFrom(link()));
    expect(brief(tl.send([down(1000)]))).toEqual(['opened! link{asset="sw-1"}']);
    expect(tl.send([down(2000)])).toEqual([]);
    const resolved = tl.send([up(5000)]);
    expect(brief(resolved)).toEqual(['resolved! link{asset="sw-1"}']);
    expect(resolved[0]!.incident).toMatchObject({
      status: 'resolved',
      eventCount: 3,
      openedAtMs: 1000,
      resolvedAtMs: 5000,
      title: 'sw-1 link down',
      lastEventType: 'up',
    });
    expect(resolved[0]!.incident.audit.map((a) => a.kind)).toEqual(['opened', 'resolved']);
  });

  it('ignores an up with no down before it, and a down older than that up', () => {
    const engine = engineFrom(link());
    const tl = new Timeline(engine);
    expect(tl.send([up(1000)])).toEqual([]);
    // Arrives after the up but happened before it: the asset is up now.
    expect(tl.send([down(500)], 2000)).toEqual([]);
    expect(engine.stats.ignored).toEqual(
      new Map([
        [
          'link',
          new Map([
            ['up_without_down', 1],
            ['older_than_state', 1],
          ]),
        ],
      ]),
    );
    expect(brief(tl.send([down(3000)]))).toEqual(['opened! link{asset="sw-1"}']);
  });

  it('escalates an incident not recovered within the deadline, once', () => {
    const tl = new Timeline(engineFrom(link('deadline: 5m')));
    tl.send([down(0)]);
    tl.advance(20 * 60_000);
    expect(brief(tl.changes)).toEqual(['opened! link{asset="sw-1"}', 'escalated! link{asset="sw-1"}']);
    // The deadline counts from the down's time, judged once the lateness has passed.
    expect(tl.changes[1]).toMatchObject({ atMs: 300_000, reason: 'not recovered within 5m' });
  });

  it('turns flapping into one flapping incident, which resolves once it settles up', () => {
    const tl = new Timeline(engineFrom(link('flapping: { transitions: 4, window: 2m }')));
    for (let i = 0; i < 10; i++) tl.send([i % 2 === 0 ? down(i * 10_000) : up(i * 10_000)]);
    expect(brief(tl.changes)).toEqual([
      'opened! link{asset="sw-1"}',
      'resolved! link{asset="sw-1"}',
      'opened! link{asset="sw-1"}',
      'updated! link{asset="sw-1"}',
    ]);
    expect(tl.changes[3]!.reason).toBe('flapping: 4 transitions within 2m; one incident until it settles');
    tl.advance(400_000);
    expect(brief(tl.changes.slice(4))).toEqual(['resolved! link{asset="sw-1"}']);
    expect(tl.changes[4]!.reason).toMatch(/^stopped flapping and is up/);
    expect(tl.changes[4]!.incident.eventCount).toBe(8);
  });

  it('reopens within reopen_window instead of opening a twin', () => {
    const tl = new Timeline(engineFrom(link('reopen_window: 1m')));
    tl.send([down(0)]);
    tl.send([up(10_000)]);
    tl.send([down(40_000)]);
    tl.send([up(50_000)]);
    tl.send([down(200_000)]);
    // The first resolve is held within group_interval and the reopen cancels it; the second is told once it can no longer reopen.
    expect(brief(tl.changes)).toEqual([
      'opened! link{asset="sw-1"}',
      'resolved link{asset="sw-1"}',
      'reopened link{asset="sw-1"}',
      'resolved link{asset="sw-1"}',
      'resolved! link{asset="sw-1"}',
      'opened! link{asset="sw-1"}',
    ]);
    expect(tl.changes[4]!.atMs).toBe(110_000);
    expect(tl.changes[2]!.incident.id).toBe(tl.changes[0]!.incident.id);
    expect(tl.changes[5]!.incident.id).not.toBe(tl.changes[0]!.incident.id);
  });

  it('applies the resolve policy to the members of a group', () => {
    const site = (resolve: string) =>
      link(`member_by: ['host=attributes["host"]']\n    resolve: ${resolve}`).replace(
        'group_by: [asset]',
        `group_by: ['site=attributes["site"]']`,
      );
    const d = (t: number, host: string) => down(t, host, { attributes: { site: 'par', host } });
    const u = (t: number, host: string) => up(t, host, { attributes: { site: 'par', host } });
    const run = (resolve: string) => {
      const tl = new Timeline(engineFrom(site(resolve)));
      tl.send([d(0, 'a')]);
      tl.send([d(1000, 'b')]);
      tl.send([u(2000, 'a')]);
      const afterA = tl.changes.at(-1)!.kind;
      tl.send([u(3000, 'b')]);
      return [afterA, tl.changes.at(-1)!.kind];
    };
    expect(run('first')).toEqual(['resolved', 'resolved']);
    expect(run('all')).toEqual(['opened', 'resolved']);
    expect(run('last')).toEqual(['opened', 'resolved']);
    expect(run('never')).toEqual(['opened', 'opened']);
  });

  it('keeps its incident across a restart of the rule (reload with the same config)', () => {
    const engine = engineFrom(link());
    const tl = new Timeline(engine);
    tl.send([down(0)]);
    expect(engine.reload(rulesFrom(link()), 1000)).toEqual({ changes: [], reset: [] });
    expect(brief(tl.send([up(2000)]))).toEqual(['resolved! link{asset="sw-1"}']);
  });
});
