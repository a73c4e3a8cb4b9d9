import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { PartitionMirror } from '../../../src/connectors/correlation/partitionMirror.ts';
import type { CorrelationEngine } from '../../../src/correlation/engine.ts';
import type { IncidentRecord } from '../../../src/correlation/incidentBook.ts';
import { encodeEntry } from '../../../src/state/durableStore.ts';
import { MemoryStateStore, type StoredEntry } from '../../../src/state/memoryStore.ts';
import {
  CHECKPOINT_FIELD,
  CheckpointChangeTracker,
  decodeCheckpointEntry,
  encodeCheckpointEntry,
} from '../../../src/state/stateCheckpoint.ts';
import { engineFrom, ev } from '../../support/correlation.ts';
import { freshPrefix, redisAndClients } from '../../state/redisHelpers.ts';

const RULES = `
defaults: { group_wait: 0s }
rules:
  - { kind: threshold, name: errors, match: 'severity_text == "ERROR"', group_by: [service], window: 60s, threshold: 2 }
`;

/** A store holding open incidents for services a, b and c, as an owner's engine leaves it. */
function ownerStore(): { store: MemoryStateStore; engine: CorrelationEngine } {
  const store = new MemoryStateStore();
  const engine = engineFrom(RULES, store);
  const events = ['a', 'b', 'c'].flatMap((service) => [
    ev(1_000, { service, severityText: 'ERROR' }),
    ev(2_000, { service, severityText: 'ERROR' }),
  ]);
  engine.process(events, 2_000);
  return { store, engine };
}

/** An entry as versions before incident records went as rows wrote it: a register's value whole (`r`). */
function wholeRecord(entry: Readonly<StoredEntry>): string {
  if (entry.kind !== 'register') return encodeCheckpointEntry(entry);
  const { value, version, writer } = entry.register;
  return JSON.stringify(['r', value, version, writer, entry.deleted ? 1 : 0, entry.expiresAtMs]);
}

const recordIn = (field: string) => {
  const entry = decodeCheckpointEntry(field);
  if (entry.kind !== 'register') throw new Error(`not a register: ${field}`);
  return entry.register.value as unknown as IncidentRecord;
};

const recordOf = (store: MemoryStateStore, service: string) =>
  store.read(`i:errors{service="${service}"}`)!.value as unknown as IncidentRecord;

