import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { registry } from '../../../src/components.ts';
import { parseConfig } from '../../../src/service/config/load.ts';
import {
  flushDueAtMs,
  flushGroup,
  groupOf,
  joinGroup,
  type GroupState,
  type QueuedChange,
} from '../../../src/exporters/tickets/notificationGroups.ts';
import { routingSchema } from '../../../src/exporters/tickets/routingTree.ts';
import type { RouteGrouping } from '../../../src/exporters/tickets/routeGrouping.ts';
import type { Incident, IncidentChange } from '../../../src/model/incident.ts';
import { assetDown, compileTree as compileTreeFor, parseWith } from '../incidentFixtures.ts';

const compileTree = (raw: object) => compileTreeFor(raw, ['a', 'b']);

const TREE = {
  receiver: 'a',
  group_by: ['site'],
  group_wait: '30s',
  group_interval: '5m',
  repeat_interval: '1h',
  routes: [
    { matchers: ['severity >= error'], receiver: 'b', group_by: ['site', 'alertname'], group_wait: '10s' },
    { matchers: ['service = "batch"'], group_by: ['...'] },
  ],
  receivers: [
    { name: 'a', exporters: ['a'] },
    { name: 'b', exporters: ['b'] },
  ],
};

/** An asset down at `site`, a warning with no service or tenant. */
const asset = (name: string, site: string, over: Partial<Incident> = {}) =>
  assetDown(name, site, { severityNumber: 13, severityText: 'WARN', service: '', tenant: '', ...over });

/** One route's groups, run on a clock the test moves: what each flush sent. */
class Groups {
  readonly states = new Map<string, GroupState>();
  readonly sent: QueuedChange[] = [];
  now = Date.parse('2026-12-01T10:00:00Z');
  private readonly grouping: RouteGrouping;
  constructor(grouping: RouteGrouping) {
    this.grouping = grouping;
  }

  add(change: IncidentChange): void {
    const key = groupOf(this.grouping, change.incident).key;
    const next = joinGroup(this.states.get(key), this.grouping, change, this.now);
    if (next) this.states.set(key, next);
  }

  /** Moves the clock by `ms`, flushing every group whose flush falls due on the way, in time order. */
  advance(ms: number): void {
    const end = this.now + ms;
    for (;;) {
      const due = [...this.states.values()].map(flushDueAtMs).filter((t) => t <= end);
      if (due.length === 0) break;
      this.now = Math.max(this.now, Math.min(...due));
      for (const g of [...this.states.values()]) {
        if (flushDueAtMs(g) > this.now) continue;
        const f = flushGroup(g, this.now);
        if (f.send) this.sent.push(f.send);
        if (f.next) this.states.set(g.key, f.next);
        else this.states.delete(g.key);
      }
    }
    this.now = end;
  }

  members(i: number): string[] {
    return this.sent[i]!.group!.members.map((m) => `${m.firing ? 'firing' : 'resolved'} ${m.incident.asset}`);
  }
}

const S = 1000;
const M = 60 * S;

describe('route grouping settings', () => {
  const tree = compileTree(TREE);
  const warn = asset('web-1', 'paris').next('opened');

  it('inherits group_by and the timers from the parent, and keys groups as Alertmanager does', () => {
    const [root] = tree.match(warn, 0);
    expect(root!.grouping).toEqual({
      routeKey: '{}',
      by: ['site'],
      waitMs: 30 * S,
      intervalMs: 5 * M,
      repeatMs: 60 * M,
    });
    expect(groupOf(root!.grouping!, warn.incident)).toEqual({ key: '{}:{site="paris"}', labels: { site: 'paris' } });
    const err = asset('db-1', 'lyon', { severityNumber: 17, severityText: 'ERROR' }).next('opened');
    const [sev] = tree.match(err, 0);
    expect(sev!.grouping).toMatchObject({ routeKey: '{}/{severity>="error"}', waitMs: 10 * S, intervalMs: 5 * M });
    expect(groupOf(sev!.grouping!, err.incident).key).toBe(
      '{}/{severity>="error"}:{alertname="asset_down", site="lyon"}',
    );
  });

  it("groups by every label with '...', and not at all where no route sets group_by", () => {
    const batch = asset('cron-1', 'paris', { service: 'batch' }).next('opened');
    const [route] = tree.match(batch, 0);
    expect(route!.grouping!.by).toBe('all');
    expect(groupOf(route!.grouping!, batch.incident).labels).toEqual({
      alertname: 'asset_down',
      asset: 'cron-1',
      service: 'batch',
      severity: 'warn',
      site: 'paris',
    });
    const flat = compileTree({ ...TREE, group_by: undefined, routes: [] });
    expect(flat.match(warn, 0)[0]!.grouping).toBeUndefined();
    expect(flat.takes('a', warn, 0)).toBe(true);
  });

  it("refuses '...' next to other names, and zero intervals, with their YAML paths", () => {
    expect(() => compileTree({ ...TREE, routes: [{ group_by: ['...', 'site'] }] })).toThrow(
      /routing\.routes\[0\]\.group_by: '\.\.\.' \(every label\) must be the only entry/,
    );
    expect(() => parseWith(routingSchema, { ...TREE, group_interval: '0s' })).toThrow(
      /group_interval: must be longer than 0s/,
    );
  });
});

