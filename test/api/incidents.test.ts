import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { CorrelationEngine } from '../../src/correlation/engine.ts';
import type { IncidentChange } from '../../src/model/incident.ts';
import { engineFrom, ev } from '../support/correlation.ts';
import { engineDesk, FakeAuthenticator, SpecChecker, startApi, type RunningApi } from './harness.ts';

const RULES = `
defaults: { allowed_lateness: 1h, group_wait: 0s, group_interval: 1m, reopen_window: 5m }
rules:
  - { kind: pair, name: link_down, group_by: [tenant, asset], match: 'severity_number < SEVERITY_NUMBER_FATAL' }
  - { kind: pair, name: disk_down, group_by: [tenant, asset], match: 'severity_number >= SEVERITY_NUMBER_FATAL' }
`;
const T0 = Date.parse('2026-12-01T10:00:00Z');

interface World {
  engine: CorrelationEngine;
  api: RunningApi;
  spec: SpecChecker;
  delivered: IncidentChange[];
  clock: { now: number };
}

const auth = new FakeAuthenticator()
  .add('admin', { subject: 'root', role: 'admin' })
  .add('op', { subject: 'alice', role: 'operator' })
  .add('viewer', { subject: 'victor', role: 'viewer' })
  .add('acme-op', { subject: 'ann', role: 'operator', tenant: 'acme' })
  .add('acme-viewer', { subject: 'avery', role: 'viewer', tenant: 'acme' })
  .add('globex-op', { subject: 'gus', role: 'operator', tenant: 'globex' });

let world: World;
const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

async function start(
  engine = engineFrom(RULES),
  opts: { authenticator?: FakeAuthenticator | undefined; anonymousRole?: string } = { authenticator: auth },
): Promise<World> {
  const clock = { now: T0 + 3_600_000 };
  const delivered: IncidentChange[] = [];
  const api = await startApi({
    desk: () => engineDesk(engine, () => clock.now, delivered),
    authenticator: opts.authenticator,
    anonymousRole: opts.anonymousRole,
  });
  cleanup.push(() => api.close());
  return { engine, api, spec: await SpecChecker.load(api.base), delivered, clock };
}

/** Opens an incident per (tenant, asset) at T0 + i minutes; returns their ids in that order. */
function open(engine: CorrelationEngine, groups: { tenant: string; asset: string; severity?: number }[]): string[] {
  return groups.map((g, i) => {
    const t = T0 + i * 60_000;
    const out = engine.process(
      [
        ev(t, {
          tenant: g.tenant,
          asset: g.asset,
          type: 'down',
          severityNumber: g.severity ?? 17,
          severityText: g.severity === 21 ? 'FATAL' : 'ERROR',
          title: `${g.asset} down`,
          service: `svc-${g.asset}`,
          attributes: {},
        }),
      ],
      t,
    );
    const opened = out.find((c) => c.kind === 'opened')!;
    return opened.incident.id;
  });
}

/** Calls and checks the answer against the served document. */
async function checked(
  method: string,
  template: string,
  params: Record<string, string>,
  opts: { as?: string; body?: unknown; query?: string } = {},
) {
  const path =
    template.replace(/\{(\w+)\}/g, (_, k: string) => encodeURIComponent(params[k]!)) +
    (opts.query ? `?${opts.query}` : '');
  const answer = await world.api.call(method, path, opts);
  world.spec.check(method, template, answer);
  return answer;
}

const INCIDENT = '/api/v1/incidents/{id}';
const LIST = '/api/v1/incidents';

