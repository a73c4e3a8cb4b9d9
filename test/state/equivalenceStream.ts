import { expect } from 'vitest';
import type { IncidentChange } from '../../src/model/incident.ts';
import { correlatingConfig, startDaemon, type RunningDaemon } from '../support/daemon.ts';
import { FakeGlpi } from '../support/fakes/glpi.ts';
import { waitFor, type RedisServer } from '../support/redis.ts';
import { mulberry32 } from '../support/seededRandom.ts';
import { allChanges, metric, metricsOf, send } from './redisAgents.ts';
import { freshPrefix } from './redisHelpers.ts';

/**
 * The seeded real-time stream that three agents sharing Redis and one agent alone are fed
 * (test/state/redisEquivalence.test.ts, test/state/redisPartitionsOutage.test.ts), how it is
 * played to the daemons, and what a user compares of what they tell: per incident key, the
 * incidents (opening and resolution times, counts, status), one notification per incident per
 * reason, one ticket per notified incident.
 */

const FLUSH_MS = 100;
/**
 * Opening times may differ by what the agents had not yet shared when the threshold was crossed:
 * a flush interval and the delivery of its message, on a busy 2-core machine a few times that.
 */
export const TIME_TOLERANCE_MS = 600;

const config = (state: string, glpiUrl: string) =>
  correlatingConfig(
    `
  tick_interval: 50ms
  defaults: { group_wait: 1s, group_interval: 5s, repeat_interval: 1h, allowed_lateness: 5s, reopen_window: 0s }
  rules:
    - kind: threshold
      name: errors
      match: severity_number >= SEVERITY_NUMBER_ERROR
      group_by: [service]
      window: 4s
      bucket: 1s
      threshold: 8
    - kind: pair
      name: link
      match: attributes["check"] == "link"
      group_by: [asset]
      flapping: { transitions: 4, window: 6s }
    - kind: absence
      name: silent
      match: attributes["check"] == "heartbeat"
      group_by: [asset]
      interval: 2s
${state}
`,
    {
      id: 'glpi',
      yaml: `
  glpi:
    url: ${glpiUrl}
    app_token: app-token-1
    user_token: user-token-1
    delivery: { max_notifications_per_minute: 0 }`,
    },
  );

/** Hosts sending heartbeats: each falls silent when the stream ends, two of them once before. */
const HOSTS = 20;

/** A multiple of every bucket the rules use (1 s windows' buckets, the flapping window's). */
const ALIGN_MS = 6000;

interface Scheduled {
  atMs: number;
  event: Record<string, unknown>;
}

/**
 * The stream, over about 24 s: per service, error storms (an error every 20–40 ms for 1.5–3 s)
 * separated by more than a window of calm, so every storm is one incident whichever agent
 * crosses the threshold; links going down and up at least 1.5 s apart; one link flapping;
 * heartbeats every 100 ms from hosts, three of which stop (one for good, two coming back).
 */
function stream(seed: number): Scheduled[] {
  const r = mulberry32(seed);
  const out: Scheduled[] = [];
  for (let s = 0; s < 12; s++) {
    let t = 500 + Math.floor(r() * 2000);
    while (t < 21_000) {
      const end = t + 1500 + Math.floor(r() * 1500);
      for (; t < end; t += 20 + Math.floor(r() * 20))
        out.push({ atMs: t, event: { service: `svc-${s}`, level: 'error', title: `svc-${s} failed` } });
      t += 7000 + Math.floor(r() * 3000);
    }
  }
  for (let a = 0; a < 20; a++) {
    let t = 300 + Math.floor(r() * 3000);
    let down = true;
    while (t < 22_000) {
      out.push({ atMs: t, event: { asset: `sw-${a}`, type: down ? 'down' : 'up', attributes: { check: 'link' } } });
      down = !down;
      // Never near group_wait (1 s) after a down: whether an up came before the first
      // notification or after it must not depend on a few milliseconds.
      t += 1500 + Math.floor(r() * 3500);
    }
  }
  for (let t = 2000, down = true; t < 5000; t += 500, down = !down)
    out.push({ atMs: t, event: { asset: 'sw-flap', type: down ? 'down' : 'up', attributes: { check: 'link' } } });
  out.push({ atMs: 16_000, event: { asset: 'sw-flap', type: 'up', attributes: { check: 'link' } } });
  for (let h = 0; h < HOSTS; h++) {
    for (let t = 100 + h * 5; t < 23_000; t += 100) {
      if (h === 0 && t > 6000) break; // silent for good
      if (h === 1 && t > 8000 && t < 12_000) continue; // silent for 4 s, then back
      if (h === 2 && t > 14_000 && t < 17_000) continue;
      out.push({ atMs: t, event: { asset: `host-${h}`, attributes: { check: 'heartbeat' } } });
    }
  }
  return out.sort((x, y) => x.atMs - y.atMs);
}

