import { describe, expect, it } from 'vitest';
import type { CorrelationEngine } from '../../src/correlation/engine.ts';
import type { VigilEvent } from '../../src/model/event.ts';
import type { IncidentChange } from '../../src/model/incident.ts';
import { engineFrom, ev } from '../support/correlation.ts';
import { mulberry32 } from '../support/seededRandom.ts';

const LATENESS = 10_000;
const rules = `
defaults: { group_wait: 0s, allowed_lateness: ${LATENESS / 1000}s, reopen_window: 0s }
rules:
  - { kind: threshold, name: errors, match: 'severity_text == "ERROR"', group_by: [service], window: 30s, bucket: 1s, threshold: 4, resolve_below: 2 }
  - { kind: absence, name: beat, match: 'attributes["kind"] == "beat"', group_by: [asset], interval: 40s }
`;
// Window counts and silences are order-free; pair, spike and dedup are left out by design: they
// follow transitions and gaps in arrival order (docs/correlation.md, "Time").

function scenario(seed: number, count = 300, maxStepMs = 3000): VigilEvent[] {
  const r = mulberry32(seed);
  const events: VigilEvent[] = [];
  const pick = <T>(xs: T[]) => xs[Math.floor(r() * xs.length)]!;
  let t = 0;
  for (let i = 0; i < count; i++) {
    t += Math.floor(r() * maxStepMs);
    const kind = r();
    if (kind < 0.4)
      events.push(ev(t, { service: pick(['api', 'web', 'db']), severityText: 'ERROR', severityNumber: 17 }));
    else if (kind < 0.6) events.push(ev(t, { asset: pick(['sw-1', 'sw-2']), type: r() < 0.5 ? 'down' : 'up' }));
    else events.push(ev(t, { asset: pick(['h1', 'h2', 'h3']), attributes: { kind: 'beat' } }));
  }
  return events;
}

/** Feeds events arriving at `arrival[i]` (sorted by arrival), ticking every second, then runs on. */
function run(engine: CorrelationEngine, events: VigilEvent[], arrival: number[]): void {
  const log: IncidentChange[] = [];
  changes.set(engine, log);
  const order = events.map((_, i) => i).sort((a, b) => arrival[a]! - arrival[b]! || a - b);
  let tick = 1000;
  for (const i of order) {
    for (; tick <= arrival[i]!; tick += 1000) log.push(...engine.tick(tick));
    log.push(...engine.process([events[i]!], arrival[i]!));
  }
  const end = arrival[order.at(-1)!]! + 300_000;
  for (; tick <= end; tick += 1000) log.push(...engine.tick(tick));
}

/**
 * Which groups had incidents and how each stands at the end. Counts and the number of storms per
 * group are not compared: a threshold opens on the window at an event's arrival but resolves on
 * the window an allowed lateness behind the clock, so where a storm's edge falls near a tick an
 * order can split it in two (docs/correlation.md, "Time").
 */
const summary = (engine: CorrelationEngine) => {
  const opened = new Set(
    (changes.get(engine) ?? []).filter((c) => c.kind === 'opened').map((c) => `${c.incident.key} opened`),
  );
  return [...opened, ...engine.incidents().map((r) => `${r.incident.key} ${r.incident.status}`)].sort();
};
const changes = new Map<CorrelationEngine, IncidentChange[]>();

describe('event order within the allowed lateness', () => {
  it('does not change the incidents (300 events, 40 seeds)', () => {
    for (let seed = 1; seed <= 40; seed++) {
      const events = scenario(seed);
      const time = events.map((e) => Number(e.timeUnixNano / 1_000_000n));
      const inOrder = engineFrom(rules);
      run(inOrder, events, time);
      const r = mulberry32(seed * 7919);
      // Each event is delayed by up to the lateness, which reorders neighbours.
      const shuffled = engineFrom(rules);
      run(
        shuffled,
        events,
        time.map((t) => t + Math.floor(r() * LATENESS)),
      );
      expect(summary(shuffled), `seed ${seed}`).toEqual(summary(inOrder));
      expect(summary(inOrder).length).toBeGreaterThan(0);
    }
  });
});

