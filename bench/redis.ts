/**
 * Shared correlation through Redis against the in-memory store, in one run, per group count:
 *
 * 1. The baseline: one engine on the memory store fed the whole stream, in a process of its own.
 * 2. The ceiling: AGENTS agents, each a forked process on a memory store of its own over its share
 *    of the stream (as below), sharing nothing, agent 0 alone running the timers, all started
 *    together. Their incidents are wrong; their events per CPU-second are what Redis agents would
 *    reach if sharing cost nothing, the leader doing the timers of every group on a third of the
 *    events.
 * 3. AGENTS agents on one local redis-server, each a forked process (its own event loop, heap and
 *    CPU account) running the same engine and rules on the Redis store over its share of the
 *    stream (event i goes to agent i mod AGENTS), all started together. Every agent sees every
 *    group, and counts what the others count through Redis. As in the daemon, where one elected
 *    agent runs the engine's timers, agent 0 ticks every virtual second and the others only
 *    `settle` (and sweep their local state every 30 virtual seconds).
 * 4. The other design, owners (a measured prototype; the daemon does not have it): AGENTS agents
 *    over the same shares, each (rule, group) owned by one agent by a hash of its key. An agent
 *    passes every event of a group it does not own to the owner's inbox, a Redis stream (one entry
 *    per owner and batch of 500, the events as JSON), and runs the engine on a memory store over the
 *    events of its own groups, those that came to it and those its inbox brings, merged in time
 *    order, timers included; its own go to a log stream too. Every second of wall time it checkpoints
 *    the state entries changed since the last checkpoint into a Redis hash, with the inbox and log
 *    positions they hold (one transaction), and trims both there: what a new owner would load and
 *    replay after a crash. `--takeover` shows it: agent 1's engine and state are dropped half way
 *    through the stream's event time, before its next checkpoint, and a new one starts from the last
 *    (the state entries, the inbox position and waiting events, its own events from its log). Its
 *    table compares the incidents opened and resolved (key and time) with the memory engine's: they
 *    are the same, takeover or not, except that max_open_incidents then counts per owner, not per
 *    rule (`--max-open 0` takes the limit off).
 * 5. The owners design on partitions, as the daemon would run it, on what src/ holds for it
 *    (bench/redisAgentPartitions.ts): the groups fall into `--partitions` partitions (12) by a hash
 *    of their key, each with a Redis stream of its events and one owner at a time by a term in the
 *    partition table (src/state/redisPartitions.ts: a fair share each, settled before the run).
 *    Every agent sends each batch to the partitions' streams (one entry per partition and batch);
 *    an owner runs one engine per partition, merging its senders in time order, and checkpoints
 *    each partition every second under its term (fenced; the stream trimmed there). With
 *    `--takeover`, agent 1's owning part stops half way through, as a kill would stop it (its
 *    sending goes on, as its clients would send elsewhere): its terms run out, the two others take
 *    its partitions from their checkpoints and replay their streams, and its checkpoint under its
 *    old term afterwards must be refused.
 * 6. The same design as the daemon runs it (bench/redisAgentRuntime.ts): each agent is the
 *    correlation connector's runtime under `state.sharing: partitions`
 *    (src/connectors/correlation/partitionRuntime.ts), fed its share through `consumeLogs` in
 *    batches, its clock the stream's event time; sends are script calls (docs/correlation.md), run
 *    in turn, rounds, marks, reads, checkpoints (every second) and notification claims as in the
 *    daemon.
 *    `--owners inbox,partitions,runtime` picks which of 4, 5 and 6 run (`--takeover` does not
 *    apply to 6: test/state/redisPartitionsDaemon.test.ts kills a daemon instead).
 *
 * Every agent first warms its code on `--warm` events of its share (default 100,000), off the
 * clock: an engine on a memory store of its own (every mode), and a runtime agent (6) also a
 * runtime of its own on a Redis prefix apart, all agents at once, its keys gone before the run. A
 * daemon runs for days and compiles its code once: the figures are of code V8 has done compiling.
 * After 20,000 events the runtime's code, run per batch, per read or per checkpoint rather than
 * per event, was still being compiled through the measured run (its second half too): 10-15 % of
 * a runtime agent's CPU on V8's compiler threads against 5 % of the engine's, about 240 functions
 * optimized in the run against 130; after 100,000, 4-8 % and 2-4 %, about 70 functions.
 *
 * Per agent: events/s (wall clock, until its last write is in Redis), events per CPU-second of
 * that process (process.cpuUsage: user + system, every thread), the share of it the timers took
 * (`tick` on agent 0, `settle` and sweeps on the others) and its peak RSS (maxRSS, which
 * includes its share of the pre-built stream). The ratios divide by the memory engine's figures
 * from the same run, taken first; the engine runs once more at the end, its row showing how far
 * the machine's speed moved over the run (on a shared 2-core host, by a fifth within minutes).
 * On a machine with fewer cores than agents + Redis, the agents queue for CPU, so events per
 * CPU-second is the figure that compares the work; events/s shows the wait too.
 *
 * Redis: its CPU (INFO cpu) over the agents' run, its memory (INFO used_memory after the run
 * minus before, divided by the (rule, group) pairs the stream touches), `MEMORY USAGE` of a few
 * keys of each kind, and the commands per 1,000 events (INFO commandstats).
 *
 * Flush lag: the time from a write on one agent until another agent's engine can read it. Every
 * agent writes a probe register of its own at most every 50 ms (between batches, under the full
 * load), through the same store and path as the engine's writes: pending until the next flush,
 * the Lua script, PUBLISH, the other agents' subscriber, applied to their local state. The value
 * holds the wall-clock stamps of the agent's last 256 probe writes (all processes read one clock),
 * so a write that a flush folded into a later one still counts from its own stamp. Every other
 * agent looks after each batch, which is when its engine could first see it: the lag includes
 * waiting for the flush timer (0 to --flush ms), the flush round trip with everything else
 * pending, Redis running the calls queued before it, delivery, and the receiver finishing its
 * batch. Only agents still feeding write and read probes.
 *
 * Agents feed as fast as they take events, waiting only while their store holds back
 * (`backpressure`, as the daemon's correlation connector does); with `--rate R` each agent is
 * fed R events per second of wall time instead, to measure flush lag below saturation.
 *
 * `--serve-api` has every runtime agent (6) serve the operators' API, as an agent whose API is
 * read does: it keeps the other partitions' incidents, and the owners publish theirs.
 * `--pairs N` (runtime among `--owners`): after each size's table, the runtime's agents N times,
 * each run between two of the memory engine's, each agent's events per CPU-second over the mean
 * of the engine's on either side, and the median of those ratios: one run's ratio moves with the
 * host's speed.
 * `--beside N` (runtime among `--owners`): after each size's table, the runtime's agents N times,
 * each time with the memory engine running beside them, run after run, until they are done; each
 * agent's events per CPU-second over the mean of the engine's runs beside it. Where `--pairs`
 * divides by runs minutes apart, this divides by runs on the same host in the same seconds.
 * `--max-open N` sets every rule's max_open_incidents (default 1,000, the rules' own default; 0: no limit).
 * `--takeover` drops an owner's engine half way through and brings it back from its checkpoint
 * (4), or has the others take a crashed agent's partitions (5).
 * `--tick MS`: event time between two runs of every engine's timers (default 1000, as
 * `tick_interval`). The stream's event time runs 40-75 times faster than the wall clock here, so
 * ticking every second of it weighs the timers that much more per event than a daemon ticking
 * every wall-clock second at the same rate; `--tick 50000` comes near a daemon's weight, and
 * every engine of the run ticks alike, so incidents still compare.
 *
 * `--checkpoint-interval MS`: the runtime agents' (6) `state.checkpoint_interval` (wall-clock ms;
 * default: the daemon's, 1 s), to weigh what checkpoints cost against how much a takeover replays.
 *
 * `BENCH_WINDOWS=FILE`: each agent appends its pid, mode and its measured run's bounds on
 * CLOCK_MONOTONIC (ns) to FILE, to cut a `perf record -k CLOCK_MONOTONIC -a` profile to the runs
 * (bench/perfShares.ts gives each agent's CPU by part from the two).
 * `BENCH_PROFILE_DIR=DIR`: a V8 CPU profile of each agent's measured run (wall-clock samples: an
 * agent waiting for a core counts its wait in the function it was in).
 *
 * `--cut` takes steps of sharing out of the Redis agents' stores, to measure what each costs (their
 * incidents are then wrong; each step includes the ones before it): `subscription`, other agents'
 * changes never received; `registers`, nor this agent's register writes shipped; `shipping`,
 * nothing recorded for Redis at all.
 *
 * Run: `node bench/redis.ts [--events 300000] [--groups 2000,100000] [--flush 100] [--agents 3] [--rate 0] [--cut none] [--max-open N] [--takeover] [--serve-api] [--tick 1000] [--owners inbox,partitions,runtime] [--partitions 12] [--pairs 0] [--checkpoint-interval MS]`.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { RedisKeys } from '../src/state/redisKeys.ts';
import { startRedis } from '../test/support/redis.ts';
import type { AgentMessage, AgentResult } from './redisAgent.ts';
import {
  activeGroups,
  BATCH,
  CUTS,
  infoField,
  RATE as RATE_OF_STREAM,
  redisCpuSeconds,
  RULE_COUNT,
  type Cut,
} from './redisWorkload.ts';
import { benchArgs, fmt, table } from './support.ts';

const { values } = benchArgs(import.meta.filename, {
  options: {
    events: { type: 'string', default: '300000' },
    groups: { type: 'string', default: '2000,100000' },
    flush: { type: 'string', default: '100' },
    agents: { type: 'string', default: '3' },
    rate: { type: 'string', default: '0' },
    cut: { type: 'string', default: 'none' },
    'max-open': { type: 'string', default: '1000' },
    takeover: { type: 'boolean', default: false },
    'serve-api': { type: 'boolean', default: false },
    tick: { type: 'string', default: '1000' },
    owners: { type: 'string', default: 'inbox,partitions' },
    partitions: { type: 'string', default: '12' },
    pairs: { type: 'string', default: '0' },
    beside: { type: 'string', default: '0' },
    'checkpoint-interval': { type: 'string', default: '' },
    warm: { type: 'string', default: '100000' },
  },
});
const EVENTS = Number(values.events);
const SIZES = values.groups.split(',').map(Number);
const FLUSH_MS = Number(values.flush);
const AGENTS = Number(values.agents);
/** Events per second each Redis agent is fed at; 0: as fast as it takes them. */
const RATE = Number(values.rate);
/** Steps of sharing taken out of the Redis agents' stores (see `cut` in bench/redisAgent.ts). */
const CUT = values.cut as Cut;
if (!CUTS.includes(CUT)) {
  process.stderr.write(`bench/redis.ts: --cut takes ${CUTS.join(', ')}, not ${CUT}\n`);
  process.exit(2);
}
if (!/^[1-9]\d*$/.test(values.tick)) {
  process.stderr.write(`bench/redis.ts: --tick takes milliseconds of event time, not ${values.tick}\n`);
  process.exit(2);
}
if (!/^\d+$/.test(values['max-open'])) {
  process.stderr.write(
    `bench/redis.ts: --max-open takes a number of incidents (0: no limit), not ${values['max-open']}\n`,
  );
  process.exit(2);
}
// The runtime agents (forked: they inherit it) serve the operators' API: each keeps a view of the
// other partitions' incidents, and every owner publishes its deliveries' incidents for them.
if (values['serve-api']) process.env.BENCH_SERVE_API = '1';
if (values['checkpoint-interval'] !== '') {
  if (!/^[1-9]\d*$/.test(values['checkpoint-interval'])) {
    process.stderr.write(
      `bench/redis.ts: --checkpoint-interval takes milliseconds, not ${values['checkpoint-interval']}\n`,
    );
    process.exit(2);
  }
  process.env.BENCH_CHECKPOINT_INTERVAL = values['checkpoint-interval'];
}

