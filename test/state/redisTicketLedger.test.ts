import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { TicketLedgerUnavailableError } from '../../src/exporters/tickets/ledger.ts';
import { RedisKeys } from '../../src/state/redisKeys.ts';
import { RedisTicketLedger } from '../../src/state/redisTicketLedger.ts';
import { startRedis, waitFor, type RedisServer } from '../support/redis.ts';
import { freshPrefix } from './redisHelpers.ts';

describe('RedisTicketLedger', () => {
  let redis: RedisServer;
  const clients: Redis[] = [];
  const ledgers: RedisTicketLedger[] = [];

  beforeAll(async () => {
    redis = await startRedis();
  });
  afterEach(async () => {
    await Promise.all(ledgers.splice(0).map((l) => l.close()));
    for (const c of clients.splice(0)) c.disconnect();
  });
  afterAll(async () => {
    await redis.stop();
  });

  let keyPrefix = '';
  /** `n` agents' ledgers of one exporter (`exporter`, or `glpi`), on a fresh prefix unless one is given. */
  async function agents(
    n: number,
    claimTtlMs = 10_000,
    scope: { exporter?: string; unscoped?: boolean; prefix?: string } = {},
  ): Promise<{ ledgers: RedisTicketLedger[]; clients: Redis[] }> {
    keyPrefix = scope.prefix ?? freshPrefix();
    const keys = new RedisKeys(keyPrefix);
    const made: RedisTicketLedger[] = [];
    const own: Redis[] = [];
    for (let i = 0; i < n; i++) {
      const client = new Redis(redis.url, { lazyConnect: true, maxRetriesPerRequest: 0, enableOfflineQueue: false });
      client.on('error', () => undefined);
      await client.connect();
      clients.push(client);
      own.push(client);
      made.push(
        new RedisTicketLedger({
          client,
          keys,
          owner: `agent-${i}`,
          exporter: scope.exporter ?? 'glpi',
          ...(scope.unscoped ? { unscoped: true } : {}),
          claimTtlMs,
          recordTtlMs: 86_400_000,
        }),
      );
    }
    ledgers.push(...made);
    return { ledgers: made, clients: own };
  }

  it('lets exactly one of several agents claim an incident, and none once its ticket is stored', async () => {
    const {
      ledgers: [a, b, c],
    } = await agents(3);
    const claims = await Promise.all([a, b, c].map((l) => l!.claim('svc-x')));
    expect(claims.filter(Boolean)).toHaveLength(1);
    const winner = [a, b, c][claims.indexOf(true)]!;
    expect(await winner.claim('svc-x')).toBe(false); // one claim per key, even for its holder
    await winner.put('svc-x', { ref: 'GLPI-17', incidentId: 'inc-1', resolved: false });
    for (const l of [a, b, c]) {
      expect(await l!.get('svc-x')).toEqual({ ref: 'GLPI-17', incidentId: 'inc-1', resolved: false });
      // The claim is free again, but an open ticket is on record: no second creation.
      expect(await l!.claim('svc-x')).toBe(false);
    }
  });

  it('allows a new claim once the recorded ticket is resolved (a new incident on the same key)', async () => {
    const {
      ledgers: [a, b],
    } = await agents(2);
    expect(await a!.claim('svc-y')).toBe(true);
    await a!.put('svc-y', { ref: 'J-1', incidentId: 'inc-1', resolved: false });
    await b!.put('svc-y', { ref: 'J-1', incidentId: 'inc-1', resolved: true });
    expect(await b!.claim('svc-y')).toBe(true);
    await b!.release('svc-y');
    expect(await a!.claim('svc-y')).toBe(true);
  });

  it("hands a merged incident's ticket to the incident it merged into, keeping its state, whoever stores meanwhile", async () => {
    const {
      ledgers: [a, b],
    } = await agents(2);
    await a!.put('svc-m', { ref: 'G-1', incidentId: 'twin-a', resolved: false });
    await b!.merge('svc-m', 'twin-a', 'twin-b');
    expect(await a!.get('svc-m')).toEqual({ ref: 'G-1', incidentId: 'twin-b', resolved: false, mergedIds: ['twin-a'] });
    // The record of the incident merged into learns each id once; another incident's record stays as it is.
    await a!.merge('svc-m', 'twin-a', 'twin-b');
    await a!.merge('svc-m', 'twin-c', 'twin-b');
    await a!.merge('svc-m', 'other', 'elsewhere');
    expect(await b!.get('svc-m')).toEqual({
      ref: 'G-1',
      incidentId: 'twin-b',
      resolved: false,
      mergedIds: ['twin-a', 'twin-c'],
    });
    // A resolution stored by another agent is kept by a later merge; a key without a record gets none.
    await b!.put('svc-m', { ref: 'G-1', incidentId: 'twin-b', resolved: true, mergedIds: ['twin-a', 'twin-c'] });
    await a!.merge('svc-m', 'twin-d', 'twin-b');
    expect(await a!.get('svc-m')).toMatchObject({ resolved: true, mergedIds: ['twin-a', 'twin-c', 'twin-d'] });
    await a!.merge('svc-none', 'twin-a', 'twin-b');
    expect(await a!.get('svc-none')).toBeUndefined();
  });

  it("keeps each exporter's tickets and claims apart from another exporter's on the same ledger", async () => {
    const {
      ledgers: [glpi],
    } = await agents(1);
    const {
      ledgers: [jira],
    } = await agents(1, 10_000, { exporter: 'jira', prefix: keyPrefix });
    expect(await glpi!.claim('svc-x')).toBe(true);
    expect(await jira!.claim('svc-x')).toBe(true);
    await glpi!.put('svc-x', { ref: '17', incidentId: 'inc-1', resolved: false });
    expect(await jira!.get('svc-x')).toBeUndefined();
    await jira!.put('svc-x', { ref: 'OPS-1', incidentId: 'inc-1', resolved: false });
    expect(await glpi!.get('svc-x')).toEqual({ ref: '17', incidentId: 'inc-1', resolved: false });
    expect(await jira!.get('svc-x')).toEqual({ ref: 'OPS-1', incidentId: 'inc-1', resolved: false });
    // One exporter's resolution and merge leave the other's ticket as it is.
    await glpi!.put('svc-x', { ref: '17', incidentId: 'inc-1', resolved: true });
    await jira!.merge('svc-x', 'inc-1', 'inc-2');
    expect(await glpi!.get('svc-x')).toEqual({ ref: '17', incidentId: 'inc-1', resolved: true });
    expect(await jira!.get('svc-x')).toEqual({
      ref: 'OPS-1',
      incidentId: 'inc-2',
      resolved: false,
      mergedIds: ['inc-1'],
    });
    expect(await jira!.claim('svc-x')).toBe(false);
    expect(await glpi!.claim('svc-x')).toBe(true);
  });

  it('finds, for the lone exporter on a ledger, a ticket recorded before records were scoped by exporter', async () => {
    const {
      ledgers: [lone],
      clients: [client],
    } = await agents(1, 10_000, { unscoped: true });
    const keys = new RedisKeys(keyPrefix);
    // As an agent before the upgrade stored it: keyed by the incident alone.
    await client!.hset(keys.ticketKeys('svc-u')[2], { ref: '9', incidentId: 'inc-9', resolved: '0' });
    expect(await lone!.get('svc-u')).toEqual({ ref: '9', incidentId: 'inc-9', resolved: false });
    expect(await lone!.claim('svc-u')).toBe(false); // its ticket is open: no second one
    // Its record from now on is its own, and still where agents not yet upgraded look.
    await lone!.put('svc-u', { ref: '9', incidentId: 'inc-9', resolved: true });
    for (const record of [keys.ticketKeys('svc-u', 'glpi')[2], keys.ticketKeys('svc-u')[2]])
      expect(await client!.hget(record, 'resolved')).toBe('1');
    // A claim an agent not yet upgraded holds keeps it from creating meanwhile, and the reverse.
    const {
      ledgers: [shared],
    } = await agents(1, 10_000, { prefix: keyPrefix });
    await client!.set(keys.ticketKeys('svc-t')[0], 'agent-before-upgrade', 'PX', 10_000);
    expect(await lone!.claim('svc-t')).toBe(false);
    expect(await client!.exists(keys.ticketKeys('svc-t', 'glpi')[0])).toBe(0); // its half-taken claim given back
    await client!.del(keys.ticketKeys('svc-t')[0]);
    expect(await lone!.claim('svc-t')).toBe(true);
    expect(await client!.exists(keys.ticketKeys('svc-t')[0])).toBe(1);
    await lone!.release('svc-t');
    expect(await client!.exists(keys.ticketKeys('svc-t')[0])).toBe(0);
    // An exporter sharing the ledger with others cannot tell whose such a record was: it reads none.
    await client!.hset(keys.ticketKeys('svc-s')[2], { ref: '10', incidentId: 'inc-10', resolved: '0' });
    expect(await shared!.get('svc-s')).toBeUndefined();
    expect(await lone!.get('svc-s')).toMatchObject({ ref: '10' });
  });

  it('keeps the status Vigil last wrote with the record, and forgets it when a later record has none', async () => {
    const {
      ledgers: [a, b],
    } = await agents(2);
    await a!.put('svc-w', { ref: '42', incidentId: 'inc-1', resolved: true, written: '5' });
    expect(await b!.get('svc-w')).toEqual({ ref: '42', incidentId: 'inc-1', resolved: true, written: '5' });
    await b!.put('svc-w', { ref: '43', incidentId: 'inc-2', resolved: false });
    expect(await a!.get('svc-w')).toEqual({ ref: '43', incidentId: 'inc-2', resolved: false });
  });

  it('keeps a claim alive while its holder works, and frees it when the holder dies', async () => {
    // Renewed every third of a term in real time: a term of 2 s lets the holder's process stall
    // for over a second, as a loaded machine's may, without losing a claim it holds.
    const ttl = 2000;
    const {
      ledgers: [a, b],
      clients: [clientA, clientB],
    } = await agents(2, ttl);
    const claimedAt = Date.now();
    expect(await a!.claim('svc-z')).toBe(true);
    // Redis keeps real time: let two terms pass, the lease held all along.
    const lease = new RedisKeys(keyPrefix).ticketKeys('svc-z', 'glpi')[0];
    await waitFor(async () => {
      expect(await clientB!.exists(lease)).toBe(1);
      return Date.now() - claimedAt > 2 * ttl;
    }, 'two terms');
    expect(await b!.claim('svc-z')).toBe(false);
    clientA!.disconnect(); // a dies mid-creation
    await waitFor(() => b!.claim('svc-z'), "the dead holder's claim to lapse");
    expect(await b!.get('svc-z')).toBeUndefined();
  });

  it('tells an unreachable Redis (worth waiting for) from a command Redis refused', async () => {
    const {
      ledgers: [a],
      clients: [client],
    } = await agents(1);
    await client!.set(new RedisKeys(keyPrefix).ticketKeys('svc-w', 'glpi')[2], 'not a hash');
    const refused = await a!
      .put('svc-w', { ref: 'J-2', incidentId: 'inc-2', resolved: false })
      .catch((err: unknown) => err);
    expect(refused).toMatchObject({ message: expect.stringContaining('WRONGTYPE') });
    expect(refused).not.toBeInstanceOf(TicketLedgerUnavailableError);

    expect(await a!.claim('svc-v')).toBe(true);
    await redis.kill();
    try {
      const calls = [
        a!.get('svc-v'),
        a!.claim('svc-u'),
        a!.put('svc-v', { ref: 'J-3', incidentId: 'inc-3', resolved: false }),
        a!.release('svc-v'),
        a!.merge('svc-v', 'inc-3', 'inc-4'),
      ];
      for (const result of await Promise.allSettled(calls)) {
        expect(result).toMatchObject({ status: 'rejected', reason: expect.any(TicketLedgerUnavailableError) });
      }
    } finally {
      await redis.restart();
    }
  });
});
