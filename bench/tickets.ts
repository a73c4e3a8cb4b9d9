/**
 * Two measurements of the ticket exporters.
 *
 * `append`: incident changes/s the exporter outbox makes durable (append → journal, optionally
 * fsync), at batch sizes 1 and 100, next to a bare FileHandle append of the same JSON lines
 * measured in the same run. Delivery is not started: this is the cost of acknowledging a change.
 * The two alternate for several rounds and each reports its median, so load from other
 * processes on the machine hits both alike.
 *
 * `storm`: an alert storm. `--incidents` new incidents at `--rate` per second, each handed to
 * six exporters at once as the pipeline's fan-out does (GLPI, Jira Cloud, PagerDuty, Slack,
 * signed JSON, Alertmanager v4, each against its protocol fake in this process, each with its
 * own outbox and ledger, config defaults but for `max_notifications_per_minute: 0`), timed from
 * the hand-over to the first request of that incident the fake reads (the search for its marker
 * for GLPI and Jira, the notification for the others, found by the marker in its body or `webhook-id`); and from the hand-over until
 * `consumeIncidents` resolved (the change on disk, what the pipeline waits for). Twenty
 * incidents go first to warm up (a daemon in a storm has delivered before); the TCP connections
 * the fakes accept during the storm are counted (keep-alive: few).
 *
 * Run: `node bench/tickets.ts [--mode both|append|storm] [--seconds 0.5] [--rounds 3]
 * [--incidents 200] [--rate 100] [--concurrency N] [--fsync true|false] [--group-by LABELS]`.
 * `--group-by n` (or `env`, or `n,env`) routes the storm through a routing tree whose root groups
 * by those labels (`group_wait: 0s`, `group_interval: 10ms`), so each change is also written to
 * the exporters' groups.ndjson before it is accepted: `n` makes a group per incident, `env` one
 * for them all (there an incident counts from its hand-over to its exporter's next request).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { open } from 'node:fs/promises';
import type { Server } from 'node:http';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { glpiExporterSchema } from '../src/exporters/glpi/config.ts';
import { GlpiDriver } from '../src/exporters/glpi/driver.ts';
import { jiraExporterSchema } from '../src/exporters/jira/config.ts';
import { JiraDriver } from '../src/exporters/jira/driver.ts';
import {
  IncidentExporter,
  incidentMarker,
  type IncidentExporterConfig,
  type TicketDriver,
} from '../src/exporters/tickets/incidentExporter.ts';
import { Outbox } from '../src/exporters/tickets/outbox.ts';
import { RoutingTree, routingSchema } from '../src/exporters/tickets/routingTree.ts';
import type { ConfigIssue } from '../src/config/schema.ts';
import { groupOf } from '../src/exporters/tickets/notificationGroups.ts';
import type { Host } from '../src/pipeline/host.ts';
import { webhookExporterSchema } from '../src/exporters/webhook/config.ts';
import { WebhookDriver } from '../src/exporters/webhook/driver.ts';
import type { IncidentChange } from '../src/model/incident.ts';
import { createLogger } from '../src/telemetry/logger.ts';
import { SelfMetrics } from '../src/telemetry/selfMetrics.ts';
import { parseWith } from '../test/exporters/incidentFixtures.ts';
import { FakeGlpi } from '../test/support/fakes/glpi.ts';
import { FakeJira } from '../test/support/fakes/jira.ts';
import { FakePagerDuty } from '../test/support/fakes/pagerduty.ts';
import type { FakeHttpServer, RecordedRequest } from '../test/support/fakes/server.ts';
import { FakeSlack } from '../test/support/fakes/slack.ts';
import { FakeWebhookReceiver } from '../test/support/fakes/webhookReceiver.ts';
import { benchArgs, fmt, median, table } from './support.ts';

const { values } = benchArgs(import.meta.filename, {
  options: {
    mode: { type: 'string', default: 'both' },
    seconds: { type: 'string', default: '0.5' },
    rounds: { type: 'string', default: '3' },
    incidents: { type: 'string', default: '200' },
    rate: { type: 'string', default: '100' },
    concurrency: { type: 'string' },
    fsync: { type: 'string', default: 'true' },
    'group-by': { type: 'string' },
  },
});
const SECONDS = Number(values.seconds);
const ROUNDS = Number(values.rounds);

function change(i: number): IncidentChange {
  const key = `disk-full{host="db-${i % 500}"}`;
  return {
    kind: 'updated',
    reason: 'threshold crossed again',
    atMs: 1_795_000_000_000 + i,
    notify: true,
    eventIds: [`e${i}`],
    incident: {
      key,
      id: `inc-${i % 500}`,
      rule: 'disk-full',
      ruleKind: 'threshold',
      labels: { host: `db-${i % 500}`, env: 'prod' },
      title: 'Disk full',
      status: 'open',
      severityNumber: 17,
      severityText: 'ERROR',
      suppressed: false,
      suppressedBy: '',
      openedAtMs: 1,
      updatedAtMs: 2,
      resolvedAtMs: 0,
      firstSeenMs: 1,
      lastSeenMs: 2,
      eventCount: i,
      sampleEventIds: ['e1', 'e2', 'e3'],
      lastEventType: 'down',
      tenant: 'acme',
      asset: `db-${i % 500}`,
      service: 'postgres',
      version: i,
      audit: [],
    },
  };
}

async function timed(fn: (i: number) => Promise<number>): Promise<number> {
  const deadline = performance.now() + SECONDS * 1000;
  const started = performance.now();
  let n = 0;
  for (let i = 0; performance.now() < deadline; i++) n += await fn(i);
  return n / ((performance.now() - started) / 1000);
}

async function outboxRate(fsync: boolean, batch: number): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'vigil-bench-outbox-'));
  const box = new Outbox<IncidentChange>({
    dir,
    fsync,
    maxAttempts: 1,
    backoff: { initialMs: 1000, maxMs: 1000 },
    concurrency: 1,
    deliver: async () => {},
  });
  await box.open();
  const rate = await timed(async (i) => {
    const items = Array.from({ length: batch }, (_, j) => {
      const c = change(i * batch + j);
      return { key: c.incident.key, payload: c };
    });
    await box.append(items);
    return batch;
  });
  await box.close();
  rmSync(dir, { recursive: true, force: true });
  return rate;
}

async function bareRate(fsync: boolean, batch: number): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'vigil-bench-bare-'));
  const h = await open(join(dir, 'bare.ndjson'), 'a');
  const rate = await timed(async (i) => {
    let text = '';
    for (let j = 0; j < batch; j++) text += JSON.stringify(change(i * batch + j)) + '\n';
    await h.write(text);
    if (fsync) await h.sync();
    return batch;
  });
  await h.close();
  rmSync(dir, { recursive: true, force: true });
  return rate;
}

async function appendTable(): Promise<void> {
  const rows: (string | number)[][] = [];
  for (const fsync of [false, true]) {
    for (const batch of [1, 100]) {
      const bares: number[] = [];
      const boxes: number[] = [];
      for (let r = 0; r < ROUNDS; r++) {
        bares.push(await bareRate(fsync, batch));
        boxes.push(await outboxRate(fsync, batch));
      }
      const bare = median(bares);
      const box = median(boxes);
      rows.push([fsync ? 'on' : 'off', batch, fmt(bare), fmt(box), `${(box / bare).toFixed(2)}×`]);
    }
  }
  console.log(table(['fsync', 'batch', 'bare append changes/s', 'outbox changes/s', 'outbox / bare'], rows));
}

const PD_KEY = 'R0123456789abcdef0123456789abcde';
const WEBHOOK_SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';

/** The storm's exporter ids, as stormTargets() makes them. */
const STORM_IDS = ['glpi', 'jira', 'pagerduty', 'slack', 'json', 'alertmanager'];

