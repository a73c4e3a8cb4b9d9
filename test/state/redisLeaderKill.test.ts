import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { correlatingConfig, type RunningDaemon } from '../support/daemon.ts';
import { startRedisTls, waitFor, type RedisTlsServer } from '../support/redis.ts';
import { redisAgents } from '../support/redisDaemons.ts';
import { afterRounds, allChanges, changesOf, metric, send } from './redisAgents.ts';
import { freshPrefix } from './redisHelpers.ts';

/**
 * The agent running the correlation timers dies (kill -9, no lease released) while a host falls
 * silent: another agent takes the timers over once the dead leader's term runs out, and the
 * silence opens one incident, neither twice nor never, though it became due while no agent led.
 * Over TLS, as the ACL user, as a production Redis would be.
 */
const LEASE_TTL_MS = 3000;
/**
 * Shorter than the lease, so the silence becomes due while nobody runs the timers; long enough
 * that a loaded machine sends the heartbeats and stops the leader after the last, well within it.
 */
const INTERVAL_MS = 2000;

const config = (redis: RedisTlsServer, prefix: string, agent: string) =>
  correlatingConfig(`
  tick_interval: 50ms
  defaults: { group_wait: 0s, allowed_lateness: 5s, reopen_window: 0s }
  rules:
    - kind: absence
      name: host_silent
      match: attributes["check"] == "heartbeat"
      group_by: [asset]
      time: arrival
      interval: ${INTERVAL_MS}ms
  state:
    store: redis
    url: ${redis.url}
    username: vigil
    password: s3cret
    tls: { ca_file: ${JSON.stringify(redis.caFile)} }
    prefix: ${prefix}
    agent_id: ${agent}
    flush_interval: 20ms
    lease_ttl: ${LEASE_TTL_MS}ms
`);

/** Whether the agent runs the timers now: it took the lease once more than it lost it. */
async function leads(d: RunningDaemon): Promise<boolean> {
  const took = await metric(d, 'vigil_state_store_lease_changes_total{lease="timers",leader="true"}');
  const lost = await metric(d, 'vigil_state_store_lease_changes_total{lease="timers",leader="false"}');
  return took - lost === 1;
}

const heartbeat = { asset: 'db-1', title: 'heartbeat', attributes: { check: 'heartbeat' } };
const KEY = 'host_silent{asset="db-1"}';

describe("the timers' leader killed while a host falls silent (TLS, ACL user)", () => {
  let redis: RedisTlsServer;
  const agents = redisAgents();
  beforeAll(async () => {
    redis = await startRedisTls();
  });
  afterAll(async () => {
    await redis?.stop();
  });

  it('hands the timers to a survivor once the dead leader’s term runs out, and opens the absence incident exactly once', async () => {
    const prefix = freshPrefix();
    const ds = await agents.start((agent) => config(redis, prefix, agent));
    let leader: RunningDaemon | undefined;
    await waitFor(async () => {
      const flags = await Promise.all(ds.map(leads));
      leader = flags.filter(Boolean).length === 1 ? ds[flags.indexOf(true)] : undefined;
      return leader !== undefined;
    }, 'exactly one leader');
    const survivors = ds.filter((d) => d !== leader);

    // Heartbeats on every agent, well within the interval; the last ones reach the survivors, so
    // that the leader dies holding none that the others have not seen.
    for (let i = 0; i < 9; i++) {
      await send(ds[i % 3]!, [heartbeat]);
      await new Promise((r) => setTimeout(r, 100));
    }
    // Taken before the send: the agent dates the heartbeat's arrival no earlier.
    const lastBeatAt = Date.now();
    await send(survivors[0]!, [heartbeat]);
    // Frozen at once, then killed: however long the survivors' flushes take on a loaded machine,
    // the silence cannot come due on the leader first. What it had not flushed is older than the
    // last heartbeat, which a survivor holds.
    leader!.proc.kill('SIGSTOP');
    for (const d of survivors)
      await waitFor(async () => (await metric(d, 'vigil_state_store_pending_keys')) === 0, 'the survivors to flush');

    leader!.proc.kill('SIGKILL');
    const killedAt = Date.now();
    await leader!.exited;
    let takenOverAt = 0;
    // The dead leader's term runs out within lease_ttl and the survivors ask every lease_ttl / 3
    // (redisLease.test.ts checks that cadence on stepped timers): 4 s on an idle machine; a
    // loaded one gets five terms.
    await waitFor(
      async () => {
        const flags = await Promise.all(survivors.map(leads));
        takenOverAt = Date.now();
        return flags.filter(Boolean).length === 1;
      },
      'a survivor to take the timers over',
      5 * LEASE_TTL_MS,
    );
    const takeoverMs = takenOverAt - killedAt;

    await waitFor(
      () => allChanges(survivors).some((c) => c.incident.key === KEY && c.kind === 'opened'),
      'the absence incident',
      15_000,
    );
    // A second opening, by either survivor, would come with one of its timer rounds: twenty more
    // each (a second on an idle machine) and it would have shown.
    await afterRounds(survivors, 20);
    const openings = allChanges(survivors).filter((c) => c.incident.key === KEY && c.kind === 'opened');
    const figures = {
      takeoverMs,
      openings: openings.length,
      openedAfterSilenceMs: openings[0]!.incident.openedAtMs - lastBeatAt,
      diedLeaderOpenings: changesOf(leader!).length,
    };
    console.log(`leader kill: ${JSON.stringify(figures)}`);
    expect(openings).toHaveLength(1);
    expect(openings[0]!.notify).toBe(true);
    // Not before the silence lasted its interval; the dead leader never got that far.
    expect(openings[0]!.incident.openedAtMs).toBeGreaterThanOrEqual(lastBeatAt + INTERVAL_MS);
    expect(changesOf(leader!)).toEqual([]);
    for (const d of survivors) expect(await metric(d, 'vigil_state_store_duplicate_opens_total')).toBe(0);
  }, 60_000);
});
