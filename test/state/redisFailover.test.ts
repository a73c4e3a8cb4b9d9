import { Cluster } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import type { IncidentRecord } from '../../src/correlation/incidentBook.ts';
import type { IncidentChange } from '../../src/model/incident.ts';
import { correlatingConfig, type RunningDaemon } from '../support/daemon.ts';
import { startRedisCluster, startRedisSentinels, waitFor, type RedisAcl } from '../support/redis.ts';
import { redisAgents } from '../support/redisDaemons.ts';
import { mulberry32 } from '../support/seededRandom.ts';
import {
  afterRounds,
  allChanges,
  changesOf,
  faultReport,
  metric,
  NO_COST,
  readiness,
  sharedRecords,
  type Expected,
} from './redisAgents.ts';
import { freshPrefix, stateConfig } from './redisHelpers.ts';
import { createRedisClient } from '../../src/state/redisConnection.ts';
import { RedisKeys } from '../../src/state/redisKeys.ts';
import { partitionOf } from '../../src/state/redisPartitions.ts';

/**
 * A Redis master dies (kill -9) while three agents ingest a stream of errors and outages; its
 * replica takes over (promoted by the sentinels, or by the cluster itself), and the agents must
 * end up with the story one agent would tell: every event counted once, one incident per key,
 * one notification each, every recovery resolved.
 */
const ACL: RedisAcl = { username: 'vigil', password: 's3cret' };

const config = (state: Record<string, unknown>, agent: string) =>
  correlatingConfig(`
  tick_interval: 50ms
  defaults: { group_wait: 1s, group_interval: 1s, allowed_lateness: 30s, reopen_window: 0s }
  rules:
    - kind: threshold
      name: service_errors
      match: severity_number >= SEVERITY_NUMBER_ERROR
      group_by: [service]
      window: 120s
      threshold: 5
    - kind: pair
      name: asset_down
      group_by: [asset]
  state: ${JSON.stringify({ store: 'redis', agent_id: agent, flush_interval: '50ms', lease_ttl: '2s', connect_timeout: '1s', ...state })}
`);

const STREAM = 240;
/** From here on the replica misses writes: they reach only the master, which dies at `KILL_AT`. */
const STALL_AT = 50;
const KILL_AT = 80;
const SERVICES = ['billing', 'web', 'auth'];
/** Its errors come only while the replica stalls: the promoted replica has none of them. */
const STALLED_SERVICE = 'batch';
/** Its errors start only once the master is dead: its incident opens during or after the failover. */
const LATE_SERVICE = 'search';
const serviceKey = (s: string) => `service_errors{service="${s}"}`;
const ORDERS_ERROR = { service: 'orders', title: 'orders failed', level: 'error' };

/** The partitions an agent says it holds in its last "changed hands" log line. */
function heldBy(d: RunningDaemon): number[] {
  let held: number[] = [];
  for (const line of d.logs) {
    if (!line.includes('correlation partitions changed hands')) continue;
    held = (JSON.parse(line) as { held: number[] }).held;
  }
  return held;
}
const assetKey = (a: string) => `asset_down{asset="${a}"}`;

/** Outages in the stream: `down` at one position, `up` (if any) at another, the kill in between for db-1. */
const OUTAGES: {
  asset: string;
  down: number;
  up?: number;
  /** Over within group_wait: never notified, as with one agent. */ quick?: boolean;
}[] = [
  { asset: 'db-1', down: 10, up: KILL_AT + 20 },
  { asset: 'db-2', down: 30, up: STREAM - 20 },
  { asset: 'db-3', down: KILL_AT + 40 },
  // Down and up both only on the master: the promoted replica has never heard of it.
  { asset: 'db-4', down: STALL_AT + 5, up: STALL_AT + 20, quick: true },
];

/**
 * The seeded stream: mostly errors of a random service, the outages at their places. Returns
 * what the agents must end up agreeing on.
 */
