import { describe, expect, it } from 'vitest';
import type { CorrelationEngine } from '../../src/correlation/engine.ts';
import type { VigilEvent } from '../../src/model/event.ts';
import { decodeEntry, encodeEntry, type EncodedEntry } from '../../src/state/durableStore.ts';
import { MemoryStateStore } from '../../src/state/memoryStore.ts';
import { CHECKPOINT_FIELD, CheckpointChangeTracker, restoreCheckpoint } from '../../src/state/stateCheckpoint.ts';
import { engineFrom, ev } from '../support/correlation.ts';
import { mixedRules, mixedStream, noteOpenings } from '../support/mixedStream.ts';

// The core's state is its store's entries: an engine started on a copy of them, taken at a
// checkpoint, and fed the same events from there, makes the same incidents as the engine that
// never stopped. An owner of groups that crashed and is brought back from a checkpoint and a
// replay of its events relies on it (docs/benchmarks.md, "the owners design").
const BATCH = 50;

/** Feeds batches `from` to `to` (exclusive), ticking every second of event time before each; returns the next tick. */
function feed(
  engine: CorrelationEngine,
  events: VigilEvent[],
  from: number,
  to: number,
  tick: number,
  into: Set<string>,
) {
  for (let i = from; i < to; i += BATCH) {
    const batch = events.slice(i, Math.min(to, i + BATCH));
    const nowMs = Number(batch.at(-1)!.timeUnixNano / 1_000_000n);
    for (; tick <= nowMs; tick += 1000) noteOpenings(engine.tick(tick), into);
    noteOpenings(engine.process(batch, nowMs), into);
  }
  return tick;
}

/** The store's entries taken whole, as JSON of the durable snapshot's encoding. */
function checkpoint(store: MemoryStateStore): string {
  return JSON.stringify([...store.exportEntries()].map(([key, entry]) => encodeEntry(key, entry)));
}

function restore(text: string): MemoryStateStore {
  const store = new MemoryStateStore();
  for (const e of JSON.parse(text) as EncodedEntry[]) store.load(e[1], decodeEntry(e));
  return store;
}

