import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { IncidentRecord } from '../../src/correlation/incidentBook.ts';
import type { IncidentChange } from '../../src/model/incident.ts';
import { correlatingConfig, startDaemon, type RunningDaemon } from '../support/daemon.ts';
import { startRedis, waitFor, type RedisServer } from '../support/redis.ts';
import { afterRounds, allChanges, changesOf, metricsOf, send, standingIds } from './redisAgents.ts';
import { freshPrefix } from './redisHelpers.ts';

/**
 * Three agents on one Redis must tell the same story as one agent would: the reproductions of
 * "a DaemonSet that behaves as one brain under faults", each with real daemons and a real
 * redis-server.
 */
interface Timing {
  groupWait: string;
  leaseTtl: string;
  /** Default 20ms. */
  flush?: string;
}

const config = (url: string, prefix: string, agent: string, t: Timing) =>
  correlatingConfig(`
  tick_interval: 50ms
  defaults: { group_wait: ${t.groupWait}, group_interval: 1s, allowed_lateness: 5s, reopen_window: 0s }
  rules:
    - kind: threshold
      name: service_errors
      match: severity_number >= SEVERITY_NUMBER_ERROR
      group_by: [service]
      window: 60s
      threshold: 5
    - kind: pair
      name: asset_down
      group_by: [asset]
  state:
    store: redis
    url: ${url}
    prefix: ${prefix}
    agent_id: ${agent}
    flush_interval: ${t.flush ?? '20ms'}
    lease_ttl: ${t.leaseTtl}
`);

const error = (service: string) => ({ service, title: `${service} failed`, level: 'error' });
const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** How long agents may take to reconcile once Redis is back, on a loaded CI machine. */
const RECONCILE_MS = 60_000;

/** The incident record Redis holds for `key` (engine key `i:<key>` under the rule's hash tag). */
async function recordInRedis(
  url: string,
  prefix: string,
  rule: string,
  key: string,
): Promise<IncidentRecord | undefined> {
  const client = new Redis(url);
  try {
    const v = await client.hget(`${prefix}:{=${rule}}:i:${key}`, '#v');
    return v === null ? undefined : (JSON.parse(v) as IncidentRecord);
  } finally {
    client.disconnect();
  }
}

/**
 * The count of an open counting incident as the shared state holds it, which is what every agent
 * reads: the group's shared event count (`n:<key>`, every agent's cell) less the record's
 * baseline. The record's own `eventCount` field is what its last writer had counted, brought up
 * to date at the incident's next change (README, "Shared correlation state", Limits).
 */
async function sharedCount(url: string, prefix: string, rule: string, rec: IncidentRecord): Promise<number> {
  const client = new Redis(url);
  try {
    const cells = await client.hgetall(`${prefix}:{=${rule}}:n:${rec.incident.key}`);
    const total = Object.entries(cells)
      .filter(([field]) => !field.startsWith('#'))
      .reduce((n, [, v]) => n + Number(v), 0);
    return total - (rec.baseline ?? 0);
  } finally {
    client.disconnect();
  }
}

/**
 * Where each agent had got to in reconciling `key`: its backlog, its changes of the key and its
 * last log lines on merges and Redis, and the record Redis holds; printed when a wait for the
 * reconciliation gives up.
 */