/**
 * Posts a batch as a client that retries would: an agent on partitions answers 503 while Redis
 * cannot take its sends (an outage), and the sender tries again, the stream behind it waiting.
 */
async function sendRetrying(d: RunningDaemon, events: object[]): Promise<void> {
  const giveUpAt = Date.now() + 60_000;
  for (;;) {
    const res = await fetch(d.url('/v1/events'), {
      method: 'POST',
      body: JSON.stringify(events),
      headers: { 'content-type': 'application/json' },
    });
    if (res.status !== 503 || Date.now() > giveUpAt) {
      expect(await res.json()).toEqual({ accepted: events.length, rejected: [] });
      return;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Sends the stream in real time, each event dated at its moment, round robin over the agents. */
async function play(
  agents: RunningDaemon[],
  events: Scheduled[],
  at?: (offsetMs: number) => Promise<void>,
  deliver: (d: RunningDaemon, events: object[]) => Promise<void> = send,
): Promise<number> {
  // Window buckets are aligned on the clock: both runs start on the same alignment, so their
  // windows end at the same moments of the stream.
  const base = Math.ceil((Date.now() + 200) / ALIGN_MS) * ALIGN_MS;
  await new Promise((r) => setTimeout(r, base - Date.now()));
  let i = 0;
  while (i < events.length) {
    const now = Date.now() - base;
    await at?.(now);
    const due: Record<string, unknown>[][] = agents.map(() => []);
    for (; i < events.length && events[i]!.atMs <= now; i++)
      due[i % agents.length]!.push({ ...events[i]!.event, time: base + events[i]!.atMs });
    await Promise.all(due.map((batch, k) => (batch.length === 0 ? undefined : deliver(agents[k]!, batch))));
    if (i < events.length)
      await new Promise((r) => setTimeout(r, Math.max(0, Math.min(10, events[i]!.atMs - (Date.now() - base)))));
  }
  return base;
}

export interface Story {
  key: string;
  openedAt: number;
  resolvedAt: number;
  status: string;
  count: number;
}

/** The incidents the agents tell of, relative to the stream's start: each standing id's latest change. */
export function stories(changes: IncidentChange[], base: number): Story[] {
  const merged = new Set(changes.filter((c) => c.incident.mergedInto !== undefined).map((c) => c.incident.id));
  const latest = new Map<string, IncidentChange>();
  for (const c of changes) {
    if (merged.has(c.incident.id)) continue;
    const prev = latest.get(c.incident.id);
    if (!prev || c.incident.version >= prev.incident.version) latest.set(c.incident.id, c);
  }
  return [...latest.values()]
    .map((c) => ({
      key: c.incident.key,
      openedAt: c.incident.openedAtMs - base,
      resolvedAt: c.incident.status === 'resolved' ? c.incident.resolvedAtMs - base : -1,
      status: c.incident.status,
      count: c.incident.eventCount,
    }))
    .sort((x, y) => (x.key < y.key ? -1 : x.key > y.key ? 1 : x.openedAt - y.openedAt));
}

/** Notifications by (key, kind, count): one agent's and three agents' must be the same multiset. */
export function notified(changes: IncidentChange[]): string[] {
  return changes
    .filter((c) => c.notify && (c.kind === 'opened' || c.kind === 'resolved'))
    .map((c) => `${c.kind} ${c.incident.key}`)
    .sort();
}

/**
 * Links whose transitions reach different agents are compared whole only when each transition
 * reached an agent that had heard of the one before: what the system promises (see the README's
 * "Limits" of shared correlation state). Closer than the shared state's lag (on a loaded machine,
 * more than the stream's 1.5 s), an agent acts on a member's stale state, and says so: it ignores
 * an up for want of the down another agent saw, or a transition older than the state it knows,
 * and an incident is resolved or reopened on another agent's word.
 */
async function linkEventsIgnored(d: RunningDaemon): Promise<number> {
  let n = 0;
  for (const m of (await metricsOf(d)).matchAll(/^vigil_correlation_ignored_events_total\{([^}]*)\} (\d+)/gm))
    if (m[1]!.includes('rule="link"') && !m[1]!.includes('reason="max_open_incidents"')) n += Number(m[2]);
  return n;
}

export const raceTold = (c: IncidentChange) =>
  c.incident.key.startsWith('link{') && /seen by another agent|had not heard of the resolution/.test(c.reason);

/** Each link's latest incident by opening time: open or resolved, the member's state by event time. */
export function linkStates(told: Story[]): string[] {
  const last = new Map<string, Story>();
  for (const s of told) if (s.key.startsWith('link{')) last.set(s.key, s);
  return [...last.values()].map((s) => `${s.key} ${s.status}`);
}

/** What a run of the stream told. */
export interface StreamRun {
  changes: IncidentChange[];
  base: number;
  events: number;
  linkIgnored: number;
}

/**
 * Runs the stream through `agents` daemons (one: on the memory store; more: sharing `redis` as
 * `sharing` says), each with the GLPI fake `glpi`; `fault` is called with the stream's offset as it
 * plays, and `links` is each link's latest state, when it must be reached. Returns what they told.
 */
export async function runStream(
  redis: RedisServer,
  agents: number,
  glpi: FakeGlpi,
  fault?: (offsetMs: number) => Promise<void>,
  links?: string[],
  sharing: 'state' | 'partitions' = 'state',
): Promise<StreamRun> {
  const state =
    agents === 1
      ? '  state: { store: memory }'
      : `  state: { store: redis, sharing: ${sharing}, partitions: 6, url: ${redis.url}, prefix: ${freshPrefix()}, flush_interval: ${FLUSH_MS}ms, lease_ttl: 2s }`;
  const ds = await Promise.all(
    Array.from({ length: agents }, (_, k) =>
      startDaemon(config(agents === 1 ? state : `${state.slice(0, -2)}, agent_id: agent-${k} }`, glpi.apiUrl)),
    ),
  );
  try {
    const events = stream(7);
    const base = await play(ds, events, fault, sharing === 'partitions' ? sendRetrying : send);
    const changesOf = () => allChanges(ds);
    // The end of the story: every host fell silent (two of them twice), every storm is over,
    // and every notification is delivered.
    await waitFor(
      () => {
        const told = stories(changesOf(), base);
        return (
          told.filter((s) => s.key.startsWith('silent{')).length >= HOSTS + 2 &&
          told.every((s) => !s.key.startsWith('errors{') || s.status === 'resolved') &&
          // The latest state of each link, which the agents settle on a tick after the last
          // transition reached them (the one an agent missed, on another's word).
          (links === undefined || JSON.stringify(linkStates(told)) === JSON.stringify(links))
        );
      },
      'the last silences and the end of every storm',
      40_000,
    ).catch((err: unknown) => {
      // What was missing, for whoever reads the failure.
      const told = stories(changesOf(), base);
      const open = told.filter((s) => s.key.startsWith('errors{') && s.status !== 'resolved').map((s) => s.key);
      const odd = linkStates(told).filter((l) => links !== undefined && !links.includes(l));
      throw new Error(
        `${String(err)}: ${told.filter((s) => s.key.startsWith('silent{')).length} of ${HOSTS + 2} silences; storms still open: ${open.join(', ') || 'none'}; links not in their latest state: ${odd.join(', ') || 'none'}`,
      );
    });
    await waitFor(
      async () => {
        const metrics = await Promise.all(ds.map(async (d) => (await fetch(d.adminUrl('/metrics'))).text()));
        return metrics.every(
          (m) =>
            /^vigil_exporter_outbox_depth\{exporter="glpi"\} 0$/m.test(m) &&
            !/^vigil_state_store_pending_keys [1-9]/m.test(m),
        );
      },
      'agents to settle',
      30_000,
    );
    // The same input for both runs is the premise: an agent that took an event later than
    // allowed_lateness dropped it (the machine did not keep up with the real-time stream).
    const dropped = await Promise.all(ds.map((d) => metric(d, 'vigil_correlation_dropped_events_total')));
    expect(dropped, 'events dropped as later than allowed_lateness, per agent').toEqual(ds.map(() => 0));
    const ignored = await Promise.all(ds.map(linkEventsIgnored));
    return { changes: changesOf(), base, events: events.length, linkIgnored: ignored.reduce((x, y) => x + y, 0) };
  } finally {
    await Promise.all(ds.map((d) => d.stop()));
  }
}

/**
 * The reference a file's comparisons share: the stream through one agent alone (the memory store:
 * no Redis, so the same run for every test of the file), with its GLPI fake, run on first use.
 * `close` stops the fake (in the file's afterAll).
 */
export function aloneOnce(): { get(redis: RedisServer): Promise<Alone>; close(): Promise<void> } {
  let alone: Promise<Alone> | undefined;
  const glpi = new FakeGlpi();
  let listening: Promise<unknown> | undefined;
  return {
    get(redis) {
      return (alone ??= (async () => {
        await (listening ??= glpi.listen());
        return { one: await runStream(redis, 1, glpi), glpi };
      })());
    },
    async close() {
      if (listening) await glpi.close();
    },
  };
}

/** One agent's run of the stream, and the GLPI fake it opened its tickets in. */
export interface Alone {
  one: StreamRun;
  glpi: FakeGlpi;
}

/** Partitions' agents against one agent: the same stories to the tolerance, links whole, the same notifications and tickets. */
export function expectTheSame(one: StreamRun, three: StreamRun, glpiOne: FakeGlpi, glpiThree: FakeGlpi): void {
  // One owner per group takes every agent's events in time order: no transition races.
  expect(three.linkIgnored).toBe(one.linkIgnored);
  const a = stories(one.changes, one.base);
  const b = stories(three.changes, three.base);
  expect(b.map((s) => `${s.key} ${s.status} ${s.count}`)).toEqual(a.map((s) => `${s.key} ${s.status} ${s.count}`));
  for (let i = 0; i < a.length; i++) {
    expect(Math.abs(b[i]!.openedAt - a[i]!.openedAt), `${a[i]!.key} opened`).toBeLessThanOrEqual(TIME_TOLERANCE_MS);
    expect(Math.abs(b[i]!.resolvedAt - a[i]!.resolvedAt), `${a[i]!.key} resolved`).toBeLessThanOrEqual(
      TIME_TOLERANCE_MS,
    );
  }
  expect(notified(three.changes)).toEqual(notified(one.changes));
  expect(glpiThree.tickets.size).toBe(glpiOne.tickets.size);
  expect(glpiThree.count('POST', 'Ticket')).toBe(glpiOne.count('POST', 'Ticket'));
}