interface StormTarget {
  name: string;
  fake: FakeHttpServer;
  exporter: (dataDir: string) => IncidentExporter;
}

/** The six destinations, each a listening fake and how to make its exporter with `delivery` on top of the defaults. */
async function stormTargets(delivery: Record<string, unknown>): Promise<StormTarget[]> {
  const make = (id: string, config: IncidentExporterConfig, driver: TicketDriver) => (dataDir: string) =>
    new IncidentExporter({ id, logger: createLogger('silent'), metrics: new SelfMetrics(), dataDir }, config, driver, {
      random: () => 0.5,
    });
  const glpi = await new FakeGlpi().listen();
  const jira = await new FakeJira('cloud').listen();
  const pd = await new FakePagerDuty(PD_KEY).listen();
  const slack = await new FakeSlack().listen();
  const signed = await new FakeWebhookReceiver({ secret: WEBHOOK_SECRET }).listen();
  const am = await new FakeWebhookReceiver().listen();
  const glpiConfig = parseWith(glpiExporterSchema, { ...glpi.exporterConfig, delivery });
  const jiraConfig = parseWith(jiraExporterSchema, {
    url: jira.url,
    project: 'OPS',
    api_version: jira.version,
    email: 'ops@example.com',
    api_token: 'api-token-1',
    delivery,
  });
  const hook = (raw: Record<string, unknown>) => parseWith(webhookExporterSchema, { ...raw, delivery });
  const pdConfig = hook({ url: pd.enqueueUrl, format: 'pagerduty', routing_key: PD_KEY });
  const slackConfig = hook({ url: slack.webhookUrl, format: 'slack' });
  const signedConfig = hook({ url: `${signed.url}/hooks/vigil`, secret: WEBHOOK_SECRET });
  const amConfig = hook({ url: `${am.url}/alerts`, format: 'alertmanager' });
  return [
    { name: 'GLPI', fake: glpi, exporter: make('glpi', glpiConfig, new GlpiDriver(glpiConfig)) },
    { name: 'Jira Cloud', fake: jira, exporter: make('jira', jiraConfig, new JiraDriver(jiraConfig)) },
    { name: 'PagerDuty', fake: pd, exporter: make('pagerduty', pdConfig, new WebhookDriver(pdConfig)) },
    { name: 'Slack', fake: slack, exporter: make('slack', slackConfig, new WebhookDriver(slackConfig)) },
    { name: 'signed JSON', fake: signed, exporter: make('json', signedConfig, new WebhookDriver(signedConfig)) },
    { name: 'Alertmanager v4', fake: am, exporter: make('alertmanager', amConfig, new WebhookDriver(amConfig)) },
  ];
}

