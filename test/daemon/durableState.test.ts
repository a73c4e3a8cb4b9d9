import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import type { IncidentRecord } from '../../src/correlation/incidentBook.ts';
import type { IncidentChange } from '../../src/model/incident.ts';
import { DurableStateStore } from '../../src/state/durableStore.ts';
import { createLogger } from '../../src/telemetry/logger.ts';
import { correlatingConfig, startDaemon, type RunningDaemon } from '../support/daemon.ts';
import { readNdjson } from '../support/ndjson.ts';
import { waitFor } from '../support/waitFor.ts';

/** Event-time rules only (pair and threshold), with a lateness that keeps every timer clear of the events: the outcome follows from the events alone. */
const config = correlatingConfig(`
  tick_interval: 50ms
  defaults: { group_wait: 0s, allowed_lateness: 2h, reopen_window: 0s }
  rules:
    - kind: pair
      name: asset_down
      group_by: [asset]
    - kind: threshold
      name: service_errors
      match: severity_number >= SEVERITY_NUMBER_ERROR and service != ""
      group_by: [service, asset]
      window: 60s
      threshold: 4
`);

const running: RunningDaemon[] = [];
afterEach(async () => {
  for (const d of running.splice(0)) await d.stop('SIGKILL');
});

async function start(dataDir?: string): Promise<RunningDaemon> {
  const d = await startDaemon(config, { dataDir });
  running.push(d);
  return d;
}

async function send(d: RunningDaemon, events: object[]): Promise<void> {
  const res = await fetch(d.url('/v1/events'), {
    method: 'POST',
    body: JSON.stringify(events),
    headers: { 'content-type': 'application/json' },
  });
  expect(await res.json()).toEqual({ accepted: events.length, rejected: [] });
}

const changesIn = (dataDir: string) => readNdjson<IncidentChange>(join(dataDir, 'incidents.ndjson'));

async function changeFor(dataDir: string, kind: IncidentChange['kind'], key: string): Promise<IncidentChange> {
  let found: IncidentChange | undefined;
  await waitFor(
    () => (found = changesIn(dataDir).find((c) => c.kind === kind && c.incident.key === key)) !== undefined,
    `${kind} ${key} in incidents.ndjson`,
  );
  return found!;
}

describe('vigil run: correlation state survives a restart', () => {
  for (const signal of ['SIGKILL', 'SIGTERM'] as const) {
    it(`resolves the incident opened before a ${signal} with the Up sent after it`, async () => {
      const first = await start();
      const { dataDir } = first;
      await send(first, [{ asset: 'web-1', type: 'down', title: 'web-1 unreachable', level: 'critical' }]);
      const opened = await changeFor(dataDir, 'opened', 'asset_down{asset="web-1"}');
      const code = await first.stop(signal);
      expect(code).toBe(signal === 'SIGTERM' ? 0 : null);

      const second = await start(dataDir);
      const restored = second.logs
        .map(
          (l) =>
            JSON.parse(l) as { msg?: string; openIncidents?: number; entries?: number; bytes?: number; ms?: number },
        )
        .find((l) => l.msg === 'correlation state restored');
      expect(restored).toMatchObject({ openIncidents: 1 });
      expect(restored!.entries).toBeGreaterThan(0);
      await send(second, [{ asset: 'web-1', type: 'up', title: 'web-1 reachable' }]);
      const resolved = await changeFor(dataDir, 'resolved', 'asset_down{asset="web-1"}');
      expect(resolved.incident.id).toBe(opened.incident.id);
      expect(resolved.notify).toBe(true);
      for (const f of readdirSync(join(dataDir, 'correlation')))
        expect(statSync(join(dataDir, 'correlation', f)).mode & 0o777).toBe(0o600);
      expect(await second.stop()).toBe(0);
    });
  }
});

/**
 * A seeded stream of downs, ups and error storms over a few hundred assets, event times explicit.
 * Events in chunks that `uncertain` picks go to a separate pool of assets (`flaky-*`).
 */
function eventStream(
  n: number,
  baseMs: number,
  seed: number,
  chunk: number,
  uncertain: (chunk: number) => boolean,
): object[] {
  let x = seed;
  const rnd = (m: number) => {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    return (x >>> 8) % m;
  };
  const events: object[] = [];
  for (let i = 0; i < n; i++) {
    const asset = uncertain(Math.floor(i / chunk)) ? `flaky-${rnd(20)}` : `host-${rnd(300)}`;
    const time = baseMs + i * 50;
    const r = rnd(10);
    if (r < 2) events.push({ asset, type: 'down', time, title: `${asset} down` });
    else if (r < 4) events.push({ asset, type: 'up', time });
    else events.push({ asset, service: `svc-${rnd(3)}`, level: 'error', time, message: `failure ${i}` });
  }
  return events;
}

interface Final {
  key: string;
  id: string;
  status: string;
  eventCount: number;
}