if (!/^\d+$/.test(values.warm)) {
  process.stderr.write(`bench/redis.ts: --warm takes a number of events, not ${values.warm}\n`);
  process.exit(2);
}
// The agents (forked: they inherit it) warm their code on this many events of their share.
process.env.BENCH_WARM_EVENTS = values.warm;

/** The owners design's runs: `inbox` (an inbox per owner, ownership by hash), `partitions` (partitions held by terms). */
const OWNER_DESIGNS = values.owners.split(',').filter((d) => d !== '');
/** Runs of the memory engine and the runtime's agents, one after the other, after the table (`--pairs`). */
const PAIRS = Number(values.pairs);
/** Runs of the runtime's agents with the memory engine running beside them (`--beside`). */
const BESIDE = Number(values.beside);
if (!(PAIRS >= 0) || (PAIRS > 0 && !OWNER_DESIGNS.includes('runtime'))) {
  process.stderr.write('bench/redis.ts: --pairs takes a count, and needs runtime among --owners\n');
  process.exit(2);
}
if (!/^\d+$/.test(values.beside) || (BESIDE > 0 && !OWNER_DESIGNS.includes('runtime'))) {
  process.stderr.write('bench/redis.ts: --beside takes a count, and needs runtime among --owners\n');
  process.exit(2);
}
if (OWNER_DESIGNS.some((d) => d !== 'inbox' && d !== 'partitions' && d !== 'runtime')) {
  process.stderr.write(
    `bench/redis.ts: --owners takes inbox, partitions, runtime or several (comma-separated), not ${values.owners}\n`,
  );
  process.exit(2);
}
if (!/^[1-9]\d*$/.test(values.partitions)) {
  process.stderr.write(`bench/redis.ts: --partitions takes a number of partitions, not ${values.partitions}\n`);
  process.exit(2);
}
const PREFIX = 'bench';
/** `--takeover`: the owner whose engine is dropped and restored from its checkpoint, half way through the stream's event time. */
const TAKEOVER_AGENT = AGENTS > 1 ? 1 : 0;
const TAKEOVER_MS = Math.floor((EVENTS * 1000) / RATE_OF_STREAM / 2);
/** Keys of each kind whose MEMORY USAGE is sampled. */
const SAMPLED_PER_KIND = 20;