describe("operators' API: incidents", () => {
  beforeEach(async () => {
    world = await start();
  });

  it('answers every operation with bodies valid against its own OpenAPI document, and every declared operation is reachable', async () => {
    const [a, b, c] = open(world.engine, [
      { tenant: 'acme', asset: 'sw-1' },
      { tenant: 'acme', asset: 'db-1', severity: 21 },
      { tenant: 'globex', asset: 'sw-9' },
    ]);
    const list = await checked('GET', LIST, {}, { as: 'viewer' });
    expect((list.body as { items: { id: string }[] }).items.map((i) => i.id).sort()).toEqual([a, b, c].sort());
    const one = await checked('GET', INCIDENT, { id: a! }, { as: 'viewer' });
    expect(one.body).toMatchObject({
      id: a,
      status: 'open',
      tenant: 'acme',
      asset: 'sw-1',
      audit: [{ kind: 'opened', actor: null }],
      tickets: [],
    });
    expect((one.body as { sample_event_ids: string[] }).sample_event_ids).toHaveLength(1);
    expect((one.body as { rule_definition: unknown }).rule_definition).toMatchObject({
      name: 'link_down',
      kind: 'pair',
    });
    const rules = await checked('GET', '/api/v1/rules', {}, { as: 'acme-viewer' });
    expect((rules.body as { items: { name: string }[] }).items.map((r) => r.name)).toEqual(['link_down', 'disk_down']);
    // No metrics registry here: no component to tell of (pipelineHealth.test.ts has the figures).
    const health = await checked('GET', '/api/v1/stats/pipeline', {}, { as: 'viewer' });
    expect(health.body).toEqual({ receivers: [], pipelines: [], exporters: [] });

    const ack = await checked('POST', `${INCIDENT}/acknowledge`, { id: a! }, { as: 'op', body: { reason: 'on it' } });
    expect(ack.body).toMatchObject({
      status: 'acknowledged',
      acknowledged_by: 'alice',
      audit: [{ kind: 'opened' }, { kind: 'acknowledged', actor: 'alice', reason: 'acknowledged by alice: on it' }],
    });
    const commented = await checked(
      'POST',
      `${INCIDENT}/comments`,
      { id: a! },
      { as: 'op', body: { text: 'cable replaced' } },
    );
    expect((commented.body as { audit: unknown[] }).audit.at(-1)).toEqual({
      at: expect.any(String),
      kind: 'commented',
      reason: 'comment by alice: cable replaced',
      actor: 'alice',
    });
    const assigned = await checked('PUT', `${INCIDENT}/assignee`, { id: a! }, { as: 'op', body: { assignee: 'bob' } });
    expect(assigned.body).toMatchObject({ assignee: 'bob' });
    // No body at all is an empty one for the actions whose fields are all optional.
    const resolved = await checked('POST', `${INCIDENT}/resolve`, { id: a! }, { as: 'op' });
    expect(resolved.body).toMatchObject({ status: 'resolved', resolved_at: expect.any(String) });
    const reopened = await checked(
      'POST',
      `${INCIDENT}/reopen`,
      { id: a! },
      { as: 'op', body: { reason: 'not fixed' } },
    );
    expect(reopened.body).toMatchObject({ status: 'open', resolved_at: null, acknowledged_by: null, assignee: 'bob' });
    // Each action went out as a change with its actor, as the rules' changes do.
    expect(world.delivered.map((ch) => [ch.kind, ch.actor])).toEqual([
      ['acknowledged', 'alice'],
      ['commented', 'alice'],
      ['assigned', 'alice'],
      ['resolved', 'alice'],
      ['reopened', 'alice'],
    ]);

    // Silences, as Alertmanager's API v2 shapes them.
    const window = {
      startsAt: new Date(world.clock.now).toISOString(),
      endsAt: new Date(world.clock.now + 3_600_000).toISOString(),
    };
    const posted = await checked(
      'POST',
      '/api/v2/silences',
      {},
      {
        as: 'op',
        body: {
          matchers: [{ name: 'asset', value: 'sw-9', isRegex: false }],
          ...window,
          createdBy: 'alice',
          comment: 'switch swap',
        },
      },
    );
    const silenceID = (posted.body as { silenceID: string }).silenceID;
    expect((await checked('GET', '/api/v2/silences', {}, { as: 'viewer' })).body).toEqual([
      {
        id: silenceID,
        status: { state: 'active' },
        updatedAt: window.startsAt,
        matchers: [{ name: 'asset', value: 'sw-9', isRegex: false, isEqual: true }],
        ...window,
        createdBy: 'alice',
        comment: 'switch swap',
      },
    ]);
    expect((await checked('GET', INCIDENT, { id: c! }, { as: 'viewer' })).body).toMatchObject({
      suppressed: true,
      suppressed_by: `silence:${silenceID}`,
    });
    await checked('DELETE', '/api/v2/silence/{silenceID}', { silenceID }, { as: 'op' });
    expect((await checked('GET', '/api/v2/silence/{silenceID}', { silenceID }, { as: 'viewer' })).body).toMatchObject({
      id: silenceID,
      status: { state: 'expired' },
    });
    // Maintenance windows: silences that recur (maintenance.test.ts tries them across clock changes).
    const made = await checked(
      'POST',
      '/api/v1/maintenance-windows',
      {},
      {
        as: 'op',
        body: {
          matchers: [{ name: 'asset', value: 'sw-9', isRegex: false }],
          days: ['sun'],
          start: '02:00',
          end: '04:00',
          timezone: 'Europe/Paris',
        },
      },
    );
    expect(made.status).toBe(201);
    const windowId = (made.body as { id: string }).id;
    expect((await checked('GET', '/api/v1/maintenance-windows', {}, { as: 'viewer' })).body).toMatchObject([
      { id: windowId, status: 'active' },
    ]);
    expect((await checked('GET', '/api/v1/maintenance-windows/{id}', { id: windowId }, { as: 'viewer' })).status).toBe(
      200,
    );
    expect(
      (await checked('DELETE', '/api/v1/maintenance-windows/{id}', { id: windowId }, { as: 'op' })).body,
    ).toMatchObject({ status: 'expired' });
    expect((await checked('GET', '/api/v2/status', {}, { as: 'viewer' })).body).toMatchObject({
      cluster: { status: 'disabled' },
      versionInfo: { version: expect.any(String) },
    });

    expect((await checked('GET', '/api/v1/whoami', {}, { as: 'viewer' })).body).toMatchObject({ role: 'viewer' });
    const overview = await checked(
      'GET',
      '/api/v1/stats/overview',
      {},
      { as: 'viewer', query: `from=${new Date(T0).toISOString()}&to=${new Date(T0 + 3_600_000).toISOString()}` },
    );
    const openNow = await checked('GET', LIST, {}, { as: 'viewer', query: 'state=open,acknowledged&limit=1000' });
    expect(overview.body).toMatchObject({
      event_store: false,
      open_incidents: { total: (openNow.body as { items: unknown[] }).items.length },
    });

    const spec = await world.api.call('GET', '/openapi.json');
    expect(spec.body).toMatchObject({ openapi: '3.1.0' });
    world.spec.check('GET', '/openapi.json', spec);
    const docs = await world.api.call('GET', '/docs');
    world.spec.check('GET', '/docs', docs);
    expect(docs.headers.get('content-security-policy')).toBe("default-src 'none'");
    expect(docs.body).not.toMatch(/<script|<style|https?:\/\/(?!127)/);
    for (const op of world.spec.operations()) expect(docs.body).toContain(`${op.method.toUpperCase()} ${op.path}`);
    // Every operation in the document was called and answered 200, but those reading the event
    // store and the rules, which this API has none of (events.test.ts and topology.test.ts answer
    // them from embedded ClickHouse, dryRun.test.ts from a configuration's rules).
    expect(
      world.spec
        .operations()
        .filter(
          (o) =>
            !o.path.startsWith('/api/v1/events') &&
            o.path !== '/api/v1/rules/dry-run' &&
            o.path !== '/api/v1/services/dependencies',
        )
        .map(
          (o) => `${o.method} ${o.path} ${o.path === '/api/v1/maintenance-windows' && o.method === 'post' ? 201 : 200}`,
        )
        .filter((k) => !world.spec.seen.has(k)),
    ).toEqual([]);
  });

  it('answers 401 with a problem for every authenticated operation when the authenticator refuses', async () => {
    const [id] = open(world.engine, [{ tenant: 'acme', asset: 'sw-1' }]);
    const ops = world.spec.operations().filter((o) => o.path.startsWith('/api/'));
    expect(ops.length).toBeGreaterThanOrEqual(7);
    for (const { method, path } of ops) {
      for (const as of [undefined, 'stolen']) {
        const answer = await checked(
          method.toUpperCase(),
          path,
          { id: id! },
          { as, body: method === 'get' ? undefined : { text: 'x', assignee: 'x' } },
        );
        expect(answer.status, `${method} ${path}`).toBe(401);
        expect(answer.body).toMatchObject({
          code: 'VIGIL_UNAUTHENTICATED',
          type: 'urn:vigil:problem:VIGIL_UNAUTHENTICATED',
          status: 401,
        });
        expect(answer.headers.get('www-authenticate')).toBe('Bearer');
      }
    }
    expect(world.delivered).toEqual([]);
  });

  it('answers 403 to a viewer on every mutating operation, before looking at its body, and changes nothing', async () => {
    const [id] = open(world.engine, [{ tenant: 'acme', asset: 'sw-1' }]);
    const mutating = world.spec.operations().filter((o) => o.method !== 'get');
    expect(mutating.map((o) => o.path).sort()).toEqual([
      ...['acknowledge', 'assignee', 'comments', 'reopen', 'resolve'].map((p) => `${INCIDENT}/${p}`),
      '/api/v1/maintenance-windows',
      '/api/v1/maintenance-windows/{id}',
      '/api/v1/rules/dry-run',
      '/api/v2/silence/{silenceID}',
      '/api/v2/silences',
    ]);
    for (const { method, path } of mutating) {
      for (const [as, body] of [
        ['viewer', {}],
        ['acme-viewer', { nonsense: true }],
      ] as const) {
        const answer = await checked(method.toUpperCase(), path, { id: id! }, { as, body });
        expect(answer.status, `${method} ${path} as ${as}`).toBe(403);
        expect(answer.body).toMatchObject({
          code: 'VIGIL_FORBIDDEN',
          detail: 'this action needs the operator role; the caller has viewer',
        });
      }
      // An admin may do what an operator may.
    }
    expect(world.delivered).toEqual([]);
    expect((await checked('POST', `${INCIDENT}/acknowledge`, { id: id! }, { as: 'admin' })).status).toBe(200);
  });

  it("hides another tenant's incident as if it did not exist: 404 for reads and every action, the same answer as an unknown id", async () => {
    const [acme, globex] = open(world.engine, [
      { tenant: 'acme', asset: 'sw-1' },
      { tenant: 'globex', asset: 'sw-1' },
    ]);
    const unknown = await checked('GET', INCIDENT, { id: 'f'.repeat(32) }, { as: 'acme-op' });
    expect(unknown.status).toBe(404);
    for (const [method, path, body] of [
      ['GET', INCIDENT, undefined],
      ['POST', `${INCIDENT}/acknowledge`, {}],
      ['POST', `${INCIDENT}/resolve`, {}],
      ['POST', `${INCIDENT}/reopen`, {}],
      ['POST', `${INCIDENT}/comments`, { text: 'hi' }],
      ['PUT', `${INCIDENT}/assignee`, { assignee: 'ann' }],
    ] as const) {
      const answer = await checked(method, path, { id: globex! }, { as: 'acme-op', body });
      expect(answer.status, `${method} ${path}`).toBe(404);
      expect(answer.body).toEqual({ ...(unknown.body as object), detail: `no incident has id ${globex}` });
    }
    const list = await checked('GET', LIST, {}, { as: 'acme-op', query: 'tenant=globex' });
    expect(list.body).toEqual({ items: [], next_cursor: null });
    expect((await checked('GET', LIST, {}, { as: 'acme-op' })).body).toMatchObject({ items: [{ id: acme }] });
    expect(world.delivered).toEqual([]);
    // A principal without a tenant sees both and may pick one.
    expect((await checked('GET', LIST, {}, { as: 'viewer', query: 'tenant=globex' })).body).toMatchObject({
      items: [{ id: globex }],
    });
  });

  it("answers what the incident's state forbids with 409 and a stable code, and an unknown id with 404", async () => {
    const [id] = open(world.engine, [{ tenant: 'acme', asset: 'sw-1' }]);
    const act = (path: string, body: unknown = {}) =>
      checked('POST', `${INCIDENT}/${path}`, { id: id! }, { as: 'op', body });
    expect((await act('reopen')).body).toMatchObject({ status: 409, code: 'VIGIL_INCIDENT_NOT_RESOLVED' });
    await act('acknowledge');
    expect((await act('acknowledge')).body).toMatchObject({
      status: 409,
      code: 'VIGIL_INCIDENT_ALREADY_ACKNOWLEDGED',
      detail: expect.stringContaining('alice'),
    });
    await act('resolve');
    for (const path of ['resolve', 'acknowledge'])
      expect((await act(path)).body).toMatchObject({ status: 409, code: 'VIGIL_INCIDENT_RESOLVED' });
    expect(
      (await checked('PUT', `${INCIDENT}/assignee`, { id: id! }, { as: 'op', body: { assignee: 'bob' } })).body,
    ).toMatchObject({ status: 409, code: 'VIGIL_INCIDENT_RESOLVED' });
    expect((await act('comments', { text: 'post-mortem' })).status).toBe(200);
    expect((await checked('POST', `${INCIDENT}/acknowledge`, { id: 'nope' }, { as: 'op' })).body).toMatchObject({
      status: 404,
      code: 'VIGIL_INCIDENT_NOT_FOUND',
    });
  });

  it('answers every malformed request with a problem document: validation, unknown fields, bad JSON, other media types, unknown routes', async () => {
    const [id] = open(world.engine, [{ tenant: 'acme', asset: 'sw-1' }]);
    const bad = async (
      method: string,
      template: string,
      opts: { body?: unknown; query?: string; headers?: Record<string, string>; raw?: string },
      code: string,
      status = 400,
    ) => {
      const path = template.replace('{id}', id!) + (opts.query ? `?${opts.query}` : '');
      const answer =
        opts.raw === undefined
          ? await world.api.call(method, path, { as: 'op', body: opts.body, headers: opts.headers })
          : await fetch(world.api.base + path, {
              method,
              headers: { authorization: 'Bearer op', ...opts.headers },
              body: opts.raw,
            }).then(async (r) => ({
              status: r.status,
              contentType: r.headers.get('content-type') ?? '',
              body: JSON.parse(await r.text()),
            }));
      expect(answer.contentType).toMatch(/^application\/problem\+json(;|$)/);
      expect(answer.body).toMatchObject({
        status,
        code,
        type: `urn:vigil:problem:${code}`,
        title: expect.any(String),
        detail: expect.any(String),
      });
      if (
        template.startsWith('/api/') &&
        world.spec.operations().some((o) => o.path === template && o.method === method.toLowerCase())
      )
        world.spec.check(method, template, answer as never);
      return answer.body as { detail: string; errors?: { path: string }[] };
    };
    expect((await bad('GET', LIST, { query: 'limit=0' }, 'VIGIL_INVALID_REQUEST')).errors).toEqual([
      { path: 'querystring/limit', message: 'must be >= 1' },
    ]);
    await bad('GET', LIST, { query: 'state=closed' }, 'VIGIL_INVALID_REQUEST');
    await bad('GET', LIST, { query: 'sort=title' }, 'VIGIL_INVALID_REQUEST');
    await bad('GET', LIST, { query: 'since=yesterday' }, 'VIGIL_INVALID_REQUEST');
    await bad('GET', LIST, { query: 'colour=red' }, 'VIGIL_INVALID_REQUEST');
    expect((await bad('GET', LIST, { query: 'cursor=bm9wZQ' }, 'VIGIL_INVALID_CURSOR')).detail).toMatch(/next_cursor/);
    // A query far past Node's default 16 KiB of headers still gets its answer (here, too many labels), not a bare 431.
    const long = Array.from(
      { length: 40 },
      (_, i) => `label=${encodeURIComponent(`k${i}=${'\u{1F600}'.repeat(120)}`)}`,
    ).join('&');
    expect(long.length).toBeGreaterThan(16 * 1024);
    expect((await bad('GET', LIST, { query: long }, 'VIGIL_INVALID_REQUEST')).errors).toEqual([
      { path: 'querystring/label', message: 'must NOT have more than 20 items' },
    ]);
    expect((await bad('POST', `${INCIDENT}/comments`, { body: {} }, 'VIGIL_INVALID_REQUEST')).errors![0]!.path).toBe(
      'body',
    );
    expect(
      (await bad('POST', `${INCIDENT}/acknowledge`, { body: { reson: 'typo' } }, 'VIGIL_INVALID_REQUEST')).detail,
    ).toMatch(/additional properties/);
    // Not coerced: a number where text belongs is a mistake.
    expect((await bad('POST', `${INCIDENT}/comments`, { body: { text: 42 } }, 'VIGIL_INVALID_REQUEST')).errors).toEqual(
      [{ path: 'body/text', message: 'must be string' }],
    );
    await bad('PUT', `${INCIDENT}/assignee`, { body: { assignee: false } }, 'VIGIL_INVALID_REQUEST');
    await bad('GET', LIST, { query: 'limit=1.5' }, 'VIGIL_INVALID_REQUEST');
    await bad(
      'POST',
      `${INCIDENT}/acknowledge`,
      { raw: '{"reason":', headers: { 'content-type': 'application/json' } },
      'VIGIL_INVALID_REQUEST',
    );
    // No body is an empty one; a JSON null is not an object.
    await bad(
      'POST',
      `${INCIDENT}/acknowledge`,
      { raw: 'null', headers: { 'content-type': 'application/json' } },
      'VIGIL_INVALID_REQUEST',
    );
    await bad(
      'POST',
      `${INCIDENT}/acknowledge`,
      { raw: 'reason=x', headers: { 'content-type': 'application/x-www-form-urlencoded' } },
      'VIGIL_UNSUPPORTED_MEDIA_TYPE',
      415,
    );
    await bad('POST', `${INCIDENT}/comments`, { body: { text: 'x'.repeat(70_000) } }, 'VIGIL_PAYLOAD_TOO_LARGE', 413);
    expect((await bad('GET', '/api/v1/nothing', {}, 'VIGIL_ROUTE_NOT_FOUND', 404)).detail).toBe(
      'no route GET /api/v1/nothing; see /docs',
    );
    expect((await bad('DELETE', INCIDENT, {}, 'VIGIL_METHOD_NOT_ALLOWED', 405)).detail).toBe(
      `/api/v1/incidents/${id} takes GET, HEAD, not DELETE`,
    );
    expect(
      (await world.api.call('GET', `/api/v1/incidents/${id}/acknowledge`, { as: 'op' })).headers.get('allow'),
    ).toBe('POST');
    // Ids longer than the schema allows are refused by it, however long.
    expect((await world.api.call('GET', `/api/v1/incidents/${'0'.repeat(600)}`, { as: 'op' })).body).toMatchObject({
      status: 400,
      code: 'VIGIL_INVALID_REQUEST',
    });
    expect(world.delivered).toEqual([]);
  });

  it('filters by state, severity, rule, labels, tenant, assignee, time range and text, and sorts', async () => {
    const ids = open(world.engine, [
      { tenant: 'acme', asset: 'sw-1' },
      { tenant: 'acme', asset: 'db-1', severity: 21 },
      { tenant: 'globex', asset: 'sw-2' },
      { tenant: 'globex', asset: 'web-1' },
    ]);
    await world.api.call('POST', `/api/v1/incidents/${ids[1]}/acknowledge`, { as: 'op' });
    await world.api.call('PUT', `/api/v1/incidents/${ids[2]}/assignee`, { as: 'op', body: { assignee: 'bob' } });
    await world.api.call('POST', `/api/v1/incidents/${ids[3]}/resolve`, { as: 'op' });
    const list = async (query: string) => {
      const answer = await checked('GET', LIST, {}, { as: 'viewer', query });
      expect(answer.status, query).toBe(200);
      return (answer.body as { items: { id: string }[] }).items.map((i) => ids.indexOf(i.id));
    };
    expect(await list('state=acknowledged')).toEqual([1]);
    expect(await list('state=open,acknowledged&sort=opened_at')).toEqual([0, 1, 2]);
    expect(await list('severity=fatal')).toEqual([1]);
    expect(await list('rule=link_down&sort=opened_at')).toEqual([0, 2, 3]);
    expect(await list('rule=disk_down,nothing')).toEqual([1]);
    expect(await list('label=asset=sw-2')).toEqual([2]);
    expect(await list('label=asset=sw-2&label=tenant=acme')).toEqual([]);
    expect(await list('tenant=acme&sort=opened_at')).toEqual([0, 1]);
    expect(await list('assignee=bob')).toEqual([2]);
    expect(await list('assignee=&state=open,acknowledged&sort=opened_at')).toEqual([0, 1]);
    expect(await list(`until=${new Date(T0 + 60_000).toISOString()}&sort=opened_at`)).toEqual([0, 1]);
    // Resolved at the clock's hour: still open at T0 + 30 min, not after the resolution.
    expect(await list(`since=${new Date(T0 + 30 * 60_000).toISOString()}&sort=opened_at`)).toEqual([0, 1, 2, 3]);
    expect(await list(`since=${new Date(T0 + 2 * 3_600_000).toISOString()}&sort=opened_at`)).toEqual([0, 1, 2]);
    expect(await list('q=WEB&sort=opened_at')).toEqual([3]);
    expect(await list('q=svc-db')).toEqual([1]);
    // Ties go by id, in the same direction.
    const byIdDesc = [0, 2, 3].sort((x, y) => (ids[x]! < ids[y]! ? 1 : -1));
    expect(await list('sort=-severity')).toEqual([1, ...byIdDesc]);
    expect(await list('sort=severity')).toEqual([...byIdDesc.toReversed(), 1]);
    expect(await list('sort=-opened_at')).toEqual([3, 2, 1, 0]);
  });

  it("gives each incident its asset's parent from topology, and lists by asset, service and parent within the caller's tenant", async () => {
    world = await start(engineFrom(`${RULES}topology: { parent: 'attributes["parent"]' }\n`));
    // A switch, two hosts behind it, and a host of another tenant behind a switch of the same name.
    const groups = [
      { tenant: 'acme', asset: 'sw-1', parent: 'rack-7' },
      { tenant: 'acme', asset: 'host-1', parent: 'sw-1' },
      { tenant: 'acme', asset: 'host-2', parent: 'sw-1' },
      { tenant: 'globex', asset: 'host-9', parent: 'sw-1' },
      { tenant: 'acme', asset: 'db-1', parent: '' },
    ];
    const ids = groups.map((g, i) => {
      const t = T0 + i * 60_000;
      const attributes: Record<string, string> = g.parent ? { parent: g.parent } : {};
      const out = world.engine.process(
        [
          ev(t, {
            tenant: g.tenant,
            asset: g.asset,
            type: 'down',
            severityNumber: 17,
            title: `${g.asset} down`,
            service: 'net',
            attributes,
          }),
        ],
        t,
      );
      return out.find((c) => c.kind === 'opened')!.incident.id;
    });
    const one = async (k: number) => (await checked('GET', INCIDENT, { id: ids[k]! }, { as: 'viewer' })).body;
    expect(await one(0)).toMatchObject({ asset: 'sw-1', parent: 'rack-7', suppressed: false });
    // Its parent switch is down: the host's incident is open, suppressed by topology.
    expect(await one(1)).toMatchObject({ asset: 'host-1', parent: 'sw-1', suppressed: true });
    expect(await one(4)).toMatchObject({ asset: 'db-1', parent: '' });

    const list = async (as: string, query: string) => {
      const answer = await checked('GET', LIST, {}, { as, query: `${query}&sort=opened_at` });
      expect(answer.status, query).toBe(200);
      const items = (answer.body as { items: { id: string; parent: string }[] }).items;
      for (const i of items) expect(i.parent).toBe(groups[ids.indexOf(i.id)]!.parent);
      return items.map((i) => ids.indexOf(i.id));
    };
    expect(await list('acme-viewer', 'parent=sw-1')).toEqual([1, 2]);
    expect(await list('viewer', 'parent=sw-1')).toEqual([1, 2, 3]);
    expect(await list('viewer', 'parent=sw-1&tenant=globex')).toEqual([3]);
    expect(await list('acme-viewer', 'asset=sw-1&state=open,acknowledged')).toEqual([0]);
    expect(await list('acme-viewer', 'asset=sw')).toEqual([]);
    expect(await list('acme-viewer', 'parent=')).toEqual([4]);
    expect(await list('globex-op', 'asset=host-1')).toEqual([]);
    expect(await list('globex-op', 'service=net')).toEqual([3]);
    expect(await list('acme-viewer', 'service=net&parent=rack-7')).toEqual([0]);
  });
});

