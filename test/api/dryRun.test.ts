import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RuleReplayer } from '../../src/api/dryRunRoutes.ts';
import { registry } from '../../src/components.ts';
import { parseConfig } from '../../src/service/config/load.ts';
import { replayAsDaemon } from '../../src/service/rulesReplay.ts';
import { FakeAuthenticator, SpecChecker, startApi, type RunningApi } from './harness.ts';

/** A daemon's config: the JSON receiver, a tag processor that decides down and up from the body, two rules. */
const CONFIG = parseConfig(
  `
receivers: { json: { endpoint: 127.0.0.1:0 } }
processors:
  tag:
    rules:
      - { where: 'IsMatch(body, "unreachable")', type: down, severity: critical }
      - { where: 'IsMatch(body, "reachable again")', type: up, severity: info }
exporters: { debug: {} }
correlation:
  defaults: { group_wait: 0s, group_interval: 0s, allowed_lateness: 1h }
  topology: { parent: 'attributes["parent"]' }
  rules:
    - { kind: pair, name: host_down, match: 'attributes["kind"] == "host"', group_by: [tenant, asset] }
    - { kind: pair, name: link_down, match: 'attributes["kind"] == "link"', group_by: [tenant, asset] }
service:
  pipelines:
    logs: { receivers: [json], processors: [tag], exporters: [correlation] }
    incidents: { exporters: [debug] }
`,
  registry,
);
const dataDir = mkdtempSync(join(tmpdir(), 'vigil-dry-run-'));
const replayer: RuleReplayer = {
  ruleNames: () => CONFIG.correlation!.rules.map((r) => r.name),
  replay: (text, afterMs, tenant) => replayAsDaemon(CONFIG, registry, text, afterMs, dataDir, { tenant }),
};

const auth = new FakeAuthenticator()
  .add('op', { subject: 'alice', role: 'operator' })
  .add('viewer', { subject: 'victor', role: 'viewer' })
  .add('acme-op', { subject: 'ann', role: 'operator', tenant: 'acme' });

let api: RunningApi;
let spec: SpecChecker;
beforeAll(async () => {
  api = await startApi({ desk: () => undefined, authenticator: auth, replayer: () => replayer });
  spec = await SpecChecker.load(api.base);
});
afterAll(() => api?.close());

const event = (s: number, asset: string, body: string, kind = 'host', extra: object = {}) => ({
  time: new Date(Date.UTC(2026, 10, 2, 10, 0, s)).toISOString(),
  asset,
  body,
  title: `${asset}: ${body}`,
  attributes: { kind },
  ...extra,
});

type Timeline = {
  changes: { time: string; kind: string; notify: boolean; incident: { key: string; status: string; tenant: string } }[];
  stats: { events: number; ignored: unknown[] };
  rejected: { line: number; reason: string }[];
  pipeline: { name?: string; processors: string[] };
};

async function dryRun(body: unknown, opts: { as?: string; query?: string; contentType?: string } = {}) {
  const path = `/api/v1/rules/dry-run${opts.query ? `?${opts.query}` : ''}`;
  const answer =
    typeof body === 'string'
      ? await api.call('POST', path, {
          as: opts.as ?? 'op',
          headers: { 'content-type': opts.contentType ?? 'application/x-ndjson' },
          raw: body,
        })
      : await api.call('POST', path, { as: opts.as ?? 'op', body });
  spec.check('POST', '/api/v1/rules/dry-run', answer);
  return answer;
}

