import { describe, expect, it } from 'vitest';
import type { IncidentRecord } from '../../src/correlation/incidentBook.ts';
import type { StateValue } from '../../src/correlation/stateStore.ts';
import { engineFrom, ev } from '../support/correlation.ts';
import { encodeEntry } from '../../src/state/durableStore.ts';
import { MemoryStateStore } from '../../src/state/memoryStore.ts';
import {
  CHECKPOINT_FIELD,
  CheckpointChangeTracker,
  decodeCheckpointEntry,
  encodeCheckpointEntry,
  restoreCheckpoint,
  setFieldNames,
} from '../../src/state/stateCheckpoint.ts';

/** The store's entries as a checkpoint encodes them, by key. */
function entries(store: MemoryStateStore): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, entry] of store.exportEntries()) out[key] = encodeCheckpointEntry(entry);
  return out;
}

/** One checkpoint: the tracker's changes applied to a hash, as a write of them would. */
function apply(hash: Record<string, string>, tracker: CheckpointChangeTracker): { set: string[]; removed: string[] } {
  const { set, remove } = tracker.take();
  for (const key of remove) delete hash[key];
  for (let i = 0; i < set.length; i += 2) hash[set[i]!] = set[i + 1]!;
  return { set: set.filter((_, i) => i % 2 === 0).sort(), removed: remove.sort() };
}

const COUNT = 'c:errors{service="a"}';
const MARK = 'm:link{asset="sw1"}';
const OTHER_MARK = 'm:link{asset="sw2"}';
const RECORD = 'i:errors{service="a"}';