describe('an engine brought back from a checkpoint of its store', () => {
  it.each([1, 2, 3])(
    'makes the same openings and resolutions, at the same times, as one that never stopped, replaying what came after (seed %i)',
    (seed) => {
      const events = mixedStream(seed, 6000);
      const cut = 2000; // the checkpoint, a batch boundary
      const crash = 3500; // the first engine's end: what it did after the checkpoint is done again
      const whole = new Set<string>();
      feed(engineFrom(mixedRules), events, 0, events.length, 1000, whole);

      const store = new MemoryStateStore();
      const first = engineFrom(mixedRules, store);
      const pieces = new Set<string>();
      const tickAtCut = feed(first, events, 0, cut, 1000, pieces);
      const saved = checkpoint(store);
      feed(first, events, cut, crash, tickAtCut, pieces);
      feed(engineFrom(mixedRules, restore(saved)), events, cut, events.length, tickAtCut, pieces);

      expect(whole.size).toBeGreaterThan(100);
      expect([...pieces].sort()).toEqual([...whole].sort());
    },
  );

  it.each([1, 2, 3])(
    'does so from checkpoints written a little at a time, the changed entries only (seed %i)',
    (seed) => {
      const events = mixedStream(seed, 6000);
      const whole = new Set<string>();
      feed(engineFrom(mixedRules), events, 0, events.length, 1000, whole);

      const store = new MemoryStateStore();
      const first = engineFrom(mixedRules, store);
      const tracker = new CheckpointChangeTracker(store);
      const hash: Record<string, string> = {};
      const pieces = new Set<string>();
      let tick = 1000;
      let at = 0;
      let saved = { hash: { ...hash }, at, tick };
      // A checkpoint every 250 events up to the 3,650th; the crash comes 150 events after the last.
      for (; at + 250 <= 3650; at += 250) {
        tick = feed(first, events, at, at + 250, tick, pieces);
        const { set, remove } = tracker.take();
        for (const key of remove) delete hash[key];
        for (let i = 0; i < set.length; i += 2) hash[set[i]!] = set[i + 1]!;
        saved = { hash: { ...hash }, at: at + 250, tick };
      }
      feed(first, events, at, at + 150, tick, pieces);
      const restored = restoreCheckpoint(saved.hash);
      // Every field is an entry, but for what long sets gained since they were written whole.
      const gains = Object.keys(saved.hash).filter((k) => k.startsWith(CHECKPOINT_FIELD));
      expect(gains.length).toBeGreaterThan(0);
      expect(restored.entries).toBe(Object.keys(saved.hash).length - gains.length);
      feed(engineFrom(mixedRules, restored.store), events, saved.at, events.length, saved.tick, pieces);

      expect(whole.size).toBeGreaterThan(100);
      expect([...pieces].sort()).toEqual([...whole].sort());
    },
  );

  it('keeps an open incident’s last event time: brought back, it resolves when the engine that never stopped does', () => {
    // A steady trickle of errors keeps the incident open; past its sample, an event moves only
    // the incident's last-seen mark, not its record. Brought back, and its timers run before the
    // group's next event: the window counts from the last event, not from the record's older time.
    const rules = `
defaults: { group_wait: 0s }
rules:
  - { kind: threshold, name: errors, match: 'severity_text == "ERROR"', group_by: [service], window: 30s, bucket: 5s, threshold: 5 }
`;
    const events = Array.from({ length: 240 }, (_, i) => ev(1000 + i * 500, { service: 'api', severityText: 'ERROR' }));
    const lastMs = 1000 + 239 * 500;
    const runTimers = (engine: CorrelationEngine, into: Set<string>) => {
      for (let t = lastMs - (lastMs % 1000) + 1000; t <= lastMs + 60_000; t += 1000) noteOpenings(engine.tick(t), into);
    };
    const whole = new Set<string>();
    const one = engineFrom(rules);
    feed(one, events, 0, events.length, 1000, whole);
    runTimers(one, whole);

    // Checkpoints of the changed entries: one early, while the record still changed with each
    // event, and one after the last event.
    const store = new MemoryStateStore();
    const tracker = new CheckpointChangeTracker(store);
    const hash: Record<string, string> = {};
    const save = () => {
      const { set, remove } = tracker.take();
      for (const key of remove) delete hash[key];
      for (let i = 0; i < set.length; i += 2) hash[set[i]!] = set[i + 1]!;
    };
    const pieces = new Set<string>();
    const first = engineFrom(rules, store);
    const tick = feed(first, events, 0, 20, 1000, pieces);
    save();
    feed(first, events, 20, events.length, tick, pieces);
    save();
    runTimers(engineFrom(rules, restoreCheckpoint(hash).store), pieces);

    // The window of buckets 120–150 s holds the last two events only.
    expect([...whole].filter((x) => x.startsWith('resolved'))).toEqual(['resolved errors{service="api"}@150000']);
    expect([...pieces].sort()).toEqual([...whole].sort());
  });

  it('tells the same audit trail and sample after it, from records that do not carry them', () => {
    // A flapping link (a hundred entries in its trail) and a disk alert that fills its sample.
    // The record leaves both to their sets, in the checkpoint as in the store: written whole on
    // every change, a flapping incident's record would carry its whole trail each time.
    const rules = `
defaults: { group_wait: 0s, group_interval: 0s }
rules:
  - { kind: pair, name: link, match: 'attributes["check"] == "link"', group_by: [asset] }
  - { kind: dedup, name: disk, match: 'attributes["check"] == "disk"', group_by: [asset], sample_size: 5 }
`;
    const events: VigilEvent[] = [];
    for (let i = 0; i < 160; i++) {
      const at = 1_000 + i * 1_000;
      events.push(ev(at, { asset: 'sw1', type: i % 2 ? 'up' : 'down', attributes: { check: 'link' } }));
      events.push(ev(at + 500, { asset: 'db1', title: 'disk full', attributes: { check: 'disk' } }));
    }
    const cut = 240;
    const told = (engine: CorrelationEngine, from: number) => {
      const changes: [string, string[], string[]][] = [];
      for (let i = from; i < events.length; i += 20) {
        const batch = events.slice(i, i + 20);
        for (const c of engine.process(batch, Number(batch.at(-1)!.timeUnixNano / 1_000_000n)))
          changes.push([
            `${c.kind} ${c.incident.key}`,
            c.incident.audit.map((a) => `${a.atMs} ${a.kind}`),
            c.incident.sampleEventIds,
          ]);
      }
      return changes;
    };

    const store = new MemoryStateStore();
    const tracker = new CheckpointChangeTracker(store);
    const hash: Record<string, string> = {};
    const first = engineFrom(rules, store);
    const sizes: number[] = [];
    for (let at = 0; at < cut; at += 20) {
      first.process(events.slice(at, at + 20), Number(events[at + 19]!.timeUnixNano / 1_000_000n));
      const { set } = tracker.take();
      for (let i = 0; i < set.length; i += 2) hash[set[i]!] = set[i + 1]!;
      sizes.push(hash['i:link{asset="sw1"}']!.length);
    }
    // The link's record as checkpointed stays the size it had at its first changes (digits of times and counts aside).
    expect(first.incidents().find((r) => r.incident.rule === 'link')!.incident.audit.length).toBe(100);
    expect(Math.max(...sizes) - sizes[0]!).toBeLessThan(200);

    const brought = engineFrom(rules, restoreCheckpoint(hash).store);
    // As the operators' API shows them, and as their next changes tell them.
    const shown = (engine: CorrelationEngine) =>
      engine.incidents().map((r) => [r.incident.key, r.incident.audit, r.incident.sampleEventIds]);
    expect(shown(brought)).toEqual(shown(first));
    const after = told(brought, cut);
    expect(after.length).toBeGreaterThan(30);
    const all = told(engineFrom(rules), 0);
    expect(after).toEqual(all.slice(all.length - after.length));
  });
});