describe("the API view of other partitions' incidents, loaded from their checkpoints", () => {
  const { client } = redisAndClients();

  it('lists the incidents a checkpoint holds, in either encoding, and keeps what an owner told since', async () => {
    const redis = await client();
    const { store, engine } = ownerStore();
    const key = `${freshPrefix()}:checkpoint:3`;
    const fields: string[] = [`${CHECKPOINT_FIELD}position`, '17-0'];
    // As an owner writes it: records without their trails and samples, which their sets hold.
    const { set } = new CheckpointChangeTracker(store).takeAll();
    for (let i = 0; i < set.length; i += 2) {
      const k = set[i]!;
      const entry = store.entryOf(k)!;
      // b as an older agent wrote its checkpoint: the durable snapshot's encoding, the key inside;
      // c as a version before records left their trails out, and went as rows, wrote it.
      if (k.includes('"b"')) fields.push(k, JSON.stringify(encodeEntry(k, entry)));
      else if (k.includes('"c"')) fields.push(k, wholeRecord(entry));
      else fields.push(k, set[i + 1]!);
    }
    const a = fields[fields.indexOf('i:errors{service="a"}') + 1]!;
    expect(JSON.parse(a)[0]).toBe('i');
    expect(recordIn(a).incident.audit).toEqual([]);
    expect(JSON.parse(fields[fields.indexOf('i:errors{service="c"}') + 1]!)[0]).toBe('r');
    await redis.hset(key, ...fields);

    const mirror = new PartitionMirror({ subscriber: redis, channel: 'unused', logger: pino({ level: 'silent' }) });
    // c changed since the checkpoint: its owner told it acknowledged.
    const told = { ...recordOf(store, 'c').incident, status: 'acknowledged' as const };
    mirror.note([told]);
    await mirror.load(redis, key);

    const listed = [...mirror.incidents(() => false)];
    expect(listed.map((i) => i.key).sort()).toEqual([
      'errors{service="a"}',
      'errors{service="b"}',
      'errors{service="c"}',
    ]);
    for (const service of ['a', 'b']) {
      // As the owner's API shows it: with its trail and sample.
      const inc = engine.book.withTrail(`errors{service="${service}"}`)!.incident;
      expect(inc.audit.length).toBeGreaterThan(0);
      expect(inc.sampleEventIds.length).toBeGreaterThan(0);
      expect(mirror.get(inc.key)).toEqual(inc);
      expect(mirror.byId(inc.id)?.key).toBe(inc.key);
    }
    expect(mirror.get(told.key)?.status).toBe('acknowledged');
  });

  it('takes from the checkpoint what it missed being told (a resolution, a later incident), not an older state', async () => {
    const redis = await client();
    const store = new MemoryStateStore();
    const engine = engineFrom(
      `
defaults: { group_wait: 0s, reopen_window: 0s }
rules:
  - { kind: pair, name: link, group_by: [asset] }
`,
      store,
    );
    const link = (t: number, asset: string, type: 'down' | 'up') => ev(t, { asset, type });
    const incidentOf = (asset: string) =>
      (store.read(`i:link{asset="${asset}"}`)!.value as unknown as IncidentRecord).incident;
    engine.process(
      ['a', 'b', 'c'].map((asset) => link(1_000, asset, 'down')),
      1_000,
    );
    // What the mirror heard before its subscriber went away: a, b and c open.
    const heard = ['a', 'b', 'c'].map((asset) => ({ ...incidentOf(asset) }));
    const mirror = new PartitionMirror({ subscriber: redis, channel: 'unused', logger: pino({ level: 'silent' }) });
    mirror.note(heard);
    // Meanwhile a resolved, b's incident was followed by another, and c was told in a state newer than the checkpoint's.
    engine.process([link(2_000, 'a', 'up'), link(2_000, 'b', 'up')], 2_000);
    engine.process([link(3_000, 'b', 'down')], 3_000);
    mirror.note([{ ...heard[2]!, status: 'acknowledged', version: heard[2]!.version + 5 }]);
    expect(incidentOf('a').status).toBe('resolved');
    expect(incidentOf('b').id).not.toBe(heard[1]!.id);
    const key = `${freshPrefix()}:checkpoint:3`;
    await redis.hset(key, ...new CheckpointChangeTracker(store).takeAll().set);

    await mirror.load(redis, key);
    expect(mirror.get('link{asset="a"}')?.status).toBe('resolved');
    expect(mirror.get('link{asset="b"}')?.id).toBe(incidentOf('b').id);
    expect(mirror.get('link{asset="c"}')?.status).toBe('acknowledged');
    expect([...mirror.openIncidents(() => false)].map((i) => i.key).sort()).toEqual([
      'link{asset="b"}',
      'link{asset="c"}',
    ]);
  });
  it('shows a flapping incident’s whole trail, its checkpoint writing what the trail gained at each change', async () => {
    const redis = await client();
    const store = new MemoryStateStore();
    const engine = engineFrom(
      `
defaults: { group_wait: 0s }
rules:
  - { kind: pair, name: link, group_by: [asset] }
`,
      store,
    );
    const key = `${freshPrefix()}:checkpoint:5`;
    const tracker = new CheckpointChangeTracker(store);
    let deltas = 0;
    // A checkpoint after every flap, as an owner writes it (changes, then keys gone).
    for (let i = 0; i < 30; i++) {
      engine.process([ev(1_000 + i * 10_000, { asset: 'sw1', type: i % 2 ? 'up' : 'down' })], 1_000 + i * 10_000);
      const { set, remove } = tracker.take();
      if (remove.length) await redis.hdel(key, ...remove);
      if (set.length) await redis.hset(key, ...set);
      deltas += set.filter((f, k) => k % 2 === 0 && f.startsWith(CHECKPOINT_FIELD)).length;
    }
    expect(deltas).toBeGreaterThan(0);

    const mirror = new PartitionMirror({ subscriber: redis, channel: 'unused', logger: pino({ level: 'silent' }) });
    await mirror.load(redis, key);
    const inc = engine.book.withTrail('link{asset="sw1"}')!.incident;
    expect(inc.audit.length).toBeGreaterThan(20);
    expect(mirror.get(inc.key)).toEqual(inc);
  });

  it('offers the incidents told resolved lately, at or after a moment a replay judges, until pruned or reopened', async () => {
    const redis = await client();
    const { store } = ownerStore();
    const [a, b, c] = ['a', 'b', 'c'].map((service) => recordOf(store, service).incident);
    const resolved = (inc: typeof a, atMs: number) => ({
      ...inc!,
      status: 'resolved' as const,
      resolvedAtMs: atMs,
      version: inc!.version + 1,
    });
    const mirror = new PartitionMirror({ subscriber: redis, channel: 'unused', logger: pino({ level: 'silent' }) });
    mirror.note([a!, b!, c!]);
    mirror.note([resolved(a, 5_000), resolved(b, 9_000)]);
    const keys = (it: Iterable<{ key: string }>) => [...it].map((inc) => inc.key).sort();
    const none = () => false;
    expect(keys(mirror.openIncidents(none))).toEqual([c!.key]);
    expect(keys(mirror.resolvedSince(5_000, none))).toEqual([a!.key, b!.key]);
    expect(keys(mirror.resolvedSince(5_001, none))).toEqual([b!.key]);
    // Those of partitions this agent holds answer from its engines.
    expect(keys(mirror.resolvedSince(0, (key) => key === b!.key))).toEqual([a!.key]);
    // Ten minutes kept: by 10 min 7 s, a's resolution at 5 s is out of view, b's at 9 s not yet.
    mirror.prune(607_000, 600_000);
    expect(keys(mirror.resolvedSince(0, none))).toEqual([b!.key]);
    // Still listed as resolved (an engine keeps them a day).
    expect(mirror.get(a!.key)?.status).toBe('resolved');
    // b reopened: open again, no longer resolved.
    mirror.note([{ ...b!, version: b!.version + 2 }]);
    expect(keys(mirror.resolvedSince(0, none))).toEqual([]);
    expect(keys(mirror.openIncidents(none))).toEqual([b!.key, c!.key].sort());
  });
});
