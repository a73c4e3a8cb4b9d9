/**
 * One agent of bench/redis.ts, in a process of its own (its own event loop, heap and CPU
 * account): builds its share of the stream, warms the engine up, says `ready`, feeds its share
 * on `go` and answers `done` with its figures, then on `exit` closes its store and says `closed`.
 * Usage (forked by bench/redis.ts): node redisAgent.ts memory|redis AGENT AGENTS EVENTS GROUPS FLUSH_MS RATE [REDIS_URL [CUT]]
 */
import { CorrelationEngine } from '../src/correlation/engine.ts';
import { MemoryStateStore } from '../src/state/memoryStore.ts';
import { redisStateSchema } from '../src/state/redisConfig.ts';
import { createRedisClient } from '../src/state/redisConnection.ts';
import { RedisStateStore } from '../src/state/redisStateStore.ts';
import type { StateDelta, StateStore, StateValue } from '../src/correlation/stateStore.ts';
import type { VigilEvent } from '../src/model/event.ts';
import { BATCH, ruleSet, streamShare, type Cut } from './redisWorkload.ts';

export interface AgentResult {
  agent: number;
  events: number;
  seconds: number;
  cpuSeconds: number;
  /** Of `cpuSeconds`, what the timers took: `tick` on the agent that runs them, `settle` and sweeps on the others. */
  timerCpuSeconds: number;
  maxRssMiB: number;
  /** Flush lag samples, ms: another agent's probe write until this agent's engine can read it. */
  lagsMs: number[];
  /** Probe writes seen to arrive whose stamp had already left the ring (none expected). */
  lagsLost: number;
}

/** `closed` tells the entries of the agent's local state once every agent is done: all should hold the same. */
export type AgentMessage =
  { type: 'ready' } | { type: 'done'; result: AgentResult } | { type: 'closed'; localEntries: number };

const [mode, agentText, agentsText, eventsText, groupsText, flushText, rateText, url, cutText] = process.argv.slice(2);
const AGENT = Number(agentText);
const AGENTS = Number(agentsText);
const FLUSH_MS = Number(flushText);
/** Events per second of wall time this agent is fed at; 0: as fast as it takes them. */
const RATE = Number(rateText);
/** A probe write every PROBE_MS of wall time at most: enough samples, at a cost lost in the flush. */
const PROBE_MS = 50;
/** Stamps a probe value carries: the writes a flush may have folded into the one it sends (12.8 s of them). */
const PROBE_RING = 256;
const PROBE_EXPIRES_MS = 86_400_000;
/** How often (virtual ms) an agent that does not run the timers sweeps its local state. */
const LOCAL_SWEEP_MS = 30_000;

/** The engine's clock, which the Redis store reads too. */
const clock = { ms: 0 };

const probeKey = (agent: number) => `bench:probe{a${agent}}`;

/**
 * Probes measure flush lag. Each agent writes a register of its own every PROBE_MS, whose value
 * holds the wall-clock stamps of its last PROBE_RING writes; every other agent reads it after
 * each batch, so a write folded into a later one before a flush still yields its own sample.
 */
class Probes {
  readonly lagsMs: number[] = [];
  lost = 0;
  private version = 0;
  private lastWriteMs = 0;
  private readonly ring: StateValue[] = [];
  private readonly seen = new Array<number>(AGENTS).fill(0);
  private readonly store: StateStore;

  constructor(store: StateStore) {
    this.store = store;
  }

  step(writing: boolean): void {
    const now = Date.now();
    if (writing && now - this.lastWriteMs >= PROBE_MS) {
      this.lastWriteMs = now;
      this.version++;
      this.ring.push([this.version, now]);
      if (this.ring.length > PROBE_RING) this.ring.shift();
      this.store.write(probeKey(AGENT), this.ring.slice(), this.version, clock.ms + PROBE_EXPIRES_MS);
    }
    for (let other = 0; other < AGENTS; other++) {
      if (other === AGENT) continue;
      const reg = this.store.read(probeKey(other));
      if (!reg || reg.version <= this.seen[other]!) continue;
      const stamps = reg.value as [number, number][];
      const covered = reg.version - this.seen[other]!;
      let found = 0;
      for (const [version, stampMs] of stamps) {
        if (version <= this.seen[other]!) continue;
        this.lagsMs.push(now - stampMs);
        found++;
      }
      this.lost += covered - found;
      this.seen[other] = reg.version;
    }
  }
}

async function makeStore(): Promise<StateStore> {
  if (mode === 'memory') return new MemoryStateStore();
  const issues: { path: string; message: string }[] = [];
  const cfg = redisStateSchema.parse({ store: 'redis', url, prefix: 'bench' }, 'state', issues);
  if (!cfg || issues.length) throw new Error(JSON.stringify(issues));
  const store = new RedisStateStore({
    client: createRedisClient(cfg),
    prefix: 'bench',
    writer: `agent-${AGENT}`,
    flushIntervalMs: FLUSH_MS,
    now: () => clock.ms,
  });
  cut(store, (cutText ?? 'none') as Cut);
  await store.start();
  return store;
}