interface Agent {
  proc: ChildProcess;
  next(type: AgentMessage['type']): Promise<AgentMessage>;
}

function startAgent(
  store: 'memory' | 'redis' | 'owners' | 'partitions' | 'runtime',
  agent: number,
  agents: number,
  groups: number,
  url = '',
): Agent {
  const proc = fork(
    join(import.meta.dirname, 'redisAgent.ts'),
    [
      store,
      String(agent),
      String(agents),
      String(EVENTS),
      String(groups),
      String(FLUSH_MS),
      String(store === 'redis' ? RATE : 0),
      url,
      CUT,
      values['max-open'],
      store !== 'memory' && store !== 'redis' && values.takeover && agent === TAKEOVER_AGENT ? String(TAKEOVER_MS) : '',
      values.tick,
      values.partitions,
    ],
    { stdio: 'inherit' },
  );
  const inbox: AgentMessage[] = [];
  const waiting: ((m: AgentMessage) => void)[] = [];
  proc.on('message', (m: AgentMessage) => {
    const w = waiting.shift();
    if (w) w(m);
    else inbox.push(m);
  });
  // An agent that dies fails whatever waits for it, so the run stops and Redis is stopped with it.
  const died = new Promise<never>((_, reject) =>
    proc.on('exit', (code) => reject(new Error(`agent ${agent} exited with ${code}`))),
  );
  died.catch(() => {});
  return {
    proc,
    async next(type) {
      const m = inbox.shift() ?? (await Promise.race([new Promise<AgentMessage>((r) => waiting.push(r)), died]));
      if (m.type !== type) throw new Error(`agent ${agent} said ${m.type}, expected ${type}`);
      return m;
    },
  };
}

