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
 * need no claim: true.
 */
export async function claimNotification(
  client: RedisClient,
  keys: RedisKeys,
  writer: string,
  c: IncidentChange,
): Promise<boolean> {
  if (c.kind !== 'opened' && c.kind !== 'resolved' && c.kind !== 'reopened' && c.kind !== 'escalated') return true;
  const inc = c.incident;
  const moment = c.kind === 'opened' ? inc.openedAtMs : c.kind === 'resolved' ? inc.resolvedAtMs : c.atMs;
  const claimKeys = keys.notificationClaimKeys(inc.key, [inc.id, ...(inc.mergedIds ?? [])], c.kind, moment);
  return (await runScript(client, 'vigilNotifyClaim', claimKeys, [writer, NOTIFIED_TTL_MS])) === 1;
}