function stream(seed: number): { events: object[]; expected: Expected } {
  const random = mulberry32(seed);
  const counts = new Map<string, number>();
  const events: object[] = [];
  for (let i = 0; i < STREAM; i++) {
    const outage = OUTAGES.find((o) => o.down === i || o.up === i);
    if (outage) {
      events.push({
        asset: outage.asset,
        type: outage.down === i ? 'down' : 'up',
        title: `${outage.asset} ${outage.down === i ? 'down' : 'up'}`,
      });
      continue;
    }
    // The stalled service gets half the stall's errors: its threshold is crossed with room to spare
    // (a threshold only the agents' merged counts cross, on no event, opens nothing yet).
    const pool =
      i >= KILL_AT
        ? [...SERVICES, LATE_SERVICE]
        : i >= STALL_AT
          ? [...SERVICES, STALLED_SERVICE, STALLED_SERVICE, STALLED_SERVICE]
          : SERVICES;
    const service = pool[Math.floor(random() * pool.length)]!;
    counts.set(serviceKey(service), (counts.get(serviceKey(service)) ?? 0) + 1);
    events.push({ service, title: `${service} failed`, level: 'error' });
  }
  const resolved = OUTAGES.filter((o) => o.up !== undefined).map((o) => assetKey(o.asset));
  const all = [...counts.keys(), ...OUTAGES.map((o) => assetKey(o.asset))];
  const quiet = new Set(OUTAGES.filter((o) => o.quick).map((o) => assetKey(o.asset)));
  return { events, expected: { counts, resolved, all, notified: all.filter((k) => !quiet.has(k)) } };
}

/**
 * Posts one event as a client that retries would: an agent on partitions answers 503 while Redis
 * cannot take its sends (a failover), and the sender tries again.
 */