/** The last word on every incident in the incidents file (at-least-once: duplicates collapse on id, highest version wins). */
function finalIncidents(dataDir: string): Map<string, Final> {
  const byId = new Map<string, IncidentChange>();
  for (const c of changesIn(dataDir)) {
    const prev = byId.get(c.incident.id);
    if (!prev || c.incident.version >= prev.incident.version) byId.set(c.incident.id, c);
  }
  const out = new Map<string, Final>();
  for (const [id, c] of byId)
    out.set(id, { key: c.incident.key, id, status: c.incident.status, eventCount: c.incident.eventCount });
  return out;
}

/** Every incident the engine holds, read from the state a stopped daemon left on disk: eventCount is exact there. */
async function storedIncidents(dataDir: string): Promise<Map<string, Final>> {
  const store = new DurableStateStore({
    dir: join(dataDir, 'correlation'),
    logger: createLogger('silent'),
    registry: new Registry(),
  });
  await store.open();
  const out = new Map<string, Final>();
  for (const key of store.keys('i:')) {
    const { incident } = store.read(key)!.value as unknown as IncidentRecord;
    out.set(incident.id, {
      key: incident.key,
      id: incident.id,
      status: incident.status,
      eventCount: incident.eventCount,
    });
  }
  await store.close();
  return out;
}

/**
 * Kill points: the same stream once straight through and once with kill -9 at random moments,
 * each while a chunk is in flight; after a kill the daemon restarts on the same data dir and the
 * chunk that was not acknowledged is sent again. 20 kills, the number the issue asks for: each
 * restart costs one to two seconds of process start, so the test takes 30–60 s.
 */
describe('vigil run: kill -9 at random points loses no acknowledged event and no incident', () => {
  it('ends with the same incidents as a run without kills', async () => {
    const CHUNK = 100;
    let x = 7;
    const rnd = (m: number) => {
      x = (Math.imul(x, 1103515245) + 12345) >>> 0;
      return (x >>> 8) % m;
    };
    const killAt = new Set<number>();
    while (killAt.size < 20) killAt.add(rnd(10_000 / CHUNK));
    // A chunk in flight at a kill may have been counted before it and is counted again after it
    // (at least once), so its assets may legitimately end with other counts, or cross a threshold
    // earlier (another id). Those chunks speak of their own assets; every other asset must end
    // exactly as in the run without kills.
    const events = eventStream(10_000, Date.now() - 20 * 60_000, 42, CHUNK, (c) => killAt.has(c));
    const chunks: object[][] = [];
    for (let i = 0; i < events.length; i += CHUNK) chunks.push(events.slice(i, i + CHUNK));

    const calm = await start();
    for (const c of chunks) await send(calm, c);
    expect(await calm.stop()).toBe(0);
    const expected = finalIncidents(calm.dataDir);
    const expectedState = await storedIncidents(calm.dataDir);

    let replayed = 0;
    let daemon = await start();
    const { dataDir } = daemon;
    let kills = 0;
    for (let i = 0; i < chunks.length; i++) {
      if (!killAt.has(i)) {
        await send(daemon, chunks[i]!);
        continue;
      }
      const req = fetch(daemon.url('/v1/events'), {
        method: 'POST',
        body: JSON.stringify(chunks[i]),
        headers: { 'content-type': 'application/json' },
      }).then(
        async (r) => r.ok && ((await r.json()) as { accepted: number }).accepted === chunks[i]!.length,
        () => false,
      );
      await new Promise((r) => setTimeout(r, rnd(8)));
      daemon.proc.kill('SIGKILL');
      await daemon.exited;
      kills++;
      const acked = await req;
      daemon = await start(dataDir);
      if (!acked) {
        replayed++;
        await send(daemon, chunks[i]!);
      }
    }
    // An orderly stop drains the incidents pipeline into the file.
    expect(await daemon.stop()).toBe(0);
    expect(kills).toBeGreaterThanOrEqual(20);

    // What the incidents pipeline was told (the last change per id; counts there follow the
    // wall-clock notification timers) and what the engine holds (exact counts).
    const got = finalIncidents(dataDir);
    const gotState = await storedIncidents(dataDir);
    const certain = (m: Map<string, Final>, count: boolean) =>
      [...m.values()]
        .filter((f) => !f.key.includes('asset="flaky-'))
        .map((f) => `${f.key} ${f.id} ${f.status}${count ? ` ${f.eventCount}` : ''}`)
        .sort();
    expect(certain(expected, false).length).toBeGreaterThan(expected.size / 2);
    expect(certain(got, false)).toEqual(certain(expected, false));
    expect(certain(gotState, true)).toEqual(certain(expectedState, true));
    // The uncertain assets still end in the same state under the pair rule: their last Down or Up decides.
    const pairState = (m: Map<string, Final>) => {
      const open = new Map<string, boolean>();
      for (const f of m.values())
        if (f.key.startsWith('asset_down')) open.set(f.key, (open.get(f.key) ?? false) || f.status !== 'resolved');
      return [...open].sort();
    };
    expect(pairState(got)).toEqual(pairState(expected));
    expect(replayed).toBeGreaterThan(0);
  }, 120_000);
});
