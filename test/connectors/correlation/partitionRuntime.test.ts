import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { correlationConnectorSchema } from '../../../src/connectors/correlation/config.ts';
import { PartitionRuntime } from '../../../src/connectors/correlation/partitionRuntime.ts';
import type { SharedRedis } from '../../../src/extensions/redisState/sharedRedis.ts';
import type { VigilEvent } from '../../../src/model/event.ts';
import type { IncidentChange } from '../../../src/model/incident.ts';
import type { MetricPoint } from '../../../src/model/metric.ts';
import { connectionOf } from '../../../src/state/redisConfig.ts';
import { createRedisClient } from '../../../src/state/redisConnection.ts';
import { RedisKeys } from '../../../src/state/redisKeys.ts';
import { partitionOf } from '../../../src/state/redisPartitions.ts';
import { createLogger } from '../../../src/telemetry/logger.ts';
import { SelfMetrics } from '../../../src/telemetry/selfMetrics.ts';
import { engineFrom, ev, point } from '../../support/correlation.ts';
import { mulberry32 } from '../../support/seededRandom.ts';
import { mixedRules, mixedStream, noteOpenings } from '../../support/mixedStream.ts';
import {
  startRedisCluster,
  startRedisSentinels,
  type RedisAcl,
  type RedisCluster,
  type RedisSentinelGroup,
} from '../../support/redis.ts';
import { waitFor } from '../../support/waitFor.ts';
import { freshPrefix, redisAndClients } from '../../state/redisHelpers.ts';

// The correlation connector's runtime under `state.sharing: partitions`, three of them in one
// process on a real redis-server, each given a third of a seeded stream as its receivers would
// give it: together they must make one engine's openings and resolutions, to the millisecond, and
// notify each opening once. The runtimes' clock (their marks: how far they have sent) is a
// virtual one the test moves with the stream; their terms run on the wall clock.

const TICK_MS = 1000;
const ACL: RedisAcl = { username: 'vigil', password: 's3cret' };
/** Moves the stream's times off 0 (an event at 0 would be one without a time). */
const BASE_MS = 1_000_000;
const BATCH = 40;

/** Two rules over the same errors, grouped apart: an event's two groups mostly lie in two partitions. */
const twoRules = `
defaults: { group_wait: 0s, allowed_lateness: 5s, max_open_incidents: 0 }
rules:
  - { kind: threshold, name: by_service, match: 'severity_text == "ERROR"', group_by: [service], window: 30s, bucket: 5s, threshold: 4 }
  - { kind: threshold, name: by_asset, match: 'severity_text == "ERROR"', group_by: [asset], window: 30s, bucket: 5s, threshold: 3 }
`;

/** Where the agents' Redis is: a standalone server's url, some nodes of a Cluster, or Sentinels (with the state's other settings). */
type Where =
  | { url: string }
  | { cluster: { nodes: string[] } }
  | ({ sentinel: { name: string; nodes: string[] } } & Record<string, unknown>);

function connectorConfig(where: Where, prefix: string, rules: string, partitions = 12, leaseTtl = '3s') {
  const issues: { path: string; message: string }[] = [];
  const cfg = correlationConnectorSchema.parse(
    {
      ...(parse(rules) as object),
      tick_interval: `${TICK_MS}ms`,
      state: {
        store: 'redis',
        sharing: 'partitions',
        partitions,
        ...where,
        prefix,
        lease_ttl: leaseTtl,
        flush_interval: '20ms',
        ...where,
      },
    },
    'correlation',
    issues,
  );
  if (!cfg || issues.length) throw new Error(JSON.stringify(issues));
  return cfg;
}

const shifted = (events: VigilEvent[]) =>
  events.map((e) => ({
    ...e,
    timeUnixNano: e.timeUnixNano + BigInt(BASE_MS) * 1_000_000n,
    observedTimeUnixNano: e.observedTimeUnixNano + BigInt(BASE_MS) * 1_000_000n,
  }));
const msOf = (e: VigilEvent) => Number(e.timeUnixNano / 1_000_000n);

/** One engine fed the whole stream, each event at its own time, its timers every second up to `untilMs`. */
function oneEngine(events: VigilEvent[], untilMs: number, rules = mixedRules): string[] {
  const engine = engineFrom(rules);
  const out = new Set<string>();
  let tick = (Math.floor(msOf(events[0]!) / TICK_MS) + 1) * TICK_MS;
  for (const e of events) {
    for (; tick <= msOf(e); tick += TICK_MS) noteOpenings(engine.tick(tick), out);
    noteOpenings(engine.process([e], msOf(e)), out);
  }
  for (; tick <= untilMs; tick += TICK_MS) noteOpenings(engine.tick(tick), out);
  return [...out].sort();
}

interface Agent {
  runtime: PartitionRuntime;
  /** What the redis_state extension would close after the runtime stopped. */
  client: SharedRedis['client'];
  changes: IncidentChange[];
  metrics: SelfMetrics;
}

/**
 * Agents on one Redis and prefix, their marks on `clock`, their terms `leaseTtl` long (3 s: a
 * dead agent's partitions taken over within seconds).
 */
async function start(
  where: Where,
  n: number,
  prefix: string,
  clock: () => number,
  rules = mixedRules,
  logs?: string[],
  leaseTtl?: string,
): Promise<Agent[]> {
  const cfg = connectorConfig(where, prefix, rules, 12, leaseTtl);
  const out: Agent[] = [];
  for (let a = 0; a < n; a++) {
    const redis: SharedRedis = {
      client: createRedisClient(connectionOf(cfg.state)),
      config: connectionOf(cfg.state),
      agent: `agent-${a}`,
    };
    // As the redis_state extension does at its start.
    redis.client.on('error', () => undefined);
    await redis.client.connect();
    const changes: IncidentChange[] = [];
    const metrics = new SelfMetrics();
    const runtime = new PartitionRuntime(cfg, {
      logger: logs
        ? createLogger('warn', { write: (line: string) => logs.push(line) } as unknown as NodeJS.WritableStream)
        : createLogger('silent'),
      metrics,
      clock,
      redis,
      output: () => ({
        consume: (batch: IncidentChange[]) => {
          changes.push(...batch);
          return Promise.resolve();
        },
      }),
    });
    await runtime.start();
    out.push({ runtime, client: redis.client, changes, metrics });
  }
  await waitFor(
    () => out.every((a) => a.runtime.held().length === 12 / n),
    'each agent to hold its share of the partitions',
  );
  return out;
}

/**
 * Makes one of Vigil's scripts fail on `client` while the switch is on, as if Redis were out of
 * reach for those calls alone (a claim, a round, a checkpoint), the others going through.
 */