/** Pair, absence and threshold rules with timers (deadline, interval, hysteresis) that fire often in these streams. */
const timed = (lateness: string) => `
defaults: { group_wait: 0s, allowed_lateness: ${lateness}, reopen_window: 0s, group_interval: 1d, repeat_interval: 1d }
rules:
  - { kind: threshold, name: errors, match: 'severity_text == "ERROR"', group_by: [service], window: 20s, bucket: 2s, threshold: 5, resolve_below: 2 }
  - { kind: absence, name: beat, match: 'attributes["kind"] == "beat"', group_by: [asset], interval: 15s }
  - { kind: pair, name: link, match: 'type == "down" or type == "up"', group_by: [asset], deadline: 20s }
`;

/** Every decision as (kind, incident key, event time it is dated at), sorted: emission order is not promised across groups. */
function decisions(engine: CorrelationEngine): string[] {
  return (changes.get(engine) ?? []).map((c) => `${c.kind} ${c.incident.key} @${c.atMs}`).sort();
}

describe('allowed_lateness', () => {
  it('does not change the decisions on in-order streams (pair, absence, threshold; 400 events, 40 seeds)', () => {
    for (let seed = 1; seed <= 40; seed++) {
      const events = scenario(seed, 400, 8000);
      const time = events.map((e) => Number(e.timeUnixNano / 1_000_000n));
      const strict = engineFrom(timed('0s'));
      run(strict, events, time);
      const lenient = engineFrom(timed('30s'));
      run(lenient, events, time);
      expect(decisions(lenient), `seed ${seed}`).toEqual(decisions(strict));
      expect(decisions(strict).filter((d) => d.startsWith('escalated')).length, `seed ${seed}`).toBeGreaterThan(0);
    }
  });
});

/** Heartbeats with gaps around the interval, and outages whose down and up are further apart than the lateness. */
function timedScenario(seed: number, count: number, latenessMs: number): VigilEvent[] {
  const r = mulberry32(seed);
  const events: VigilEvent[] = [];
  const pick = <T>(xs: T[]) => xs[Math.floor(r() * xs.length)]!;
  let t = 0;
  for (let i = 0; i < count; i++) {
    t += Math.floor(r() * 6000);
    if (r() < 0.5) events.push(ev(t, { service: pick(['api', 'web']), severityText: 'ERROR', severityNumber: 17 }));
    else events.push(ev(t, { asset: pick(['h1', 'h2', 'h3']), attributes: { kind: 'beat' } }));
  }
  // One down and one up per outage; each transition further than the lateness from the next, so
  // no shuffle within the lateness swaps them (pair transitions follow arrival order by design).
  for (const asset of ['sw-1', 'sw-2']) {
    for (let at = Math.floor(r() * 20_000); at < t;) {
      const upAt = at + latenessMs + 1 + Math.floor(r() * 40_000);
      events.push(ev(at, { asset, type: 'down' }), ev(upAt, { asset, type: 'up' }));
      at = upAt + latenessMs + 1 + Math.floor(r() * 30_000);
    }
  }
  return events.sort((a, b) => Number(a.timeUnixNano - b.timeUnixNano));
}

describe('event order within the allowed lateness', () => {
  it('does not change absence and pair deadline decisions (400 events, 60 seeds)', () => {
    const latenessMs = 30_000;
    let decided = 0;
    for (let seed = 1; seed <= 60; seed++) {
      const events = timedScenario(seed, 400, latenessMs);
      const time = events.map((e) => Number(e.timeUnixNano / 1_000_000n));
      const inOrder = engineFrom(timed('30s'));
      run(inOrder, events, time);
      // Each event is delayed by up to the lateness, so none arrives more than the lateness after a later one.
      const r = mulberry32(seed * 104_729);
      const shuffled = engineFrom(timed('30s'));
      run(
        shuffled,
        events,
        time.map((t) => t + Math.floor(r() * (latenessMs + 1))),
      );
      const timers = (engine: CorrelationEngine) => decisions(engine).filter((d) => !d.includes('errors{'));
      expect(timers(shuffled), `seed ${seed}`).toEqual(timers(inOrder));
      expect(shuffled.stats.late, `seed ${seed}`).toBe(0);
      decided += decisions(inOrder).length;
    }
    expect(decided).toBeGreaterThan(1000);
  });
});