/** A routing tree that sends everything to every exporter, grouped by `groupBy`, each group flushed at once and then every 10 ms. */
function groupingTree(groupBy: string[], ids: string[]): RoutingTree {
  const raw = {
    receiver: 'all',
    group_by: groupBy,
    group_wait: '0s',
    group_interval: '10ms',
    receivers: [{ name: 'all', exporters: ids }],
  };
  const issues: ConfigIssue[] = [];
  const tree = RoutingTree.compile(parseWith(routingSchema, raw), 'routing', new Set(ids), issues);
  if (!tree) throw new Error(issues.map((i) => `${i.path}: ${i.message}`).join('\n'));
  return tree;
}

function stormChange(i: number): IncidentChange {
  const c = change(i);
  const key = `storm{n="${String(i).padStart(6, '0')}"}`;
  c.kind = 'opened';
  c.incident = { ...c.incident, key, id: `storm-${i}`, labels: { n: String(i), env: 'prod' }, version: 1 };
  return c;
}

function percentile(sorted: number[], p: number): number {
  return sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
const ms = (n: number | undefined) => (n === undefined || Number.isNaN(n) ? '–' : n.toFixed(1));

async function stormTable(): Promise<void> {
  const incidents = Number(values.incidents);
  const rate = Number(values.rate);
  const delivery: Record<string, unknown> = { max_notifications_per_minute: 0, fsync: values.fsync !== 'false' };
  if (values.concurrency) delivery.concurrency = Number(values.concurrency);
  const targets = await stormTargets(delivery);
  const root = mkdtempSync(join(tmpdir(), 'vigil-bench-storm-'));
  const exporters = targets.map((t) => t.exporter(join(root, t.name.replace(/\W+/g, '-'))));
  const groupBy = values['group-by']?.split(',');
  const host = groupBy && ({ routingTree: groupingTree(groupBy, STORM_IDS) } as Host);
  for (const e of exporters) await e.start(host);
  // A daemon in a storm has delivered before: HTTP client code loaded, the JIT warm, sessions open.
  const warmUp = Array.from({ length: 20 }, (_, i) => stormChange(incidents + i));
  await Promise.all(exporters.map((e) => e.consumeIncidents(warmUp)));
  await Promise.all(exporters.map((e) => e.outbox.whenIdle()));
  const connections = targets.map(() => 0);
  targets.forEach((t, ti) =>
    (t.fake as unknown as { server: Server }).server.on('connection', () => connections[ti]!++),
  );

  const changes = Array.from({ length: incidents }, (_, i) => stormChange(i));
  // The first request of an incident names it: GLPI and Jira search for the marker, the messages carry it.
  // Grouped, the first request names the incident's group (one per incident with `--group-by n`).
  const grouping = groupBy && { routeKey: '{}', by: [...groupBy].sort(), waitMs: 0, intervalMs: 0, repeatMs: 0 };
  const markerKey = (c: IncidentChange) => (grouping ? groupOf(grouping, c.incident).key : c.incident.key);
  const byMarker = new Map(changes.map((c, i) => [incidentMarker(markerKey(c)), i]));
  const handedAt = new Float64Array(incidents);
  const first = targets.map(() => new Float64Array(incidents).fill(NaN));
  const acked: number[] = [];
  let seen = 0;
  // Incidents that share a group (`--group-by env`) are sent under the group's ticket, which the
  // warm-up opened: later requests name the ticket, not the group. There each incident counts from
  // its hand-over to the exporter's next request.
  const shared = grouping !== undefined && byMarker.size < incidents;
  let handed = 0;
  const nextUnseen = targets.map(() => 0);
  targets.forEach((t, ti) => {
    t.fake.onRequest = (r: RecordedRequest) => {
      const at = performance.now();
      if (shared) {
        for (let i = nextUnseen[ti]!; i < handed; i++) first[ti]![i] = at - handedAt[i]!;
        seen += handed - nextUnseen[ti]!;
        nextUnseen[ti] = handed;
        return;
      }
      const m = /vigil-[0-9a-f]{16}/.exec(
        `${r.path}?${r.query.toString()} ${String(r.headers['webhook-id'] ?? '')} ${r.body}`,
      );
      const i = m ? byMarker.get(m[0]) : undefined;
      if (i === undefined || !Number.isNaN(first[ti]![i])) return;
      first[ti]![i] = at - handedAt[i]!;
      seen++;
    };
  });

  const started = performance.now();
  const cpuBefore = process.cpuUsage();
  const pending: Promise<void>[] = [];
  for (let i = 0; i < incidents; i++) {
    const due = started + (i * 1000) / rate;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    handedAt[i] = performance.now();
    handed = i + 1;
    const batch = [changes[i]!];
    pending.push(
      Promise.all(exporters.map((e) => e.consumeIncidents(batch))).then(() => {
        acked.push(performance.now() - handedAt[i]!);
      }),
    );
  }
  await Promise.all(pending);
  const deadline = performance.now() + 60_000;
  while (seen < incidents * targets.length && performance.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  await Promise.all(exporters.map((e) => e.outbox.whenIdle()));
  const cpu = process.cpuUsage(cpuBefore);
  const wallS = (performance.now() - started) / 1000;
  for (const e of exporters) await e.shutdown();
  for (const t of targets) await t.fake.close();
  rmSync(root, { recursive: true, force: true });

  const rows: (string | number)[][] = [];
  /** A row of latencies in ms: how many were seen of `of`, then p50, p99 and the slowest. */
  const row = (name: string, xs: number[], of: number, conns: number | string) => {
    xs.sort((x, y) => x - y);
    rows.push([name, `${xs.length}/${of}`, conns, ms(percentile(xs, 50)), ms(percentile(xs, 99)), ms(xs.at(-1))]);
  };
  const all: number[] = [];
  targets.forEach((t, ti) => {
    const xs = [...first[ti]!].filter((x) => !Number.isNaN(x));
    all.push(...xs);
    row(t.name, xs, incidents, connections[ti]!);
  });
  row('**all six**', all, incidents * targets.length, sum(connections));
  row('accepted (consumeIncidents resolved, all six)', acked, incidents, '');
  console.log(
    `${incidents} incidents at ${rate}/s to six exporters, delivery ${JSON.stringify(delivery)}${groupBy ? `, grouped by ${groupBy.join(',')}` : ''}; storm took ${wallS.toFixed(2)} s, ${((cpu.user + cpu.system) / 1e6).toFixed(2)} CPU-s of this process (exporters and fakes); load average ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}`,
  );
  console.log(table(['event → first request', 'seen', 'new connections', 'p50 ms', 'p99 ms', 'max ms'], rows));
}

if (values.mode !== 'storm') await appendTable();
if (values.mode !== 'append') await stormTable();