describe('checkpoints of a memory store, written a little at a time', () => {
  it('writes what changed since the last one, removes what is gone, and restores to the same entries', () => {
    const store = new MemoryStateStore();
    const tracker = new CheckpointChangeTracker(store);
    const hash: Record<string, string> = {};
    store.addCount(COUNT, 1, 1, 60_000);
    store.raise(MARK, 5, 10_000);
    store.raise(OTHER_MARK, 5, 10_000);
    store.write(RECORD, { status: 'open' }, 1, 60_000);
    expect(apply(hash, tracker)).toEqual({ set: [COUNT, RECORD, MARK, OTHER_MARK].sort(), removed: [] });
    // Nothing written since: nothing to write.
    expect(apply(hash, tracker)).toEqual({ set: [], removed: [] });

    store.addCount(COUNT, 1, 2, 60_000);
    store.delete(RECORD, 2);
    expect(apply(hash, tracker).set).toEqual([COUNT, RECORD].sort());
    expect(hash).toEqual(entries(store));

    // Keys the sweep removes are gone at the next checkpoint, written since the last one or not.
    store.raise(MARK, 6, 12_000);
    store.sweep(20_000);
    expect(store.entryOf(MARK)).toBeUndefined();
    expect(store.entryOf(OTHER_MARK)).toBeUndefined();
    expect(apply(hash, tracker)).toEqual({ set: [], removed: [MARK, OTHER_MARK].sort() });
    expect(apply(hash, tracker)).toEqual({ set: [], removed: [] });
    expect(hash).toEqual(entries(store));

    const restored = restoreCheckpoint({ ...hash, [`${CHECKPOINT_FIELD}position`]: '17-0' });
    expect(entries(restored.store)).toEqual(entries(store));
    expect(restored.entries).toBe(Object.keys(hash).length);
    expect(restored.fields).toEqual(new Map([[`${CHECKPOINT_FIELD}position`, '17-0']]));

    // A tracker on the restored store counts what it holds as written: a key swept later is removed.
    const next = new CheckpointChangeTracker(restored.store);
    restored.store.sweep(120_000);
    expect(next.take().remove.sort()).toEqual(
      Object.keys(hash)
        .filter((k) => !restored.store.entryOf(k))
        .sort(),
    );
    expect(next.take().remove).toEqual([]);
  });

  it('writes what each key holds at the take, however it changed since the last: rewritten, made anew, made and gone', () => {
    const store = new MemoryStateStore();
    store.write(RECORD, { status: 'open' }, 1, 60_000);
    store.addCount(COUNT, 1, 1, 60_000);
    store.raise(MARK, 5, 10_000);
    const tracker = new CheckpointChangeTracker(store);
    const hash: Record<string, string> = { ...entries(store) };
    // Between two checkpoints: a register written twice (each write a new entry), a counter
    // deleted and counted again, a mark expired by the sweep and raised again, a key made and gone.
    store.write(RECORD, { status: 'acknowledged' }, 2, 600_000);
    store.write(RECORD, { status: 'resolved' }, 3, 600_000);
    store.addCount(COUNT, 1, 2, 60_000);
    store.delete(COUNT, 4);
    store.sweep(70_000);
    store.addCount(COUNT, 70, 7, 130_000);
    store.raise(MARK, 80_000, 140_000);
    store.write('r:brief', 'x', 1, 90_000);
    store.delete('r:brief', 2);
    store.sweep(100_000);
    apply(hash, tracker);
    expect(hash).toEqual(entries(store));
    expect(store.read(RECORD)!.value).toEqual({ status: 'resolved' });
    expect(hash[COUNT]).toBe(encodeCheckpointEntry(store.entryOf(COUNT)!));
  });

  it('gives each key changed once, to write or to remove: gone and made again, made and gone twice', () => {
    const store = new MemoryStateStore();
    store.raise(MARK, 5, 10_000);
    store.raise(OTHER_MARK, 5, 10_000);
    const tracker = new CheckpointChangeTracker(store);
    tracker.take();
    // MARK: expired by the sweep, raised again, expired and raised again. OTHER_MARK: expired,
    // raised, expired again. A counter made and deleted twice.
    store.sweep(20_000);
    store.raise(MARK, 6, 30_000);
    store.raise(OTHER_MARK, 6, 25_000);
    store.sweep(35_000);
    store.raise(MARK, 7, 50_000);
    store.addCount(COUNT, 1, 1, 40_000);
    store.delete(COUNT, 1);
    store.addCount(COUNT, 2, 1, 40_000);
    store.delete(COUNT, 2);
    const { set, remove } = tracker.take();
    expect(set.filter((_, i) => i % 2 === 0)).toEqual([MARK]);
    expect(set[1]).toBe(encodeCheckpointEntry(store.entryOf(MARK)!));
    expect(remove.sort()).toEqual([COUNT, OTHER_MARK].sort());
    // Taken: the next take starts empty, and a key changed after it comes again.
    expect(tracker.take()).toEqual({ set: [], remove: [] });
    store.raise(MARK, 8, 50_000);
    expect(tracker.take().set.filter((_, i) => i % 2 === 0)).toEqual([MARK]);
  });

  it('notes every change to an entry: merges of other agents, a later expiry, a set’s limit, a deletion', () => {
    const store = new MemoryStateStore('agent-a');
    store.raise(MARK, 5, 10_000);
    store.addToSet('s:seen', 'x', 3, 10_000);
    store.write(RECORD, { status: 'open' }, 1, 60_000);
    const tracker = new CheckpointChangeTracker(store);
    const hash: Record<string, string> = { ...entries(store) };
    // Nothing new: a mark no higher and no later, a member the set holds.
    store.raise(MARK, 4, 9_000);
    store.addToSet('s:seen', 'x', 3, 10_000);
    expect(apply(hash, tracker)).toEqual({ set: [], removed: [] });
    store.raise(MARK, 5, 11_000);
    store.addToSet('s:seen', 'x', 5, 10_000);
    store.merge({ kind: 'count', key: COUNT, bucket: 1, delta: 4, expiresAtMs: 60_000 });
    store.merge({
      kind: 'register',
      key: RECORD,
      register: { value: { status: 'acked' }, version: 2, writer: 'agent-b' },
      expiresAtMs: 60_000,
    });
    expect(apply(hash, tracker)).toEqual({ set: [COUNT, RECORD, MARK, 's:seen'].sort(), removed: [] });
    store.merge({ kind: 'delete', key: COUNT, version: 3, writer: 'agent-b' });
    expect(apply(hash, tracker)).toEqual({ set: [], removed: [COUNT] });
    expect(hash).toEqual(entries(store));
    expect(entries(restoreCheckpoint(hash).store)).toEqual(entries(store));
  });

  it('writes what a long set gained, not the whole set, and brings back the same set; a holder after a restore goes on', () => {
    const TRAIL = 'au:link{asset="sw1"}';
    const at = (i: number) => `${String(1_000 + i).padStart(8, '0')}|flap ${i}`;
    const store = new MemoryStateStore();
    const tracker = new CheckpointChangeTracker(store);
    const hash: Record<string, string> = {};
    for (let i = 0; i < 100; i++) store.addToSet(TRAIL, at(i), 100, 60_000);
    apply(hash, tracker);
    const whole = hash[TRAIL]!.length;
    // A flapping incident's trail: one entry more at each checkpoint, the oldest falling off.
    const bytes: number[] = [];
    for (let i = 100; i < 112; i++) {
      store.addToSet(TRAIL, at(i), 100, 60_000 + i);
      const { set, remove } = tracker.take();
      for (const key of remove) delete hash[key];
      for (let k = 0; k < set.length; k += 2) hash[set[k]!] = set[k + 1]!;
      bytes.push(set.reduce((n, v, k) => (k % 2 ? n + v.length : n), 0));
      expect(entries(restoreCheckpoint(hash).store)).toEqual(entries(store));
    }
    // Most checkpoints write the entry gained, a tenth of the set or less; now and then the set whole.
    expect(bytes.filter((b) => b < whole / 10).length).toBeGreaterThanOrEqual(8);
    expect(bytes.filter((b) => b >= whole).length).toBeGreaterThanOrEqual(1);
    // What the checkpoint holds of it is the set and a few fields more, never more and more of them.
    const fieldsOf = () => Object.keys(hash).filter((k) => setFieldNames(TRAIL).includes(k));
    expect(fieldsOf().length).toBeLessThanOrEqual(setFieldNames(TRAIL).length);

    // Swept and made anew between two checkpoints, with some of the members it had: written
    // whole, not added to what it was.
    store.sweep(70_000);
    for (let i = 100; i < 112; i++) if (i !== 105) store.addToSet(TRAIL, at(i), 100, 90_000);
    store.addToSet(TRAIL, at(200), 100, 90_000);
    apply(hash, tracker);
    expect(entries(restoreCheckpoint(hash).store)).toEqual(entries(store));
    store.addToSet(TRAIL, at(201), 100, 90_000);
    apply(hash, tracker);
    expect(entries(restoreCheckpoint(hash).store)).toEqual(entries(store));

    // The next holder goes on from what the checkpoint holds: its additions and its removal.
    const restored = restoreCheckpoint(hash);
    const next = new CheckpointChangeTracker(restored.store, restored.sets);
    restored.store.addToSet(TRAIL, at(211), 100, 95_000);
    apply(hash, next);
    expect(entries(restoreCheckpoint(hash).store)).toEqual(entries(restored.store));
    restored.store.sweep(100_000);
    apply(hash, next);
    expect(fieldsOf()).toEqual([]);
    expect(restoreCheckpoint(hash).store.entryOf(TRAIL)).toBeUndefined();
  });

  it('keeps times without end and any register value or key as they were', () => {
    const store = new MemoryStateStore();
    const tracker = new CheckpointChangeTracker(store);
    const odd = 'i:errors{service="a\\"b\u00e9\u2028"}';
    store.addCount(COUNT, 3, 2, Infinity);
    store.raise(MARK, -Infinity, Infinity);
    store.write(odd, { text: 'line\nbreak "quoted" \u{1F600}', list: [1.5, -2e-7, null, true] }, 7, Infinity);
    store.addToSet('s:seen', 'b"', 2, 5_000);
    store.addToSet('s:seen', 'a\\', 2, 5_000);
    const hash: Record<string, string> = {};
    apply(hash, tracker);
    for (const value of Object.values(hash)) expect(() => JSON.parse(value) as unknown).not.toThrow();
    const restored = restoreCheckpoint(hash).store;
    // As data (structuredClone): a store marks its entries for its own change list, which is not state.
    expect(structuredClone([...restored.exportEntries()].sort())).toEqual(
      structuredClone([...store.exportEntries()].sort()),
    );
  });

  it('writes an incident record as rows, under half its bytes whole, and brings back the same record whatever it holds', () => {
    const store = new MemoryStateStore();
    const tracker = new CheckpointChangeTracker(store);
    const engine = engineFrom(
      `
defaults: { group_wait: 0s }
rules:
  - { kind: threshold, name: errors, match: 'severity_text == "ERROR"', group_by: [service], window: 60s, threshold: 2 }
`,
      store,
    );
    engine.process(
      [ev(1_000, { service: 'a', severityText: 'ERROR' }), ev(2_000, { service: 'a', severityText: 'ERROR' })],
      2_000,
    );
    const made = store.read(RECORD)!.value as unknown as IncidentRecord;
    expect(made.incident.status).toBe('open');
    // Every optional field there, one a later version added, and a null where the lists expect a value.
    const full: IncidentRecord = {
      ...made,
      incident: {
        ...made.incident,
        mergedIds: ['m1', 'm2'],
        mergedInto: 'm3',
        acknowledgedAtMs: 3_000,
        acknowledgedBy: 'ops "night"',
        assignee: 'é\u2028',
      },
      notifiedCount: 2,
      baseline: 5,
      sealed: { '17': 4 },
      heardBy: ['17'],
      statusAtMs: 1_000,
      resolveHeldUntilMs: 9_000,
      resolutionToldMs: 8_000,
      assignedAtMs: 4_000,
    };
    const later = { ...full, incident: { ...full.incident, rank: 3 }, region: { name: 'eu' } };
    const withNull = { ...full, incident: { ...full.incident, assignee: null } };
    const keys = [RECORD, 'i:errors{service="full"}', 'i:errors{service="later"}', 'i:errors{service="null"}'];
    store.write(keys[1]!, full as unknown as StateValue, 3, Infinity);
    store.write(keys[2]!, later as unknown as StateValue, 3, Infinity);
    store.write(keys[3]!, withNull as unknown as StateValue, 3, Infinity);
    const hash: Record<string, string> = {};
    apply(hash, tracker);
    const whole = (key: string) => JSON.stringify(store.read(key)!.value).length;
    for (const key of keys.slice(0, 3)) {
      expect(JSON.parse(hash[key]!)[0]).toBe('i');
      expect(hash[key]!.length).toBeLessThan(whole(key) / 2);
    }
    expect(JSON.parse(hash[keys[3]!]!)[0]).toBe('r');
    const restored = restoreCheckpoint(hash).store;
    // As the checkpoint holds every record: without the trail and sample its engine keeps in their sets.
    for (const key of keys) {
      const { value, ...rest } = store.read(key)!;
      expect(restored.read(key)).toEqual({ ...rest, value: store.bareRegister(key, value) });
      expect(restored.entryOf(key)!.expiresAtMs).toBe(store.entryOf(key)!.expiresAtMs);
    }
    expect((restored.read(keys[2]!)!.value as unknown as { incident: { rank: number } }).incident.rank).toBe(3);
  });

  it('reads a checkpoint an older version wrote, in the durable snapshot’s encoding', () => {
    const store = new MemoryStateStore();
    store.addCount(COUNT, 1, 3, 60_000);
    store.raise(MARK, 5, Infinity);
    store.write(RECORD, { status: 'open' }, 1, 60_000);
    store.addToSet('s:seen', 'x', 3, 10_000);
    const old: Record<string, string> = {};
    for (const [key, entry] of store.exportEntries()) old[key] = JSON.stringify(encodeEntry(key, entry));
    expect(entries(restoreCheckpoint(old).store)).toEqual(entries(store));
    expect(decodeCheckpointEntry(old[MARK]!)).toEqual(structuredClone(store.entryOf(MARK)));
  });
});
