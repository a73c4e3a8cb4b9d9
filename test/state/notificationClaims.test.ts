import type { Redis } from 'ioredis';
import { beforeEach, describe, expect, it } from 'vitest';
import type { Incident, IncidentChange } from '../../src/model/incident.ts';
import {
  claimNotification,
  claimOutcome,
  claimOutcomes,
  lastOfEachNotification,
  markAllNotified,
  markNotified,
} from '../../src/state/notificationClaims.ts';
import { RedisKeys } from '../../src/state/redisKeys.ts';
import { freshPrefix, redisAndClients } from './redisHelpers.ts';

// The claims that make each notification go out once across agents
// (src/state/notificationClaims.ts), on a real redis-server: pending until sent, so that the next
// holder of a partition sends what its last holder claimed and died before sending.

const OPENED = {
  kind: 'opened',
  atMs: 1_000,
  notify: true,
  incident: { key: 'errors{service="web"}', id: 'i-1', openedAtMs: 1_000 } as Incident,
} as IncidentChange;

/** OPENED of another incident: the errors of `service`. */
const opened = (service: string) =>
  ({ ...OPENED, incident: { ...OPENED.incident, key: `errors{service="${service}"}`, id: service } }) as IncidentChange;

describe('notification claims', () => {
  const redis = redisAndClients();
  let client: Redis;
  beforeEach(async () => {
    client = await redis.client();
  });

  /** Claims of one notification in a fresh key space: `first` claims as given, then `second` tries. */
  async function after(
    first: [writer: string, state: 'pending' | 'done'],
    second: [writer: string, state: 'pending' | 'done'],
    sent = false,
  ): Promise<boolean> {
    const keys = new RedisKeys(freshPrefix());
    expect(await claimNotification(client, keys, first[0], OPENED, first[1])).toBe(true);
    if (sent) await markNotified(client, keys, first[0], OPENED);
    return claimNotification(client, keys, second[0], OPENED, second[1]);
  }

  it('a later term of the same partition takes over a pending claim: its last holder may have died before sending', async () => {
    expect(await after(['a@3:5', 'pending'], ['b@3:6', 'pending'])).toBe(true);
    expect(await after(['a@3:5', 'pending'], ['a@3:7', 'pending'])).toBe(true);
    // Told apart from a fresh claim, with the writer it was pending under.
    const keys = new RedisKeys(freshPrefix());
    expect(await claimOutcome(client, keys, 'a@3:5', OPENED, 'pending')).toBe('claimed');
    expect(await claimOutcome(client, keys, 'b@3:6', OPENED, 'pending')).toEqual({ takenOverFrom: 'a@3:5' });
    expect(await claimOutcome(client, keys, 'b@3:6', OPENED, 'pending')).toBe('claimed');
    expect(await claimOutcome(client, keys, 'c@3:5', OPENED, 'pending')).toBe('refused');
  });

  it('nothing takes over a claim marked sent, or claimed done', async () => {
    expect(await after(['a@3:5', 'pending'], ['b@3:6', 'pending'], true)).toBe(false);
    expect(await after(['a@3:5', 'done'], ['b@3:6', 'pending'])).toBe(false);
  });

  it('an earlier term, another partition, or a writer with no term does not take over a pending claim', async () => {
    expect(await after(['a@3:5', 'pending'], ['b@3:4', 'pending'])).toBe(false);
    expect(await after(['a@3:5', 'pending'], ['b@3:5', 'pending'])).toBe(false);
    expect(await after(['a@3:5', 'pending'], ['b@4:6', 'pending'])).toBe(false);
    expect(await after(['a@3:5', 'pending'], ['agent-b', 'done'])).toBe(false);
    expect(await after(['agent-a', 'pending'], ['b@3:6', 'pending'])).toBe(false);
  });

  it('a claim as older versions wrote it (the writer alone) counts as done', async () => {
    const keys = new RedisKeys(freshPrefix());
    for (const key of keys.notificationClaimKeys(OPENED.incident.key, ['i-1'], 'opened', 1_000))
      await client.set(key, 'a@3:5');
    expect(await claimNotification(client, keys, 'b@3:6', OPENED, 'pending')).toBe(false);
  });

  it("the same writer's retry goes through until the claim is marked sent; marking touches only the writer's own", async () => {
    const keys = new RedisKeys(freshPrefix());
    expect(await claimNotification(client, keys, 'a@3:5', OPENED, 'pending')).toBe(true);
    expect(await claimNotification(client, keys, 'a@3:5', OPENED, 'pending')).toBe(true);
    await markNotified(client, keys, 'a@3:5', OPENED);
    // Sent: the same writer claiming it pending again (its term's fence repeated after a failover) is refused.
    expect(await claimNotification(client, keys, 'a@3:5', OPENED, 'pending')).toBe(false);
    // Claimed again as sent (after a reconnect) it goes through, and stays sent.
    expect(await claimNotification(client, keys, 'a@3:5', OPENED, 'done')).toBe(true);
    expect(await claimNotification(client, keys, 'a@3:5', OPENED, 'pending')).toBe(false);
    expect(await claimNotification(client, keys, 'b@3:6', OPENED, 'pending')).toBe(false);

    const other = new RedisKeys(freshPrefix());
    expect(await claimNotification(client, other, 'a@3:5', OPENED, 'pending')).toBe(true);
    await markNotified(client, other, 'z@3:9', OPENED);
    expect(await claimNotification(client, other, 'b@3:6', OPENED, 'pending')).toBe(true);
  });

  it('claims many notifications in one call, each as a call of its own would, and marks many sent at once', async () => {
    const keys = new RedisKeys(freshPrefix());
    const [fresh, doneByOther, pendingEarlier, mine, twice] = ['a', 'b', 'c', 'd', 'e'].map(opened) as [
      IncidentChange,
      IncidentChange,
      IncidentChange,
      IncidentChange,
      IncidentChange,
    ];
    const updated = { ...fresh, kind: 'updated', notify: false } as IncidentChange;
    expect(await claimNotification(client, keys, 'x@3:1', doneByOther, 'done')).toBe(true);
    expect(await claimNotification(client, keys, 'a@3:5', pendingEarlier, 'pending')).toBe(true);
    expect(await claimNotification(client, keys, 'b@3:6', mine, 'pending')).toBe(true);
    const claims = [fresh, doneByOther, pendingEarlier, mine, updated, twice, twice].map((change) => ({
      writer: 'b@3:6',
      change,
    }));
    expect(await claimOutcomes(client, keys, claims, 'pending')).toEqual([
      'claimed',
      'refused',
      { takenOverFrom: 'a@3:5' },
      'claimed',
      'claimed',
      'claimed',
      'claimed',
    ]);
    // Two of them sent: a later term takes over the two still pending, not those.
    await markAllNotified(
      client,
      keys,
      [fresh, pendingEarlier].map((change) => ({ writer: 'b@3:6', change })),
    );
    expect(
      await claimOutcomes(
        client,
        keys,
        [fresh, pendingEarlier, mine, twice].map((change) => ({ writer: 'c@3:7', change })),
        'pending',
      ),
    ).toEqual(['refused', 'refused', { takenOverFrom: 'b@3:6' }, { takenOverFrom: 'b@3:6' }]);
  });

  it('holds each claim of one call as its own state says: one claimed done is not taken over', async () => {
    const keys = new RedisKeys(freshPrefix());
    const [sent, unsent, either] = ['a', 'b', 'c'].map(opened) as [IncidentChange, IncidentChange, IncidentChange];
    const calls = async () =>
      [...(await client.info('commandstats')).matchAll(/cmdstat_eval(?:sha)?:calls=(\d+)/g)].reduce(
        (n, m) => n + Number(m[1]),
        0,
      );
    const before = await calls();
    expect(
      await claimOutcomes(
        client,
        keys,
        [
          { writer: 'a@3:5', change: sent, state: 'done' },
          { writer: 'a@3:5', change: unsent, state: 'pending' },
          { writer: 'a@3:5', change: either },
        ],
        'done',
      ),
    ).toEqual(['claimed', 'claimed', 'claimed']);
    expect(await calls()).toBe(before + 1);
    // The next term takes over only the one claimed pending.
    expect(
      await claimOutcomes(
        client,
        keys,
        [sent, unsent, either].map((change) => ({ writer: 'a@3:6', change })),
        'pending',
      ),
    ).toEqual(['refused', { takenOverFrom: 'a@3:5' }, 'refused']);
  });

  it('claims thousands in calls of a thousand at most, answered in order as one', async () => {
    const keys = new RedisKeys(freshPrefix());
    const many = Array.from({ length: 2_500 }, (_, i) => ({
      writer: 'b@3:6',
      change: { ...OPENED, incident: { ...OPENED.incident, key: `errors{service="s${i}"}`, id: `s${i}` } },
    })) as { writer: string; change: IncidentChange }[];
    // One of them claimed by another writer first: refused at its place in the answer.
    await claimNotification(client, keys, 'x@3:1', many[1_234]!.change, 'done');
    const calls = async () => Number(/cmdstat_evalsha:calls=(\d+)/.exec(await client.info('commandstats'))?.[1] ?? 0);
    const before = await calls();
    const outcomes = await claimOutcomes(client, keys, many, 'pending');
    expect(await calls()).toBe(before + 3);
    expect(outcomes.map((o, i) => (o === 'claimed' ? '' : `${i} ${String(o)}`)).filter(Boolean)).toEqual([
      '1234 refused',
    ]);
  });

  it('tells a claim whose call failed apart from a refused one', async () => {
    const gone = await redis.client();
    gone.disconnect();
    const [outcome] = await claimOutcomes(
      gone,
      new RedisKeys(freshPrefix()),
      [{ writer: 'a@3:5', change: OPENED }],
      'pending',
    );
    expect(outcome).toBeInstanceOf(Error);
    await expect(claimNotification(gone, new RedisKeys(freshPrefix()), 'a@3:5', OPENED)).rejects.toThrow();
  });
});

