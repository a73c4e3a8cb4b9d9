import { describe, expect, it } from 'vitest';
import { joinIncidentRecords } from '../../src/correlation/incidentJoin.ts';
import type { IncidentRecord } from '../../src/correlation/incidentBook.ts';
import { engineFrom, ev, Timeline } from '../support/correlation.ts';

const rules = (defaults: string) => `
defaults: { allowed_lateness: 1m, ${defaults} }
rules:
  - { kind: pair, name: link, group_by: [asset] }
`;
const down = (t: number, sev = 13) =>
  ev(t, { asset: 'sw-1', type: 'down', severityNumber: sev, severityText: sev >= 17 ? 'ERROR' : 'WARN' });
const up = (t: number) => ev(t, { asset: 'sw-1', type: 'up' });

function openIncident(defaults = 'group_wait: 0s, group_interval: 1m, repeat_interval: 10m, reopen_window: 5m') {
  const tl = new Timeline(engineFrom(rules(defaults)));
  tl.send([down(0)]);
  const id = tl.changes[0]!.incident.id;
  return { tl, id };
}

describe('a person acts on an incident through the core', () => {
  it('acknowledges: a told change with its actor, in the audit trail; reminders stop, events still attach and resolve it', () => {
    const { tl, id } = openIncident();
    const out = tl.engine.act(id, 'alice', { kind: 'acknowledge', reason: 'looking at it' }, 5_000);
    expect(out.ok).toBe(true);
    if (!out.ok) return;
    expect(out.changes.map((c) => [c.kind, c.notify, c.actor, c.reason])).toEqual([
      ['acknowledged', true, 'alice', 'acknowledged by alice: looking at it'],
    ]);
    expect(out.incident).toMatchObject({ status: 'acknowledged', acknowledgedAtMs: 5_000, acknowledgedBy: 'alice' });
    expect(out.incident.audit.at(-1)).toEqual({
      atMs: 5_000,
      kind: 'acknowledged',
      reason: 'acknowledged by alice: looking at it',
      actor: 'alice',
    });
    // No repeat_interval reminder while someone works on it.
    tl.advance(30 * 60_000);
    expect(tl.changes.filter((c) => c.kind === 'updated')).toEqual([]);
    // Still its rule's: a higher severity escalates it (staying acknowledged), the up event resolves it.
    tl.send([down(31 * 60_000, 17)]);
    expect(tl.changes.at(-1)).toMatchObject({ kind: 'escalated', incident: { status: 'acknowledged' } });
    tl.send([up(32 * 60_000)]);
    expect(tl.changes.at(-1)).toMatchObject({ kind: 'resolved', incident: { status: 'resolved' } });
  });

  it('refuses what the state forbids, with a stable reason, and changes nothing then', () => {
    const { tl, id } = openIncident();
    expect(tl.engine.act('nope', 'alice', { kind: 'acknowledge', reason: '' }, 1_000)).toMatchObject({
      ok: false,
      refusal: 'not_found',
    });
    expect(tl.engine.act(id, 'alice', { kind: 'reopen', reason: '' }, 1_000)).toMatchObject({
      ok: false,
      refusal: 'not_resolved',
    });
    tl.engine.act(id, 'alice', { kind: 'acknowledge', reason: '' }, 1_000);
    const version = tl.engine.incidentById(id)!.incident.version;
    expect(tl.engine.act(id, 'bob', { kind: 'acknowledge', reason: '' }, 2_000)).toMatchObject({
      ok: false,
      refusal: 'already_acknowledged',
      message: expect.stringContaining('alice'),
    });
    tl.engine.act(id, 'bob', { kind: 'resolve', reason: 'fixed the cable' }, 3_000);
    for (const kind of ['acknowledge', 'resolve'] as const)
      expect(tl.engine.act(id, 'bob', { kind, reason: '' }, 4_000)).toMatchObject({ ok: false, refusal: 'resolved' });
    expect(tl.engine.act(id, 'bob', { kind: 'assign', assignee: 'carol', reason: '' }, 4_000)).toMatchObject({
      ok: false,
      refusal: 'resolved',
    });
    expect(tl.engine.incidentById(id)!.incident.version).toBe(version + 1);
    // A post-mortem note on a resolved incident is welcome.
    expect(tl.engine.act(id, 'bob', { kind: 'comment', text: 'root cause: a loose cable' }, 5_000)).toMatchObject({
      ok: true,
    });
  });

  it('resolves by hand at once (no hold), and the rule reopens it within reopen_window; a reopen by hand clears the acknowledgement', () => {
    const { tl, id } = openIncident();
    tl.engine.act(id, 'alice', { kind: 'acknowledge', reason: '' }, 1_000);
    const resolved = tl.engine.act(id, 'alice', { kind: 'resolve', reason: 'replaced the switch' }, 2_000);
    expect(resolved.ok && resolved.changes.map((c) => [c.kind, c.notify, c.held, c.actor, c.reason])).toEqual([
      ['resolved', true, undefined, 'alice', 'resolved by alice: replaced the switch'],
    ]);
    expect(tl.engine.openIncidents()).toEqual([]);
    const reopened = tl.engine.act(id, 'bob', { kind: 'reopen', reason: 'still flapping' }, 3_000);
    expect(reopened.ok && reopened.changes.map((c) => [c.kind, c.notify, c.actor])).toEqual([
      ['reopened', true, 'bob'],
    ]);
    expect(reopened.ok && reopened.incident).toMatchObject({ status: 'open', resolvedAtMs: 0, id });
    expect(reopened.ok && reopened.incident.acknowledgedBy).toBeUndefined();
    tl.engine.act(id, 'bob', { kind: 'resolve', reason: '' }, 4_000);
    tl.send([down(5_000)]);
    expect(tl.changes.at(-1)).toMatchObject({ kind: 'reopened', incident: { id, status: 'open' } });
  });

  it('tells nobody of a change to an incident nobody was told of (still in group_wait), but records it', () => {
    const { tl, id } = openIncident('group_wait: 1m');
    const out = tl.engine.act(id, 'alice', { kind: 'comment', text: 'seen it' }, 1_000);
    expect(out.ok && out.changes.map((c) => [c.kind, c.notify, c.reason, c.actor])).toEqual([
      ['commented', false, 'comment by alice: seen it', 'alice'],
    ]);
  });

  it('finds an incident by id whoever wrote it, and not a past incident on the same key', () => {
    const { tl, id } = openIncident('group_wait: 0s, reopen_window: 1m');
    tl.send([up(10_000)]);
    // The next incident on the key, opened after reopen_window: the old id names nothing the store holds.
    tl.send([down(600_000)]);
    const next = tl.changes.at(-1)!.incident;
    expect(next.id).not.toBe(id);
    expect(tl.engine.act(id, 'alice', { kind: 'comment', text: 'x' }, 600_001)).toMatchObject({
      ok: false,
      refusal: 'not_found',
    });
    expect(tl.engine.incidentById(next.id)?.incident.key).toBe(next.key);
    // A record this engine never wrote (another agent's, as shared state brings it) is found too.
    const other = engineFrom(rules('group_wait: 0s'));
    const store = tl.engine.store;
    const raw = store.read('i:' + next.key)!;
    other.store.write('i:' + next.key, structuredClone(raw.value), raw.version, Number.MAX_SAFE_INTEGER);
    expect(other.act(next.id, 'bob', { kind: 'acknowledge', reason: '' }, 600_002)).toMatchObject({
      ok: true,
      incident: { id: next.id, status: 'acknowledged' },
    });
  });

  it('assigns and unassigns', () => {
    const { tl, id } = openIncident();
    const a = tl.engine.act(id, 'alice', { kind: 'assign', assignee: 'carol', reason: 'on call' }, 1_000);
    expect(a.ok && [a.incident.assignee, a.changes[0]!.reason]).toEqual([
      'carol',
      'assigned to carol by alice: on call',
    ]);
    const b = tl.engine.act(id, 'carol', { kind: 'assign', assignee: '', reason: '' }, 2_000);
    expect(b.ok && [b.incident.assignee, b.changes[0]!.reason]).toEqual(['', 'unassigned by carol']);
  });

  it('keeps an acknowledgement and the latest assignment when two agents copies of the incident merge', () => {
    const { tl, id } = openIncident();
    const rec = tl.engine.incidentById(id)!;
    const plain = structuredClone(rec);
    tl.engine.act(id, 'alice', { kind: 'acknowledge', reason: '' }, 2_000);
    tl.engine.act(id, 'alice', { kind: 'assign', assignee: 'carol', reason: '' }, 2_500);
    const acked = structuredClone(tl.engine.incidentById(id)!);
    // The other agent attached more events meanwhile: its copy has the higher version.
    plain.incident.version = acked.incident.version + 5;
    plain.incident.eventCount = 9;
    for (const [x, y] of [
      [plain, acked],
      [acked, plain],
    ] as [IncidentRecord, IncidentRecord][]) {
      const joined = joinIncidentRecords(x, y, 100).incident;
      expect(joined).toMatchObject({
        status: 'acknowledged',
        acknowledgedBy: 'alice',
        assignee: 'carol',
        eventCount: 9,
      });
    }
    // An acknowledgement from before a reopening is over.
    const reopened = structuredClone(plain);
    reopened.statusAtMs = 3_000;
    expect(joinIncidentRecords(reopened, acked, 100).incident.status).toBe('open');
  });
});
