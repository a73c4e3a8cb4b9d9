import { existsSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import type { CorrelationEngine } from '../../src/correlation/engine.ts';
import type { IncidentChange } from '../../src/model/incident.ts';
import { DurableStateStore } from '../../src/state/durableStore.ts';
import type { StoredEntry } from '../../src/state/memoryStore.ts';
import { frame } from '../../src/state/stateLog.ts';
import { createLogger } from '../../src/telemetry/logger.ts';
import { engineFrom, ev } from '../support/correlation.ts';

const freshDir = () => join(mkdtempSync(join(tmpdir(), 'vigil-durable-')), 'correlation');

function openStore(dir: string, compactBytes?: number): { store: DurableStateStore; registry: Registry } {
  const registry = new Registry();
  return { store: new DurableStateStore({ dir, logger: createLogger('silent'), registry, compactBytes }), registry };
}

/** Every entry of a store, deep-copied and ordered by key: what two stores must agree on. */
function dump(store: DurableStateStore): [string, StoredEntry][] {
  return [...store.exportEntries()]
    .map(([k, e]) => [k, structuredClone(e) as StoredEntry] as [string, StoredEntry])
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

/** A seeded mix of every kind of write, deletions and NaN/never expiries included. */
function writeMix(store: DurableStateStore, seed: number, n: number): void {
  let x = seed;
  const rnd = (m: number) => {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    return x % m;
  };
  for (let i = 0; i < n; i++) {
    const key = `k${rnd(50)}`;
    switch (rnd(5)) {
      case 0:
        store.addCount('c:' + key, rnd(4), 1 + rnd(3), 10_000 + rnd(1000));
        break;
      case 1:
        store.raise('a:' + key, rnd(1_000_000), rnd(10) === 0 ? NaN : 20_000);
        break;
      case 2:
        store.write(
          'i:' + key,
          { incident: { key, status: rnd(2) ? 'open' : 'resolved', n: i }, labels: { 'a\nb': 'é"\\' } },
          i,
          Number.MAX_SAFE_INTEGER,
        );
        break;
      case 3:
        store.delete('i:' + key, i);
        break;
      default:
        store.delete('c:' + key, i);
    }
  }
}

const change = (key: string, n: number) =>
  ({
    kind: 'opened',
    atMs: n,
    reason: 'r',
    notify: true,
    incident: { key, id: `id-${n}` },
    eventIds: [],
  }) as unknown as IncidentChange;

async function counter(registry: Registry, name: string): Promise<number> {
  const m = await registry.getSingleMetric(name)?.get();
  return m?.values[0]?.value ?? 0;
}

describe('DurableStateStore', () => {
  it('gives back the same entries from snapshot and log after a restart', async () => {
    const dir = freshDir();
    const { store: a } = openStore(dir);
    await a.open();
    writeMix(a, 1, 3000);
    await a.commit();
    writeMix(a, 2, 1000);
    await Promise.all([a.commit(), a.commit(), a.commit()]);
    const expected = dump(a);
    await a.close();

    const { store: b } = openStore(dir);
    const report = await b.open();
    expect(dump(b)).toEqual(expected);
    expect(report).toMatchObject({ entries: expected.length, tornRecords: 0, setAside: [] });
    expect(statSync(join(dir, 'log-0')).mode & 0o777).toBe(0o600);
    await b.close();
  });

  it('compacts into a new snapshot when the log grows past its limit, and still restores exactly', async () => {
    const dir = freshDir();
    const { store: a } = openStore(dir, 4096);
    await a.open();
    for (let round = 0; round < 20; round++) {
      writeMix(a, round, 200);
      await a.commit();
    }
    const expected = dump(a);
    const files = readdirSync(dir).sort();
    expect(files).toContain('snapshot');
    expect(files.filter((f) => f.startsWith('log-'))).toHaveLength(1);
    expect(files.find((f) => f.startsWith('log-'))).not.toBe('log-0');
    expect(statSync(join(dir, 'snapshot')).mode & 0o777).toBe(0o600);
    // Crash-like: no close, the log handle simply goes away.
    const { store: b } = openStore(dir, 4096);
    await b.open();
    expect(dump(b)).toEqual(expected);
    await b.close();
    await a.close().catch(() => undefined);
  });

  it('cuts off a torn last record silently but counts it', async () => {
    const dir = freshDir();
    const { store: a } = openStore(dir);
    await a.open();
    writeMix(a, 3, 500);
    await a.commit();
    const expected = dump(a);
    writeMix(a, 4, 10);
    await a.close();
    // Half of a record: what kill -9 leaves mid-append. The first commit stays whole.
    const log = join(dir, 'log-0');
    const buf = readFileSync(log);
    const torn = frame(JSON.stringify({ d: [[0, 'c:x', 1, 1, 1]] }));
    writeFileSync(log, Buffer.concat([buf.subarray(0, buf.length), torn.subarray(0, torn.length - 5)]));
    const { store: b, registry } = openStore(dir);
    const report = await b.open();
    expect(report.tornRecords).toBe(1);
    expect(report.setAside).toEqual([]);
    expect(await counter(registry, 'vigil_correlation_state_torn_records_total')).toBe(1);
    expect(dump(b).length).toBeGreaterThanOrEqual(expected.length - 10);
    expect(b.readMax('c:x')).toBeUndefined();
    // The next append follows the last whole record.
    b.addCount('c:after', 1, 7, 50_000);
    await b.close();
    const { store: c } = openStore(dir);
    expect((await c.open()).tornRecords).toBe(0);
    expect(c.sumCounts('c:after', 0, 10)).toBe(7);
    await c.close();
  });

  it('keeps what it can read around a corrupt record in the middle of the log, and moves the log aside', async () => {
    const dir = freshDir();
    const { store: a } = openStore(dir);
    await a.open();
    a.addCount('c:first', 1, 1, 50_000);
    await a.commit();
    a.addCount('c:middle', 1, 2, 50_000);
    await a.commit();
    a.addCount('c:last', 1, 3, 50_000);
    await a.close();
    const log = join(dir, 'log-0');
    const buf = readFileSync(log);
    // Flip a byte inside the middle record's payload (records: header, first, middle, last).
    const text = buf.toString('latin1');
    const at = text.indexOf('c:middle') + 3;
    buf[at] = buf[at]! ^ 0xff;
    writeFileSync(log, buf);

    const { store: b, registry } = openStore(dir);
    const report = await b.open();
    expect(b.sumCounts('c:first', 0, 9)).toBe(1);
    expect(b.sumCounts('c:middle', 0, 9)).toBe(0);
    expect(b.sumCounts('c:last', 0, 9)).toBe(3);
    expect(report.setAside).toHaveLength(1);
    expect(report.setAside[0]!.movedTo).toMatch(/corrupt-[^/]+\/log-0$/);
    expect(existsSync(report.setAside[0]!.movedTo)).toBe(true);
    expect(await counter(registry, 'vigil_correlation_state_corrupt_total')).toBe(1);
    await b.close();
    // What was kept became the new snapshot: the next start is clean.
    const { store: c } = openStore(dir);
    const again = await c.open();
    expect(again.setAside).toEqual([]);
    expect(c.sumCounts('c:last', 0, 9)).toBe(3);
    await c.close();
  });

  it('starts from the log alone when the snapshot is corrupt, and sets the snapshot aside', async () => {
    const dir = freshDir();
    const { store: a } = openStore(dir, 1024);
    await a.open();
    for (let i = 0; i < 10; i++) {
      writeMix(a, i, 100);
      await a.commit();
    }
    a.addCount('c:after-snapshot', 1, 5, 50_000);
    await a.close();
    writeFileSync(join(dir, 'snapshot'), 'not a snapshot at all');
    const { store: b, registry } = openStore(dir);
    const report = await b.open();
    expect(report.setAside.map((s) => s.file)).toEqual([join(dir, 'snapshot')]);
    expect(b.sumCounts('c:after-snapshot', 0, 9)).toBe(5);
    expect(await counter(registry, 'vigil_correlation_state_corrupt_total')).toBe(1);
    await b.close();
  });

  it('journals outgoing incident changes until they are marked delivered', async () => {
    const dir = freshDir();
    const { store: a } = openStore(dir);
    await a.open();
    const [c1, c2, c3] = [change('k1', 1), change('k2', 2), change('k3', 3)];
    a.journal([c1, c2]);
    await a.commit();
    a.delivered([c1]);
    a.journal([c3]);
    await a.commit();
    const { store: b } = openStore(dir);
    await b.open();
    expect(b.undelivered().map((c) => c.incident.id)).toEqual(['id-2', 'id-3']);
    b.delivered(b.undelivered());
    await b.close();
    const { store: c } = openStore(dir);
    await c.open();
    expect(c.undelivered()).toEqual([]);
    await c.close();
    await a.close();
  });

  it('refuses to start only when it cannot read its directory, saying how to move it aside', async () => {
    const dir = freshDir();
    writeFileSync(join(dir, '..', 'correlation'), 'a file where the directory should be');
    const { store } = openStore(dir);
    await expect(store.open()).rejects.toThrow(/move it aside .*mv /);
  });
  it('logs only the last write of a register between two commits, and replays a deletion after it', async () => {
    const dir = freshDir();
    const { store: a } = openStore(dir);
    await a.open();
    for (let v = 1; v <= 100; v++) a.write('i:hot', { n: v, audit: 'x'.repeat(200) }, v, Number.MAX_SAFE_INTEGER);
    a.write('i:gone', 1, 1, Number.MAX_SAFE_INTEGER);
    a.delete('i:gone', 2);
    a.write('i:gone', 3, 3, Number.MAX_SAFE_INTEGER);
    a.delete('i:gone', 4);
    await a.commit();
    const expected = dump(a);
    await a.close();
    expect(statSync(join(dir, 'log-0')).size).toBeLessThan(1000);
    const { store: b } = openStore(dir);
    await b.open();
    expect(dump(b)).toEqual(expected);
    expect(b.read('i:hot')?.value).toMatchObject({ n: 100 });
    expect(b.read('i:gone')).toBeUndefined();
    await b.close();
  });

  it('folds a long log into a snapshot at an orderly stop, and not a short one', async () => {
    const dir = freshDir();
    const { store: a } = openStore(dir);
    await a.open();
    writeMix(a, 7, 2000);
    await a.commit();
    const expected = dump(a);
    await a.snapshotIfWorthIt();
    await a.close();
    expect(readdirSync(dir).sort()).toEqual(['log-1', 'snapshot']);
    const { store: b } = openStore(dir);
    await b.open();
    expect(dump(b)).toEqual(expected);
    b.addCount('c:one', 1, 1, 50_000);
    await b.snapshotIfWorthIt();
    await b.close();
    expect(readdirSync(dir).sort()).toEqual(['log-1', 'snapshot']);
  });

  it('brings an engine back with its open incident’s last event time, though the record was last written long before', async () => {
    // Past its sample, an event on an open counting incident raises the incident's last-seen mark
    // and leaves its record as it was logged. A restarted engine's timers, run before the group's
    // next event, must count the window from the last event, as the engine that never stopped does.
    const rules = `
defaults: { group_wait: 0s }
rules:
  - { kind: threshold, name: errors, match: 'severity_text == "ERROR"', group_by: [service], window: 30s, bucket: 5s, threshold: 5 }
`;
    const events = Array.from({ length: 240 }, (_, i) => ev(1000 + i * 500, { service: 'api', severityText: 'ERROR' }));
    const resolutions = (engine: CorrelationEngine) => {
      const out: string[] = [];
      for (let t = 121_000; t <= 180_000; t += 1000)
        for (const c of engine.tick(t)) if (c.kind === 'resolved') out.push(`${c.incident.key}@${c.atMs}`);
      return out;
    };
    const feed = (engine: CorrelationEngine, from: number, to: number) => {
      for (const e of events.slice(from, to)) engine.process([e], Number(e.timeUnixNano / 1_000_000n));
    };
    const whole = engineFrom(rules);
    feed(whole, 0, events.length);

    const dir = freshDir();
    const { store: a } = openStore(dir);
    await a.open();
    const first = engineFrom(rules, a);
    feed(first, 0, 20);
    await a.commit();
    feed(first, 20, events.length);
    await a.close();
    const { store: b } = openStore(dir);
    await b.open();
    const expected = resolutions(whole);
    expect(expected).toEqual(['errors{service="api"}@150000']);
    expect(resolutions(engineFrom(rules, b))).toEqual(expected);
    await b.close();
  });
});
