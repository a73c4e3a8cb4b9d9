import { join } from 'node:path';
import { expect } from 'vitest';
import type { IncidentRecord } from '../../src/correlation/incidentBook.ts';
import type { IncidentChange } from '../../src/model/incident.ts';
import { createRedisClient } from '../../src/state/redisConnection.ts';
import { RedisKeys } from '../../src/state/redisKeys.ts';
import type { RunningDaemon } from '../support/daemon.ts';
import { readNdjson } from '../support/ndjson.ts';
import { waitFor } from '../support/waitFor.ts';
import { stateConfig } from './redisHelpers.ts';

/** Agents driven through their HTTP ingest, their incidents file and their admin endpoints. */

export async function send(d: RunningDaemon, events: object[]): Promise<void> {
  const res = await fetch(d.url('/v1/events'), {
    method: 'POST',
    body: JSON.stringify(events),
    headers: { 'content-type': 'application/json' },
  });
  expect(await res.json()).toEqual({ accepted: events.length, rejected: [] });
}

export const changesOf = (d: RunningDaemon) => readNdjson<IncidentChange>(join(d.dataDir, 'incidents.ndjson'));
export const allChanges = (ds: RunningDaemon[]) => ds.flatMap(changesOf);
export const metricsOf = async (d: RunningDaemon) => (await fetch(d.adminUrl('/metrics'))).text();

/** A sample's value in the daemon's `/metrics` (`name` with its labels), 0 when absent. */
export async function metric(d: RunningDaemon, sample: string): Promise<number> {
  const line = (await metricsOf(d)).split('\n').find((l) => l.startsWith(`${sample} `));
  return line === undefined ? 0 : Number(line.slice(sample.length + 1));
}

/** Timer rounds an agent has done with their changes delivered, leading or not (or, on partitions, steps). */
async function rounds(d: RunningDaemon): Promise<number> {
  const m = await metricsOf(d);
  let n = 0;
  for (const x of m.matchAll(/^vigil_correlation_ticks_total\{role="(?:timers|settle|partitions)"\} (\d+)$/gm))
    n += Number(x[1]);
  return n;
}

/**
 * Waits until every agent has done `n` more timer rounds than now: what any of them would still
 * do of itself (a second opening, a late duplicate) is done by then, however slow the machine,
 * where a fixed sleep can be too short under load.
 */
export async function afterRounds(ds: RunningDaemon[], n: number, timeoutMs = 30_000): Promise<void> {
  const start = await Promise.all(ds.map(rounds));
  await waitFor(
    async () => (await Promise.all(ds.map(rounds))).every((r, i) => r >= start[i]! + n),
    `${n} more timer rounds on every agent`,
    timeoutMs,
  );
}

export async function readiness(d: RunningDaemon): Promise<string> {
  return ((await (await fetch(d.adminUrl('/readyz'))).json()) as { status: string }).status;
}

/** Ids of incidents still standing for `key`: every id any agent stored, less those merged into another. */
export function standingIds(changes: IncidentChange[], key: string): Set<string> {
  const ofKey = changes.filter((c) => c.incident.key === key);
  const merged = new Set(ofKey.filter((c) => c.incident.mergedInto !== undefined).map((c) => c.incident.id));
  return new Set(ofKey.map((c) => c.incident.id).filter((id) => !merged.has(id)));
}

/**
 * The incident records the agents share for `keys` (engine key `i:<key>` under the rule's hash
 * tag), read through a client of the same topology as the agents'.
 */
export async function sharedRecords(
  state: Record<string, unknown>,
  rule: string,
  keys: string[],
): Promise<Map<string, IncidentRecord>> {
  const cfg = stateConfig({ ...state, connect_timeout: '2s' });
  const client = createRedisClient(cfg);
  client.on('error', () => undefined);
  const redisKeys = new RedisKeys(cfg.prefix);
  try {
    await client.connect();
    const found = new Map<string, IncidentRecord>();
    for (const key of keys) {
      const v = await client.hget(redisKeys.stateKey(`i:${key}`, rule), '#v');
      if (v !== null) found.set(key, JSON.parse(v) as IncidentRecord);
    }
    return found;
  } finally {
    client.disconnect();
  }
}

/** What a fault cost, each figure expected to be 0. */
export interface FaultReport {
  /** Errors sent that no shared incident counts (or counted twice: the difference either way). */
  eventsLost: number;
  /** Keys with other than one incident standing, or whose shared record is not that incident. */
  incidentsDiverging: number;
  /** `opened` notifications beyond the first for a key. */
  duplicateNotifications: number;
  /** Keys that should have been resolved and are not, in the shared record. */
  missedResolutions: number;
  /** Keys whose opening was never notified. */
  missedNotifications: number;
}

export interface Expected {
  /** Incident key → errors sent for it. */
  counts: Map<string, number>;
  /** Incident keys whose ending was sent. */
  resolved: string[];
  /** Incident keys that must be standing, open or resolved. */
  all: string[];
  /** Incident keys whose opening must have been notified. */
  notified: string[];
}

export function faultReport(
  changes: IncidentChange[],
  records: Map<string, IncidentRecord>,
  expected: Expected,
): FaultReport {
  let eventsLost = 0;
  for (const [key, sent] of expected.counts)
    eventsLost += Math.abs(sent - (records.get(key)?.incident.eventCount ?? 0));
  let incidentsDiverging = 0;
  let duplicateNotifications = 0;
  let missedNotifications = 0;
  for (const key of expected.all) {
    const standing = standingIds(changes, key);
    const record = records.get(key);
    if (standing.size !== 1 || record === undefined || !standing.has(record.incident.id)) incidentsDiverging++;
    const notified = changes.filter((c) => c.incident.key === key && c.kind === 'opened' && c.notify).length;
    duplicateNotifications += Math.max(notified - 1, 0);
    if (notified === 0 && expected.notified.includes(key)) missedNotifications++;
  }
  const missedResolutions = expected.resolved.filter((key) => records.get(key)?.incident.status !== 'resolved').length;
  return { eventsLost, incidentsDiverging, duplicateNotifications, missedResolutions, missedNotifications };
}

export const NO_COST: FaultReport = {
  eventsLost: 0,
  incidentsDiverging: 0,
  duplicateNotifications: 0,
  missedResolutions: 0,
  missedNotifications: 0,
};
