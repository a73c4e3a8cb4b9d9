import type { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import type { EventRule } from '../../../src/correlation/rules/rule.ts';
import {
  PartitionOwner,
  PartitionSender,
  type PartitionKeys,
} from '../../../src/connectors/correlation/partitionOwner.ts';
import { LocalHandoff } from '../../../src/connectors/correlation/localHandoff.ts';
import { newEvent, type VigilEvent } from '../../../src/model/event.ts';
import { exactInRows } from '../../../src/model/eventRows.ts';
import { RedisKeys } from '../../../src/state/redisKeys.ts';
import { PartitionOwnership, partitionOf } from '../../../src/state/redisPartitions.ts';
import { engineFrom } from '../../support/correlation.ts';
import { mixedRules, mixedStream, noteOpenings } from '../../support/mixedStream.ts';
import { startRedisSentinels, type RedisAcl } from '../../support/redis.ts';
import { waitFor } from '../../support/waitFor.ts';
import { createRedisClient } from '../../../src/state/redisConnection.ts';
import { freshPrefix, redisAndClients, stateConfig } from '../../state/redisHelpers.ts';

// Three agents on the owners design (src/connectors/correlation/partitionOwner.ts), in one process
// on a real redis-server: each sends its third of a seeded stream to the partitions' streams and
// owns four of the twelve partitions. Their openings and resolutions must be one engine's, fed
// the whole stream, to the millisecond; also when one agent dies and the two others take its
// partitions from their checkpoints and replay the streams.

const PARTITIONS = 12;
const AGENTS = 3;
const BATCH = 50;
const TICK_MS = 1000;
const ACL: RedisAcl = { username: 'vigil', password: 's3cret' };

const encode = (events: readonly VigilEvent[]) =>
  JSON.stringify(events, (_, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));
const decode = (payload: string) =>
  (JSON.parse(payload) as Record<string, unknown>[]).map((o) =>
    newEvent({
      ...(o as Partial<VigilEvent>),
      source: String(o.source),
      timeUnixNano: BigInt(o.timeUnixNano as string),
      observedTimeUnixNano: BigInt(o.observedTimeUnixNano as string),
    }),
  );

/** The partition of an event: that of its rule's group (each event of this stream is of one rule). */
function router(): (e: VigilEvent) => number | undefined {
  const rules = engineFrom(mixedRules).rules.filter((r): r is EventRule => r.signal === 'logs');
  return (e) => {
    const rule = rules.find((r) => r.match(e));
    return rule && partitionOf(rule.keys.key(e), PARTITIONS);
  };
}

/**
 * One engine fed the whole stream, each event at its own time, its timers every second of event
 * time: the reference, as the distinct openings and resolutions (`made`: as made, repeats and all).
 */
function oneEngine(events: VigilEvent[], made: string[] = []): string[] {
  const engine = engineFrom(mixedRules);
  const out = new Set<string>();
  // The first timers at the first multiple of the interval after the first event: before it, they find nothing.
  let tick = (Math.floor(Number((events[0]?.timeUnixNano ?? 0n) / 1_000_000n) / TICK_MS) + 1) * TICK_MS;
  for (const e of events) {
    const nowMs = Number(e.timeUnixNano / 1_000_000n);
    for (; tick <= nowMs; tick += TICK_MS) {
      const ticked = engine.tick(tick);
      noteOpenings(ticked, out);
      noteOpenings(ticked, made);
    }
    const changes = engine.process([e], nowMs);
    noteOpenings(changes, out);
    noteOpenings(changes, made);
  }
  expect(engine.stats.late).toBe(0);
  return [...out].sort();
}

interface Agent {
  ownership: PartitionOwnership;
  sender: PartitionSender;
  owner: PartitionOwner;
  /** Openings and resolutions, as made (twice when a replay makes one again). */
  made: string[];
  /** How many slices and timer rounds its engines ran (each hands its changes over once). */
  rounds: { count: number };
  /** The owner's connection for blocking stream reads (the ownership's client is the other). */
  reader: Redis;
  keys: PartitionKeys;
  /** Its own events from its sender to its owner (`handoff` given to `agents`). */
  handoff?: LocalHandoff;
}

describe('partitions owned by agents, fed through Redis streams', () => {
  const { client } = redisAndClients();

  /** AGENTS agents on a fresh table; the first `settled` settle on their shares and are marked present from the start. */
  async function agents(
    senders: number,
    settled = AGENTS,
    {
      connect = client,
      termMs = 3_000,
      clockMarks = false,
      markCeiling,
      handoff = false,
    }: {
      connect?: () => Promise<Redis>;
      termMs?: number;
      clockMarks?: boolean;
      markCeiling?: () => number;
      handoff?: boolean;
    } = {},
  ): Promise<Agent[]> {
    const redisKeys = new RedisKeys(freshPrefix()).partitionKeys();
    const keys: PartitionKeys = {
      stream: (p) => redisKeys.held(`events:${p}`),
      checkpoint: (p) => redisKeys.held(`checkpoint:${p}`),
    };
    const out: Agent[] = [];
    for (let a = 0; a < AGENTS; a++) {
      const writer = await connect();
      const reader: Redis = await connect();
      const ownership = new PartitionOwnership({
        client: writer,
        table: redisKeys.table,
        agent: `agent-${a}`,
        partitions: PARTITIONS,
        termMs,
      });
      const made: string[] = [];
      // A few thousand events over minutes take thousands of slices and timer rounds: a million is a loop without end.
      const rounds = { count: 0 };
      const handedOver = handoff ? new LocalHandoff(exactInRows) : undefined;
      out.push({
        ownership,
        made,
        rounds,
        reader,
        keys,
        ...(handedOver ? { handoff: handedOver } : {}),
        sender: new PartitionSender({ ownership, keys, partitionOf: router(), encode, handoff: handedOver }),
        owner: new PartitionOwner({
          reader,
          writer,
          ownership,
          keys,
          engine: (store) => engineFrom(mixedRules, store),
          encode,
          decode,
          tickMs: TICK_MS,
          clockMarks,
          changes: (changes) => {
            if (++rounds.count > 1_000_000) throw new Error(`agent-${a}: a million slices and timer rounds`);
            noteOpenings(changes, made);
          },
          readCount: 20,
          senders,
          handoff: handedOver,
          ...(markCeiling ? { markCeiling } : {}),
        }),
      });
    }
    // Each with its share, and every agent present from the stream's start (marked after its first round).
    await settle(out.slice(0, settled));
    for (const a of out.slice(0, settled)) await a.ownership.markSent(0);
    return out;
  }

  /** Rounds of every agent, each handing its surplus over, until each holds its share. */
  async function settle(live: Agent[]): Promise<void> {
    await waitFor(async () => {
      let done = true;
      for (const a of live) {
        const { round } = await a.owner.round();
        done &&= round.agents === live.length && round.surplus.length === 0 && a.owner.owned.size === round.share;
      }
      return done;
    }, 'the agents to settle on their shares');
  }

  /** Sends batches `from` to `to` of each share, in time order across the agents, as the senders' clients would. */
  async function send(
    shares: VigilEvent[][],
    senders: Agent[],
    from: number,
    to: number,
    lastThroughMs = Number.MAX_SAFE_INTEGER - 1,
  ): Promise<void> {
    for (let b = from; b < to; b++)
      for (let a = 0; a < senders.length; a++) {
        const batch = shares[a]!.slice(b * BATCH, (b + 1) * BATCH);
        if (batch.length === 0) continue;
        const next = shares[a]![(b + 1) * BATCH];
        // A share's last batch: sent through `lastThroughMs` (by default, for good).
        const through = next ? Number(next.timeUnixNano / 1_000_000n) - 1 : lastThroughMs;
        // Numbered once and written until Redis takes it, as the runtime sends (a failover's
        // reconnect may refuse a call; one that landed all the same is taken once).
        const entries = senders[a]!.sender.prepare(batch);
        const giveUpAt = Date.now() + 20_000;
        for (;;) {
          try {
            await senders[a]!.sender.write(entries, through);
            break;
          } catch (err) {
            if (Date.now() > giveUpAt) throw err;
            await new Promise((r) => setTimeout(r, 100));
          }
        }
      }
  }

  /** Polls every owner until a whole pass takes nothing, each pass after a round of each (as a daemon keeps its terms). */
  async function drain(owners: Agent[]): Promise<void> {
    for (let quiet = 0; quiet < 2;) {
      let taken = 0;
      for (const a of owners) await a.owner.round();
      for (const a of owners) taken += await a.owner.poll(1);
      quiet = taken === 0 ? quiet + 1 : 0;
    }
  }

  /** The agents' share of the stream, round robin. */
  function shares(events: VigilEvent[]): VigilEvent[][] {
    return Array.from({ length: AGENTS }, (_, a) => events.filter((_, i) => i % AGENTS === a));
  }

  it('do so across a failover to a replica that missed the last sends: each is sent again, and taken once', async () => {
    const group = await startRedisSentinels('vigil-owners', ACL);
    try {
      const connect = async () => {
        const c = createRedisClient(stateConfig({ sentinel: { name: group.name, nodes: group.sentinels }, ...ACL }));
        c.on('error', () => undefined);
        await c.connect();
        return c as Redis;
      };
      const events = mixedStream(9, 2000);
      // One agent, its terms longer than the failover: it keeps its partitions through it.
      const [agent] = (await agents(1, 1, { connect, termMs: 20_000 })) as [Agent];
      expect(agent.owner.owned.size).toBe(PARTITIONS);
      const parts = [events];
      const batches = Math.ceil(events.length / BATCH);
      await send(parts, [agent], 0, 16, Number.MAX_SAFE_INTEGER - 1);
      await drain([agent]);
      // The replica misses what follows: sends the owner takes before the master dies, and sends it does not.
      await group.stallReplica();
      await send(parts, [agent], 16, 20);
      await drain([agent]);
      await send(parts, [agent], 20, 24);
      await group.killMaster();
      // Both its connections: each reconnects on its own, and a read on one not back yet fails.
      await waitFor(
        () => agent.ownership.client.status === 'ready' && agent.reader.status === 'ready',
        'the clients on the promoted replica',
        20_000,
      );
      // The first send to the promoted replica finds another dataset: the kept sends go first.
      await send(parts, [agent], 24, batches);
      await agent.sender.end();
      await waitFor(async () => {
        await drain([agent]);
        return [...agent.owner.owned.values()].every((o) => o.finished);
      }, 'every partition finished');
      const once: string[] = [];
      expect([...new Set(agent.made)].sort()).toEqual(oneEngine(events, once));
      // Nothing taken twice, nothing made again.
      expect(agent.made.length).toBe(once.length);
    } finally {
      await group.stop();
    }
  }, 90_000);

  it('start a partition’s timers at its first events, not at the epoch, when they gain it before any agent has marked', async () => {
    // As a daemon's agents: their marks and events are of the wall clock's time (`clockMarks`),
    // and a partition may be gained before any agent has marked (a data loss, a failover).
    const shift = BigInt(Date.now()) * 1_000_000n;
    const events = mixedStream(13, 600).map((e) => ({
      ...e,
      timeUnixNano: e.timeUnixNano + shift,
      observedTimeUnixNano: e.observedTimeUnixNano + shift,
    }));
    const all = await agents(AGENTS, 0, { clockMarks: true });
    await settle(all);
    // Nothing on the streams, and no mark: nothing is known complete yet.
    for (const a of all) expect(await a.owner.poll(1)).toBe(0);
    const parts = shares(events);
    const lastMs = Number(events.at(-1)!.timeUnixNano / 1_000_000n);
    await send(parts, all, 0, Math.ceil(parts[0]!.length / BATCH), lastMs);
    await drain(all);
    const made = all.flatMap((a) => a.made);
    expect(made.length).toBeGreaterThan(0);
    expect([...new Set(made)].sort()).toEqual(oneEngine(events));
  });

  it('run no timer past their agent’s clock and max_future_skew, whatever the marks say', async () => {
    // As a daemon's agents (`clockMarks`): b sends the stream and stops, its mark saying it holds
    // no one back (MAX_SAFE_INTEGER); a, which holds the other partitions, has not marked yet, and
    // the watermark does not wait for an agent that has not. The runtime gives the ceiling.
    const SKEW_MS = 300_000;
    const shift = BigInt(Date.now()) * 1_000_000n;
    const events = mixedStream(23, 600).map((e) => ({
      ...e,
      timeUnixNano: e.timeUnixNano + shift,
      observedTimeUnixNano: e.observedTimeUnixNano + shift,
    }));
    const lastMs = Number(events.at(-1)!.timeUnixNano / 1_000_000n);
    const all = await agents(AGENTS, 0, {
      clockMarks: true,
      termMs: 5_000,
      markCeiling: () => Date.now() + SKEW_MS,
    });
    const [a, b] = all as [Agent, Agent];
    await settle([a, b]);
    await send([events], [b], 0, Math.ceil(events.length / BATCH), lastMs);
    await b.ownership.markSent(Number.MAX_SAFE_INTEGER);
    // b stays live through its term, as a stopping agent does; a takes what it holds.
    for (let quiet = 0; quiet < 2;) {
      await b.owner.round();
      await a.owner.round();
      quiet = (await a.owner.poll(1)) === 0 ? quiet + 1 : 0;
    }
    const made = a.made.map((m) => Number(m.slice(m.lastIndexOf('@') + 1)));
    // What a's partitions hold of the stream was taken: incidents opened, some resolved.
    expect(made.length).toBeGreaterThan(0);
    expect(Math.max(...made)).toBeLessThanOrEqual(Date.now() + SKEW_MS);
  });

  it('run a partition’s timers through the last hour of a long quiet, not through every interval of days', async () => {
    // Every agent stopped over a long weekend, or a partition whose senders fell silent for days:
    // its timers ran every second of it, tens of thousands of rounds over every open incident.
    const before = mixedStream(17, 300);
    const days = 10n * 86_400_000n * 1_000_000n;
    const after = mixedStream(19, 300).map((e) => ({
      ...e,
      timeUnixNano: e.timeUnixNano + days,
      observedTimeUnixNano: e.observedTimeUnixNano + days,
    }));
    const all = await agents(AGENTS);
    const lastMs = (events: VigilEvent[]) => Number(events.at(-1)!.timeUnixNano / 1_000_000n);
    const batches = (parts: VigilEvent[][]) => Math.ceil(Math.max(...parts.map((p) => p.length)) / BATCH);
    await send(shares(before), all, 0, batches(shares(before)), lastMs(before));
    await drain(all);
    const quietFrom = all.reduce((n, a) => n + a.rounds.count, 0);
    await send(shares(after), all, 0, batches(shares(after)), lastMs(after));
    await drain(all);
    const rounds = all.reduce((n, a) => n + a.rounds.count, 0) - quietFrom;
    // An hour of rounds (3,600 at a second) in each partition, then those and the slices of the events after.
    const afterTicks = Math.ceil((lastMs(after) - Number(after[0]!.timeUnixNano / 1_000_000n)) / TICK_MS) + 2;
    expect(rounds).toBeGreaterThan(PARTITIONS * 3_600);
    expect(rounds).toBeLessThan(PARTITIONS * (3_600 + afterTicks) + 2 * after.length);
    // What came after the quiet is taken as one engine would from its start: none of it late.
    const taken = all.flatMap((a) => [...a.owner.owned.values()]).reduce((n, o) => n + o.engine.stats.events, 0);
    expect(taken).toBe(before.length + after.length);
    expect(all.flatMap((a) => [...a.owner.owned.values()]).reduce((n, o) => n + o.engine.stats.late, 0)).toBe(0);
  });

  it.each([
    ['', false],
    [', each agent’s own events handed to its owner undecoded', true],
  ])('make the openings and resolutions of one engine fed the whole stream%s', async (_, handoff) => {
    const events = mixedStream(7, 3000);
    const all = await agents(AGENTS, AGENTS, { handoff });
    expect(all.map((a) => a.owner.owned.size)).toEqual([4, 4, 4]);
    const parts = shares(events);
    const batches = Math.ceil(parts[0]!.length / BATCH);
    for (let b = 0; b < batches; b += 5) {
      await send(parts, all, b, b + 5);
      await drain(all);
    }
    for (const a of all) await a.sender.end();
    await waitFor(async () => {
      await drain(all);
      return all.every((a) => [...a.owner.owned.values()].every((o) => o.finished));
    }, 'every partition finished');

    const reference = oneEngine(events);
    expect(reference.length).toBeGreaterThan(100);
    expect([...new Set(all.flatMap((a) => a.made))].sort()).toEqual(reference);
    if (handoff) {
      // About a third of what each owner took was its own agent's, the rest came decoded from the others.
      const handed = all.map((a) => a.handoff!.handed);
      const taken = events.length;
      for (const n of handed) expect(n).toBeGreaterThan(0);
      const sum = handed.reduce((x, y) => x + y, 0);
      expect(sum).toBeGreaterThan(taken / 6);
      expect(sum).toBeLessThan(taken / 2);
    }
  });

  it('hand an agent’s own events to its owner only when the stream carries them exactly', async () => {
    const [agent] = (await agents(1, 1, { handoff: true })) as [Agent];
    expect(agent.owner.owned.size).toBe(PARTITIONS);
    const place = router();
    const [plain, big] = [mixedStream(5, 400), mixedStream(6, 400)].map((s) => s.filter((e) => place(e) !== undefined));
    // An int64 beyond 2^53 comes back from the stream as its decimal string.
    const bigs = big!.map((e) => ({ ...e, attributes: { ...e.attributes, bytes: 9_007_199_254_740_993n } }));
    const last = (es: VigilEvent[]) => Number(es[es.length - 1]!.timeUnixNano / 1_000_000n);
    await agent.sender.send(plain!, last(plain!));
    let taken = 0;
    await waitFor(async () => (taken += await agent.owner.poll(1)) === plain!.length, 'the plain events taken');
    expect(agent.handoff!.handed).toBe(plain!.length);
    // Later than the plain ones, so that the watermark lets the owner take them.
    const shift = BigInt(last(plain!) + 1) * 1_000_000n;
    const later = bigs.map((e) => ({
      ...e,
      timeUnixNano: e.timeUnixNano + shift,
      observedTimeUnixNano: e.timeUnixNano + shift,
    }));
    await agent.sender.send(later, last(later));
    taken = 0;
    await waitFor(async () => (taken += await agent.owner.poll(1)) === later.length, 'the events with a bigint taken');
    expect(agent.handoff!.handed).toBe(plain!.length);
    expect(agent.handoff!.size).toBe(0);
  });

  it('catch up on a backlog in a few reads: one that comes back full asks for twice as many entries next time', async () => {
    // An agent that fell behind, or took partitions over with their streams to replay: until every
    // stream it holds is read to its end, its partitions wait for the one behind (`take`).
    const events = mixedStream(11, 6000);
    const [agent] = (await agents(1, 1)) as [Agent];
    expect(agent.owner.owned.size).toBe(PARTITIONS);
    await send([events], [agent], 0, Math.ceil(events.length / BATCH));
    const lengths = await Promise.all(
      [...Array(PARTITIONS).keys()].map((p) => agent.reader.xlen(agent.keys.stream(p))),
    );
    // Reads of 20 entries (`readCount`) would take the longest stream in six polls or more.
    expect(Math.max(...lengths)).toBeGreaterThan(100);
    const taken = () => [...agent.owner.owned.values()].reduce((n, o) => n + o.engine.stats.events, 0);
    let polls = 0;
    while (taken() < events.length && polls < 50) {
      // Its terms kept, as a daemon's rounds keep them (a round reads nothing).
      await agent.owner.round();
      await agent.owner.poll(1);
      polls++;
    }
    expect(taken()).toBe(events.length);
    // 20, 40 and 80 entries: three reads to 140, a fourth should the stream be longer.
    expect(polls).toBeLessThanOrEqual(Math.max(...lengths) > 140 ? 4 : 3);
    await agent.sender.end();
    await waitFor(async () => {
      await drain([agent]);
      return [...agent.owner.owned.values()].every((o) => o.finished);
    }, 'every partition finished');
    expect([...new Set(agent.made)].sort()).toEqual(oneEngine(events));
  });

  it('do so when an agent joins half way: the others hand it partitions with their state, and nothing is made twice', async () => {
    const events = mixedStream(5, 3000);
    const all = await agents(AGENTS, 2);
    const [first, second, joining] = all as [Agent, Agent, Agent];
    expect([first.owner.owned.size, second.owner.owned.size]).toEqual([6, 6]);
    const half = Math.floor(events.length / 2);
    const halfMs = Number(events[half]!.timeUnixNano / 1_000_000n);
    const before = Array.from({ length: 2 }, (_, a) => events.slice(0, half).filter((_, i) => i % 2 === a));
    await send(before, [first, second], 0, Math.ceil(before[0]!.length / BATCH), halfMs - 1);
    await drain([first, second]);

    // The third starts: the two others checkpoint two partitions each and give them back; it
    // restores them and is present from the second half's first event on.
    await settle(all);
    expect(all.map((a) => a.owner.owned.size)).toEqual([4, 4, 4]);
    await joining.ownership.markSent(halfMs - 1);
    const after = shares(events.slice(half));
    await send(after, all, 0, Math.ceil(after[0]!.length / BATCH));
    for (const a of all) await a.sender.end();
    await waitFor(async () => {
      await drain(all);
      return all.every((a) => [...a.owner.owned.values()].every((o) => o.finished));
    }, 'every partition finished');

    const made = all.flatMap((a) => a.made);
    const once: string[] = [];
    expect([...new Set(made)].sort()).toEqual(oneEngine(events, once));
    expect(joining.made.length).toBeGreaterThan(0);
    // As many as one engine makes (it tells some twice itself): the handover made none again.
    expect(made.length).toBe(once.length);
  });

  it('do so when an agent dies: the others take its partitions from their checkpoints and replay the streams', async () => {
    const events = mixedStream(11, 3000);
    // The dead agent never says it ended: two ends finish a partition.
    const all = await agents(AGENTS - 1);
    const [first, dying, third] = all as [Agent, Agent, Agent];
    const parts = shares(events);
    const batches = Math.ceil(parts[0]!.length / BATCH);
    const half = Math.floor(batches / 2);
    await send(parts, all, 0, half);
    // One more batch from the two others: what is past the dying agent's mark waits, and is checkpointed so.
    await send([parts[0]!, [], parts[2]!], all, half, half + 1);
    await drain(all);
    const waiting = all.flatMap((a) => [...a.owner.owned.values()]).flatMap((o) => [...o.waiting.values()]);
    expect(waiting.some((q) => q.length > 0)).toBe(true);
    for (const a of all) for (const o of a.owner.owned.values()) expect(await a.owner.checkpoint(o)).toBe(true);
    await send([[], parts[1]!, []], all, half, half + 1);
    // More after the checkpoints: what the dying agent takes now is lost with it and taken again.
    await send(parts, all, half + 1, half + 4);
    await drain(all);
    const lost = [...dying.owner.owned.keys()];
    dying.owner.dropAll();

    // Its mark and terms run out; the others take its partitions under new fences.
    await waitFor(
      async () => {
        for (const a of [first, third]) await a.owner.round();
        return first.owner.owned.size + third.owner.owned.size === PARTITIONS;
      },
      "the live agents to take the dead one's partitions",
      10_000,
    );
    expect(first.owner.owned.size).toBe(6);
    for (const p of lost) expect([first, third].some((a) => a.owner.owned.has(p))).toBe(true);

    // Its clients send the rest of its share through the first agent, in time order with its own.
    const rest = [...parts[0]!.slice((half + 4) * BATCH), ...parts[1]!.slice((half + 4) * BATCH)].sort((a, b) =>
      a.timeUnixNano < b.timeUnixNano ? -1 : a.timeUnixNano > b.timeUnixNano ? 1 : 0,
    );
    await send(
      [rest, [], parts[2]!.slice((half + 4) * BATCH)],
      [first, dying, third],
      0,
      Math.ceil(rest.length / BATCH),
    );
    for (const a of [first, third]) await a.sender.end();
    await waitFor(async () => {
      await drain([first, third]);
      return [first, third].every((a) => [...a.owner.owned.values()].every((o) => o.finished));
    }, 'every partition finished');

    const reference = oneEngine(events);
    const made = all.flatMap((a) => a.made);
    expect([...new Set(made)].sort()).toEqual(reference);
    // The replay made some again, each with the same key and time: the same incident id and moment.
    expect(made.length).toBeGreaterThan(new Set(made).size);
  });
});
