import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { correlatingConfig, glpiExporter, runCli, type RunningDaemon, type TicketExporter } from '../support/daemon.ts';
import { FakeGlpi } from '../support/fakes/glpi.ts';
import { startRedis, waitFor, type RedisServer } from '../support/redis.ts';
import { redisAgents } from '../support/redisDaemons.ts';
import { allChanges, changesOf, metric, readiness, send } from './redisAgents.ts';
import { freshPrefix } from './redisHelpers.ts';

/**
 * Three real daemons with `correlation.state.sharing: partitions` on one redis-server: each
 * group's events, whichever agent receives them, are correlated by the one agent holding the
 * group's partition; when that agent is killed (-9), the others take its partitions from their
 * checkpoints and the streams, and every incident still opens, resolves and tickets once.
 */
const LEASE_TTL_MS = 2000;

const config = (url: string, prefix: string, agent: string, tickets?: TicketExporter, checkpoints = '1s') =>
  correlatingConfig(
    `
  tick_interval: 50ms
  defaults: { group_wait: 0s, allowed_lateness: 5s, reopen_window: 0s }
  rules:
    - kind: threshold
      name: service_errors
      match: severity_number >= SEVERITY_NUMBER_ERROR
      group_by: [service]
      window: 60s
      threshold: 5
    - kind: pair
      name: link
      match: attributes["check"] == "link"
      group_by: [asset]
  state:
    store: redis
    sharing: partitions
    partitions: 6
    checkpoint_interval: ${checkpoints}
    url: ${url}
    prefix: ${prefix}
    agent_id: ${agent}
    flush_interval: 20ms
    lease_ttl: ${LEASE_TTL_MS}ms
`,
    tickets,
  );

const SWITCHES = Array.from({ length: 6 }, (_, i) => `sw-${i}`);
const link = (asset: string, type: 'down' | 'up') => ({
  asset,
  type,
  title: `link ${type}`,
  attributes: { check: 'link' },
});
const error = (service: string) => ({ service, title: `${service} failed`, level: 'error' });
const linkKey = (asset: string) => `link{asset="${asset}"}`;

const held = (d: RunningDaemon) => metric(d, 'vigil_correlation_partitions_held');

/** A daemon's config with the operators' API open to anonymous operators. */
const withOperatorApi = (yaml: string) => `${yaml}
api:
  endpoint: 127.0.0.1:0
  anonymous_role: operator
`;

/** Acknowledges an incident through a daemon's API. */
const acknowledge = (d: RunningDaemon, id: string) =>
  fetch(d.apiUrl(`/api/v1/incidents/${id}/acknowledge`), {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: '{}',
  });

/** An incident's status as a daemon's API shows it. */
const statusOn = async (d: RunningDaemon, id: string) =>
  ((await (await fetch(d.apiUrl(`/api/v1/incidents/${id}`))).json()) as { status: string }).status;