function failing(client: SharedRedis['client'], script: string): { on: boolean } {
  const calls = client as unknown as Record<string, (...args: unknown[]) => Promise<unknown>>;
  const real = calls[script]!;
  const cut = { on: false };
  calls[script] = function (this: unknown, ...args: unknown[]) {
    return cut.on ? Promise.reject(new Error(`${script}: cut off by the test`)) : real.apply(this, args);
  };
  return cut;
}

async function stopAll(agents: Agent[]): Promise<void> {
  for (const a of agents) {
    await a.runtime.stop();
    a.client.disconnect();
  }
}

const sample = async (a: Agent, name: string, labels: Record<string, string> = {}) => {
  const m = await a.metrics.registry.getSingleMetric(name)?.get();
  return m?.values.find((v) => Object.entries(labels).every(([k, x]) => v.labels[k] === x))?.value;
};
/** Events the agents' engines took, together. */
const taken = async (agents: Agent[]) =>
  (await Promise.all(agents.map((a) => sample(a, 'vigil_correlation_records_total', { signal: 'logs' })))).reduce(
    (x: number, y) => x + (y ?? 0),
    0,
  );
const written = async (a: Agent) =>
  (await sample(a, 'vigil_correlation_partition_checkpoints_total', { outcome: 'written' })) ?? 0;
const resent = (a: Agent) => sample(a, 'vigil_correlation_partition_resent_sends_total', { outcome: 'resent' });

const openings = (agents: Agent[]) => {
  const seen = new Set<string>();
  for (const a of agents) noteOpenings(a.changes, seen);
  return [...seen].sort();
};

/** Two errors of a service in a minute open its incident. */
const twoErrors = `
defaults: { group_wait: 0s, allowed_lateness: 5s, max_open_incidents: 0 }
rules:
  - { kind: threshold, name: errors, match: 'severity_text == "ERROR"', group_by: [service], window: 60s, bucket: 5s, threshold: 2 }
`;

/** A service of `twoErrors` whose group lies in a partition `a` holds: its incident key and partition. */
function groupHeldBy(a: Agent): { service: string; key: string; p: number } {
  const service = Array.from({ length: 100 }, (_, i) => `svc-${i}`).find((s) =>
    a.runtime.held().includes(partitionOf(`errors{service="${s}"}`, 12)),
  )!;
  const key = `errors{service="${service}"}`;
  return { service, key, p: partitionOf(key, 12) };
}

/** What `onSentinels` gives a test: the group, two agents on its master, a seeded stream and their clock. */
interface OnSentinels {
  group: RedisSentinelGroup;
  events: VigilEvent[];
  clock: { now: number };
  setClock: (ms: number) => void;
  agents: Agent[];
}

/**
 * Runs `test` on a Sentinel group of its own (stopped after it) with two agents on its master, their
 * terms longer than its failover (about 3 s): the owners keep their partitions through it. A
 * seeded stream; the agents' clock at its start. The test stops the agents.
 */
async function onSentinels(
  seed: number,
  test: (on: OnSentinels) => Promise<void>,
  prefix = freshPrefix(),
): Promise<void> {
  const group = await startRedisSentinels('vigil-partitions', ACL);
  try {
    const events = shifted(mixedStream(seed, 3000));
    const clock = { now: msOf(events[0]!) };
    const where = { sentinel: { name: group.name, nodes: group.sentinels }, ...ACL, lease_ttl: '15s' };
    const agents = await start(where, 2, prefix, () => clock.now);
    await test({ group, events, clock, agents, setClock: (ms) => (clock.now = ms) });
  } finally {
    await group.stop();
  }
}

/** Waits for the agents to make as many openings and resolutions as `reference`, then expects them the same. */
async function expectCaughtUp(agents: Agent[], reference: readonly string[]): Promise<void> {
  await waitFor(() => openings(agents).length >= reference.length, 'the agents to catch up with the stream', 20_000);
  expect(openings(agents)).toEqual(reference);
}

/** Kills the master; resolves once both agents have found the promoted replica another dataset. */
async function failOver(group: RedisSentinelGroup, agents: Agent[]): Promise<void> {
  await group.killMaster();
  await waitFor(
    async () => (await Promise.all(agents.map((a) => resent(a)))).every((n) => n !== undefined),
    'both agents to see the dataset change',
    30_000,
  );
}

/** Sends each agent's share in batches, the clock moved to each round's latest time first. */
async function sendShares(agents: Agent[], events: VigilEvent[], setClock: (ms: number) => void): Promise<void> {
  const shares = agents.map((_, a) => events.filter((_, i) => i % agents.length === a));
  const rounds = Math.ceil(shares[0]!.length / BATCH);
  for (let b = 0; b < rounds; b++) {
    const batches = shares.map((s) => s.slice(b * BATCH, (b + 1) * BATCH));
    setClock(Math.max(...batches.filter((x) => x.length).map((x) => msOf(x.at(-1)!))));
    await Promise.all(batches.map((batch, a) => agents[a]!.runtime.consumeLogs(batch)));
  }
}