describe("operators' API: silences (Alertmanager API v2)", () => {
  beforeEach(async () => {
    world = await start();
  });
  const SILENCES = '/api/v2/silences';
  const SILENCE = '/api/v2/silence/{silenceID}';
  const iso = (ms: number) => new Date(ms).toISOString();
  const body = (matchers: object[], extra: object = {}) => ({
    matchers,
    startsAt: iso(world.clock.now),
    endsAt: iso(world.clock.now + 3_600_000),
    createdBy: 'ann',
    comment: 'maintenance',
    ...extra,
  });
  const asset = (value: string) => ({ name: 'asset', value, isRegex: false });
  const post = async (as: string, b: object) => checked('POST', SILENCES, {}, { as, body: b });

  it("keeps each tenant's silences to itself: another tenant's answers 404 like an unknown id, is not listed, and silences nothing of other tenants", async () => {
    const [acme, globex] = open(world.engine, [
      { tenant: 'acme', asset: 'sw-1' },
      { tenant: 'globex', asset: 'sw-1' },
    ]);
    const { silenceID } = (await post('acme-op', body([asset('sw-1')]))).body as { silenceID: string };
    expect(world.engine.incidentById(acme!)!.incident).toMatchObject({
      suppressed: true,
      suppressedBy: `silence:${silenceID}`,
    });
    expect(world.engine.incidentById(globex!)!.incident.suppressed).toBe(false);
    const unknown = await checked('GET', SILENCE, { silenceID: 'f'.repeat(36) }, { as: 'globex-op' });
    expect(unknown.status).toBe(404);
    for (const [method, as] of [
      ['GET', 'globex-op'],
      ['DELETE', 'globex-op'],
    ] as const) {
      const answer = await checked(method, SILENCE, { silenceID }, { as });
      expect(answer.body).toEqual({ ...(unknown.body as object), detail: `no silence has id ${silenceID}` });
    }
    expect((await post('globex-op', body([asset('sw-1')], { id: silenceID }))).status).toBe(404);
    expect((await checked('GET', SILENCES, {}, { as: 'globex-op' })).body).toEqual([]);
    expect((await checked('GET', SILENCES, {}, { as: 'acme-viewer' })).body).toMatchObject([{ id: silenceID }]);
    // Still active: globex's attempts changed nothing.
    expect((await checked('GET', SILENCE, { silenceID }, { as: 'acme-viewer' })).body).toMatchObject({
      status: { state: 'active' },
    });
  });

  it('changes a silence in place by id, makes a new one when it had expired, and filters the list as Alertmanager does', async () => {
    const first = ((await post('op', body([asset('sw-1')]))).body as { silenceID: string }).silenceID;
    const second = (
      (await post('op', body([asset('db-1'), { name: 'rule', value: 'link_.*', isRegex: true }]))).body as {
        silenceID: string;
      }
    ).silenceID;
    expect((await post('op', body([asset('sw-2')], { id: first, comment: 'extended' }))).body).toEqual({
      silenceID: first,
    });
    expect((await checked('GET', SILENCE, { silenceID: first }, { as: 'viewer' })).body).toMatchObject({
      comment: 'extended',
      matchers: [{ name: 'asset', value: 'sw-2' }],
    });
    const filtered = async (query: string) =>
      ((await checked('GET', SILENCES, {}, { as: 'viewer', query })).body as { id: string }[]).map((s) => s.id);
    expect(await filtered('filter=asset%3D%22sw-2%22')).toEqual([first]);
    expect(await filtered('filter=asset%3Ddb-1')).toEqual([second]);
    // Regex matchers are not the silence's labels: a filter on them finds nothing.
    expect(await filtered('filter=rule%3Dlink_down')).toEqual([]);
    expect((await checked('GET', SILENCES, {}, { as: 'viewer', query: 'filter=%3D%3D' })).status).toBe(400);

    await checked('DELETE', SILENCE, { silenceID: first }, { as: 'op' });
    const renewed = ((await post('op', body([asset('sw-2')], { id: first }))).body as { silenceID: string }).silenceID;
    expect(renewed).not.toBe(first);
    expect((await checked('GET', SILENCE, { silenceID: first }, { as: 'viewer' })).body).toMatchObject({
      status: { state: 'expired' },
    });
    // A pending silence expired never starts.
    const later = (
      (await post('op', body([asset('sw-3')], { startsAt: iso(world.clock.now + 60_000) }))).body as {
        silenceID: string;
      }
    ).silenceID;
    expect((await checked('GET', SILENCE, { silenceID: later }, { as: 'viewer' })).body).toMatchObject({
      status: { state: 'pending' },
    });
    await checked('DELETE', SILENCE, { silenceID: later }, { as: 'op' });
    expect((await checked('GET', SILENCE, { silenceID: later }, { as: 'viewer' })).body).toMatchObject({
      status: { state: 'expired' },
      startsAt: iso(world.clock.now),
      endsAt: iso(world.clock.now),
    });
  });

  it('refuses silences Alertmanager refuses: ended, ending before they start, matching everything, with a broken regex', async () => {
    const refused = async (b: object, detail: RegExp) => {
      const answer = await post('op', b);
      expect(answer.status).toBe(400);
      expect((answer.body as { detail: string }).detail).toMatch(detail);
    };
    await refused(body([asset('sw-1')], { endsAt: iso(world.clock.now - 1000) }), /endsAt must be in the future/);
    await refused(
      body([asset('sw-1')], { startsAt: iso(world.clock.now + 7_200_000) }),
      /endsAt must not be before startsAt/,
    );
    await refused(body([{ name: 'asset', value: '.*', isRegex: true }]), /must not match the empty value/);
    await refused(body([{ name: 'asset', value: '(', isRegex: true }]), /invalid regular expression/);
    await refused(body([]), /matchers/);
    await refused({ ...body([asset('sw-1')]), severity: 'x' }, /additional properties/);
    expect((await checked('GET', SILENCES, {}, { as: 'viewer' })).body).toEqual([]);
  });

  it('answers 503 to a silence when no correlation runs, and lists none', async () => {
    const api = await startApi({ desk: () => undefined, anonymousRole: 'operator' });
    cleanup.push(() => api.close());
    const spec = await SpecChecker.load(api.base);
    const answer = await api.call('POST', SILENCES, { body: body([asset('sw-1')]) });
    spec.check('POST', SILENCES, answer);
    expect(answer.body).toMatchObject({ status: 503, code: 'VIGIL_SILENCES_UNAVAILABLE' });
    expect((await api.call('GET', SILENCES)).body).toEqual([]);
  });
});