describe('vigil run with correlation.state.sharing: partitions', () => {
  let redis: RedisServer;
  const agents = redisAgents();
  beforeAll(async () => {
    redis = await startRedis();
  });
  afterAll(async () => {
    await redis.stop();
  });

  it('opens, tickets and resolves each incident once across three agents, also after the owner of some is killed', async () => {
    const glpi = await new FakeGlpi().listen();
    try {
      const prefix = freshPrefix();
      // No checkpoint after the first: the partitions the killed agent held are replayed from their
      // streams' start, their incidents made again, and must not be told twice.
      const ds = await agents.start((agent) => config(redis.url, prefix, agent, glpiExporter(glpi.apiUrl), '1h'));
      await waitFor(async () => (await Promise.all(ds.map(held))).every((n) => n === 2), 'two partitions each');

      // Every switch goes down on one agent, and billing's errors come through all three.
      for (const [i, sw] of SWITCHES.entries()) await send(ds[i % 3]!, [link(sw, 'down')]);
      for (let i = 0; i < 12; i++) await send(ds[i % 3]!, [error('billing')]);
      const keys = [...SWITCHES.map(linkKey), 'service_errors{service="billing"}'];
      await waitFor(() => glpi.tickets.size === keys.length, 'a ticket per incident');
      const opened = allChanges(ds).filter((c) => c.kind === 'opened');
      expect(new Set(opened.map((c) => c.incident.key))).toEqual(new Set(keys));
      expect(opened).toHaveLength(keys.length);
      // Each agent received 4 of billing's errors: only together do they reach the threshold of 5.
      expect(opened.find((c) => c.incident.key === 'service_errors{service="billing"}')?.incident.eventCount).toBe(5);

      // The agent that opened sw-0's incident holds its partition: killed, with no term given back.
      const victim = ds.find((d) =>
        changesOf(d).some((c) => c.kind === 'opened' && c.incident.key === linkKey('sw-0')),
      )!;
      const survivors = ds.filter((d) => d !== victim);
      victim.proc.kill('SIGKILL');
      await victim.exited;
      // Sent at once: they wait on the streams until the dead agent's partitions have an owner again.
      for (const [i, sw] of SWITCHES.entries()) await send(survivors[i % 2]!, [link(sw, 'up')]);
      await waitFor(
        async () => (await Promise.all(survivors.map(held))).every((n) => n === 3),
        'three partitions each',
      );
      await waitFor(
        () =>
          SWITCHES.every((sw) => allChanges(ds).some((c) => c.kind === 'resolved' && c.incident.key === linkKey(sw))),
        'every link incident resolved',
        20_000,
      );
      await waitFor(
        () => [...glpi.tickets.values()].filter((t) => t.status === 5 || t.status === 6).length === SWITCHES.length,
        'the six link tickets solved',
        20_000,
      );
      const changes = allChanges(ds);
      for (const key of keys) {
        const ids = new Set(changes.filter((c) => c.incident.key === key).map((c) => c.incident.id));
        expect(ids.size, key).toBe(1);
        expect(
          changes.filter((c) => c.incident.key === key && c.kind === 'opened' && c.notify),
          key,
        ).toHaveLength(1);
      }
      for (const sw of SWITCHES)
        expect(changes.filter((c) => c.incident.key === linkKey(sw) && c.kind === 'resolved' && c.notify)).toHaveLength(
          1,
        );
      expect(glpi.count('POST', 'Ticket')).toBe(keys.length);
      const untold = await Promise.all(
        survivors.map((d) => metric(d, 'vigil_state_store_duplicate_notifications_total{kind="opened"}')),
      );
      expect(untold.reduce((a, b) => a + b, 0)).toBeGreaterThan(0);
    } finally {
      await glpi.close();
    }
  }, 90_000);

  it.each([
    [
      'a FLUSHALL',
      async (r: RedisServer) => {
        const client = new Redis(r.url);
        await client.flushall();
        client.disconnect();
      },
    ],
    ['a restart without persistence', (r: RedisServer) => r.restart()],
  ])(
    'keeps every incident when Redis loses its data (%s): none notified again, and the next holder of a partition has them',
    async (_, lose) => {
      const prefix = freshPrefix();
      const ds = await agents.start((agent) => config(redis.url, prefix, agent));
      await waitFor(async () => (await Promise.all(ds.map(held))).every((n) => n === 2), 'two partitions each');
      for (const [i, sw] of SWITCHES.entries()) await send(ds[i % 3]!, [link(sw, 'down')]);
      await send(ds[1]!, [link('sw-0', 'up')]);
      const opened = () => allChanges(ds).filter((c) => c.kind === 'opened');
      const resolved = (sw: string) =>
        allChanges(ds).filter((c) => c.kind === 'resolved' && c.incident.key === linkKey(sw));
      await waitFor(() => opened().length === SWITCHES.length && resolved('sw-0').length === 1, 'six down, sw-0 up');
      const ids = new Map(opened().map((c) => [c.incident.key, c.incident.id]));

      await lose(redis);
      const written = (d: RunningDaemon) =>
        metric(d, 'vigil_correlation_partition_checkpoints_total{outcome="written"}');
      for (const d of ds) {
        await waitFor(async () => (await metric(d, 'vigil_state_store_epoch_changes_total')) === 1, 'the loss noticed');
        // Checkpoints written after the notice: the partitions' state is back (written whole first).
        const since = await written(d);
        await waitFor(async () => (await written(d)) > since, 'checkpoints written again');
      }
      // Each agent kept its partitions; the holder of sw-1's dies, and the next one restores it.
      expect(await Promise.all(ds.map(held))).toEqual([2, 2, 2]);
      const victim = ds.find((d) =>
        changesOf(d).some((c) => c.kind === 'opened' && c.incident.key === linkKey('sw-1')),
      )!;
      victim.proc.kill('SIGKILL');
      await victim.exited;
      const survivors = ds.filter((d) => d !== victim);
      for (const [i, sw] of SWITCHES.slice(1).entries()) await send(survivors[i % 2]!, [link(sw, 'up')]);
      await waitFor(() => SWITCHES.every((sw) => resolved(sw).length > 0), 'every link incident resolved', 20_000);
      // The incidents opened before the loss, each resolved once under its id; nothing opened or notified again.
      for (const sw of SWITCHES) {
        expect(new Set(resolved(sw).map((c) => c.incident.id)), sw).toEqual(new Set([ids.get(linkKey(sw))]));
        expect(
          resolved(sw).filter((c) => c.notify),
          sw,
        ).toHaveLength(1);
      }
      expect(opened()).toHaveLength(SWITCHES.length);
    },
    90_000,
  );

  it('says degraded on /readyz while Redis is unreachable, tells senders to retry, and correlates again once it is back', async () => {
    const prefix = freshPrefix();
    const ds = await agents.start((agent) => config(redis.url, prefix, agent), ['node-a', 'node-b']);
    await waitFor(async () => (await Promise.all(ds.map(held))).every((n) => n === 3), 'three partitions each');
    await redis.kill();
    for (const d of ds) {
      await waitFor(async () => (await readiness(d)) === 'degraded', 'readiness degraded');
      const body = (await (await fetch(d.adminUrl('/readyz'))).json()) as {
        components: Record<string, { status: string; reason?: string }>;
      };
      expect(body.components['connector:correlation']).toMatchObject({
        status: 'degraded',
        reason: expect.stringContaining('Redis unreachable'),
      });
    }
    // Meanwhile the events cannot be put on the partitions' streams: the sender is told to retry.
    const refused = await fetch(ds[0]!.url('/v1/events'), {
      method: 'POST',
      body: JSON.stringify([error('web')]),
      headers: { 'content-type': 'application/json' },
    });
    expect(refused.status).toBe(503);
    await redis.restart();
    for (const d of ds) await waitFor(async () => (await readiness(d)) === 'ready', 'readiness back to ready');
    await waitFor(
      async () => (await Promise.all(ds.map(held))).reduce((a, b) => a + b, 0) === 6,
      'every partition held',
    );
    for (let i = 0; i < 5; i++) await send(ds[i % 2]!, [error('web')]);
    await waitFor(
      () =>
        allChanges(ds).filter((c) => c.kind === 'opened' && c.incident.key === 'service_errors{service="web"}')
          .length === 1,
      'the incident after the outage',
    );
  }, 90_000);

  it('runs metric rules on the points every agent receives over OTLP, in time order, one incident per series', async () => {
    const prefix = freshPrefix();
    const withMetrics = (agent: string) =>
      config(redis.url, prefix, agent)
        .replace('receivers:\n', 'receivers:\n  otlp:\n    protocols: { http: { endpoint: 127.0.0.1:0 } }\n')
        .replace(
          '  rules:\n',
          "  rules:\n    - { kind: metric_threshold, name: cpu, metric: system.cpu.utilization, group_by: ['host=attributes[\"host\"]'], window: 20s, bucket: 5s, op: '>', value: 0.8 }\n",
        )
        .replace('    incidents:', '    metrics: { receivers: [otlp], exporters: [correlation] }\n    incidents:');
    const ds = await agents.start(withMetrics);
    await waitFor(async () => (await Promise.all(ds.map(held))).every((n) => n === 2), 'two partitions each');
    const otlp = ds.map(
      (d) => (body: object) =>
        fetch(d.url('/v1/metrics'), {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(body),
        }),
    );
    const cpu = (host: string, points: [ms: number, value: number][]) => ({
      resourceMetrics: [
        {
          scopeMetrics: [
            {
              metrics: [
                {
                  name: 'system.cpu.utilization',
                  gauge: {
                    dataPoints: points.map(([ms, v]) => ({
                      asDouble: v,
                      timeUnixNano: String(BigInt(ms) * 1_000_000n),
                      attributes: [{ key: 'host', value: { stringValue: host } }],
                    })),
                  },
                },
              ],
            },
          ],
        },
      ],
    });
    // Ahead of every agent's clock: no agent marks past them before all six sends are in, so the
    // owner takes them in time order (points older than the marks would be judged by
    // allowed_lateness as they arrive, not ordered).
    const t0 = Date.now() + 2000;
    // db-1 runs hot on every agent's points. On web-1, node-a's two points alone average 0.95, but
    // they come last in time, after node-b's and node-c's four at 0.1: the series averages 0.38.
    // The last agent sends first; the partition's owner takes them all in time order.
    const sends = [
      otlp[2]!(
        cpu('web-1', [
          [t0 + 200, 0.1],
          [t0 + 300, 0.1],
        ]),
      ),
      otlp[1]!(
        cpu('web-1', [
          [t0, 0.1],
          [t0 + 100, 0.1],
        ]),
      ),
      otlp[0]!(
        cpu('web-1', [
          [t0 + 400, 0.95],
          [t0 + 500, 0.95],
        ]),
      ),
      ...otlp.map((post, k) => post(cpu('db-1', [[t0 + k * 100, 0.9 + k * 0.01]]))),
    ];
    for (const res of await Promise.all(sends)) expect(res.status, await res.text()).toBe(200);
    const cpuKey = (host: string) => `cpu{host="${host}"}`;
    await waitFor(
      () => allChanges(ds).some((c) => c.kind === 'opened' && c.incident.key === cpuKey('db-1')),
      'db-1 running hot',
    );
    // Every point taken by its partition's owner, and each agent's partitions' timers run after it.
    const sum = async (sample: string) => (await Promise.all(ds.map((d) => metric(d, sample)))).reduce((a, b) => a + b);
    await waitFor(
      async () => (await sum('vigil_correlation_records_total{signal="metrics"}')) >= 9,
      'the owners taking all nine points',
    );
    const ticks = () => Promise.all(ds.map((d) => metric(d, 'vigil_correlation_ticks_total{role="partitions"}')));
    const before = await ticks();
    await waitFor(async () => (await ticks()).every((n, i) => n > before[i]! + 5), 'timers run after the points');
    const opened = allChanges(ds).filter((c) => c.kind === 'opened');
    expect(opened.map((c) => c.incident.key)).toEqual([cpuKey('db-1')]);
    expect(opened[0]!.notify).toBe(true);
  }, 90_000);

  /** Three agents serving the operators' API, two partitions each; `withApi` starts more of them. */
  async function agentsWithApi() {
    const prefix = freshPrefix();
    const withApi = (agent: string) => withOperatorApi(config(redis.url, prefix, agent));
    const ds = await agents.start(withApi);
    await waitFor(async () => (await Promise.all(ds.map(held))).every((n) => n === 2), 'two partitions each');
    return { ds, withApi };
  }

  it('shows every agent’s incidents through any agent’s API, and acts on those another agent holds', async () => {
    const { ds, withApi } = await agentsWithApi();
    // The stream of changes on one agent, read from before the incidents open.
    const streamed = new Set<string>();
    const stream = new AbortController();
    const res = await fetch(ds[0]!.apiUrl('/api/v1/incidents/stream'), { signal: stream.signal });
    const reading = (async () => {
      const decoder = new TextDecoder();
      let text = '';
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        text += decoder.decode(chunk, { stream: true });
        for (const m of text.matchAll(/event: incident\ndata: (.*)\n/g))
          streamed.add((JSON.parse(m[1]!) as { key: string }).key);
      }
    })().catch(() => undefined);
    for (const [i, sw] of SWITCHES.entries()) await send(ds[i % 3]!, [link(sw, 'down')]);
    const keys = SWITCHES.map(linkKey);
    // It shows every agent's, not only the partitions that agent holds.
    await waitFor(() => streamed.size === keys.length, 'every incident on one agent’s stream');
    stream.abort();
    await reading;
    const list = async (d: RunningDaemon) =>
      (
        (await (await fetch(d.apiUrl('/api/v1/incidents?limit=100'))).json()) as {
          items: { id: string; key: string }[];
        }
      ).items;
    // Every agent lists the six, whichever agents hold them.
    for (const d of ds)
      await waitFor(
        async () => new Set((await list(d)).map((i) => i.key)).size === keys.length,
        'every incident listed on every agent',
      );
    // sw-0's incident acknowledged through an agent that does not hold it: its holder applies it.
    const holder = ds.find((d) => changesOf(d).some((c) => c.kind === 'opened' && c.incident.key === linkKey('sw-0')))!;
    const other = ds.find((d) => d !== holder)!;
    const id = (await list(other)).find((i) => i.key === linkKey('sw-0'))!.id;
    const ack = await acknowledge(other, id);
    expect(ack.status, await ack.clone().text()).toBe(200);
    expect(((await ack.json()) as { status: string }).status).toBe('acknowledged');
    await waitFor(
      () => changesOf(holder).some((c) => c.kind === 'acknowledged' && c.incident.id === id),
      'the holder to tell of the acknowledgement',
    );
    // And every agent shows it acknowledged.
    for (const d of ds)
      await waitFor(async () => (await statusOn(d, id)) === 'acknowledged', 'the acknowledgement shown on every agent');
    // An agent that starts now was told of none of them: it shows them as the checkpoints hold them.
    const [late] = await agents.start(withApi, ['node-d']);
    await waitFor(async () => {
      const items = await list(late!);
      return new Set(items.map((i) => i.key)).size === keys.length;
    }, 'every incident listed on the agent started last');
    expect(await statusOn(late!, id)).toBe('acknowledged');
  }, 90_000);

  it('answers an action through another agent while the holder is stalled: the partition’s next holder applies it', async () => {
    const { ds } = await agentsWithApi();
    await send(ds[0]!, [link('sw-0', 'down')]);
    await waitFor(() => allChanges(ds).some((c) => c.kind === 'opened'), 'the incident');
    const holder = ds.find((d) => changesOf(d).some((c) => c.kind === 'opened'))!;
    const other = ds.find((d) => d !== holder)!;
    const id = changesOf(holder).find((c) => c.kind === 'opened')!.incident.id;
    await waitFor(async () => (await fetch(other.apiUrl(`/api/v1/incidents/${id}`))).status === 200, 'shown');
    // The holder stops answering (SIGSTOP): its terms run out within lease_ttl and another agent
    // takes its partitions, reads the action on the stream, and answers it.
    holder.proc.kill('SIGSTOP');
    try {
      const ack = await acknowledge(other, id);
      expect(ack.status, await ack.clone().text()).toBe(200);
      expect(((await ack.json()) as { status: string }).status).toBe('acknowledged');
    } finally {
      holder.proc.kill('SIGCONT');
    }
    const acks = () => allChanges(ds).filter((c) => c.kind === 'acknowledged' && c.incident.id === id);
    await waitFor(() => acks().length > 0, 'the acknowledgement told');
    expect(acks()).toHaveLength(1);
  }, 90_000);

  it('validates inhibition and topology under partitions: they look at the other partitions’ incidents', async () => {
    const prefix = freshPrefix();
    const yaml = config(redis.url, prefix, 'node-a')
      .replace(
        'defaults: { group_wait: 0s, allowed_lateness: 5s, reopen_window: 0s }',
        'defaults: { group_wait: 0s }\n  inhibit: [{ source: [\'rule="link"\'], target: [\'rule="service_errors"\'] }]',
      )
      .replace('  rules:\n', '  topology: {}\n  rules:\n');
    expect(yaml).toContain('inhibit: [');
    expect(yaml).toContain('topology: {}');
    const dir = mkdtempSync(join(tmpdir(), 'vigil-partitions-'));
    writeFileSync(join(dir, 'vigil.yaml'), yaml);
    const { code, stderr, stdout } = await runCli(['validate', '--config', join(dir, 'vigil.yaml')]);
    expect(code, stderr + stdout).toBe(0);
  });
});
