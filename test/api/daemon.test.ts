import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { IncidentChange } from '../../src/model/incident.ts';
import { correlatingConfig, createApiKey, startDaemon, type RunningDaemon } from '../support/daemon.ts';
import { FakeGlpi } from '../support/fakes/glpi.ts';
import { readNdjson } from '../support/ndjson.ts';
import { waitFor } from '../support/waitFor.ts';
import { callApi, SpecChecker } from './harness.ts';

const cleanup: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

/** A daemon that correlates down/up events, opens GLPI tickets, and serves the API on loopback to anonymous operators. */
function config(glpiUrl: string): string {
  const yaml = correlatingConfig(
    `
  tick_interval: 50ms
  defaults: { group_wait: 0s, group_interval: 1s, allowed_lateness: 1h }
  rules:
    - { kind: pair, name: asset_down, group_by: [asset] }
`,
    { id: 'glpi', yaml: `\n  glpi:\n    url: ${glpiUrl}\n    app_token: app-token-1\n    user_token: user-token-1` },
  );
  return `${yaml}\napi:\n  endpoint: 127.0.0.1:0\n  anonymous_role: operator\n`;
}

async function start(yaml: string, dataDir?: string): Promise<RunningDaemon> {
  const d = await startDaemon(yaml, { dataDir });
  cleanup.push(() => d.stop('SIGKILL'));
  return d;
}

async function post(d: RunningDaemon, events: object[]): Promise<void> {
  const res = await fetch(d.url('/v1/events'), {
    method: 'POST',
    body: JSON.stringify(events),
    headers: { 'content-type': 'application/json' },
  });
  expect(await res.json()).toEqual({ accepted: events.length, rejected: [] });
}

type Detail = {
  id: string;
  status: string;
  acknowledged_by: string | null;
  audit: { kind: string; actor: string | null; reason: string }[];
  tickets: { exporter: string; ref: string; url: string | null; resolved: boolean }[];
};

