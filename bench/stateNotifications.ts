/**
 * What a notification costs agents sharing state (`correlation.state.sharing: state`), on a local
 * redis-server: the claim that keeps two agents from sending it twice, as a claim done at once
 * (what `admit` did before notifications were kept until sent: one script call), against the
 * claim pending with the change kept under the agent's incarnation, then marked sent and the
 * change dropped once the incidents pipelines took it (`admit`, then `delivered`, as the daemon's
 * runtime calls them). `--notifications` changes of kind `opened`, each its own incident, in
 * deliveries of `--batch`; the two run in alternating rounds (`--rounds`) on fresh prefixes, and
 * the table gives the median round. CPU per notification: this process's (the agent's side) and
 * redis-server's.
 * Run: `node bench/stateNotifications.ts [--notifications 20000] [--batch 50] [--rounds 3]`.
 */
import { Redis } from 'ioredis';
import type { Incident, IncidentChange } from '../src/model/incident.ts';
import { claimNotification } from '../src/state/notificationClaims.ts';
import { redisStateSchema } from '../src/state/redisConfig.ts';
import { RedisKeys } from '../src/state/redisKeys.ts';
import { openStateBackend } from '../src/state/stateBackend.ts';
import { createLogger } from '../src/telemetry/logger.ts';
import { SelfMetrics } from '../src/telemetry/selfMetrics.ts';
import { startRedis } from '../test/support/redis.ts';
import { redisCpuSeconds } from './redisWorkload.ts';
import { benchArgs, cpuUs, fmt, median, table } from './support.ts';

const { values } = benchArgs(import.meta.filename, {
  options: {
    notifications: { type: 'string', default: '20000' },
    batch: { type: 'string', default: '50' },
    rounds: { type: 'string', default: '3' },
  },
});
const N = Number(values.notifications);
const BATCH = Number(values.batch);
const ROUNDS = Number(values.rounds);

interface Run {
  perSecond: number;
  agentUs: number;
  redisUs: number;
}

const changes = (round: number, how: string): IncidentChange[] =>
  Array.from({ length: N }, (_, i) => ({
    kind: 'opened',
    reason: 'count 5 ≥ 5 within 1m',
    atMs: 1_000 + i,
    notify: true,
    eventIds: [`e${i}`],
    incident: {
      key: `errors{service="s${i}"}`,
      id: `${how}-${round}-${i}`,
      openedAtMs: 1_000 + i,
      status: 'open',
      eventCount: 5,
      severity: 'error',
      title: `errors of s${i}`,
    } as unknown as Incident,
  }));

async function measure(admin: Redis, work: () => Promise<void>): Promise<Run> {
  const redisBefore = redisCpuSeconds(await admin.info('cpu'));
  const cpu = process.cpuUsage();
  const started = performance.now();
  await work();
  const seconds = (performance.now() - started) / 1000;
  const agentUs = cpuUs(cpu) / N;
  const redisUs = ((redisCpuSeconds(await admin.info('cpu')) - redisBefore) * 1e6) / N;
  return { perSecond: N / seconds, agentUs, redisUs };
}

/** Claims done at once, one call each (what `admit` did before). */
async function claimsDone(url: string, admin: Redis, round: number): Promise<Run> {
  const client = new Redis(url);
  const keys = new RedisKeys(`bench-done-${round}`);
  const all = changes(round, 'done');
  try {
    return await measure(admin, async () => {
      for (let i = 0; i < all.length; i += BATCH)
        for (const c of all.slice(i, i + BATCH)) await claimNotification(client, keys, 'agent-a', c);
    });
  } finally {
    client.disconnect();
  }
}

/** Claims pending and changes kept, marked sent and dropped once delivered (`admit`, `delivered`). */
async function claimsKept(url: string, admin: Redis, round: number): Promise<Run> {
  const issues: { path: string; message: string }[] = [];
  const cfg = redisStateSchema.parse(
    { store: 'redis', url, prefix: `bench-kept-${round}`, agent_id: 'agent-a' },
    'state',
    issues,
  );
  if (!cfg || issues.length) throw new Error(JSON.stringify(issues));
  const backend = openStateBackend(cfg, {
    logger: createLogger('silent'),
    metrics: new SelfMetrics(),
    clock: Date.now,
  });
  await backend.start();
  const all = changes(round, 'kept');
  const unsent = new RedisKeys(cfg.prefix).unsentKeys();
  try {
    return await measure(admin, async () => {
      for (let i = 0; i < all.length; i += BATCH) {
        const admitted = await backend.admit(all.slice(i, i + BATCH));
        if (admitted.some((c) => !c.notify)) throw new Error('a claim was refused');
        backend.delivered?.(admitted);
      }
      // Marked sent and dropped: nothing of this agent's left kept.
      const agent = (await admin.smembers(unsent.agents))[0]!;
      while ((await admin.hlen(unsent.unsent(agent))) > 0) await new Promise((r) => setTimeout(r, 5));
    });
  } finally {
    await backend.stop();
  }
}

const server = await startRedis();
const admin = new Redis(server.url);
try {
  const done: Run[] = [];
  const kept: Run[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    done.push(await claimsDone(server.url, admin, round));
    kept.push(await claimsKept(server.url, admin, round));
  }
  const row = (what: string, runs: Run[], base: Run[]) => {
    const m = (f: (r: Run) => number) => median(runs.map(f));
    return [
      what,
      fmt(m((r) => r.perSecond)),
      (m((r) => r.perSecond) / median(base.map((r) => r.perSecond))).toFixed(2),
      m((r) => r.agentUs).toFixed(1),
      m((r) => r.redisUs).toFixed(1),
    ];
  };
  process.stdout.write(
    `${N} notifications in deliveries of ${BATCH}, median of ${ROUNDS} alternating rounds\n` +
      table(
        ['claims', 'notifications/s', 'ratio', 'agent CPU µs per notification', 'redis-server CPU µs per notification'],
        [
          row('done at once (before: one script call)', done, done),
          row('pending, kept until sent, then marked sent', kept, done),
        ],
      ) +
      '\n',
  );
} finally {
  admin.disconnect();
  await server.stop();
}
