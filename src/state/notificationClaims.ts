import type { IncidentChange } from '../model/incident.ts';
import { keySlot } from './keySlot.ts';
import { runScript, singleConnection, type RedisClient } from './redisConnection.ts';
import type { RedisKeys } from './redisKeys.ts';

/** How long a sent notification is remembered, so no agent sends it again. */
const NOTIFIED_TTL_MS = 86_400_000;

/**
 * One notification to claim: its change, the writer claiming it, and how the claim is held when
 * it is not the call's (`pending` until sent, or `done`).
 */
export interface NotificationClaim {
  writer: string;
  change: IncidentChange;
  state?: 'pending' | 'done';
}

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
  const [outcome] = await claimOutcomes(client, keys, [{ writer, change: c }], state);
  if (outcome instanceof Error) throw outcome;
  return outcome!;
}

/**
 * `claimOutcome` of several notifications, in order, in one script call per slot their claims
 * are in (one call on a single connection): a delivery of many changes costs one round trip and
 * one call, not one each. Each claim is held as its own `state` says, else as `state`. A claim
 * whose call failed (Redis out of reach) comes back as the error.
 */
export async function claimOutcomes(
  client: RedisClient,
  keys: RedisKeys,
  claims: readonly NotificationClaim[],
  state: 'pending' | 'done',
): Promise<(ClaimOutcome | Error)[]> {
  const out: (ClaimOutcome | Error)[] = claims.map(() => 'claimed');
  await Promise.all(
    bySlot(client, keys, claims).map(async ({ indexes, keyLists }) => {
      const args: (string | number)[] = [NOTIFIED_TTL_MS];
      indexes.forEach((i, j) => {
        const claim = claims[i]!;
        args.push(claim.writer, (claim.state ?? state) === 'pending' ? 'p' : 'd', keyLists[j]!.length);
      });
      try {
        const reply = (await runScript(client, 'vigilNotifyClaim', keyLists.flat(), args)) as (number | string)[];
        indexes.forEach((i, j) => {
          const won = Number(reply[2 * j]);
          out[i] = won === 0 ? 'refused' : won === 2 ? { takenOverFrom: String(reply[2 * j + 1] ?? '') } : 'claimed';
        });
      } catch (err) {
        for (const i of indexes) out[i] = err instanceof Error ? err : new Error(String(err));
      }
    }),
  );
  return out;
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
  await markAllNotified(client, keys, [{ writer, change: c }]);
}

/** `markNotified` of several notifications, in one script call per slot their claims are in. */
export async function markAllNotified(
  client: RedisClient,
  keys: RedisKeys,
  claims: readonly NotificationClaim[],
): Promise<void> {
  await Promise.all(
    bySlot(client, keys, claims).map(({ indexes, keyLists }) => {
      const args: (string | number)[] = [NOTIFIED_TTL_MS];
      indexes.forEach((i, j) => args.push(claims[i]!.writer, keyLists[j]!.length));
      return runScript(client, 'vigilNotifyDone', keyLists.flat(), args);
    }),
  );
}

/**
 * Takes over for `writer` the claim of `c`'s notification that `gone` (an owner whose presence
 * expired: it died, or lost Redis for longer than its presence lasts) left pending, or never made:
 * true when `writer` now holds it pending, and should send the notification; false when it was
 * sent (done) or another writer holds it.
 */
export async function takeOverClaim(
  client: RedisClient,
  keys: RedisKeys,
  writer: string,
  gone: string,
  c: IncidentChange,
): Promise<boolean> {
  const claimKeys = claimKeysOf(keys, c);
  if (claimKeys === undefined) return true;
  return Number(await runScript(client, 'vigilNotifyTakeover', claimKeys, [NOTIFIED_TTL_MS, writer, gone])) === 1;
}

/**
 * The claims that have keys, grouped for one script call each: all of them on a single
 * connection, by the slot of their keys on a Cluster (one notification's keys share its
 * incident's slot; a call's keys must all be in one), at most CLAIMS_PER_CALL a call.
 */
function bySlot(
  client: RedisClient,
  keys: RedisKeys,
  claims: readonly NotificationClaim[],
): { indexes: number[]; keyLists: string[][] }[] {
  const groups = new Map<number, { indexes: number[]; keyLists: string[][] }>();
  const full: { indexes: number[]; keyLists: string[][] }[] = [];
  const single = singleConnection(client);
  claims.forEach(({ change }, i) => {
    const claimKeys = claimKeysOf(keys, change);
    if (claimKeys === undefined) return;
    const slot = single ? 0 : keySlot(claimKeys[0]!);
    let group = groups.get(slot);
    if (!group) groups.set(slot, (group = { indexes: [], keyLists: [] }));
    group.indexes.push(i);
    group.keyLists.push(claimKeys);
    if (group.indexes.length === CLAIMS_PER_CALL) {
      full.push(group);
      groups.delete(slot);
    }
  });
  return full.concat([...groups.values()]);
}

/**
 * Most notifications one script call takes: a reconnect claims again up to 100,000, which in one
 * call would hold Redis for the whole of it, and every other client waiting behind.
 */
const CLAIMS_PER_CALL = 1000;

/** The keys of the claims on `c`'s notification; undefined for a kind of change that needs none. */
function claimKeysOf(keys: RedisKeys, c: IncidentChange): string[] | undefined {
  const moment = claimMoment(c);
  if (moment === null) return undefined;
  const inc = c.incident;
  return keys.notificationClaimKeys(inc.key, [inc.id, ...(inc.mergedIds ?? [])], c.kind, moment);
}

/**
 * Which notification `c` is, as its claims tell: the same for a change made again (a replay after
 * a takeover makes it under the same id and moment); undefined for a kind that needs no claim.
 */
export function claimIdentity(c: IncidentChange): string | undefined {
  const moment = claimMoment(c);
  return moment === null ? undefined : `${c.kind}\n${c.incident.key}\n${c.incident.id}\n${String(moment)}`;
}

/**
 * `made` with each notification made more than once kept once, as made last: a change kept back
 * waiting for its claim, and made again by a replay of its partition under a newer term, would
 * otherwise be claimed twice (the newer writer taking over the older's pending claim) and sent twice.
 */
export function lastOfEachNotification<T extends { change: IncidentChange }>(made: readonly T[]): T[] {
  const ids = made.map((m) => (m.change.notify ? claimIdentity(m.change) : undefined));
  const last = new Map<string, number>();
  ids.forEach((id, i) => {
    if (id !== undefined) last.set(id, i);
  });
  return made.filter((_, i) => ids[i] === undefined || last.get(ids[i]!) === i);
}

/** The moment a claim of `c`'s notification names; null for a kind of change that needs none. */
function claimMoment(c: IncidentChange): number | null {
  const inc = c.incident;
  switch (c.kind) {
    case 'opened':
      return inc.openedAtMs;
    case 'resolved':
      return inc.resolvedAtMs;
    case 'reopened':
    case 'escalated':
      return c.atMs;
    default:
      return null;
  }
}
