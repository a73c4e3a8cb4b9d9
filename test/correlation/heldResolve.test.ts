import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { DurableStateStore } from '../../src/state/durableStore.ts';
import { createLogger } from '../../src/telemetry/logger.ts';
import { brief, engineFrom, ev, rulesFrom, Timeline } from '../support/correlation.ts';

const yaml = (rules: string) => `
defaults: { group_wait: 0s, allowed_lateness: 0s, group_interval: 1m, reopen_window: 5m }
rules:
${rules}`;
const link = '  - { kind: pair, name: link, group_by: [asset] }';
const down = (t: number) => ev(t, { asset: 'sw-1', type: 'down' });
const up = (t: number) => ev(t, { asset: 'sw-1', type: 'up' });

describe('held resolutions', () => {
  it('survive a restart: the store holds them, and the resolution is told once after it', async () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'vigil-held-')), 'correlation');
    const open = async () => {
      const store = new DurableStateStore({ dir, logger: createLogger('silent'), registry: new Registry() });
      await store.open();
      return store;
    };
    const first = await open();
    const before = new Timeline(engineFrom(yaml(link), first));
    before.send([down(0)]);
    before.send([up(10_000)]);
    expect(brief(before.changes)).toEqual(['opened! link{asset="sw-1"}', 'resolved link{asset="sw-1"}']);
    expect([...first.keys('h:')]).toEqual(['h:link{asset="sw-1"}']);
    await first.commit();
    await first.close();

    // Down for a while: the tick after the restart finds the hold due and tells it, once.
    const second = await open();
    const after = new Timeline(engineFrom(yaml(link), second), 90_000);
    after.advance(200_000);
    expect(after.changes.map((c) => [c.kind, c.notify, c.atMs])).toEqual([['resolved', true, 60_000]]);
    expect([...second.keys('h:')]).toEqual([]);
    await second.close();
  });

  it('are kept by a reload that changes the rule, and told at once when it removes or regroups the rule', () => {
    const held = () => {
      const tl = new Timeline(engineFrom(yaml(link)));
      tl.send([down(0)]);
      tl.send([up(10_000)]);
      return tl;
    };
    // A changed rule (a deadline added) can still reopen its incident: the hold stays.
    const changed = held();
    const kept = changed.engine.reload(
      rulesFrom(yaml('  - { kind: pair, name: link, group_by: [asset], deadline: 10m }')),
      20_000,
    );
    expect(kept).toEqual({
      changes: [],
      reset: [{ rule: 'link', reason: 'rule configuration changed: deadline', regrouped: false }],
    });
    expect(changed.engine.book.heldKeys()).toEqual(['link{asset="sw-1"}']);
    changed.send([down(30_000)]);
    expect(brief(changed.changes.slice(2))).toEqual(['reopened link{asset="sw-1"}']);

    const removed = held();
    const gone = removed.engine.reload(rulesFrom(yaml('  - { kind: pair, name: other, group_by: [asset] }')), 20_000);
    expect(gone.changes.map((c) => [c.kind, c.notify, c.atMs, c.reason])).toEqual([
      [
        'resolved',
        true,
        20_000,
        'rule link was removed from the configuration: it can no longer reopen, so its held resolution is told (resolved at 1970-01-01T00:00:10.000Z)',
      ],
    ]);
    expect(removed.engine.book.heldKeys()).toEqual([]);
    removed.advance(600_000);
    expect(removed.changes).toHaveLength(2);

    const regrouped = held();
    const moved = regrouped.engine.reload(
      rulesFrom(yaml('  - { kind: pair, name: link, group_by: [asset, service] }')),
      20_000,
    );
    expect(moved.changes.map((c) => [c.kind, c.notify, c.atMs])).toEqual([['resolved', true, 20_000]]);
    expect(moved.reset[0]!.regrouped).toBe(true);
  });

  it("tell the resolve of a removed rule's open incident at once, even within group_interval", () => {
    const tl = new Timeline(engineFrom(yaml(link)));
    tl.send([down(0)]);
    const { changes } = tl.engine.reload(rulesFrom(yaml('  - { kind: pair, name: other, group_by: [asset] }')), 10_000);
    expect(changes.map((c) => [c.kind, c.notify, c.held])).toEqual([['resolved', true, undefined]]);
  });
});
