import type { IncidentChange } from '../model/incident.ts';
import { runScript, type RedisClient } from './redisConnection.ts';
import type { RedisKeys } from './redisKeys.ts';

/** How long a sent notification is remembered, so no agent sends it again. */
const NOTIFIED_TTL_MS = 86_400_000;

/**
 * Claims for `writer` the right to send one notification: the first notification of an
 * incident, its resolution, reopening or escalation, each once across the agents sharing the
 * Redis, whoever makes the change (a leader after a handover, an agent resolving on an event, the
 * next owner of a partition replaying its stream). The claim covers every id of the incident
 * (its own and those merged into it); the same writer's retry goes through. Other kinds of change
 * need no claim: true. Claimed `pending` (the owners design: an agent that dies before sending is
 * superseded by the partition's next holder), it is marked done by `markNotified` once sent.
 */
export async function claimNotification(
  client: RedisClient,
  keys: RedisKeys,
  writer: string,
  c: IncidentChange,
  state: 'pending' | 'done' = 'done',
): Promise<boolean> {
  return (await claimOutcome(client, keys, writer, c, state)) !== 'refused';
}

/**
 * What a claim came to: `claimed`; `taken over` from the writer named, under which it was
 * pending (the last holder of the partition died before sending); or `refused`.
 */
export type ClaimOutcome = 'claimed' | { takenOverFrom: string } | 'refused';

/** As `claimNotification`, telling a claim taken over from a fresh one. */
export async function claimOutcome(
  client: RedisClient,
  keys: RedisKeys,
  writer: string,
  c: IncidentChange,
  state: 'pending' | 'done',
): Promise<ClaimOutcome> {
  const claimKeys = claimKeysOf(keys, c);
  if (claimKeys === undefined) return 'claimed';
  const args = [writer, NOTIFIED_TTL_MS, state === 'pending' ? 'p' : 'd'];
  const [won, from] = (await runScript(client, 'vigilNotifyClaim', claimKeys, args)) as [number, string?];
  return won === 0 ? 'refused' : won === 2 ? { takenOverFrom: from ?? '' } : 'claimed';
}

/**
 * Marks `writer`'s pending claim of `c`'s notification done, once the notification has gone out
 * (to the incidents pipelines). A claim left pending by a writer that died before sending is taken
 * over by the next holder of the incident's partition, who sends it (at least once).
 */
export async function markNotified(
  client: RedisClient,
  keys: RedisKeys,
  writer: string,
  c: IncidentChange,
): Promise<void> {
  const claimKeys = claimKeysOf(keys, c);
  if (claimKeys !== undefined) await runScript(client, 'vigilNotifyDone', claimKeys, [writer, NOTIFIED_TTL_MS]);
}

/** The keys of the claims on `c`'s notification; undefined for a kind of change that needs none. */
function claimKeysOf(keys: RedisKeys, c: IncidentChange): string[] | undefined {
  if (c.kind !== 'opened' && c.kind !== 'resolved' && c.kind !== 'reopened' && c.kind !== 'escalated') return undefined;
  const inc = c.incident;
  const moment = c.kind === 'opened' ? inc.openedAtMs : c.kind === 'resolved' ? inc.resolvedAtMs : c.atMs;
  return keys.notificationClaimKeys(inc.key, [inc.id, ...(inc.mergedIds ?? [])], c.kind, moment);
}