/** Starts the agents, lets them go together once all are ready, and collects their figures. */
async function runAgents(
  agents: Agent[],
  alongside?: (over: () => boolean) => Promise<void>,
): Promise<{ results: AgentResult[]; seconds: number; localEntries: number[] }> {
  await Promise.all(agents.map((a) => a.next('ready')));
  const started = performance.now();
  for (const a of agents) a.proc.send({ type: 'go' });
  // `alongside` runs from the go until it sees every agent done (`--beside`).
  let seconds = NaN;
  const finished = Promise.all(agents.map((a) => a.next('done'))).then((d) => {
    seconds = (performance.now() - started) / 1000;
    return d;
  });
  const [done] = await Promise.all([finished, alongside?.(() => !Number.isNaN(seconds))]);
  // Messages of the last flushes may still be on their way to the other agents.
  await new Promise((r) => setTimeout(r, 200));
  for (const a of agents) a.proc.send({ type: 'exit' });
  const closed = await Promise.all(agents.map((a) => a.next('closed')));
  return {
    results: done.map((m) => (m as { result: AgentResult }).result),
    seconds,
    localEntries: closed.map((m) => (m as { localEntries: number }).localEntries),
  };
}

/** Calls and µs spent (wall clock inside Redis) per command. */
function commandStats(info: string): Map<string, { calls: number; usec: number }> {
  const stats = new Map<string, { calls: number; usec: number }>();
  for (const m of info.matchAll(/^cmdstat_([^:]+):calls=(\d+),usec=(\d+)/gm))
    stats.set(m[1]!, { calls: Number(m[2]), usec: Number(m[3]) });
  return stats;
}

function percentile(sorted: number[], p: number): number {
  return sorted.length ? sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)]! : NaN;
}

/** Keys by kind (`c:errors`: the engine key's kind tag and rule), with MEMORY USAGE of a few of each. */
async function keyKinds(admin: Redis): Promise<{ kind: string; keys: number; bytes: number }[]> {
  const redisKeys = new RedisKeys(PREFIX);
  const kinds = new Map<string, { keys: number; sampled: string[] }>();
  let cursor = '0';
  do {
    const [next, batch] = await admin.scan(cursor, 'COUNT', 1000);
    cursor = next;
    for (const redisKey of batch) {
      const key = redisKeys.decode(redisKey);
      const kind = key === undefined ? 'sequence' : `${key.slice(0, key.indexOf(':'))}:${redisKeys.tagOf(key)}`;
      let k = kinds.get(kind);
      if (!k) kinds.set(kind, (k = { keys: 0, sampled: [] }));
      k.keys++;
      if (k.sampled.length < SAMPLED_PER_KIND) k.sampled.push(redisKey);
    }
  } while (cursor !== '0');
  const out: { kind: string; keys: number; bytes: number }[] = [];
  for (const [kind, k] of [...kinds].sort(([a], [b]) => a.localeCompare(b))) {
    let bytes = 0;
    for (const key of k.sampled) bytes += Number(await admin.call('MEMORY', 'USAGE', key, 'SAMPLES', '0'));
    out.push({ kind, keys: k.keys, bytes: bytes / k.sampled.length });
  }
  return out;
}

/** What share of an agent's CPU time its timers took (`tick`, or `settle` and sweeps). */
const timerShare = (r: AgentResult) =>
  !Number.isFinite(r.timerCpuSeconds) ? 'not measured' : `${((100 * r.timerCpuSeconds) / r.cpuSeconds).toFixed(0)} %`;

const mib = (bytes: number) => (bytes / 1024 / 1024).toFixed(1);
const load = () =>
  loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');

/**
 * How far apart in time two lists of openings and resolutions (`opened key@time`) are, paired by
 * kind and key in time order: the differences (ms of event time) of the pairs, and the kinds and
 * keys with a different number on each side.
 */