async function sendUntilTaken(d: RunningDaemon, event: object): Promise<void> {
  const giveUpAt = Date.now() + 30_000;
  for (;;) {
    const res = await fetch(d.url('/v1/events'), {
      method: 'POST',
      body: JSON.stringify([event]),
      headers: { 'content-type': 'application/json' },
    });
    if (res.status !== 503 || Date.now() > giveUpAt) {
      expect(await res.json()).toEqual({ accepted: 1, rejected: [] });
      return;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * Each key's incident as the agents last told storage of it: under partitions no shared record
 * holds it, its partition's owner does. The latest change by time, the greater count on a tie.
 */
function toldRecords(changes: IncidentChange[]): Map<string, IncidentRecord> {
  const latest = new Map<string, IncidentChange>();
  for (const c of changes) {
    const was = latest.get(c.incident.key);
    if (!was || c.atMs > was.atMs || (c.atMs === was.atMs && c.incident.eventCount >= was.incident.eventCount))
      latest.set(c.incident.key, c);
  }
  return new Map([...latest].map(([key, c]) => [key, { incident: c.incident } as IncidentRecord]));
}

describe('agents sharing Redis while its master fails over', () => {
  // Registered first, so it runs last: the agents are gone before their servers.
  const servers: { stop(): Promise<void> }[] = [];
  afterEach(async () => {
    await Promise.all(servers.splice(0).map((s) => s.stop()));
  });
  const agents = redisAgents();

  /**
   * Sends the stream round robin, one event a request; stalls the replica once `STALL_AT` events
   * are in and kills the master (not waiting for the failover) once `KILL_AT` are. Then waits
   * until the agents agree, and returns what the fault cost.
   */
  async function streamThrough(
    state: Record<string, unknown>,
    fault: { stall(): Promise<void>; kill(): Promise<unknown> },
  ) {
    const ds = await agents.start((agent) => config(state, agent));
    const { events, expected } = stream(0x13);
    expect(expected.counts.get(serviceKey(STALLED_SERVICE))).toBeGreaterThanOrEqual(10);
    let failover: Promise<unknown> | undefined;
    for (let i = 0; i < events.length; i++) {
      if (i === STALL_AT) await fault.stall();
      if (i === KILL_AT) failover = fault.kill();
      await sendUntilTaken(ds[i % ds.length]!, events[i]!);
      await new Promise((r) => setTimeout(r, 15));
    }
    await failover;
    for (const d of ds)
      await waitFor(
        async () => (await readiness(d)) === 'ready' && (await metric(d, 'vigil_state_store_pending_keys')) === 0,
        'every agent ready and flushed',
        30_000,
      );
    const rule = (key: string) => key.slice(0, key.indexOf('{'));
    const records = async () => {
      if (state.sharing === 'partitions') return toldRecords(allChanges(ds));
      const [services, assets] = await Promise.all([
        sharedRecords(
          state,
          'service_errors',
          expected.all.filter((k) => rule(k) === 'service_errors'),
        ),
        sharedRecords(
          state,
          'asset_down',
          expected.all.filter((k) => rule(k) === 'asset_down'),
        ),
      ]);
      return new Map([...services, ...assets]);
    };
    // Settled: the shared records count and resolve what was sent, and every key's incident was
    // notified. Not settling in time is reported by the figures below, not by a bare timeout.
    const settled = async () => faultReport(allChanges(ds), await records(), expected);
    await waitFor(
      async () => {
        const r = await settled();
        return (
          r.eventsLost === 0 && r.missedResolutions === 0 && r.missedNotifications === 0 && r.incidentsDiverging === 0
        );
      },
      'the agents to agree on the stream',
      30_000,
    ).catch(() => undefined);
    // A late duplicate would come with one of an agent's timer rounds: twenty more each and it would show.
    await afterRounds(ds, 20);
    const final = await records();
    const report = faultReport(allChanges(ds), final, expected);
    console.log(
      `fault cost: ${JSON.stringify(report)}; counts sent/shared: ${[...expected.counts].map(([k, n]) => `${k} ${n}/${final.get(k)?.incident.eventCount}`).join(', ')}`,
    );
    return report;
  }

  it('loses nothing when the sentinels promote the replica of a killed master (ACL user on every data node)', async () => {
    const group = await startRedisSentinels('vigil-master', ACL);
    servers.push(group);
    const report = await streamThrough(
      { prefix: freshPrefix(), ...ACL, sentinel: { name: group.name, nodes: group.sentinels } },
      { stall: () => group.stallReplica(), kill: () => group.killMaster() },
    );
    expect(report).toEqual(NO_COST);
  }, 90_000);

  /** The stream through three agents on partitions, on Sentinel: a replica stalled, its master killed. */
  async function sentinelFailoverOnPartitions(leaseTtl: string) {
    const group = await startRedisSentinels('vigil-master', ACL);
    servers.push(group);
    return streamThrough(
      {
        prefix: freshPrefix(),
        ...ACL,
        sentinel: { name: group.name, nodes: group.sentinels },
        sharing: 'partitions',
        partitions: 6,
        lease_ttl: leaseTtl,
      },
      { stall: () => group.stallReplica(), kill: () => group.killMaster() },
    );
  }

  it('loses nothing on partitions when the sentinels promote a replica that missed the last sends', async () => {
    // Longer than the failover (about 3 s here): the owners keep their partitions through it.
    expect(await sentinelFailoverOnPartitions('10s')).toEqual(NO_COST);
  }, 90_000);

  it('loses nothing on partitions when the failover outlasts the terms (the partitions change hands on the promoted replica)', async () => {
    // Shorter than the failover: every term has run out on the promoted replica.
    expect(await sentinelFailoverOnPartitions('1s')).toEqual(NO_COST);
  }, 90_000);

  /** What a node-loss case does once the replica stalls: the agent to go down, and what follows the failover. */
  interface NodeLoss {
    victim: RunningDaemon;
    /** Only the agent goes down: the master stays, and the replica runs on. */
    agentOnly?: boolean;
    /** What else must hold of the agents left, once the incident is notified. */
    finally?(survivors: RunningDaemon[]): Promise<void>;
    afterFailover(): Promise<void>;
  }

  /** What the test sees of the master: stream entries added in all, and whether an incident's opening is claimed. */
  interface MasterView {
    entries(): Promise<number>;
    claimed(incidentKey: string): Promise<boolean>;
  }

  /** Where a node-loss case runs: the agents' state settings, and the replica to stall and the master to kill. */
  interface LossTopology {
    state: Record<string, unknown>;
    stall(): Promise<void>;
    resume(): void;
    kill(): Promise<unknown>;
  }

  /** Agents on partitions over Sentinel (one master, one replica): the master is the node lost. */
  async function onSentinel(): Promise<LossTopology> {
    const group = await startRedisSentinels('vigil-master', ACL);
    servers.push(group);
    return {
      state: { ...ACL, sentinel: { name: group.name, nodes: group.sentinels } },
      stall: () => group.stallReplica(),
      resume: () => group.resumeReplica(),
      kill: () => group.killMaster(),
    };
  }

  /** Agents on partitions over a Cluster: the master of the slot of orders' notification claims is the node lost. */
  async function onClusterClaims(): Promise<LossTopology> {
    const cluster = await startRedisCluster(3, { replicas: 1 });
    servers.push(cluster);
    const claim = new RedisKeys('x').notifiedKey(serviceKey('orders'), 'opened');
    return {
      state: { cluster: { nodes: cluster.nodes } },
      stall: () => cluster.stallReplicaOf(claim),
      resume: () => cluster.resumeReplicas(),
      kill: () => cluster.killMasterOf(claim),
    };
  }

  /**
   * A node lost: three agents on partitions, four of orders' errors in (one short of its
   * threshold), the replica then stalled; `fifth` sends the fifth error and picks the agent that
   * goes down with the master (or alone). One incident of five errors must then stand, notified
   * once, whatever that agent had done.
   */
  async function nodeLoss(
    topology: LossTopology,
    fifth: (ds: RunningDaemon[], master: MasterView) => Promise<NodeLoss>,
  ): Promise<void> {
    const state = {
      prefix: freshPrefix(),
      ...topology.state,
      sharing: 'partitions',
      partitions: 6,
      // Far longer than the test needs to take the node down while an agent waits for the replica.
      replica_wait: '5s',
      // None after the agents' first: the next holder of a partition replays all it was sent.
      checkpoint_interval: '60s',
    };
    const ds = await agents.start((agent) => config(state, agent));
    // The partitions settled, two an agent, before anything counts on who holds which: while the
    // agents join they hand partitions over, and the holder the logs named could already be another.
    await waitFor(
      () => ds.every((d) => heldBy(d).length === 2) && new Set(ds.flatMap(heldBy)).size === 6,
      'every agent holding its two partitions',
      30_000,
    );
    // Said at the start: the wait is longer than half of lease_ttl (2 s), as this test needs.
    expect(ds[0]!.logs.some((l) => l.includes('state.replica_wait is half of lease_ttl or more'))).toBe(true);
    for (let i = 0; i < 4; i++) await sendUntilTaken(ds[i % 3]!, ORDERS_ERROR);
    const watcher = createRedisClient(stateConfig({ ...state, store: 'redis', connect_timeout: '2s' }));
    watcher.on('error', () => undefined);
    const keys = new RedisKeys(state.prefix);
    const master: MasterView = {
      // Entries ever added (XINFO's entries-added): the owners trim what they checkpointed.
      async entries() {
        let n = 0;
        for (let p = 0; p < 6; p++) {
          const info = (await watcher
            .xinfo('STREAM', keys.partitionKeys().held(`events:${p}`))
            .catch(() => [])) as unknown[];
          const at = info.indexOf('entries-added');
          n += at < 0 ? 0 : Number(info[at + 1]);
        }
        return n;
      },
      async claimed(incidentKey) {
        // On a Cluster, each master holds the keys of its own slots.
        const nodes = watcher instanceof Cluster ? watcher.nodes('master') : [watcher];
        const found = await Promise.all(
          nodes.map((n) => n.keys(keys.notifiedKey(incidentKey, '*:opened')).catch(() => [])),
        );
        return found.some((k) => k.length > 0);
      },
    };
    try {
      await watcher.connect();
      await topology.stall();
      const loss = await fifth(ds, master);
      // The node goes down: the agent, and the master with it unless the agent alone is lost.
      loss.victim.proc.kill('SIGKILL');
      if (loss.agentOnly) topology.resume();
      else await topology.kill();
      await loss.afterFailover();
      const opened = () => allChanges(ds).filter((c) => c.kind === 'opened' && c.incident.key === serviceKey('orders'));
      await waitFor(() => opened().length > 0, 'the incident of the five errors', 40_000);
      await afterRounds(
        ds.filter((d) => d !== loss.victim),
        20,
      );
      // Made again by a takeover's replay, perhaps, but one incident of five errors, notified once.
      expect(new Set(opened().map((c) => `${c.incident.id} ${c.incident.eventCount}`)).size).toBe(1);
      expect(opened()[0]!.incident.eventCount).toBe(5);
      const notified = ds.flatMap((d, i) =>
        changesOf(d)
          .filter((c) => c.kind === 'opened' && c.notify && c.incident.key === serviceKey('orders'))
          .map(() => i),
      );
      if (notified.length !== 1) diagnose(ds, ds.indexOf(loss.victim), notified);
      expect(notified).toHaveLength(1);
      await loss.finally?.(ds.filter((d) => d !== loss.victim));
    } finally {
      watcher.disconnect();
    }
  }

  /** What each agent said of partitions and claims, printed when a notification went out twice or never. */
  function diagnose(ds: RunningDaemon[], victim: number, notifiedBy: number[]): void {
    const said = ds.map((d, i) => {
      const lines = d.logs.filter((l) => /partition|claim|notif|redis/i.test(l)).slice(-40);
      const made = changesOf(d)
        .filter((c) => c.incident.key === serviceKey('orders'))
        .map((c) => `${c.kind} notify=${String(c.notify)} events=${c.incident.eventCount}: ${c.reason}`);
      return `agent ${i}${i === victim ? ' (lost)' : ''}:\n${made.join('\n')}\n${lines.join('\n')}`;
    });
    console.error(`opened notified by agents ${notifiedBy.join(', ')}\n${said.join('\n\n')}`);
  }

  /** Posts the fifth error; resolves with the status, or 'cut off' when the agent died first. */
  const postFifth = (d: RunningDaemon) =>
    fetch(d.url('/v1/events'), {
      method: 'POST',
      body: JSON.stringify([ORDERS_ERROR]),
      headers: { 'content-type': 'application/json' },
    }).then(
      (res) => res.status,
      () => 'cut off' as const,
    );

  /** A sender answered 200 sends nothing more; one cut off or told to retry sends again elsewhere (an SDK retries). */
  const retryUnlessTaken = async (answer: Promise<number | 'cut off'>, elsewhere: RunningDaemon) => {
    if ((await answer) !== 200) await sendUntilTaken(elsewhere, ORDERS_ERROR);
  };

  it('loses no event an agent answered when its node goes down with the Redis master (partitions)', async () => {
    await nodeLoss(await onSentinel(), async ([victim, other], master) => {
      const before = await master.entries();
      const answer = postFifth(victim!);
      // On the master, not on the stalled replica: answered now, it would be lost with the node.
      await waitFor(async () => (await master.entries()) > before, 'the fifth error on the master');
      return { victim: victim!, afterFailover: () => retryUnlessTaken(answer, other!) };
    });
  }, 90_000);

  /** The holder of orders' partition is the agent lost, once its claim of the opening is on the master. */
  const holderLost = async (ds: RunningDaemon[], master: MasterView): Promise<NodeLoss> => {
    const p = partitionOf(serviceKey('orders'), 6);
    const holder = ds.find((d) => heldBy(d).includes(p))!;
    const [sender, other] = ds.filter((d) => d !== holder);
    const answer = postFifth(sender!);
    // Its claim on the master, not on the stalled replica: notified now, it would be notified again by the next holder.
    await waitFor(() => master.claimed(serviceKey('orders')), "the holder's claim of the opening");
    // Had it notified without waiting for the replica, it would have within this time (it waits
    // `replica_wait`, 5 s, for the stalled one): the node then goes down either way.
    const notified = () =>
      changesOf(holder).some((c) => c.kind === 'opened' && c.notify && c.incident.key === serviceKey('orders'));
    await waitFor(notified, 'the holder to notify', 2_000).catch(() => undefined);
    return { victim: holder, afterFailover: () => retryUnlessTaken(answer, other!) };
  };

  it('notifies once when the holder of a partition goes down with the Redis master right after claiming a notification (partitions)', async () => {
    await nodeLoss(await onSentinel(), holderLost);
  }, 90_000);

  it('notifies once when the holder of a partition dies between claiming a notification and sending it (partitions)', async () => {
    // Its claim waits for the stalled replica: it dies then, the claim on the master.
    await nodeLoss(await onSentinel(), async (ds, master) => ({
      ...(await holderLost(ds, master)),
      agentOnly: true,
      // The next holder found the claim pending under the dead holder's term, took it over and sent it.
      async finally(survivors) {
        const taken = await Promise.all(
          survivors.map((d) => metric(d, 'vigil_state_store_notification_takeovers_total{kind="opened"}')),
        );
        expect(taken.reduce((a, b) => a + b, 0)).toBe(1);
        expect(survivors.some((d) => d.logs.some((l) => l.includes('claim left pending by')))).toBe(true);
      },
    }));
  }, 90_000);

  it("notifies once when the holder of a partition goes down with the cluster master of its claim's slot right after claiming (partitions)", async () => {
    await nodeLoss(await onClusterClaims(), holderLost);
  }, 90_000);

  /** The same on a Cluster: the replica of the master serving the partitions' slot stalled, the master killed. */
  async function clusterFailoverOnPartitions(leaseTtl: string) {
    const cluster = await startRedisCluster(3, { replicas: 1 });
    servers.push(cluster);
    const prefix = freshPrefix();
    const partitionsKey = `${prefix}:{partitions}`;
    return streamThrough(
      { prefix, cluster: { nodes: cluster.nodes }, sharing: 'partitions', partitions: 6, lease_ttl: leaseTtl },
      { stall: () => cluster.stallReplicaOf(partitionsKey), kill: () => cluster.killMasterOf(partitionsKey) },
    );
  }

  it("loses nothing on partitions when a cluster replica takes over the killed master of the partitions' slot", async () => {
    expect(await clusterFailoverOnPartitions('10s')).toEqual(NO_COST);
  }, 90_000);

  it("loses nothing on partitions when the cluster's failover of the partitions' slot outlasts the terms", async () => {
    expect(await clusterFailoverOnPartitions('1s')).toEqual(NO_COST);
  }, 90_000);

  it("loses nothing when a cluster replica takes over the killed master of the rules' slot", async () => {
    const cluster = await startRedisCluster(3, { replicas: 1 });
    servers.push(cluster);
    const prefix = freshPrefix();
    const ruleKey = `${prefix}:{=service_errors}:x`;
    const report = await streamThrough(
      { prefix, cluster: { nodes: cluster.nodes } },
      { stall: () => cluster.stallReplicaOf(ruleKey), kill: () => cluster.killMasterOf(ruleKey) },
    );
    expect(report).toEqual(NO_COST);
  }, 90_000);
});