describe("the operators' API in a running daemon", () => {
  it('acknowledges an incident that events opened: the GLPI ticket gets a follow-up, storage the change with its actor, and it stays acknowledged across a crash', async () => {
    const glpi = await new FakeGlpi().listen();
    cleanup.push(() => glpi.close());
    const yaml = config(glpi.apiUrl);
    const first = await start(yaml);
    const base = first.apiUrl('');
    const spec = await SpecChecker.load(base);
    await post(first, [{ asset: 'web-1', type: 'down', title: 'web-1 unreachable', severity: 'CRITICAL' }]);
    await waitFor(() => glpi.tickets.size === 1, 'the GLPI ticket');
    const ticket = [...glpi.tickets.values()][0]!;

    const list = await callApi(base, 'GET', '/api/v1/incidents?state=open');
    spec.check('GET', '/api/v1/incidents', list);
    const [summary] = (list.body as { items: { id: string; title: string }[] }).items;
    expect(summary).toMatchObject({ title: 'web-1 unreachable' });
    const id = summary!.id;
    // GLPI has the ticket before the daemon has its answer: the ledger records it a moment later.
    const detailNow = () => callApi(base, 'GET', `/api/v1/incidents/${id}`);
    await waitFor(async () => ((await detailNow()).body as Detail).tickets.length > 0, 'the ticket in the ledger');
    const detail = await detailNow();
    spec.check('GET', '/api/v1/incidents/{id}', detail);
    expect((detail.body as Detail).tickets).toEqual([
      {
        exporter: 'glpi',
        ref: String(ticket.id),
        url: `${glpi.url}/front/ticket.form.php?id=${ticket.id}`,
        resolved: false,
      },
    ]);

    const ack = await callApi(base, 'POST', `/api/v1/incidents/${id}/acknowledge`, {
      body: { reason: 'rebooting the switch' },
    });
    spec.check('POST', '/api/v1/incidents/{id}/acknowledge', ack);
    expect(ack.body).toMatchObject({ status: 'acknowledged', acknowledged_by: 'anonymous' });
    // The ticket hears of it as a follow-up; no second ticket.
    await waitFor(() => glpi.followups.length === 1, 'the GLPI follow-up');
    expect(glpi.followups[0]).toMatchObject({
      items_id: ticket.id,
      content: expect.stringContaining('acknowledged by anonymous: rebooting the switch'),
    });
    expect(glpi.tickets.size).toBe(1);
    // Storage has the change, with who made it.
    const stored = () => readNdjson<IncidentChange>(join(first.dataDir, 'incidents.ndjson'));
    await waitFor(() => stored().some((c) => c.kind === 'acknowledged'), 'the acknowledged change in storage');
    expect(stored().find((c) => c.kind === 'acknowledged')).toMatchObject({
      actor: 'anonymous',
      notify: true,
      incident: { id, status: 'acknowledged', acknowledgedBy: 'anonymous' },
    });

    // A crash: the core's durable state brings the acknowledgement back.
    await first.stop('SIGKILL');
    const second = await start(yaml, first.dataDir);
    const base2 = second.apiUrl('');
    const after = await callApi(base2, 'GET', `/api/v1/incidents/${id}`);
    spec.check('GET', '/api/v1/incidents/{id}', after);
    expect(after.body).toMatchObject({ id, status: 'acknowledged', acknowledged_by: 'anonymous' });
    expect((after.body as Detail).audit.map((a) => [a.kind, a.actor])).toEqual([
      ['opened', null],
      ['acknowledged', 'anonymous'],
    ]);

    // Resolved by hand after the restart: the same ticket is solved.
    const resolved = await callApi(base2, 'POST', `/api/v1/incidents/${id}/resolve`, {
      body: { reason: 'switch replaced' },
    });
    expect(resolved.body).toMatchObject({ status: 'resolved' });
    await waitFor(() => glpi.solutions.length === 1, 'the GLPI solution');
    expect(glpi.solutions[0]).toMatchObject({
      items_id: ticket.id,
      content: expect.stringContaining('resolved by anonymous: switch replaced'),
    });
    expect(glpi.tickets.size).toBe(1);
    expect(await second.stop()).toBe(0);
  });

  it('authenticates through the authenticator extension when api.auth names it: API keys give the role and the tenant', async () => {
    const yaml = `${correlatingConfig(`
  defaults: { group_wait: 0s, allowed_lateness: 1h }
  rules:
    - { kind: pair, name: asset_down, group_by: [tenant, asset] }
`).replace('service:\n', 'extensions:\n  authenticator:\n    api_keys: {}\nservice:\n  extensions: [authenticator]\n')}
api:
  endpoint: 127.0.0.1:0
  anonymous_role: operator
  auth: { authenticator: authenticator }
`;
    const dataDir = mkdtempSync(join(tmpdir(), 'vigil-api-auth-'));
    const configFile = join(dataDir, 'vigil.yaml');
    writeFileSync(configFile, yaml);
    const key = (name: string, role: string, tenant: string) =>
      createApiKey(configFile, dataDir, { name, role, tenant });
    const acmeOperator = await key('acme-ops', 'operator', 'acme');
    const acmeViewer = await key('acme-dash', 'viewer', 'acme');
    const globexOperator = await key('globex-ops', 'operator', 'globex');
    const d = await start(yaml, dataDir);
    await post(d, [
      { asset: 'web-1', type: 'down', title: 'web-1 unreachable', severity: 'ERROR', tenant: 'acme' },
      { asset: 'web-1', type: 'down', title: 'web-1 unreachable', severity: 'ERROR', tenant: 'globex' },
    ]);
    const base = d.apiUrl('');
    const spec = await SpecChecker.load(base);
    const list = async (as?: string) => callApi(base, 'GET', '/api/v1/incidents', { as });
    await waitFor(
      async () => ((await list(acmeViewer)).body as { items: unknown[] }).items.length === 1,
      'the acme incident',
    );
    // anonymous_role no longer applies: no key, no answer.
    const anonymous = await list();
    spec.check('GET', '/api/v1/incidents', anonymous);
    expect(anonymous.body).toMatchObject({ status: 401, code: 'VIGIL_UNAUTHENTICATED' });
    const [acme] = ((await list(acmeViewer)).body as { items: { id: string; tenant: string }[] }).items;
    expect(acme).toMatchObject({ tenant: 'acme' });
    expect(
      (await callApi(base, 'POST', `/api/v1/incidents/${acme!.id}/acknowledge`, { as: acmeViewer })).body,
    ).toMatchObject({ status: 403, code: 'VIGIL_FORBIDDEN' });
    expect(
      (await callApi(base, 'POST', `/api/v1/incidents/${acme!.id}/acknowledge`, { as: globexOperator })).body,
    ).toMatchObject({ status: 404, code: 'VIGIL_INCIDENT_NOT_FOUND' });
    const ack = await callApi(base, 'POST', `/api/v1/incidents/${acme!.id}/acknowledge`, { as: acmeOperator });
    spec.check('POST', '/api/v1/incidents/{id}/acknowledge', ack);
    expect(ack.body).toMatchObject({ status: 'acknowledged', acknowledged_by: 'acme-ops' });
    // The document says so: every /api/ operation takes a bearer token.
    const doc = (await callApi(base, 'GET', '/openapi.json')).body as {
      paths: Record<string, Record<string, { security: unknown[] }>>;
    };
    expect(doc.paths['/api/v1/incidents']!.get!.security).toEqual([{ bearer: [] }]);
  });
});