function timeDifferences(a: readonly string[], b: readonly string[]): { deltas: number[]; unmatched: number } {
  const byKey = (list: readonly string[]) => {
    const m = new Map<string, number[]>();
    for (const s of list) {
      const at = s.lastIndexOf('@');
      const k = s.slice(0, at);
      const times = m.get(k);
      if (times) times.push(Number(s.slice(at + 1)));
      else m.set(k, [Number(s.slice(at + 1))]);
    }
    for (const times of m.values()) times.sort((x, y) => x - y);
    return m;
  };
  const left = byKey(a);
  const right = byKey(b);
  const deltas: number[] = [];
  let unmatched = 0;
  for (const [k, times] of left) {
    const other = right.get(k);
    if (!other || other.length !== times.length) unmatched++;
    else for (let i = 0; i < times.length; i++) deltas.push(Math.abs(times[i]! - other[i]!));
  }
  for (const k of right.keys()) if (!left.has(k)) unmatched++;
  return { deltas: deltas.sort((x, y) => x - y), unmatched };
}

/** The figures of one owners design's run: incidents against the memory engine's, takeover, lag, checkpoints, Redis. */
function ownersTable(
  o: {
    design: 'owners' | 'partitions' | 'runtime';
    run: Awaited<ReturnType<typeof runAgents>>;
    redisCpu: number;
    mem: number;
  },
  memoryOpenedList: string[],
  touched: number,
): string {
  const owned = o.run;
  const ownersOpened = new Set(owned.results.flatMap((r) => r.opened));
  const memoryOpened = new Set(memoryOpenedList);
  const onlyOwners = [...ownersOpened].filter((id) => !memoryOpened.has(id)).length;
  const onlyMemory = [...memoryOpened].filter((id) => !ownersOpened.has(id)).length;
  // A takeover's replay makes some again: the same key and time, so the same incident id and moment.
  const madeTwice = owned.results.reduce((n, r) => n + r.opened.length, 0) - ownersOpened.size;
  const ownerLags = owned.results.flatMap((r) => r.lagsMs).sort((a, b) => a - b);
  const ownersEvents = owned.results.reduce((n, r) => n + r.events, 0);
  const apart = timeDifferences(memoryOpenedList, [...ownersOpened]);
  const moved = apart.deltas.filter((d) => d > 0).length;
  const takeovers = owned.results.flatMap((r) => {
    if (r.takeover)
      return [
        [
          `takeover: agent ${r.agent}'s engine dropped at ${fmt(TAKEOVER_MS / 1000)} s of event time; state entries loaded, ms; events taken again`,
          `${fmt(r.takeover.entries)}, ${r.takeover.restoreMs.toFixed(0)} ms; ${fmt(r.takeover.replayed)}`,
        ],
      ];
    const t = r.partitions?.takeover;
    if (t)
      return [
        [
          `takeover: partitions agent ${r.agent} took from the crashed agent; state entries loaded, ms; events taken again`,
          `${t.partitions}; ${fmt(t.entries)}, ${t.restoreMs.toFixed(0)} ms; ${fmt(t.replayed)}`,
        ],
      ];
    if (r.partitions?.staleCheckpointRefused !== undefined)
      return [
        [
          `crash: agent ${r.agent}'s owning part stopped at ${fmt(TAKEOVER_MS / 1000)} s of event time; its checkpoint under its old term afterwards`,
          r.partitions.staleCheckpointRefused ? 'refused' : 'ACCEPTED (wrong)',
        ],
      ];
    return [];
  });
  return (
    table(
      [`${o.design} figure`, 'value'],
      [
        [
          'incidents opened and resolved (key and time): by the memory engine; by the owners; by one only (max_open_incidents counts per owner); made by two agents (a replay)',
          `${fmt(memoryOpened.size)}; ${fmt(ownersOpened.size)}; ${fmt(onlyOwners + onlyMemory)}; ${fmt(madeTwice)}`,
        ],
        [
          'of those on one side only: paired by kind and key, at another time; time apart p50 / p99 / max (ms of event time); kinds and keys counted differently',
          `${fmt(moved)}; ${[0.5, 0.99, 1]
            .map((p) =>
              (moved
                ? percentile(
                    apart.deltas.filter((d) => d > 0),
                    p,
                  )
                : 0
              ).toFixed(0),
            )
            .join(' / ')}; ${fmt(apart.unmatched)}`,
        ],
        ...(o.design !== 'owners'
          ? [
              [
                'partitions held per agent at the start',
                owned.results.map((r) => r.partitions?.partitionsAtStart ?? 0).join(', '),
              ],
            ]
          : []),
        ['events taken as late, per agent', owned.results.map((r) => fmt(r.late)).join(', ')],
        ...takeovers,
        [
          "lag p50 / p90 / p99 / max (ms): a batch's coming to an agent until its owner's engine took it",
          [0.5, 0.9, 0.99, 1].map((p) => percentile(ownerLags, p).toFixed(0)).join(' / '),
        ],
        [
          'checkpoints, % of each agent’s CPU',
          owned.results
            .map((r) =>
              !Number.isFinite(r.checkpointCpuSeconds)
                ? 'not measured'
                : `${((100 * r.checkpointCpuSeconds) / r.cpuSeconds).toFixed(0)} %`,
            )
            .join(', '),
        ],
        [
          `redis-server CPU over the ${o.design}' run (s; cores busy)`,
          `${o.redisCpu.toFixed(2)}; ${(o.redisCpu / owned.seconds).toFixed(2)}`,
        ],
        ['used_memory growth (MiB; bytes per touched pair)', `${mib(o.mem)}; ${fmt(o.mem / touched)}`],
        ['all agents together, events/s', fmt(ownersEvents / owned.seconds)],
      ],
    ) + '\n\n'
  );
}

