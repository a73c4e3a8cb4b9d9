import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import type { SilenceMatcher, SilenceRecord } from '../../src/correlation/silences.ts';
import { silenceState } from '../../src/correlation/silences.ts';
import { DurableStateStore } from '../../src/state/durableStore.ts';
import { createLogger } from '../../src/telemetry/logger.ts';
import { engineFrom, ev, Timeline } from '../support/correlation.ts';

const rules = `
defaults: { group_wait: 0s, allowed_lateness: 0s }
rules:
  - { kind: pair, name: asset_down, group_by: [asset] }
`;
const down = (t: number, asset: string, fields: Parameters<typeof ev>[1] = {}) =>
  ev(t, { asset, type: 'down', ...fields });
const up = (t: number, asset: string) => ev(t, { asset, type: 'up' });
const eq = (name: string, value: string): SilenceMatcher => ({ name, value, isRegex: false, isEqual: true });

function silence(
  id: string,
  matchers: SilenceMatcher[],
  startsAtMs: number,
  endsAtMs: number,
  tenant = '',
): SilenceRecord {
  return {
    id,
    matchers,
    startsAtMs,
    endsAtMs,
    createdBy: 'ops',
    comment: 'switch upgrade',
    tenant,
    updatedAtMs: startsAtMs,
  };
}

const timeline = (tl: Timeline) =>
  tl.changes.map(
    (c) =>
      `${c.kind}${c.notify ? '!' : ''} ${c.incident.asset}${c.incident.suppressedBy ? ` by ${c.incident.suppressedBy}` : ''}`,
  );

/** Puts a silence at the timeline's clock, as the API does, keeping its changes in the timeline. */
function put(tl: Timeline, s: SilenceRecord): void {
  tl.changes.push(...tl.engine.putSilence(s, tl.nowMs));
}

