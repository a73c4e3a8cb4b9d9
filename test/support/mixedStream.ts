import type { VigilEvent } from '../../src/model/event.ts';
import type { IncidentChange } from '../../src/model/incident.ts';
import { ev } from './correlation.ts';
import { mulberry32 } from './seededRandom.ts';

/**
 * Rules of four kinds over a few groups each, with no limit of open incidents: what the tests of
 * the core's state as a value (checkpoints, replays, partitions' owners) run a seeded stream through.
 */
export const mixedRules = `
defaults: { group_wait: 0s, allowed_lateness: 5s, max_open_incidents: 0 }
rules:
  - { kind: threshold, name: errors, match: 'severity_text == "ERROR"', group_by: [service], window: 30s, bucket: 5s, threshold: 6 }
  - { kind: pair, name: link, match: 'attributes["check"] == "link"', group_by: [asset] }
  - { kind: dedup, name: disk, match: 'attributes["check"] == "disk"', group_by: [asset], dedup_window: 20s }
  - { kind: absence, name: beat, match: 'attributes["check"] == "beat"', group_by: [asset], interval: 30s }
`;

/** Errors, link flaps, disk alerts and heartbeats over a few groups each, in time order, 4 s apart at most. */
export function mixedStream(seed: number, count: number): VigilEvent[] {
  const r = mulberry32(seed);
  const out: VigilEvent[] = [];
  let t = 0;
  for (let i = 0; i < count; i++) {
    t += Math.floor(r() * 400);
    const n = Math.floor(r() * 12);
    const kind = r();
    if (kind < 0.35) out.push(ev(t, { service: `svc-${n}`, severityText: 'ERROR', severityNumber: 17 }));
    else if (kind < 0.6)
      out.push(ev(t, { asset: `sw-${n}`, type: r() < 0.5 ? 'down' : 'up', attributes: { check: 'link' } }));
    else if (kind < 0.8) out.push(ev(t, { asset: `host-${n}`, title: 'disk full', attributes: { check: 'disk' } }));
    else if (r() < 0.7) out.push(ev(t, { asset: `node-${n % 4}`, attributes: { check: 'beat' } }));
  }
  return out;
}

/** Openings and resolutions among `changes`, as `opened key@time`, into `into`. */
export function noteOpenings(changes: readonly IncidentChange[], into: Set<string> | string[]): void {
  for (const c of changes) {
    const what =
      c.kind === 'opened'
        ? `opened ${c.incident.key}@${c.incident.openedAtMs}`
        : c.kind === 'resolved'
          ? `resolved ${c.incident.key}@${c.incident.resolvedAtMs}`
          : undefined;
    if (what === undefined) continue;
    if (Array.isArray(into)) into.push(what);
    else into.add(what);
  }
}