async function benchSize(groups: number, admin: Redis, url: string): Promise<void> {
  const touched = activeGroups(EVENTS, groups);
  const loadBefore = load();

  const memory = (await runAgents([startAgent('memory', 0, 1, groups)])).results[0]!;
  const memoryRate = memory.events / memory.seconds;
  const memoryPerCpu = memory.events / memory.cpuSeconds;
  // The same split with nothing shared: each agent on a memory store of its own, agent 0 alone
  // running the timers. Incidents are wrong (each sees a third), but the figures bound what any
  // sharing could reach with one agent running the timers for all. One agent: the baseline.
  const apart: Agent[] = [];
  for (let a = 0; a < AGENTS && AGENTS > 1; a++) apart.push(startAgent('memory', a, AGENTS, groups));
  const ceiling = apart.length ? (await runAgents(apart)).results : [];

  await admin.flushall();
  await admin.config('RESETSTAT');
  const memBefore = infoField(await admin.info('memory'), 'used_memory');
  const cpuBefore = redisCpuSeconds(await admin.info('cpu'));
  const agents: Agent[] = [];
  for (let a = 0; a < AGENTS; a++) agents.push(startAgent('redis', a, AGENTS, groups, url));
  const run = await runAgents(agents);
  const memInfo = await admin.info('memory');
  const redisCpu = redisCpuSeconds(await admin.info('cpu')) - cpuBefore;
  const stats = commandStats(await admin.info('commandstats'));
  const net = await admin.info('stats');
  const memAfter = infoField(memInfo, 'used_memory');
  const dbKeys = await admin.dbsize();
  const kinds = await keyKinds(admin);

  // The other design: each (rule, group) owned by one agent, events passed on through Redis streams.
  const ownerRuns: {
    design: 'owners' | 'partitions' | 'runtime';
    run: Awaited<ReturnType<typeof runAgents>>;
    redisCpu: number;
    mem: number;
  }[] = [];
  for (const d of OWNER_DESIGNS) {
    const design = d === 'inbox' ? 'owners' : d === 'partitions' ? 'partitions' : 'runtime';
    await admin.flushall();
    const cpuFrom = redisCpuSeconds(await admin.info('cpu'));
    const memFrom = infoField(await admin.info('memory'), 'used_memory');
    const ownerAgents: Agent[] = [];
    for (let a = 0; a < AGENTS; a++) ownerAgents.push(startAgent(design, a, AGENTS, groups, url));
    const run = await runAgents(ownerAgents);
    ownerRuns.push({
      design,
      run,
      redisCpu: redisCpuSeconds(await admin.info('cpu')) - cpuFrom,
      mem: infoField(await admin.info('memory'), 'used_memory') - memFrom,
    });
  }
  // The machine may run faster or slower from one minute to the next (a shared host): the memory
  // engine once more at the end shows how far it moved over this run, and so how far the ratios
  // to the first can be trusted.
  const memoryAgain = (await runAgents([startAgent('memory', 0, 1, groups)])).results[0]!;
  const loadAfter = load();

  process.stdout.write(
    `### ${fmt(groups)} groups per rule\n\n${fmt(EVENTS)} events over ${fmt(groups)} groups per rule × ${RULE_COUNT} rules (threshold, pair, dedup; ${fmt(touched)} (rule, group) pairs touched), ` +
      `batches of ${BATCH}, flush every ${FLUSH_MS} ms, ${AGENTS} agents${RATE > 0 ? ` fed ${fmt(RATE)} events/s each` : ''}${CUT === 'none' ? '' : `, cut: ${CUT} (incidents wrong)`}${values['max-open'] === '1000' ? '' : `, max_open_incidents ${values['max-open']}`}${values.takeover ? `, owner ${TAKEOVER_AGENT} taken over` : ''}${values['serve-api'] ? ', every runtime agent serving the API' : ''}${values['checkpoint-interval'] ? `, runtime checkpoints every ${fmt(Number(values['checkpoint-interval']) / 1000)} s` : ''}${values.tick === '1000' ? '' : `, timers every ${fmt(Number(values.tick) / 1000)} s of event time`}, node ${process.version}, load average ${loadBefore} before, ${loadAfter} after\n\n`,
  );
  const rows: (string | number)[][] = [
    [
      'memory, one engine, all events',
      fmt(memory.events),
      fmt(memoryRate),
      '1.00',
      fmt(memoryPerCpu),
      '1.00',
      timerShare(memory),
      fmt(memory.maxRssMiB),
    ],
  ];
  rows.push([
    'memory, one engine, all events, again after the others',
    fmt(memoryAgain.events),
    fmt(memoryAgain.events / memoryAgain.seconds),
    (memoryAgain.events / memoryAgain.seconds / memoryRate).toFixed(2),
    fmt(memoryAgain.events / memoryAgain.cpuSeconds),
    (memoryAgain.events / memoryAgain.cpuSeconds / memoryPerCpu).toFixed(2),
    timerShare(memoryAgain),
    fmt(memoryAgain.maxRssMiB),
  ]);
  for (const r of ceiling) {
    const perCpu = r.events / r.cpuSeconds;
    rows.push([
      `memory, agent ${r.agent} of ${AGENTS} sharing nothing${r.agent === 0 ? ', running the timers' : ''}`,
      fmt(r.events),
      '',
      '',
      fmt(perCpu),
      (perCpu / memoryPerCpu).toFixed(2),
      timerShare(r),
      fmt(r.maxRssMiB),
    ]);
  }
  const agentRow = (name: string, r: AgentResult) => {
    const rate = r.events / r.seconds;
    const perCpu = r.events / r.cpuSeconds;
    return [
      name,
      fmt(r.events),
      fmt(rate),
      (rate / memoryRate).toFixed(2),
      fmt(perCpu),
      (perCpu / memoryPerCpu).toFixed(2),
      timerShare(r),
      fmt(r.maxRssMiB),
    ];
  };
  for (const r of run.results) rows.push(agentRow(`redis, agent ${r.agent}`, r));
  for (const { design, run: owned } of ownerRuns)
    for (const r of owned.results) rows.push(agentRow(`${design}, agent ${r.agent}`, r));
  const totalEvents = run.results.reduce((n, r) => n + r.events, 0);
  rows.push([
    `redis, all ${AGENTS} agents together`,
    fmt(totalEvents),
    fmt(totalEvents / run.seconds),
    (totalEvents / run.seconds / memoryRate).toFixed(2),
    '',
    '',
    '',
    '',
  ]);
  process.stdout.write(
    table(
      [
        'store',
        'events',
        'events/s',
        '× memory',
        'events per CPU-second',
        '× memory',
        'timers, % of CPU',
        'peak RSS MiB',
      ],
      rows,
    ) + '\n\n',
  );

  for (const o of ownerRuns) process.stdout.write(ownersTable(o, memory.opened, touched));

  const lags = run.results.flatMap((r) => r.lagsMs).sort((a, b) => a - b);
  const lost = run.results.reduce((n, r) => n + r.lagsLost, 0);
  const fromClient = ['evalsha', 'eval', 'script', 'scan', 'subscribe', 'quit'].reduce(
    (n, c) => n + (stats.get(c)?.calls ?? 0),
    0,
  );
  const all = [...stats]
    .filter(([c]) => c !== 'info' && c !== 'config' && c !== 'flushall')
    .reduce((n, [, v]) => n + v.calls, 0);
  const scripts = stats.get('evalsha') ?? { calls: 0, usec: 0 };
  process.stdout.write(
    table(
      ['Redis figure', 'value'],
      [
        [
          "redis-server CPU over the agents' run (s; cores busy)",
          `${redisCpu.toFixed(2)}; ${(redisCpu / run.seconds).toFixed(2)}`,
        ],
        [
          'used_memory growth; peak; RSS (MiB)',
          `${mib(memAfter - memBefore)}; ${mib(infoField(memInfo, 'used_memory_peak'))}; ${mib(infoField(memInfo, 'used_memory_rss'))}`,
        ],
        ['bytes per touched (rule, group) pair (used_memory growth / pairs)', fmt((memAfter - memBefore) / touched)],
        ['keys held at the end', fmt(dbKeys)],
        [
          'script calls; ms each, wall clock inside Redis (INFO commandstats)',
          `${fmt(scripts.calls)}; ${(scripts.usec / scripts.calls / 1000).toFixed(1)}`,
        ],
        [
          'bytes into / out of Redis per event',
          `${fmt(infoField(net, 'total_net_input_bytes') / totalEvents)} / ${fmt(infoField(net, 'total_net_output_bytes') / totalEvents)}`,
        ],
        [
          'flush lag p50 / p90 / p99 / max (ms)',
          [0.5, 0.9, 0.99, 1].map((p) => percentile(lags, p).toFixed(0)).join(' / '),
        ],
        ['flush lag samples (lost)', `${fmt(lags.length)} (${lost})`],
        [
          'commands sent per 1,000 events (script calls, scans, subscribe)',
          ((fromClient / totalEvents) * 1000).toFixed(1),
        ],
        ['commands run per 1,000 events (including those inside scripts)', ((all / totalEvents) * 1000).toFixed(0)],
        ['local state entries per agent at the end', run.localEntries.map(fmt).join(', ')],
      ],
    ) + '\n\n',
  );
  process.stdout.write(
    table(
      ['key kind', 'keys', `MEMORY USAGE, mean of ≤ ${SAMPLED_PER_KIND} (bytes)`],
      kinds.map((k) => [k.kind, fmt(k.keys), fmt(k.bytes)]),
    ) + '\n\n',
  );
}