describe('rule dry run', () => {
  it('answers the timeline the running rules make of posted events, through the pipeline processors, as vigil rules test does', async () => {
    const events = [
      event(0, 'web-1', 'web-1 unreachable'),
      event(5, 'sw-1', 'sw-1 unreachable', 'link'),
      event(30, 'web-1', 'web-1 reachable again'),
    ];
    const answer = await dryRun(events);
    expect(answer.status, JSON.stringify(answer.body)).toBe(200);
    const timeline = answer.body as Timeline;
    expect(timeline.changes.map((c) => [c.time, c.kind, c.incident.key, c.incident.status])).toEqual([
      ['2026-11-02T10:00:00.000Z', 'opened', 'host_down{asset="web-1",tenant=""}', 'open'],
      ['2026-11-02T10:00:05.000Z', 'opened', 'link_down{asset="sw-1",tenant=""}', 'open'],
      ['2026-11-02T10:00:30.000Z', 'resolved', 'host_down{asset="web-1",tenant=""}', 'resolved'],
    ]);
    expect(timeline.pipeline).toEqual({ name: 'logs', receiver: 'json', processors: ['tag'] });
    expect(timeline.stats).toMatchObject({ events: 3 });
    expect(timeline.rejected).toEqual([]);
    // The same code as the CLI: the same events as NDJSON give the same timeline.
    const cli = await replayAsDaemon(
      CONFIG,
      registry,
      events.map((e) => JSON.stringify(e)).join('\n'),
      600_000,
      dataDir,
    );
    expect(timeline.changes.map((c) => `${c.kind} ${c.incident.key}`)).toEqual(
      cli.changes.map((c) => `${c.kind} ${c.incident.key}`),
    );
  });

  it("tells each incident's asset parent from the topology, as the incident list does", async () => {
    const answer = await dryRun([
      event(0, 'web-2', 'web-2 unreachable', 'host', { attributes: { kind: 'host', parent: 'sw-2' } }),
      event(5, 'sw-3', 'sw-3 unreachable', 'link'),
    ]);
    expect(answer.status, JSON.stringify(answer.body)).toBe(200);
    const changes = (answer.body as { changes: { incident: { key: string; parent: string } }[] }).changes;
    expect(changes.map((c) => [c.incident.key, c.incident.parent])).toEqual([
      ['host_down{asset="web-2",tenant=""}', 'sw-2'],
      ['link_down{asset="sw-3",tenant=""}', ''],
    ]);
  });

  it('takes NDJSON, tells the lines it could not read, and answers only the rules asked for', async () => {
    const ndjson = [
      JSON.stringify(event(0, 'web-1', 'web-1 unreachable')),
      'not json',
      JSON.stringify(event(1, 'sw-1', 'sw-1 unreachable', 'link')),
      '',
      JSON.stringify({ asset: 'x' }),
    ].join('\n');
    const answer = await dryRun(ndjson, { query: 'rule=link_down&after_seconds=0' });
    expect(answer.status, JSON.stringify(answer.body)).toBe(200);
    const timeline = answer.body as Timeline;
    expect(timeline.changes.map((c) => c.incident.key)).toEqual(['link_down{asset="sw-1",tenant=""}']);
    expect(timeline.rejected.map((r) => r.line)).toEqual([2, 5]);
    expect(timeline.rejected[0]!.reason).toMatch(/not JSON/);

    const unknown = await dryRun([], { query: 'rule=link_down,disk_full' });
    expect(unknown.status).toBe(400);
    expect(unknown.body).toMatchObject({
      code: 'VIGIL_INVALID_REQUEST',
      detail: expect.stringContaining('disk_full'),
      errors: [{ path: 'querystring/rule' }],
    });
  });

  it("stamps a tenant caller's events with its tenant, whatever the body says", async () => {
    const answer = await dryRun([event(0, 'web-1', 'web-1 unreachable', 'host', { tenant: 'globex' })], {
      as: 'acme-op',
    });
    expect((answer.body as Timeline).changes.map((c) => c.incident.tenant)).toEqual(['acme']);
  });

  it('refuses a stranger (401), a viewer (403), a body too large (413), of another type (415) or with too many events (400)', async () => {
    const body = [event(0, 'web-1', 'web-1 unreachable')];
    expect((await dryRun(body, { as: 'nobody' })).status).toBe(401);
    const viewer = await dryRun(body, { as: 'viewer' });
    expect(viewer.status).toBe(403);
    expect(viewer.body).toMatchObject({ code: 'VIGIL_FORBIDDEN' });
    const huge = await dryRun('x'.repeat(1024 * 1024 + 1));
    expect(huge.status).toBe(413);
    expect(huge.body).toMatchObject({ code: 'VIGIL_PAYLOAD_TOO_LARGE' });
    expect((await dryRun('{}', { contentType: 'text/plain' })).status).toBe(415);
    const many = await dryRun(Array.from({ length: 10_001 }, () => ({})));
    expect(many.status).toBe(400);
    expect(many.body).toMatchObject({ code: 'VIGIL_INVALID_REQUEST' });
    const manyLines = await dryRun('{}\n'.repeat(10_001));
    expect(manyLines.status).toBe(400);
  });

  it('answers 503 where no rules are configured', async () => {
    const bare = await startApi({ desk: () => undefined, anonymousRole: 'operator' });
    try {
      const answer = await bare.call('POST', '/api/v1/rules/dry-run', { body: [] });
      expect(answer.status).toBe(503);
      expect(answer.body).toMatchObject({ code: 'VIGIL_RULES_UNAVAILABLE' });
    } finally {
      await bare.close();
    }
  });
});