/**
 * Takes steps of sharing out of a Redis agent's store, to measure what each costs (bench/redis.ts
 * `--cut`); each includes the ones before it. The incidents are then wrong.
 * - subscription: the store never subscribes: other agents' changes are neither received nor applied;
 * - registers: nor are this agent's register writes (incident records among them) shipped;
 * - shipping: nor is anything recorded for Redis: nothing is flushed.
 * The store's private members are replaced: should they be renamed, this throws rather than cut nothing.
 */
function cut(store: RedisStateStore, what: Cut): void {
  if (what === 'none') return;
  const inside = store as unknown as {
    subscriber?: { subscribe(channel: string): Promise<unknown> };
    recordLocal?: (d: StateDelta) => void;
  };
  const record = inside.recordLocal;
  if (typeof inside.subscriber?.subscribe !== 'function' || typeof record !== 'function')
    throw new Error('--cut: RedisStateStore has no `subscriber` or `recordLocal` any more');
  inside.subscriber.subscribe = () => Promise.resolve();
  if (what === 'registers') inside.recordLocal = (d) => void (d.kind === 'register' || record.call(store, d));
  else if (what === 'shipping') inside.recordLocal = () => {};
  else if (what !== 'subscription') throw new Error(`--cut: no such step ${String(what)}`);
}

/**
 * Feeds the events in batches, at every virtual second running the timers (`tick`) when `leads`,
 * else only `settle`, as the daemon does (one elected agent runs the timers of shared state);
 * on the Redis store, yields to the event loop between batches so the replicator can flush and
 * receive, waits while the store holds back (`backpressure`), and keeps to RATE events/s if set.
 */
async function feed(store: StateStore, events: VigilEvent[], leads: boolean, probes?: Probes): Promise<number> {
  const engine = new CorrelationEngine(ruleSet(), store);
  const started = performance.now();
  let nextTick = 1000;
  /** CPU µs in the timers. */
  let timerUs = 0;
  for (let i = 0; i < events.length; i += BATCH) {
    const batch = events.slice(i, i + BATCH);
    const nowMs = Number(batch[batch.length - 1]!.timeUnixNano / 1_000_000n);
    clock.ms = nowMs;
    const timersFrom = nextTick <= nowMs ? process.cpuUsage() : undefined;
    for (; nextTick <= nowMs; nextTick += 1000) {
      if (leads) engine.tick(nextTick);
      else engine.settle(nextTick);
      // The daemon sweeps a follower's local state on a timer of its own, as often as the leader's tick does.
      if (!leads && nextTick % LOCAL_SWEEP_MS === 0) store.sweep(nextTick);
    }
    if (timersFrom) {
      const spent = process.cpuUsage(timersFrom);
      timerUs += spent.user + spent.system;
    }
    engine.process(batch, nowMs);
    if (store instanceof RedisStateStore) {
      probes?.step(true);
      // As the daemon's correlation connector does before it takes the next batch.
      const waiting = store.backpressure();
      if (waiting) await waiting;
      const due = RATE > 0 ? started + ((i + BATCH) / RATE) * 1000 - performance.now() : 0;
      await new Promise((r) => (due > 1 ? setTimeout(r, due) : setImmediate(r)));
    }
  }
  return timerUs;
}

function send(message: AgentMessage): void {
  process.send!(message);
}

function nextMessage(): Promise<{ type: string }> {
  return new Promise((resolve) => process.once('message', resolve));
}

const events = streamShare(Number(eventsText), Number(groupsText), AGENT, AGENTS);
await feed(new MemoryStateStore(), events.slice(0, 20_000), true); // JIT warm-up
clock.ms = 0;
const store = await makeStore();
const probes = store instanceof RedisStateStore ? new Probes(store) : undefined;
send({ type: 'ready' });
await nextMessage();

const cpuBefore = process.cpuUsage();
const started = performance.now();
// Agent 0 stands for the elected leader: it alone runs the timers.
const timerUs = await feed(store, events, AGENT === 0, probes);
if (store instanceof RedisStateStore) while (store.pendingKeys() > 0) await store.flush();
const seconds = (performance.now() - started) / 1000;
const cpu = process.cpuUsage(cpuBefore);
send({
  type: 'done',
  result: {
    agent: AGENT,
    events: events.length,
    seconds,
    cpuSeconds: (cpu.user + cpu.system) / 1e6,
    timerCpuSeconds: timerUs / 1e6,
    maxRssMiB: process.resourceUsage().maxRSS / 1024,
    lagsMs: probes?.lagsMs ?? [],
    lagsLost: probes?.lost ?? 0,
  },
});
await nextMessage();
if (store instanceof RedisStateStore) await store.close();
send({ type: 'closed', localEntries: store.size() });
process.disconnect();