describe('config/examples/routing.yaml', () => {
  it('groups as its comments say', () => {
    const tree = parseConfig(readFileSync('config/examples/routing.yaml', 'utf8'), registry).routing!;
    const [acme, pager] = tree.match(asset('db-1', 'paris', { tenant: 'acme', severityNumber: 17 }).next('opened'), 0);
    expect(acme!.grouping!.by).toBe('all');
    expect(pager!.grouping).toMatchObject({ by: ['alertname', 'site'], waitMs: 10 * S, intervalMs: 5 * M });
  });
});

describe('notification groups on an injected clock', () => {
  const grouping = compileTree(TREE).match(asset('x', 'paris').next('opened'), 0)[0]!.grouping!;

  it('gathers for group_wait, then sends one notification listing every member of the group', () => {
    const g = new Groups(grouping);
    const stories = ['a', 'b', 'c', 'd', 'e'].map((n) => asset(n, 'paris'));
    for (const s of stories.slice(0, 3)) g.add(s.next('opened'));
    g.advance(20 * S);
    for (const s of stories.slice(3)) g.add(s.next('opened'));
    g.add(asset('z', 'lyon').next('opened'));
    g.advance(9 * S);
    expect(g.sent).toHaveLength(0);
    g.advance(1 * S); // 30 s after the first member
    expect(g.sent).toHaveLength(1);
    expect(g.sent[0]!.kind).toBe('opened');
    expect(g.sent[0]!.group!.key).toBe('{}:{site="paris"}');
    expect(g.members(0)).toEqual(['firing a', 'firing b', 'firing c', 'firing d', 'firing e']);
    expect(g.sent[0]!.incident).toMatchObject({ key: '{}:{site="paris"}', status: 'open', rule: 'asset_down' });
    g.advance(19 * S);
    expect(g.sent).toHaveLength(1);
    g.advance(1 * S); // lyon's own group_wait, from its first member at 0:20
    expect(g.sent.map((s) => s.group!.key)).toEqual(['{}:{site="paris"}', '{}:{site="lyon"}']);
  });

  it('batches later changes to the next group_interval tick, and resolves the group when every member has', () => {
    const g = new Groups(grouping);
    const [a, b, c] = ['a', 'b', 'c'].map((n) => asset(n, 'paris'));
    g.add(a!.next('opened'));
    g.add(b!.next('opened'));
    g.advance(30 * S); // first notification at 0:30
    g.advance(1 * M);
    g.add(c!.next('opened'));
    g.add(a!.next('resolved'));
    g.add(b!.next('updated')); // nothing new for the group
    g.advance(3 * M + 59 * S);
    expect(g.sent).toHaveLength(1);
    g.advance(1 * S); // 5:30, one group_interval after the first
    expect(g.sent).toHaveLength(2);
    expect(g.sent[1]!.kind).toBe('updated');
    expect(g.members(1)).toEqual(['firing b', 'firing c', 'resolved a']);
    expect(g.sent[1]!.reason.split('\n')[0]).toBe('1 joined, 1 resolved; 2 firing, 1 resolved');
    // A tick with nothing new sends nothing; the resolved member was dropped after it was sent.
    g.advance(5 * M);
    expect(g.sent).toHaveLength(2);
    g.add(b!.next('resolved'));
    g.add(c!.next('resolved'));
    g.advance(5 * M);
    expect(g.sent).toHaveLength(3);
    expect(g.sent[2]!.kind).toBe('resolved');
    expect(g.sent[2]!.incident.status).toBe('resolved');
    expect(g.members(2)).toEqual(['resolved b', 'resolved c']);
    expect(g.states.size).toBe(0);
  });

  it('repeats an unchanged group at the first group_interval tick after repeat_interval', () => {
    const g = new Groups(grouping);
    g.add(asset('a', 'paris').next('opened'));
    g.advance(30 * S);
    g.advance(60 * M - 1);
    expect(g.sent).toHaveLength(1);
    g.advance(1); // 1:00:30 is a tick (0:30 + 12 × 5 min) and the hour has passed
    expect(g.sent).toHaveLength(2);
    expect(g.sent[1]!.kind).toBe('updated');
    expect(g.sent[1]!.reason).toMatch(/^repeat after 3600s; 1 firing/);
  });

  it('says nothing of an incident that joined and resolved before anyone heard of the group, and forgets it', () => {
    const g = new Groups(grouping);
    const a = asset('a', 'paris');
    g.add(a.next('opened'));
    g.add(a.next('resolved'));
    g.add(asset('b', 'paris').next('resolved')); // never a member
    g.advance(1 * M);
    expect(g.sent).toHaveLength(0);
    expect(g.states.size).toBe(0);
  });

  it("leaves a member firing when a twin of it merges into another agent's incident on the same key", () => {
    const g = new Groups(grouping);
    const a = asset('a', 'paris');
    g.add(a.next('opened'));
    g.advance(30 * S);
    const twin = a.next('resolved');
    g.add({ ...twin, notify: false, incident: { ...twin.incident, id: 'twin', mergedInto: twin.incident.id } });
    g.advance(10 * M);
    expect(g.sent).toHaveLength(1);
    expect(g.states.size).toBe(1);
  });

  it("keeps a person's acknowledgement as news of the member, not as a notification", () => {
    const g = new Groups(grouping);
    const a = asset('a', 'paris');
    g.add(a.next('opened'));
    g.advance(30 * S);
    g.add(a.next('acknowledged'));
    g.advance(10 * M);
    expect(g.sent).toHaveLength(1);
    expect([...g.states.values()][0]!.members[a.next('updated').incident.key]!.kind).toBe('acknowledged');
  });
});