describe('silences made through the API', () => {
  it('suppress the incidents they match, on rule, asset, service, tenant and labels, and no others', () => {
    const tl = new Timeline(engineFrom(rules));
    put(
      tl,
      silence(
        's1',
        [
          eq('rule', 'asset_down'),
          { name: 'asset', value: 'web-[0-9]+', isRegex: true, isEqual: true },
          { name: 'service', value: 'db', isRegex: false, isEqual: false },
        ],
        0,
        60_000,
      ),
    );
    tl.send([
      down(1000, 'web-1', { service: 'shop' }),
      down(1000, 'web-2', { service: 'db' }),
      down(1000, 'db-1', { service: 'shop' }),
    ]);
    expect(timeline(tl).sort()).toEqual(['opened web-1 by silence:s1', 'opened! db-1', 'opened! web-2'].sort());
    expect(tl.engine.book.get('asset_down{asset="web-1"}')!.incident).toMatchObject({
      status: 'open',
      suppressed: true,
      suppressedBy: 'silence:s1',
    });
  });

  it("only silence their own tenant's incidents; one without a tenant silences every tenant's", () => {
    const tl = new Timeline(engineFrom(rules.replace('group_by: [asset]', 'group_by: [tenant, asset]')));
    put(tl, silence('acme', [eq('asset', 'web-1')], 0, 60_000, 'acme'));
    put(tl, silence('all', [eq('asset', 'web-2')], 0, 60_000));
    tl.send([
      down(1000, 'web-1', { tenant: 'acme' }),
      down(1000, 'web-1', { tenant: 'globex' }),
      down(1000, 'web-2', { tenant: 'globex' }),
    ]);
    const byTenant = tl.changes
      .map((c) => `${c.incident.tenant}/${c.incident.asset} ${c.incident.suppressedBy || 'notified'}`)
      .sort();
    expect(byTenant).toEqual(['acme/web-1 silence:acme', 'globex/web-1 notified', 'globex/web-2 silence:all']);
  });

  it('starting in the future, suppress nothing until they start, then the open incidents they match', () => {
    const tl = new Timeline(engineFrom(rules));
    put(tl, silence('later', [eq('asset', 'web-1')], 10_000, 20_000));
    expect(silenceState(tl.engine.silences.get('later')!, tl.nowMs)).toBe('pending');
    tl.send([down(1000, 'web-1')]);
    tl.advance(10_000);
    expect(silenceState(tl.engine.silences.get('later')!, tl.nowMs)).toBe('active');
    tl.advance(20_000);
    expect(silenceState(tl.engine.silences.get('later')!, tl.nowMs)).toBe('expired');
    expect(timeline(tl)).toEqual(['opened! web-1', 'suppressed web-1 by silence:later', 'unsuppressed! web-1']);
  });

  it('hold back the first notification of an incident opened during the silence until it ends, if it is still open', () => {
    const tl = new Timeline(engineFrom(rules));
    put(tl, silence('s', [eq('asset', 'web-1')], 0, 30_000));
    tl.send([down(1000, 'web-1'), down(1000, 'web-2')]);
    tl.send([down(5000, 'web-2')]);
    tl.send([up(6000, 'web-2')]);
    // web-2 was not silenced; web-1 stays open past the silence's end.
    tl.advance(29_000);
    expect(timeline(tl).filter((l) => l.includes('web-1'))).toEqual(['opened web-1 by silence:s']);
    tl.advance(31_000);
    expect(timeline(tl).filter((l) => l.includes('web-1'))).toEqual([
      'opened web-1 by silence:s',
      'unsuppressed web-1',
      'opened! web-1',
    ]);
  });

  it('never notify an incident that opened and resolved during the silence', () => {
    const tl = new Timeline(engineFrom(rules));
    put(tl, silence('s', [eq('asset', 'web-1')], 0, 30_000));
    tl.send([down(1000, 'web-1')]);
    tl.send([up(5000, 'web-1')]);
    tl.advance(120_000);
    expect(tl.changes.filter((c) => c.notify)).toEqual([]);
  });

  it('expired early, release their incidents at once, which are notified then', () => {
    const tl = new Timeline(engineFrom(rules));
    const s = silence('s', [eq('asset', 'web-1')], 0, 3_600_000);
    put(tl, s);
    tl.send([down(1000, 'web-1')]);
    tl.advance(5000);
    put(tl, { ...s, endsAtMs: tl.nowMs, updatedAtMs: tl.nowMs });
    expect(silenceState(tl.engine.silences.get('s')!, tl.nowMs)).toBe('expired');
    expect(timeline(tl)).toEqual(['opened web-1 by silence:s', 'unsuppressed web-1', 'opened! web-1']);
  });

  it('overlapping: the incident stays suppressed, by the other one, until the last ends', () => {
    const tl = new Timeline(engineFrom(rules));
    put(tl, silence('a', [eq('asset', 'web-1')], 0, 10_000));
    put(tl, silence('b', [eq('rule', 'asset_down')], 5000, 20_000));
    tl.send([down(1000, 'web-1')]);
    tl.advance(25_000);
    expect(timeline(tl)).toEqual([
      'opened web-1 by silence:a',
      'suppressed web-1 by silence:b',
      'unsuppressed web-1',
      'opened! web-1',
    ]);
  });

  it('are kept in the durable state, across a restart', async () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'vigil-silences-')), 'correlation');
    const open = async () => {
      const store = new DurableStateStore({ dir, logger: createLogger('silent'), registry: new Registry() });
      await store.open();
      return store;
    };
    const first = await open();
    const s = silence('kept', [eq('asset', 'web-1')], 0, 60_000);
    engineFrom(rules, first).putSilence(s, 1000);
    await first.commit();
    await first.close();
    const second = await open();
    const tl = new Timeline(engineFrom(rules, second), 2000);
    expect(tl.engine.silences.list()).toEqual([s]);
    tl.send([down(3000, 'web-1')]);
    expect(timeline(tl)).toEqual(['opened web-1 by silence:kept']);
    await second.close();
  });
});
