import { appendFileSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { GroupStage } from '../../../src/exporters/tickets/groupStage.ts';
import type { QueuedChange } from '../../../src/exporters/tickets/notificationGroups.ts';
import type { RouteGrouping } from '../../../src/exporters/tickets/routeGrouping.ts';
import { ManualTimers } from '../../support/fakes/timers.ts';
import { assetDown } from '../incidentFixtures.ts';

const BY_SITE: RouteGrouping = {
  routeKey: '{}',
  by: ['site'],
  waitMs: 30_000,
  intervalMs: 300_000,
  repeatMs: 3_600_000,
};

const stages: GroupStage[] = [];
afterEach(async () => {
  for (const s of stages.splice(0)) await s.close();
});

async function stage(path: string, timers: ManualTimers, sent: QueuedChange[]): Promise<GroupStage> {
  const s = new GroupStage({
    path,
    fsync: true,
    timers,
    emit: async (items) => void sent.push(...items.map((i) => i.payload)),
    onError: (err) => {
      throw err;
    },
  });
  await s.open();
  s.start();
  stages.push(s);
  return s;
}

describe('groups on disk', () => {
  it('writes changes made while the file is busy together, with one fsync for many, each resolved once on disk', async () => {
    const path = join(mkdtempSync(join(tmpdir(), 'vigil-groups-')), 'groups.ndjson');
    const s = await stage(path, new ManualTimers(), []);
    const notOnDiskWhenResolved: string[] = [];
    await Promise.all(
      Array.from({ length: 50 }, (_, n) => {
        const change = assetDown(`a${n}`, `site-${n % 5}`).next('opened');
        return s.add([{ grouping: BY_SITE, change }]).then(() => {
          if (!readFileSync(path, 'utf8').includes(`"m":${JSON.stringify(change.incident.key)}`))
            notOnDiskWhenResolved.push(change.incident.key);
        });
      }),
    );
    expect(notOnDiskWhenResolved).toEqual([]);
    expect(s.fsyncs).toBeGreaterThanOrEqual(1);
    expect(s.fsyncs).toBeLessThanOrEqual(3);
    // What a restart reads: every group with every member.
    await s.close();
    const again = await stage(path, new ManualTimers(), []);
    expect(again.list().map((g) => Object.keys(g.members).length)).toEqual([10, 10, 10, 10, 10]);
  });

  it('a reopened stage has each group with the members a flush left, what it notified, and its next tick', async () => {
    const path = join(mkdtempSync(join(tmpdir(), 'vigil-groups-')), 'groups.ndjson');
    const timers = new ManualTimers();
    const sent: QueuedChange[] = [];
    const first = await stage(path, timers, sent);
    const [a, b, c] = ['a', 'b', 'c'].map((n) => assetDown(n, 'paris'));
    await first.add([a!, b!, c!].map((s) => ({ grouping: BY_SITE, change: s.next('opened') })));
    timers.advance(30_000);
    await first.settled();
    await first.add([{ grouping: BY_SITE, change: a!.next('resolved') }]);
    timers.advance(300_000);
    await first.settled();
    expect(sent.map((s) => s.kind)).toEqual(['opened', 'updated']);
    await first.close();
    // A crash mid-write leaves a torn line, which was never acknowledged.
    appendFileSync(path, '{"k":"{}:{site=\\"lyon\\"}","h":{"ke');

    const again = await stage(path, timers, sent);
    const [group] = again.list();
    expect(again.size).toBe(1);
    expect(Object.keys(group!.members).sort()).toEqual([b!, c!].map((s) => s.next('updated').incident.key).sort());
    expect(group!.notified!.firing).toHaveLength(2);
    // Nothing new: the next notification is the repeat, at the first tick an hour after the last one.
    timers.advance(3_600_000 - 1);
    await again.settled();
    expect(sent).toHaveLength(2);
    timers.advance(1);
    await again.settled();
    expect(sent.map((s) => s.kind)).toEqual(['opened', 'updated', 'updated']);
    expect(readFileSync(path, 'utf8')).not.toContain('lyon');
  });
});