async function reconciliation(url: string, ds: RunningDaemon[] & { prefix: string }, key: string): Promise<string> {
  const lines: string[] = [];
  for (const [i, d] of ds.entries()) {
    const m = await metricsOf(d).catch((err: unknown) => String(err));
    const sample = (name: string) => new RegExp(`^${name} (\\S+)$`, 'm').exec(m)?.[1] ?? '?';
    lines.push(
      `agent ${i}: degraded ${sample('vigil_state_store_degraded')}, pending keys ${sample('vigil_state_store_pending_keys')}, merges ${sample('vigil_correlation_merged_incidents_total')}`,
    );
    for (const c of changesOf(d)) {
      const inc = c.incident;
      if (inc.key !== key) continue;
      const into = inc.mergedInto === undefined ? '' : ` into ${inc.mergedInto}`;
      const ids = inc.mergedIds === undefined ? '' : ` merged [${inc.mergedIds.join(', ')}]`;
      lines.push(
        `  ${c.kind}${c.notify ? '!' : ''} ${inc.id} v${inc.version} ${inc.status} ${inc.eventCount}${into}${ids}`,
      );
    }
    for (const l of d.logs.filter((l) => /merge|reconcil|redis/i.test(l)).slice(-5)) lines.push(`  log: ${l}`);
  }
  const timeout = new Promise<string>((r) => setTimeout(() => r('no answer within 2 s'), 2000).unref());
  const look = async () => {
    const r = await recordInRedis(url, ds.prefix, 'service_errors', key);
    if (r === undefined) return 'none';
    const count = await sharedCount(url, ds.prefix, 'service_errors', r);
    return `${JSON.stringify({ ...r.incident, audit: r.incident.audit.length })}, shared count ${count}`;
  };
  const rec = await Promise.race([look().catch((err: unknown) => String(err)), timeout]);
  lines.push(`record in Redis: ${rec}`);
  return lines.join('\n');
}