/**
 * `--pairs N`: the runtime's agents N times, each run between two of the memory engine's (one
 * more engine run than agent runs, each engine run shared by the runs on either side of it), each
 * agent's events per CPU-second divided by the mean of the engine's just before and just after.
 * The host's speed moves by a fifth within minutes (the engine's two runs of the table differ that
 * much), and one pair's ratio with it; the runs on both sides take out a drift over the pair, and
 * the median over the pairs is the figure that says where the runtime stands.
 */
async function pairs(groups: number, admin: Redis, url: string): Promise<void> {
  const rows: string[][] = [];
  const ratios: number[] = [];
  let before = await engineRate(groups);
  for (let i = 0; i < PAIRS; i++) {
    const runtime = await runtimeRates(groups, admin, url);
    const after = await engineRate(groups);
    const mine = runtime.map((r) => r / ((before + after) / 2));
    ratios.push(...mine);
    rows.push([String(i + 1), `${fmt(before)} / ${fmt(after)}`, span(runtime, fmt), span(mine, (x) => x.toFixed(2))]);
    before = after;
  }
  writeRatios(
    `the runtime's agents between runs of the memory engine, ${PAIRS} pairs`,
    groups,
    [
      'pair',
      'memory engine before / after, events per CPU-second',
      'runtime agents',
      '× the mean of the engine before and after',
    ],
    rows,
    ratios,
  );
}