describe('the correlation runtime with state.sharing: partitions', () => {
  const { server } = redisAndClients();
  const standalone = () => ({ url: server().url });

  it('makes the openings and resolutions of one engine fed the whole stream, each opening notified once', async () => {
    const events = shifted(mixedStream(11, 3000));
    let now = msOf(events[0]!);
    const agents = await start(standalone(), 3, freshPrefix(), () => now);
    await sendShares(agents, events, (ms) => (now = ms));
    now = msOf(events.at(-1)!) + 45_000;
    const reference = oneEngine(events, now);
    expect(reference.length).toBeGreaterThan(100);
    await expectCaughtUp(agents, reference);

    const notified = agents.flatMap((a) => a.changes.filter((c) => c.kind === 'opened' && c.notify));
    const ids = notified.map((c) => c.incident.id);
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids.length).toBe(reference.filter((r) => r.startsWith('opened ')).length);
    // Each agent took events only of the partitions it held: together, the whole stream, once per
    // rule it matched. Unless a term ran out (the test's process stalled past lease_ttl): the
    // partition's next holder replays what came after its last checkpoint, and looks at it again.
    const took = await taken(agents);
    const lost = (
      await Promise.all(agents.map((a) => sample(a, 'vigil_correlation_partition_changes_total', { change: 'lost' })))
    ).reduce((x: number, y) => x + (y ?? 0), 0);
    if (lost === 0) expect(took).toBe(events.length);
    else expect(took).toBeGreaterThanOrEqual(events.length);
    await stopAll(agents);
  }, 60_000);

  it('hands a stopping agent’s partitions to the others with their state: nothing lost, nothing notified twice', async () => {
    const events = shifted(mixedStream(12, 3000));
    let now = msOf(events[0]!);
    const agents = await start(standalone(), 3, freshPrefix(), () => now);
    const half = Math.floor(events.length / 2);
    await sendShares(agents, events.slice(0, half), (ms) => (now = ms));
    const [leaving, ...staying] = agents as [Agent, Agent, Agent];
    await stopAll([leaving]);
    await waitFor(
      () => staying.every((a) => a.runtime.held().length === 6),
      'the two others to take the partitions given back',
    );
    await sendShares(staying, events.slice(half), (ms) => (now = ms));
    now = msOf(events.at(-1)!) + 45_000;
    const reference = oneEngine(events, now);
    await expectCaughtUp(agents, reference);
    const notified = agents.flatMap((a) => a.changes.filter((c) => c.kind === 'opened' && c.notify));
    expect(new Set(notified.map((c) => c.incident.id)).size).toBe(notified.length);
    expect(notified.length).toBe(reference.filter((r) => r.startsWith('opened ')).length);
    await stopAll(staying);
  }, 60_000);

  it('counts an event of two rules in the partitions of both its groups, once in each', async () => {
    const events = Array.from({ length: 900 }, (_, i) =>
      ev(BASE_MS + i * 250 + (i % 3), {
        service: `svc-${i % 5}`,
        asset: `host-${(i * 7) % 11}`,
        severityText: 'ERROR',
      }),
    );
    let now = msOf(events[0]!);
    const agents = await start(standalone(), 3, freshPrefix(), () => now, twoRules);
    await sendShares(agents, events, (ms) => (now = ms));
    now = msOf(events.at(-1)!) + 45_000;
    const reference = oneEngine(events, now, twoRules);
    expect(reference.filter((r) => r.includes('by_asset')).length).toBeGreaterThan(10);
    expect(reference.filter((r) => r.includes('by_service')).length).toBeGreaterThan(4);
    await expectCaughtUp(agents, reference);
    await stopAll(agents);
  }, 60_000);

  it('shares a rule’s open-incident limit out among the partitions, each holding back on an overflow incident of its own', async () => {
    const limited = `
defaults: { group_wait: 0s, allowed_lateness: 5s, max_open_incidents: 12 }
rules:
  - { kind: threshold, name: errors, match: 'severity_text == "ERROR"', group_by: [service], window: 60s, bucket: 5s, threshold: 2 }
`;
    const services = Array.from({ length: 40 }, (_, i) => `svc-${i}`);
    const events = services.flatMap((service, i) =>
      [0, 1].map((k) => ev(BASE_MS + i * 200 + k * 100, { service, severityText: 'ERROR' })),
    );
    let now = msOf(events[0]!);
    const agents = await start(standalone(), 3, freshPrefix(), () => now, limited);
    await sendShares(agents, events, (ms) => (now = ms));
    now = msOf(events.at(-1)!) + 10_000;
    // Twelve partitions, a limit of 12: one open incident each; the others' groups held back.
    const byPartition = new Map<number, string[]>();
    for (const s of services) {
      const p = partitionOf(`errors{service="${s}"}`, 12);
      byPartition.set(p, [...(byPartition.get(p) ?? []), s]);
    }
    const crowded = [...byPartition].filter(([, ss]) => ss.length > 1).map(([p]) => p);
    expect(crowded.length).toBeGreaterThan(3);
    const opened = () => agents.flatMap((a) => a.changes.filter((c) => c.kind === 'opened'));
    await waitFor(
      () => opened().length >= byPartition.size + crowded.length,
      'an incident per partition, and an overflow incident per crowded one',
      20_000,
    );
    const groups = opened().filter((c) => !c.incident.key.includes('overflow'));
    expect(new Set(groups.map((c) => partitionOf(c.incident.key, 12))).size).toBe(groups.length);
    expect(groups).toHaveLength(byPartition.size);
    const overflows = opened().filter((c) => c.incident.key.includes('overflow'));
    expect(overflows.map((c) => c.incident.key).sort()).toEqual(
      crowded.map((p) => `errors{overflow="true",partition="${p}"}`).sort(),
    );
    expect(overflows.every((c) => c.notify)).toBe(true);
    // Every group either opened or is counted on its partition's overflow incident, as the
    // agent holding the partition has it now (its title's count moves without a notification).
    await waitFor(() => {
      let held = 0;
      for (const o of overflows) {
        // The holder's (the others show it as last told, which may be a delivery behind).
        const partition = Number(/partition="(\d+)"/.exec(o.incident.key)![1]);
        const now = agents.find((a) => a.runtime.held().includes(partition))?.runtime.current(o.incident.key);
        held += Number(/^(\d+) incidents of rule errors held back/.exec(now?.title ?? '')?.[1] ?? 0);
      }
      return held + groups.length === services.length;
    }, 'every held-back group counted');
    await stopAll(agents);
  });

  it('applies a silence made on one agent to every partition, whichever agent holds it', async () => {
    const events = Array.from({ length: 40 }, (_, i) =>
      ev(BASE_MS + i * 50, { asset: `sw-${i % 20}`, type: 'down', attributes: { check: 'link' } }),
    );
    let now = msOf(events[0]!);
    const agents = await start(standalone(), 3, freshPrefix(), () => now);
    await sendShares(agents, events, (ms) => (now = ms));
    const opened = () => agents.flatMap((a) => a.changes.filter((c) => c.kind === 'opened'));
    await waitFor(() => opened().length === 20, 'the twenty link incidents');
    // Made on agent 0 for a few switches whose partitions other agents hold.
    const held = (a: Agent, key: string) => a.runtime.held().includes(partitionOf(key, 12));
    const elsewhere = Array.from({ length: 20 }, (_, i) => `sw-${i}`).filter(
      (sw) => !held(agents[0]!, `link{asset="${sw}"}`),
    );
    expect(elsewhere.length).toBeGreaterThan(5);
    const silenced = elsewhere.slice(0, 3);
    await agents[0]!.runtime.putSilence({
      id: 's-1',
      matchers: [{ name: 'asset', value: silenced.join('|'), isRegex: true, isEqual: true }],
      startsAtMs: now - 1000,
      endsAtMs: now + 3_600_000,
      createdBy: 'ops',
      comment: 'maintenance',
      tenant: '',
      updatedAtMs: now,
    });
    expect(agents.map((a) => a.runtime.silence('s-1')?.comment)[0]).toBe('maintenance');
    // Suppressed by it (a partition taken over meanwhile and replayed opens its incident suppressed).
    const suppressed = () =>
      new Set(
        agents.flatMap((a) =>
          a.changes.filter((c) => c.incident.suppressedBy === 'silence:s-1').map((c) => c.incident.key),
        ),
      );
    await waitFor(
      () => suppressed().size === silenced.length,
      'the silenced incidents suppressed by the agents holding them',
    );
    expect([...suppressed()].sort()).toEqual(silenced.map((sw) => `link{asset="${sw}"}`).sort());
    // Every agent lists it, once its round has read it.
    await waitFor(
      () => agents.every((a) => a.runtime.silences().some((x) => x.id === 's-1')),
      'every agent to list it',
    );
    await stopAll(agents);
  });

  it('inhibits and suppresses by topology across partitions, as one engine fed the whole stream', async () => {
    const rules = `
defaults: { group_wait: 3s, allowed_lateness: 5s, max_open_incidents: 0 }
inhibit:
  - { source: ['rule="host_down"'], target: ['rule="svc_errors"'], equal: [asset] }
topology: { parent: 'attributes["parent"]', down_rules: [switch_down] }
rules:
  - { kind: pair, name: host_down, match: 'attributes["check"] == "host"', group_by: [asset] }
  - { kind: pair, name: switch_down, match: 'attributes["check"] == "switch"', group_by: [asset] }
  - { kind: threshold, name: svc_errors, match: 'severity_text == "ERROR"', group_by: [service, 'asset=attributes["host"]'], window: 60s, bucket: 5s, threshold: 2 }
`;
    const at = (ms: number, n: number) => BASE_MS + ms + n * 10;
    const hosts = Array.from({ length: 12 }, (_, i) => `h${i}`);
    const switches = ['sw0', 'sw1', 'sw2', 'sw3'];
    const down = (check: string, assets: string[], type: 'down' | 'up', ms: number) =>
      assets.map((asset, n) => ev(at(ms, n), { asset, type, attributes: { check } }));
    const errors = (service: string, host: (i: number) => string, count: number, parent?: (i: number) => string) =>
      Array.from({ length: count }, (_, i) =>
        [0, 1].map((k) =>
          ev(at(5_000, i) + k, {
            service,
            severityText: 'ERROR',
            attributes: { host: host(i), ...(parent ? { parent: parent(i) } : {}) },
          }),
        ),
      ).flat();
    // Hosts and switches go down; their services' errors follow; some come back up.
    const phases = [
      [...down('host', hosts, 'down', 0), ...down('switch', switches, 'down', 0)],
      [
        ...errors('api', (i) => hosts[i]!, 12),
        ...errors(
          'db',
          (i) => `g${i}`,
          12,
          (i) => switches[i % 4]!,
        ),
        ...errors('web', (i) => `c${i}`, 4),
      ].sort((x, y) => msOf(x) - msOf(y)),
      [...down('host', hosts.slice(0, 6), 'up', 12_000), ...down('switch', ['sw0'], 'up', 12_000)],
    ];
    // What a user sees: which incidents were suppressed by what, and which notifications went out.
    const outcomes = (changes: IncidentChange[], into: Set<string>) => {
      for (const c of changes) {
        if (c.incident.suppressedBy) into.add(`${c.incident.key} suppressed by ${c.incident.suppressedBy}`);
        if (c.notify) into.add(`${c.kind}! ${c.incident.key}`);
      }
      return into;
    };
    const engine = engineFrom(rules);
    const reference = new Set<string>();
    let tick = (Math.floor(BASE_MS / TICK_MS) + 1) * TICK_MS;
    for (const e of phases.flat()) {
      for (; tick <= msOf(e); tick += TICK_MS) outcomes(engine.tick(tick), reference);
      outcomes(engine.process([e], msOf(e)), reference);
    }
    for (; tick <= BASE_MS + 25_000; tick += TICK_MS) outcomes(engine.tick(tick), reference);
    const expected = [...reference].sort();
    // Half the api incidents inhibited throughout, the others until their host came up; the db
    // incidents behind sw0 notified once it came up, the rest suppressed; the web ones notified.
    expect(expected.filter((x) => x.includes('suppressed by inhibit:'))).toHaveLength(12);
    expect(expected.filter((x) => x.includes('suppressed by topology:'))).toHaveLength(12);
    expect(expected.filter((x) => /^(opened|unsuppressed)! svc_errors/.test(x))).toHaveLength(4 + 6 + 3);
    // Most sources lie in other partitions than their targets, many held by other agents.
    const apart = hosts.filter(
      (h) => partitionOf(`host_down{asset="${h}"}`, 12) !== partitionOf(`svc_errors{asset="${h}",service="api"}`, 12),
    );
    expect(apart.length).toBeGreaterThan(6);

    let now = BASE_MS;
    const agents = await start(standalone(), 3, freshPrefix(), () => now, rules);
    // Each phase once every agent sees what the last one left (the engines hold theirs; the
    // others' as told): inhibition looks at the others' incidents as last told.
    const seen = (key: string, status: 'open' | 'resolved') =>
      waitFor(
        () => agents.every((a) => a.runtime.current(key)?.status === status),
        `every agent to see ${key} ${status}`,
      );
    await sendShares(agents, phases[0]!, (ms) => (now = ms));
    now = BASE_MS + 4_000;
    for (const h of hosts) await seen(`host_down{asset="${h}"}`, 'open');
    for (const sw of switches) await seen(`switch_down{asset="${sw}"}`, 'open');
    await sendShares(agents, phases[1]!, (ms) => (now = ms));
    now = BASE_MS + 11_000;
    await sendShares(agents, phases[2]!, (ms) => (now = ms));
    now = BASE_MS + 13_000;
    for (const h of hosts.slice(0, 6)) await seen(`host_down{asset="${h}"}`, 'resolved');
    await seen('switch_down{asset="sw0"}', 'resolved');
    now = BASE_MS + 25_000;
    const told = () => {
      const all = new Set<string>();
      for (const a of agents) outcomes(a.changes, all);
      return [...all].sort();
    };
    await waitFor(
      () => told().length >= expected.length,
      'the agents to catch up with the stream',
      20_000,
      () => ({
        missing: expected.filter((x) => !told().includes(x)),
        unexpected: told().filter((x) => !expected.includes(x)),
        held: agents.map((a) => a.runtime.held()),
      }),
    );
    expect(told()).toEqual(expected);
    await stopAll(agents);
  });

  it('replays partitions after a takeover side by side: inhibition judged as by their last holder, no inhibited incident notified', async () => {
    const rules = `
defaults: { group_wait: 3s, allowed_lateness: 5s, max_open_incidents: 0 }
inhibit:
  - { source: ['rule="host_down"'], target: ['rule="svc_errors"'], equal: [asset] }
rules:
  - { kind: pair, name: host_down, match: 'attributes["check"] == "host"', group_by: [asset] }
  - { kind: threshold, name: svc_errors, match: 'severity_text == "ERROR"', group_by: [service, 'asset=attributes["host"]'], window: 60s, bucket: 5s, threshold: 2 }
  - { kind: threshold, name: beat, match: 'attributes["check"] == "beat"', group_by: [asset], window: 60s, bucket: 5s, threshold: 1 }
`;
    let now = BASE_MS;
    // Terms long enough that no stall of the test's process hands a partition over before a dies.
    const [a, b] = (await start(standalone(), 2, freshPrefix(), () => now, rules, undefined, '10s')) as [Agent, Agent];
    // No checkpoint of a's covers what follows: the next holder replays it all.
    const aCheckpoints = failing(a.client, 'vigilPartitionFenced');
    const aRounds = failing(a.client, 'vigilPartitionsStep');
    aCheckpoints.on = true;
    // Hosts whose service's incident lies in a partition a holds, their down incident in another
    // a holds (b replays both), or in one b holds (b has it to the present as it replays).
    const held = new Set(a.runtime.held());
    const hostKey = (h: string) => `host_down{asset="${h}"}`;
    const svcKey = (h: string) => `svc_errors{asset="${h}",service="api"}`;
    const pick = (downHeldByA: boolean) =>
      Array.from({ length: 300 }, (_, i) => `h${i}`)
        .filter((h) => {
          const [down, svc] = [partitionOf(hostKey(h), 12), partitionOf(svcKey(h), 12)];
          return down !== svc && held.has(svc) && held.has(down) === downHeldByA;
        })
        .slice(0, 4);
    const [together, apart] = [pick(true), pick(false)];
    const hosts = [...together, ...apart];
    expect(hosts).toHaveLength(8);
    // A beat in each of the services' partitions: its first notification, due at the same tick as
    // theirs, says the partition's timers have run past their group_wait.
    const beatKeys = [...new Set(hosts.map((h) => partitionOf(svcKey(h), 12)))].map(
      (p) =>
        `beat{asset="${Array.from({ length: 1000 }, (_, i) => `b${i}`).find((x) => partitionOf(`beat{asset="${x}"}`, 12) === p)!}"}`,
    );
    // The hosts go down; their service fails; half the hosts come back before the group_wait ends.
    // Each phase once every agent sees what the last left (b's hosts' incidents reach a as told).
    const back = [...together.slice(0, 2), ...apart.slice(0, 2)];
    const still = hosts.filter((h) => !back.includes(h));
    const seen = (keys: string[], status: 'open' | 'resolved') =>
      waitFor(
        () => keys.every((k) => [a, b].every((x) => x.runtime.current(k)?.status === status)),
        `both agents to see ${keys.join(', ')} ${status}`,
      );
    await sendShares(
      [a, b],
      hosts.map((h, n) => ev(BASE_MS + n * 10, { asset: h, type: 'down', attributes: { check: 'host' } })),
      (ms) => (now = ms),
    );
    now = BASE_MS + 1_000;
    await seen(hosts.map(hostKey), 'open');
    const failures = [
      ...hosts.flatMap((h, n) =>
        [0, 1].map((k) =>
          ev(BASE_MS + 5_000 + n * 10 + k, { service: 'api', severityText: 'ERROR', attributes: { host: h } }),
        ),
      ),
      ...beatKeys.map((k, n) =>
        ev(BASE_MS + 5_500 + n, { asset: /"(.*)"/.exec(k)![1]!, attributes: { check: 'beat' } }),
      ),
    ];
    await sendShares([a, b], failures, (ms) => (now = ms));
    now = BASE_MS + 6_500;
    const made = (x: Agent, key: string, what: (c: IncidentChange) => boolean) =>
      x.changes.some((c) => c.incident.key === key && what(c));
    await waitFor(
      () => hosts.every((h) => made(a, svcKey(h), (c) => c.incident.suppressed)),
      'a to keep the services’ incidents inhibited',
      20_000,
      () => ({ notInhibited: hosts.filter((h) => !made(a, svcKey(h), (c) => c.incident.suppressed)) }),
    );
    await sendShares(
      [a, b],
      back.map((h, n) => ev(BASE_MS + 7_000 + n * 10, { asset: h, type: 'up', attributes: { check: 'host' } })),
      (ms) => (now = ms),
    );
    now = BASE_MS + 7_500;
    await seen(back.map(hostKey), 'resolved');
    now = BASE_MS + 10_000;
    const past = (c: IncidentChange) => c.atMs >= BASE_MS + 8_500;
    await waitFor(() => beatKeys.every((k) => made(a, k, past)), 'a to notify the beats');
    // a dies: b takes its partitions over, restores them from checkpoints older than the stream,
    // and replays it.
    aRounds.on = true;
    await waitFor(() => b.runtime.held().length === 12, 'b to hold every partition', 20_000);
    await waitFor(
      () =>
        beatKeys.every((k) => made(b, k, past)) && hosts.every((h) => made(b, svcKey(h), (c) => c.kind === 'opened')),
      'b to replay the services’ openings and the beats’ notifications',
    );
    // b made the services' changes a made, each at its moment, inhibited as there.
    const changes = (x: Agent) =>
      x.changes
        .filter((c) => c.incident.rule === 'svc_errors')
        .map((c) => `${c.incident.key} ${c.kind} at ${c.atMs - BASE_MS} ${c.incident.suppressedBy}`)
        .sort();
    expect(changes(b)).toEqual(changes(a));
    // Those whose host came back were notified once (by a; b's were claimed), the others never.
    const notified = [a, b].flatMap((x) =>
      x.changes.filter((c) => c.notify && c.incident.rule === 'svc_errors').map((c) => c.incident.key),
    );
    expect(notified.sort()).toEqual(back.map(svcKey).sort());
    expect(still.map((h) => b.runtime.current(svcKey(h))?.suppressedBy)).toEqual(
      still.map((h) => `inhibit:${hostKey(h)}`),
    );
    await stopAll([a, b]);
  }, 60_000);

  it('runs reloaded rules in every partition held, and in those taken over after the reload', async () => {
    const rules = (threshold: number) => `
defaults: { group_wait: 0s, allowed_lateness: 5s }
rules:
  - { kind: threshold, name: errors, match: 'severity_text == "ERROR"', group_by: [service], window: 60s, bucket: 5s, threshold: ${threshold} }
`;
    const errors = (from: number, services: number[]) =>
      services.flatMap((n, i) =>
        [0, 1].map((k) => ev(from + i * 100 + k * 10, { service: `svc-${n}`, severityText: 'ERROR' })),
      );
    let now = BASE_MS;
    const agents = await start(standalone(), 2, freshPrefix(), () => now, rules(1000));
    const first = Array.from({ length: 10 }, (_, i) => i);
    await sendShares(agents, errors(BASE_MS, first), (ms) => (now = ms));
    const opened = () =>
      new Set(agents.flatMap((a) => a.changes.filter((c) => c.kind === 'opened').map((c) => c.incident.key)));
    const cfg = connectorConfig(standalone(), 'unused', rules(2));
    for (const a of agents) await a.runtime.reload(cfg);
    await sendShares(agents, errors(BASE_MS + 5_000, first), (ms) => (now = ms));
    now += 1000;
    await waitFor(() => opened().size === first.length, 'every service open under the reloaded threshold');
    // Agent 0 stops: agent 1 takes its partitions, restored under the reloaded rules.
    const [leaving, staying] = agents as [Agent, Agent];
    await stopAll([leaving]);
    await waitFor(() => staying.runtime.held().length === 12, 'agent 1 to hold every partition');
    const later = Array.from({ length: 10 }, (_, i) => 10 + i);
    await sendShares([staying], errors(BASE_MS + 10_000, later), (ms) => (now = ms));
    // The clock goes on: the last events are taken once the agent marks a time past them.
    now += 1000;
    await waitFor(() => opened().size === 20, 'the later services open too');
    expect(staying.runtime.rules().map((r) => (r as { threshold?: number }).threshold)).toEqual([2]);
    await stopAll([staying]);
  });

  it('counts, and warns of, the events placed with it that none of its rules take: agents part-way through a rules change', async () => {
    const rules = (by: string) => `
defaults: { group_wait: 0s, allowed_lateness: 5s }
rules:
  - { kind: threshold, name: errors, match: 'severity_text == "ERROR"', group_by: [${by}], window: 60s, bucket: 5s, threshold: 1000 }
`;
    let now = BASE_MS;
    const logs: string[] = [];
    const agents = await start(standalone(), 2, freshPrefix(), () => now, rules('service'), logs);
    const [sender, changed] = agents as [Agent, Agent];
    // The rules change reached one agent so far: it groups by asset, the other still by service.
    await changed.runtime.reload(connectorConfig(standalone(), 'unused', rules('asset')));
    const events = Array.from({ length: 120 }, (_, i) =>
      ev(BASE_MS + i * 10, { service: `svc-${i % 40}`, asset: `host-${(i * 7) % 30}`, severityText: 'ERROR' }),
    );
    const held = new Set(changed.runtime.held());
    // The sender places each event by its service; the other agent takes what it holds by its asset.
    const untaken = events.filter((e) => {
      const placed = partitionOf(`errors{service="${e.service}"}`, 12);
      return held.has(placed) && partitionOf(`errors{asset="${e.asset}"}`, 12) !== placed;
    }).length;
    expect(untaken).toBeGreaterThan(10);
    for (let b = 0; b < events.length; b += BATCH) {
      const batch = events.slice(b, b + BATCH);
      now = msOf(batch.at(-1)!);
      await sender.runtime.consumeLogs(batch);
    }
    now += 1000;
    await waitFor(async () => (await taken(agents)) === events.length, 'both agents to take what was placed with them');
    const counted = async (a: Agent) =>
      (await sample(a, 'vigil_correlation_untaken_records_total', { signal: 'logs' })) ?? 0;
    await waitFor(async () => (await counted(changed)) === untaken, 'the events its rules do not take counted');
    expect(await counted(sender)).toBe(0);
    const warned = logs
      .map((l) => JSON.parse(l) as { msg: string; records?: number })
      .filter((l) => l.msg.includes('none of this agent’s rules take'));
    // Warned once (at most once a minute), of the records untaken by then.
    expect(warned.length).toBe(1);
    expect(warned[0]!.records).toBeGreaterThan(0);
    await stopAll(agents);
  });

  it.each([
    ['with the same agents throughout', false],
    ['with an agent stopping half way', true],
  ])(
    'runs metric rules on points from every agent, as one engine fed them all at their times (%s)',
    async (_, handover) => {
      const rules = `
defaults: { group_wait: 0s, allowed_lateness: 5s }
rules:
  - { kind: metric_threshold, name: cpu, metric: system.cpu.utilization, group_by: ['host=attributes["host"]'], aggregation: avg, window: 20s, bucket: 5s, op: '>', value: 0.8 }
  - { kind: threshold, name: errors, match: 'severity_text == "ERROR"', group_by: [service], window: 30s, bucket: 5s, threshold: 5 }
`;
      // Eight hosts reporting every second for four minutes, each running hot for a while; errors beside them.
      const r = mulberry32(21);
      const points: MetricPoint[] = [];
      const events: VigilEvent[] = [];
      for (let s = 0; s < 240; s++)
        for (let h = 0; h < 8; h++) {
          const hot = s >= 20 + h * 20 && s < 50 + h * 20;
          points.push(
            point(BASE_MS + s * 1000 + h * 7, 'system.cpu.utilization', hot ? 0.9 + r() * 0.1 : r() * 0.5, {
              host: `h${h}`,
            }),
          );
          if (r() < 0.2)
            events.push(ev(BASE_MS + s * 1000 + h * 7 + 3, { service: `svc-${h % 3}`, severityText: 'ERROR' }));
        }
      let now = BASE_MS;
      const agents = await start(standalone(), 3, freshPrefix(), () => now, rules);
      let sending = agents;
      for (let b = 0, sentMs = -Infinity; b < points.length; b += 60) {
        if (handover && b === points.length / 2) {
          await stopAll([agents[0]!]);
          sending = agents.slice(1);
          await waitFor(
            () => sending.every((a) => a.runtime.held().length === 6),
            'the two others to take the partitions given back',
          );
        }
        const part = points.slice(b, b + 60);
        const lastMs = msOf(part.at(-1)! as never);
        now = lastMs;
        const these = events.filter((e) => msOf(e) <= lastMs && msOf(e) > sentMs);
        sentMs = lastMs;
        const n = sending.length;
        await Promise.all(
          sending.map((a, k) =>
            Promise.all([
              a.runtime.consumeMetrics(part.filter((_, i) => i % n === k)),
              a.runtime.consumeLogs(these.filter((_, i) => i % n === k)),
            ]),
          ),
        );
      }
      now = BASE_MS + 300_000;
      // One engine: every event and point at its own time, the timers every second between them.
      const engine = engineFrom(rules);
      const reference = new Set<string>();
      const items = [
        ...events.map((e) => ({ t: msOf(e), e })),
        ...points.map((m) => ({ t: msOf(m as never), m })),
      ].sort((x, y) => x.t - y.t);
      let tick = (Math.floor(items[0]!.t / TICK_MS) + 1) * TICK_MS;
      for (const it of items) {
        for (; tick <= it.t; tick += TICK_MS) noteOpenings(engine.tick(tick), reference);
        noteOpenings('e' in it ? engine.process([it.e!], it.t) : engine.processPoints([it.m!], it.t), reference);
      }
      for (; tick <= now; tick += TICK_MS) noteOpenings(engine.tick(tick), reference);
      const expected = [...reference].sort();
      expect(expected.filter((x) => x.includes('cpu{')).length).toBeGreaterThanOrEqual(16);
      await expectCaughtUp(agents, expected);
      await stopAll(sending);
    },
    60_000,
  );

  it('keeps what a failover to a replica that missed the last writes lost: the owners write their partitions anew', async () => {
    await onSentinels(13, async ({ group, events, clock, setClock, agents }) => {
      const third = Math.floor(events.length / 3);
      await sendShares(agents, events.slice(0, third), setClock);
      // From here the replica misses every write: the second third, and the checkpoints after it.
      await group.stallReplica();
      await sendShares(agents, events.slice(third, 2 * third), setClock);
      // The clock up to the next third's first event: the owners take all before it.
      clock.now = msOf(events[2 * third]!);
      const before2 = events.filter((e) => msOf(e) < clock.now).length;
      await waitFor(async () => (await taken(agents)) === before2, 'the owners to take the second third');
      const before = await Promise.all(agents.map((a) => written(a)));
      await waitFor(
        async () => (await Promise.all(agents.map((a) => written(a)))).every((n, i) => n >= before[i]! + 6),
        'a checkpoint of every partition after it (on the master only)',
      );
      // Each agent finds the promoted replica another dataset at its next mark, and writes its partitions anew.
      await failOver(group, agents);
      const after = await Promise.all(agents.map((a) => written(a)));
      await waitFor(
        async () => (await Promise.all(agents.map((a) => written(a)))).every((n, i) => n >= after[i]! + 6),
        'their partitions written again',
      );
      // Agent 0 leaves: agent 1 takes its partitions from what Redis now holds of them.
      const [leaving, staying] = agents as [Agent, Agent];
      await stopAll([leaving]);
      await waitFor(() => staying.runtime.held().length === 12, 'the other agent to take every partition');
      await sendShares([staying], events.slice(2 * third), setClock);
      clock.now = msOf(events.at(-1)!) + 45_000;
      const reference = oneEngine(events, clock.now);
      await expectCaughtUp(agents, reference);
      await stopAll([staying]);
    });
  }, 120_000);

  it('takes what a promoted replica numbers below the entries the old master had (its clock behind): none skipped, none trimmed', async () => {
    const prefix = freshPrefix();
    await onSentinels(
      17,
      async ({ group, events, clock, setClock, agents }) => {
        const half = Math.floor(events.length / 2);
        await sendShares(agents, events.slice(0, half), setClock);
        clock.now = msOf(events[half]!);
        const firstHalf = events.filter((e) => msOf(e) < clock.now).length;
        await waitFor(async () => (await taken(agents)) === firstHalf, 'the owners to take the first half');
        await group.stallReplica();
        // The master's clock an hour ahead of the replica's: its last entry on every partition's
        // stream numbered so (one the owners skip, a send they took: its sender's number 0).
        const held = new RedisKeys(prefix).partitionKeys();
        const ahead = `${Date.now() + 3_600_000}-0`;
        for (let p = 0; p < 12; p++)
          await agents[0]!.client.xadd(held.held(`events:${p}`), ahead, 'a', agents[0]!.runtime.agent, 'q', '0');
        await waitFor(
          async () =>
            (
              await Promise.all(
                Array.from({ length: 12 }, (_, p) =>
                  agents[0]!.client.hget(held.held(`checkpoint:${p}`), '\0position'),
                ),
              )
            ).every((position) => position === ahead),
          'every partition checkpointed past the entry (on the master only)',
        );
        await failOver(group, agents);
        // The promoted replica numbers the next sends by its own clock: below the owners' positions.
        await sendShares(agents, events.slice(half), setClock);
        clock.now = msOf(events.at(-1)!) + 45_000;
        await waitFor(
          async () => (await taken(agents)) === events.length,
          'the owners to take the second half',
          20_000,
        );
        const reference = oneEngine(events, clock.now);
        await expectCaughtUp(agents, reference);
        await stopAll(agents);
      },
      prefix,
    );
  }, 120_000);

  it('applies once an action forwarded to the holder, though a failover has it read its stream again', async () => {
    await onSentinels(19, async ({ group, events, clock, setClock, agents }) => {
      const [holder, other] = agents as [Agent, Agent];
      for (const a of agents) await a.runtime.serve();
      await sendShares(agents, events, setClock);
      clock.now = msOf(events.at(-1)!) + 1;
      await waitFor(async () => (await taken(agents)) === events.length, 'the owners to take the stream');
      // One of the holder's incidents, commented on through the other agent: its holder applies it.
      const { id } = holder.changes.find((c) => c.kind === 'opened')!.incident;
      await waitFor(() => other.runtime.incident(id) !== undefined, 'the other agent to show it');
      const comments = () => holder.changes.filter((c) => c.reason.includes('looked at it')).length;
      expect((await other.runtime.act(id, 'alice', { kind: 'comment', text: 'looked at it' })).ok).toBe(true);
      expect(comments()).toBe(1);
      // The replica has the action's entry; the failover has the holder read its streams from their start.
      expect(await holder.client.call('WAIT', 1, 5_000)).toBe(1);
      await failOver(group, agents);
      const after = await written(holder);
      await waitFor(
        async () => (await written(holder)) >= after + 12,
        'the holder to read and write its partitions again',
      );
      expect(comments()).toBe(1);
      await stopAll(agents);
    });
  }, 120_000);

  it('claims done a change kept back past its term: the next holder, making it again, does not notify it twice', async () => {
    let now = BASE_MS;
    const [a, b] = (await start(standalone(), 2, freshPrefix(), () => now, twoErrors)) as [Agent, Agent];
    // What each agent's Redis refuses while switched on (a cut only those calls see).
    const aClaims = failing(a.client, 'vigilNotifyClaim');
    const aCheckpoints = failing(a.client, 'vigilPartitionFenced');
    const aRounds = failing(a.client, 'vigilPartitionsStep');
    const aMarks = failing(a.client, 'vigilNotifyDone');
    const bClaims = failing(b.client, 'vigilNotifyClaim');
    const { service, key, p } = groupHeldBy(a);
    const notified = () => [a, b].flatMap((x) => x.changes.filter((c) => c.incident.key === key && c.notify));

    // a opens the incident, its claim cut off: the change waits, and no checkpoint covers it.
    aClaims.on = aCheckpoints.on = true;
    const errors = [0, 1].map((k) => ev(BASE_MS + 100 * k, { service, severityText: 'ERROR' }));
    now = BASE_MS + 200;
    await a.runtime.consumeLogs(errors);
    await waitFor(() => a.runtime.current(key) !== undefined, 'a to open the incident');
    // a's terms run out; b takes the partition and makes the opening again, its claim cut off too.
    bClaims.on = aRounds.on = true;
    await waitFor(() => b.runtime.held().includes(p), 'b to take the partition over', 20_000);
    await waitFor(() => b.runtime.current(key) !== undefined, 'b to make the opening again');
    // a hears it lost the partition, then its claim gets through: it notifies (and its mark of the
    // claim as sent is cut off: what b finds is what a's claim itself left).
    aRounds.on = false;
    await waitFor(() => !a.runtime.held().includes(p), 'a to hear the partition is b’s', 20_000);
    aMarks.on = true;
    aClaims.on = aCheckpoints.on = false;
    await waitFor(() => notified().length > 0, 'a to notify the opening');
    // b's claim, once through, is refused: a claimed it done (pending, b would take it over and notify again).
    bClaims.on = false;
    await waitFor(
      () => b.changes.some((c) => c.incident.key === key && c.kind === 'opened'),
      'b to deliver the opening',
    );
    expect(notified().map((c) => `${c.kind} ${c.incident.id}`)).toEqual([`opened ${notified()[0]!.incident.id}`]);
    expect(a.changes.filter((c) => c.notify)).toHaveLength(1);
    await stopAll([a, b]);
  }, 60_000);

  it('sends a claimed change only under the term it claimed it in: the next holder, which took the claim over while a replica wait held it, notifies alone', async () => {
    let now = BASE_MS;
    const [a, b] = (await start(standalone(), 2, freshPrefix(), () => now, twoErrors)) as [Agent, Agent];
    const aCheckpoints = failing(a.client, 'vigilPartitionFenced');
    const { service, key, p } = groupHeldBy(a);
    const notified = () => [a, b].flatMap((x) => x.changes.filter((c) => c.incident.key === key && c.notify));
    // a's wait for a replica to have its claims holds until the test ends it: a replica lagging
    // past lease_ttl (replica_wait above it), a's rounds waiting behind it.
    let endWait!: () => void;
    const waited = new Promise<void>((r) => (endWait = r));
    (a.runtime as unknown as { claimsOnReplica(): Promise<number[]> }).claimsOnReplica = async () => {
      await waited;
      return [];
    };
    // a opens the incident, no checkpoint covering it: its claim is made, then its delivery waits.
    aCheckpoints.on = true;
    now = BASE_MS + 200;
    await a.runtime.consumeLogs([0, 1].map((k) => ev(BASE_MS + 100 * k, { service, severityText: 'ERROR' })));
    // a's terms run out meanwhile; b takes the partition, makes the opening again, takes a's
    // pending claim over (a seems dead) and notifies.
    await waitFor(() => b.runtime.held().includes(p), 'b to take the partition over', 20_000);
    await waitFor(() => notified().length > 0, 'b to notify the opening');
    expect(b.changes.filter((c) => c.notify).map((c) => `${c.kind} ${c.incident.key}`)).toEqual([`opened ${key}`]);
    // The wait ends: a's claim was made under a term that is over, and b's stands.
    endWait();
    await waitFor(() => !a.runtime.held().includes(p), 'a to hear the partition is b’s', 20_000);
    await stopAll([a, b]);
    expect(notified()).toHaveLength(1);
  }, 60_000);

  it('makes again a sent mark Redis missed: the next holder, replaying after the agent died, does not notify twice', async () => {
    let now = BASE_MS;
    const prefix = freshPrefix();
    const [a, b] = (await start(standalone(), 2, prefix, () => now, twoErrors)) as [Agent, Agent];
    const aMarks = failing(a.client, 'vigilNotifyDone');
    const aCheckpoints = failing(a.client, 'vigilPartitionFenced');
    const aRounds = failing(a.client, 'vigilPartitionsStep');
    const { service, key, p } = groupHeldBy(a);
    const notified = () => [a, b].flatMap((x) => x.changes.filter((c) => c.incident.key === key && c.notify));
    /** a's notification claims in Redis, by state: p pending, d done (sent). */
    const aClaims = async () => {
      const states: string[] = [];
      for (const k of await a.client.keys(`${prefix}:told:*`)) {
        const m = /^agent-0#\w+@\d+:\d+\n([pd])$/.exec((await a.client.get(k)) ?? '');
        if (m) states.push(m[1]!);
      }
      return states;
    };

    // a opens and notifies the incident; its mark of the claim as sent is cut off, and no
    // checkpoint covers the opening.
    aMarks.on = aCheckpoints.on = true;
    now = BASE_MS + 200;
    await a.runtime.consumeLogs([0, 1].map((k) => ev(BASE_MS + 100 * k, { service, severityText: 'ERROR' })));
    await waitFor(() => notified().length === 1, 'a to notify the opening');
    expect(await aClaims()).toContain('p');
    // Redis takes marks again: a makes the one it missed.
    aMarks.on = false;
    await waitFor(async () => {
      const states = await aClaims();
      return states.length > 0 && states.every((x) => x === 'd');
    }, 'a to mark its claim sent');
    // a dies: b takes the partition over and replays the opening from the last checkpoint.
    aRounds.on = true;
    await waitFor(() => b.runtime.held().includes(p), 'b to take the partition over', 20_000);
    await waitFor(
      () => b.changes.some((c) => c.incident.key === key && c.kind === 'opened'),
      'b to make the opening again',
    );
    expect(notified()).toHaveLength(1);
    await stopAll([a, b]);
  }, 60_000);

  it('holds nothing, and fails /readyz, with another partition count than the agents already sharing the prefix', async () => {
    const prefix = freshPrefix();
    const [first] = await start(standalone(), 1, prefix, Date.now);
    const cfg = connectorConfig(standalone(), prefix, mixedRules, 6);
    const redis: SharedRedis = {
      client: createRedisClient(connectionOf(cfg.state)),
      config: connectionOf(cfg.state),
      agent: 'agent-6',
    };
    const other = new PartitionRuntime(cfg, {
      logger: createLogger('silent'),
      metrics: new SelfMetrics(),
      redis,
      output: () => undefined,
    });
    await redis.client.connect();
    await other.start();
    expect(other.state.health()).toMatchObject({
      status: 'failing',
      reason: expect.stringContaining(
        `correlation.state.partitions is 6 here, but the agents sharing prefix "${prefix}" use 12`,
      ),
    });
    expect(other.held()).toEqual([]);
    await other.stop();
    redis.client.disconnect();
    expect(first!.runtime.held()).toHaveLength(12);
    await stopAll([first!]);
  });
});

describe('the correlation runtime with state.sharing: partitions, on Redis Cluster', () => {
  let cluster: RedisCluster;
  beforeAll(async () => {
    cluster = await startRedisCluster(3);
  });
  afterAll(async () => {
    await cluster?.stop();
  });

  it('makes the openings and resolutions of one engine fed the whole stream, the partitions in one slot', async () => {
    const events = shifted(mixedStream(13, 2000));
    let now = msOf(events[0]!);
    const prefix = freshPrefix();
    const agents = await start({ cluster: { nodes: cluster.nodes } }, 3, prefix, () => now);
    await sendShares(agents, events, (ms) => (now = ms));
    now = msOf(events.at(-1)!) + 45_000;
    const reference = oneEngine(events, now);
    expect(reference.length).toBeGreaterThan(50);
    await expectCaughtUp(agents, reference);
    const notified = agents.flatMap((a) => a.changes.filter((c) => c.kind === 'opened' && c.notify));
    expect(new Set(notified.map((c) => c.incident.id)).size).toBe(notified.length);
    expect(notified.length).toBe(reference.filter((r) => r.startsWith('opened ')).length);
    await stopAll(agents);
  }, 60_000);
});