describe('three agents sharing Redis behave as one', () => {
  let redis: RedisServer;
  const daemons: RunningDaemon[] = [];
  beforeAll(async () => {
    redis = await startRedis();
  });
  afterEach(async () => {
    await Promise.all(daemons.splice(0).map((d) => d.stop('SIGKILL')));
    // A test that failed during its outage must not leave the next one without Redis.
    const probe = new Redis(redis.url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    const up = await probe.connect().then(
      () => true,
      () => false,
    );
    probe.disconnect();
    if (!up) await redis.restart();
  });
  afterAll(async () => {
    await redis.stop();
  });

  async function three(t: Timing): Promise<[RunningDaemon, RunningDaemon, RunningDaemon] & { prefix: string }> {
    const prefix = freshPrefix();
    const ds = await Promise.all(
      ['node-a', 'node-b', 'node-c'].map((agent) => startDaemon(config(redis.url, prefix, agent, t))),
    );
    daemons.push(...ds);
    return Object.assign(ds as [RunningDaemon, RunningDaemon, RunningDaemon], { prefix });
  }

  async function roundRobin(ds: RunningDaemon[], n: number, make: (i: number) => object, gapMs: number): Promise<void> {
    for (let i = 0; i < n; i++) {
      await send(ds[i % ds.length]!, [make(i)]);
      await pause(gapMs);
    }
  }

  it('notifies an incident once after group_wait, even when group_wait is shorter than the lease', async () => {
    const ds = await three({ groupWait: '2s', leaseTtl: '10s' });
    await roundRobin(ds, 30, () => error('billing'), 25);
    await waitFor(() => allChanges(ds).some((c) => c.kind === 'opened' && c.notify), 'the first notification', 20_000);
    // Every agent has flushed and done twenty more timer rounds (a second on an idle machine,
    // however long on a loaded one): a second notification would have come with one of them.
    await waitFor(
      async () => (await Promise.all(ds.map(metricsOf))).every((m) => /^vigil_state_store_pending_keys 0$/m.test(m)),
      'agents to flush',
    );
    await afterRounds(ds, 20);
    expect(allChanges(ds).filter((c) => c.kind === 'opened' && c.notify)).toHaveLength(1);
  }, 60_000);

  it('counts every event once, whichever agent saw it: 30 errors round robin make a count of 30', async () => {
    // The example DaemonSet's flush interval: agents attach several events each between two flushes.
    const ds = await three({ groupWait: '1s', leaseTtl: '1s', flush: '100ms' });
    const key = 'service_errors{service="billing"}';
    await roundRobin(ds, 30, () => error('billing'), 25);
    // The timers' next notification (group_wait, then group_interval) carries the exact count, and so does the shared record.
    await waitFor(
      () => allChanges(ds).some((c) => c.incident.key === key && c.incident.eventCount === 30),
      'a change with all 30 events',
      20_000,
    );
    await waitFor(
      async () => (await recordInRedis(redis.url, ds.prefix, 'service_errors', key))?.incident.eventCount === 30,
      'the shared record to count 30',
      20_000,
    );
    expect(Math.max(...allChanges(ds).map((c) => c.incident.eventCount))).toBe(30);
    expect(standingIds(allChanges(ds), key).size).toBe(1);
  }, 60_000);

  it('resolves an incident whose down one agent saw and whose up another saw, both while Redis was down', async () => {
    const ds = await three({ groupWait: '0s', leaseTtl: '1s' });
    const [a, b] = ds;
    const key = 'asset_down{asset="db-1"}';
    await redis.kill();
    await waitFor(
      async () =>
        /^vigil_state_store_degraded 1$/m.test(await metricsOf(a)) &&
        /^vigil_state_store_degraded 1$/m.test(await metricsOf(b)),
      'both degraded',
    );
    await send(a, [{ asset: 'db-1', type: 'down', title: 'db-1 down' }]);
    await waitFor(() => changesOf(a).some((c) => c.incident.key === key && c.kind === 'opened'), 'the incident on a');
    await pause(20);
    const upAt = Date.now();
    await send(b, [{ asset: 'db-1', type: 'up', title: 'db-1 up' }]);
    const upTakenAt = Date.now();
    await redis.restart();
    const resolution = () => allChanges(ds).find((c) => c.incident.key === key && c.kind === 'resolved');
    await waitFor(() => resolution() !== undefined, 'the resolution after recovery', 20_000);
    const resolved = resolution()!;
    // Dated at the up, not at the moment the agents found out.
    expect(resolved.incident.resolvedAtMs).toBeGreaterThanOrEqual(upAt);
    expect(resolved.incident.resolvedAtMs).toBeLessThanOrEqual(upTakenAt);
    await waitFor(
      async () => (await recordInRedis(redis.url, ds.prefix, 'asset_down', key))?.incident.status === 'resolved',
      'the shared record resolved',
      20_000,
    );
  }, 60_000);

  it('merges the incidents three agents opened alone during an outage into one, with the union of their events', async () => {
    const ds = await three({ groupWait: '0s', leaseTtl: '1s' });
    const key = 'service_errors{service="web"}';
    await redis.kill();
    await waitFor(
      async () => (await Promise.all(ds.map(metricsOf))).every((m) => /^vigil_state_store_degraded 1$/m.test(m)),
      'all degraded',
    );
    await Promise.all(
      ds.map((d) =>
        send(
          d,
          Array.from({ length: 25 }, () => error('web')),
        ),
      ),
    );
    await waitFor(
      () => ds.every((d) => changesOf(d).some((c) => c.incident.key === key && c.kind === 'opened')),
      'an incident on each agent',
    );
    // One each (two agents reaching the threshold in the same millisecond make the same id).
    const before = standingIds(allChanges(ds), key).size;
    expect(before).toBeGreaterThanOrEqual(2);

    await redis.restart();
    // Reconciling takes each agent a write-back, a read of the others' state and a round or two
    // of merges, each behind a flush: on a loaded CI machine, tens of seconds. Every wait after the
    // restart shares one deadline, and says at its end where each agent had got to.
    const deadline = Date.now() + RECONCILE_MS;
    const reconciled = (check: () => boolean | Promise<boolean>, what: string) =>
      waitFor(check, what, Math.max(deadline - Date.now(), 0), () => reconciliation(redis.url, ds, key));
    await reconciled(() => standingIds(allChanges(ds), key).size === 1, 'one incident id left standing');
    const [survivor] = standingIds(allChanges(ds), key);
    const merged = () => allChanges(ds).filter((c) => c.incident.mergedInto !== undefined);
    // A twin may first merge into another twin that merges on: the latest word on each dead id names the survivor.
    const latest = () => {
      const byId = new Map<string, IncidentChange>();
      for (const c of merged())
        if ((byId.get(c.incident.id)?.incident.version ?? -1) <= c.incident.version) byId.set(c.incident.id, c);
      return byId;
    };
    await reconciled(
      () => [...latest().values()].every((c) => c.incident.mergedInto === survivor),
      'the latest word on each merged id to name the survivor',
    );
    expect(merged().every((c) => c.incident.status === 'resolved' && !c.notify)).toBe(true);
    expect(latest().size).toBe(before - 1);
    for (const c of latest().values()) expect(c.incident.mergedInto).toBe(survivor);
    await reconciled(async () => {
      const rec = await recordInRedis(redis.url, ds.prefix, 'service_errors', key);
      return (
        rec !== undefined &&
        rec.incident.id === survivor &&
        rec.incident.mergedIds?.length === before - 1 &&
        (await sharedCount(redis.url, ds.prefix, 'service_errors', rec)) === 75
      );
    }, 'the shared record: the survivor, 75 events, the other ids merged');
    // Storage holds the survivor with the union of the events too.
    await reconciled(
      () =>
        allChanges(ds).some((c) => c.incident.id === survivor && c.incident.eventCount === 75 && c.kind !== 'resolved'),
      'a change of the survivor with all 75 events',
    );
    // One log line and one count per merge, on the agents whose incident merged away.
    const mergeCount = async () =>
      (await Promise.all(ds.map(metricsOf)))
        .map((m) => Number(/^vigil_correlation_merged_incidents_total (\d+)/m.exec(m)?.[1] ?? 0))
        .reduce((x, y) => x + y, 0);
    await reconciled(async () => (await mergeCount()) >= before - 1, 'a merge counted for each merged id');
    expect(await mergeCount()).toBeGreaterThanOrEqual(before - 1);
  }, 150_000);

  it('writes its state back when Redis loses its data without a restart (FLUSHALL), resolved incidents staying resolved', async () => {
    const ds = await three({ groupWait: '0s', leaseTtl: '1s' });
    const [a, b, c] = ds;
    await send(a, [{ asset: 'db-2', type: 'down' }]);
    await waitFor(() => changesOf(a).some((ch) => ch.incident.key === 'asset_down{asset="db-2"}'), 'db-2 down');
    await waitFor(
      async () => (await recordInRedis(redis.url, ds.prefix, 'asset_down', 'asset_down{asset="db-2"}')) !== undefined,
      'db-2 shared',
    );
    await send(b, [{ asset: 'db-2', type: 'up' }]);
    await send(c, [{ asset: 'db-3', type: 'down' }]);
    await waitFor(
      async () =>
        (await recordInRedis(redis.url, ds.prefix, 'asset_down', 'asset_down{asset="db-2"}'))?.incident.status ===
        'resolved',
      'db-2 resolved',
    );
    await waitFor(
      async () => (await recordInRedis(redis.url, ds.prefix, 'asset_down', 'asset_down{asset="db-3"}')) !== undefined,
      'db-3 shared',
    );

    const client = new Redis(redis.url);
    await client.flushall();
    client.disconnect();
    await waitFor(
      async () =>
        (await recordInRedis(redis.url, ds.prefix, 'asset_down', 'asset_down{asset="db-3"}'))?.incident.status ===
        'open',
      'db-3 written back',
      20_000,
    );
    await waitFor(
      async () =>
        (await recordInRedis(redis.url, ds.prefix, 'asset_down', 'asset_down{asset="db-2"}'))?.incident.status ===
        'resolved',
      'db-2 written back, still resolved',
      20_000,
    );
    const noticed = (await Promise.all(ds.map(metricsOf))).filter((m) =>
      /^vigil_state_store_epoch_changes_total [1-9]/m.test(m),
    );
    expect(noticed.length).toBeGreaterThanOrEqual(1);
    // Nobody reopened or resolved anything because of it.
    expect(
      allChanges(ds).filter((ch) => ch.incident.key === 'asset_down{asset="db-2"}' && ch.kind === 'resolved'),
    ).toHaveLength(1);
    expect(
      allChanges(ds).filter((ch) => ch.incident.key === 'asset_down{asset="db-3"}' && ch.kind !== 'opened'),
    ).toHaveLength(0);
  }, 60_000);
});