/**
 * `--beside N`: N runs of the runtime's agents, each with the memory engine running beside it in
 * processes of its own, one after another from the agents' start until they are done (each run of
 * the engine its whole stream, unthrottled): the engine and the agents meet the same host at the
 * same minutes, and each agent's rate divides by the mean of the engine's runs beside it.
 */
async function beside(groups: number, admin: Redis, url: string): Promise<void> {
  const rows: string[][] = [];
  const ratios: number[] = [];
  for (let i = 0; i < BESIDE; i++) {
    const engines: number[] = [];
    const runtime = await runtimeRates(groups, admin, url, async (over) => {
      while (!over()) engines.push(await engineRate(groups));
    });
    const engine = engines.reduce((x, y) => x + y, 0) / engines.length;
    const mine = runtime.map((r) => r / engine);
    ratios.push(...mine);
    rows.push([String(i + 1), engines.map(fmt).join(', '), span(runtime, fmt), span(mine, (x) => x.toFixed(2))]);
  }
  writeRatios(
    `the runtime's agents with the memory engine running beside them, ${BESIDE} runs`,
    groups,
    [
      'run',
      'memory engine beside them, events per CPU-second, run by run',
      'runtime agents',
      '× the mean of the engine beside them',
    ],
    rows,
    ratios,
  );
}

/** One run of the memory engine over the whole stream, in a process of its own: its events per CPU-second. */
async function engineRate(groups: number): Promise<number> {
  const memory = (await runAgents([startAgent('memory', 0, 1, groups)])).results[0]!;
  return memory.events / memory.cpuSeconds;
}

/** One run of the runtime's agents on an emptied Redis: each agent's events per CPU-second. */
async function runtimeRates(
  groups: number,
  admin: Redis,
  url: string,
  alongside?: (over: () => boolean) => Promise<void>,
): Promise<number[]> {
  await admin.flushall();
  const agents: Agent[] = [];
  for (let a = 0; a < AGENTS; a++) agents.push(startAgent('runtime', a, AGENTS, groups, url));
  return (await runAgents(agents, alongside)).results.map((r) => r.events / r.cpuSeconds);
}

const span = (xs: number[], f: (x: number) => string) => `${f(Math.min(...xs))}–${f(Math.max(...xs))}`;

/** A table of runs of the runtime's agents against the memory engine, and the median of the agents' ratios. */
function writeRatios(title: string, groups: number, header: string[], rows: string[][], ratios: number[]): void {
  ratios.sort((a, b) => a - b);
  process.stdout.write(
    `#### ${fmt(groups)} groups: ${title}\n\n` +
      table(header, rows) +
      `\n\nMedian of the ${ratios.length} agents' ratios: ${percentile(ratios, 0.5).toFixed(2)} (quartiles ${percentile(ratios, 0.25).toFixed(2)}, ${percentile(ratios, 0.75).toFixed(2)})\n\n`,
  );
}

const server = await startRedis();
const admin = new Redis(server.url);
try {
  for (const groups of SIZES) {
    await benchSize(groups, admin, server.url);
    if (PAIRS > 0) await pairs(groups, admin, server.url);
    if (BESIDE > 0) await beside(groups, admin, server.url);
  }
} finally {
  admin.disconnect();
  await server.stop();
}