describe('changes kept back for their claims', () => {
  it('are kept once when a replay under a newer term made them again, as made last; others stand', () => {
    const older = { change: OPENED, writer: 'a@1:2' };
    const update = { change: { ...OPENED, kind: 'updated', notify: false } as IncidentChange, writer: 'a@1:2' };
    const other = {
      change: { ...OPENED, incident: { ...OPENED.incident, id: 'i-2', key: 'errors{service="api"}' } },
      writer: 'a@2:5',
    };
    // Made again by the replay: the same notification (same incident, kind and moment), another object.
    const again = { change: { ...OPENED, incident: { ...OPENED.incident } }, writer: 'a@1:3' };
    const resolved = {
      change: { ...OPENED, kind: 'resolved', incident: { ...OPENED.incident, resolvedAtMs: 9_000 } } as IncidentChange,
      writer: 'a@1:3',
    };
    const unnotified = { change: { ...OPENED, notify: false }, writer: 'a@1:3' };
    expect(lastOfEachNotification([older, update, other, again, resolved, unnotified])).toEqual([
      update,
      other,
      again,
      resolved,
      unnotified,
    ]);
    // Nothing made twice: all stand, in order.
    expect(lastOfEachNotification([older, other, resolved])).toEqual([older, other, resolved]);
  });
});
