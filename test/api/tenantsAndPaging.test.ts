import { afterEach, describe, expect, it } from 'vitest';
import type { CorrelationEngine } from '../../src/correlation/engine.ts';
import { engineFrom, ev } from '../support/correlation.ts';
import { mulberry32 } from '../support/seededRandom.ts';
import { engineDesk, FakeAuthenticator, SpecChecker, startApi, type RunningApi } from './harness.ts';

const RULES = `
defaults: { allowed_lateness: 1h, group_wait: 0s }
rules:
  - { kind: pair, name: down, group_by: [tenant, asset] }
topology: { parent: 'attributes["parent"]' }
`;
const T0 = Date.parse('2026-12-01T10:00:00Z');

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

async function serve(
  engine: CorrelationEngine,
  authenticator?: FakeAuthenticator,
  anonymousRole?: string,
): Promise<RunningApi> {
  const api = await startApi({ desk: () => engineDesk(engine, () => T0 + 86_400_000), authenticator, anonymousRole });
  cleanup.push(() => api.close());
  return api;
}

type Page = { items: { id: string; tenant: string; opened_at: string }[]; next_cursor: string | null };

/** Every page of a query, following next_cursor; `between` runs after each page (to change the data meanwhile). */
async function allPages(
  api: RunningApi,
  spec: SpecChecker,
  query: string,
  as: string | undefined,
  between: (page: number) => void = () => {},
): Promise<Page['items']> {
  const out: Page['items'] = [];
  let cursor: string | null = null;
  for (let n = 0; n < 1000; n++) {
    const answer = await api.call(
      'GET',
      `/api/v1/incidents?${query}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`,
      { as },
    );
    expect(answer.status, JSON.stringify(answer.body)).toBe(200);
    spec.check('GET', '/api/v1/incidents', answer);
    const page = answer.body as Page;
    out.push(...page.items);
    cursor = page.next_cursor;
    if (!cursor) return out;
    between(n);
  }
  throw new Error('paging did not end');
}

let seq = 0;
function openOne(engine: CorrelationEngine, tenant: string, atMs: number, parent = ''): string {
  const attributes: Record<string, string> = parent ? { parent } : {};
  const out = engine.process(
    [ev(atMs, { tenant, asset: `a${++seq}`, type: 'down', severityNumber: 17, attributes })],
    atMs,
  );
  return out.find((c) => c.kind === 'opened')!.incident.id;
}

describe('tenants and paging', () => {
  it("never shows a tenant another tenant's incidents, and shows it all of its own, over random tenants, filters (the asset's parent too) and page sizes", async () => {
    for (const seed of [16, 42, 977]) await tenantRound(seed);
  });

  async function tenantRound(seed: number): Promise<void> {
    const random = mulberry32(seed);
    const engine = engineFrom(RULES);
    const tenants = Array.from(
      { length: 2 + Math.floor(random() * 4) },
      (_, i) => `t${i}-${Math.floor(random() * 1e6)}`,
    );
    const auth = new FakeAuthenticator().add('global', { subject: 'g', role: 'viewer' });
    for (const t of tenants) auth.add(`tok-${t}`, { subject: `s-${t}`, role: 'operator', tenant: t });
    const owner = new Map<string, string>();
    // Parents no incident is on, so that none suppresses its children.
    const PARENTS = ['', 'sw-0', 'sw-1', 'sw-2'];
    const parentOf = new Map<string, string>();
    for (let i = 0; i < 150; i++) {
      const tenant = tenants[Math.floor(random() * tenants.length)]!;
      const parent = PARENTS[Math.floor(random() * PARENTS.length)]!;
      const id = openOne(engine, tenant, T0 + Math.floor(random() * 3_600_000), parent);
      owner.set(id, tenant);
      parentOf.set(id, parent);
    }
    const api = await serve(engine, auth);
    const spec = await SpecChecker.load(api.base);
    const ids = [...owner.keys()];
    // Some resolved, so that state filters split them.
    for (const id of ids.slice(0, 30)) {
      const t = owner.get(id)!;
      expect((await api.call('POST', `/api/v1/incidents/${id}/resolve`, { as: `tok-${t}` })).status).toBe(200);
    }
    for (let round = 0; round < 12; round++) {
      const tenant = tenants[Math.floor(random() * tenants.length)]!;
      const sort = ['opened_at', '-opened_at', 'updated_at', '-updated_at', 'severity', '-severity'][
        Math.floor(random() * 6)
      ]!;
      const state = ['open', 'resolved', 'open,resolved', undefined][Math.floor(random() * 4)];
      // Asking for another tenant by name changes nothing.
      const asked = random() < 0.3 ? tenants[Math.floor(random() * tenants.length)] : undefined;
      const parent = random() < 0.4 ? PARENTS[Math.floor(random() * PARENTS.length)] : undefined;
      const limit = 1 + Math.floor(random() * 40);
      const query = [
        `sort=${sort}`,
        `limit=${limit}`,
        state && `state=${state}`,
        asked && `tenant=${asked}`,
        parent !== undefined && `parent=${parent}`,
      ]
        .filter(Boolean)
        .join('&');
      const seen = await allPages(api, spec, query, `tok-${tenant}`);
      const want = ids.filter(
        (id) =>
          owner.get(id) === tenant &&
          (asked === undefined || asked === tenant) &&
          (parent === undefined || parentOf.get(id) === parent) &&
          (state === undefined || state.split(',').includes(ids.indexOf(id) < 30 ? 'resolved' : 'open')),
      );
      expect(
        seen.every((i) => i.tenant === tenant),
        `seed ${seed} round ${round}: ${query}`,
      ).toBe(true);
      expect(seen.map((i) => i.id).sort(), `seed ${seed} round ${round}: ${query}`).toEqual(want.sort());
      // And every id it was not shown is a 404 to it.
      const foreign = ids.find((id) => owner.get(id) !== tenant)!;
      expect((await api.call('GET', `/api/v1/incidents/${foreign}`, { as: `tok-${tenant}` })).status).toBe(404);
    }
    // A caller whose credentials name no tenant sees them all.
    expect((await allPages(api, spec, 'limit=50', 'global')).length).toBe(ids.length);
  }

  it('pages without repeating or skipping an incident while others open and change between pages', async () => {
    const engine = engineFrom(RULES);
    const before = Array.from({ length: 57 }, (_, i) => openOne(engine, 'acme', T0 + i * 1000));
    const api = await serve(engine, undefined, 'operator');
    const spec = await SpecChecker.load(api.base);
    let t = T0 + 3_600_000;
    const seen = await allPages(api, spec, 'limit=10&sort=-opened_at', undefined, () => {
      // New incidents sort before the cursor; a comment changes updated_at, not opened_at.
      openOne(engine, 'acme', (t += 1000));
      engine.act(before[Math.floor(t / 1000) % before.length]!, 'x', { kind: 'comment', text: 'meanwhile' }, t);
    });
    expect(seen.map((i) => i.id)).toEqual(before.toReversed());
    // Under a sort by a changing field, an incident that did not change still shows exactly once.
    const stable = new Set(before.slice(0, 20));
    const byUpdate = await allPages(api, spec, 'limit=7&sort=updated_at', undefined, (n) => {
      engine.act(before[20 + n]!, 'x', { kind: 'comment', text: 'moves to the end' }, (t += 1000));
    });
    const counts = new Map<string, number>();
    for (const i of byUpdate) counts.set(i.id, (counts.get(i.id) ?? 0) + 1);
    for (const id of stable) expect(counts.get(id), id).toBe(1);
  });

  it('without an authenticator, serves everyone anonymously with api.anonymous_role (viewer by default)', async () => {
    const engine = engineFrom(RULES);
    const id = openOne(engine, 'acme', T0);
    const viewerOnly = await serve(engine);
    expect(
      (await viewerOnly.call('GET', '/api/v1/incidents', { headers: { authorization: 'Bearer whatever' } })).body,
    ).toMatchObject({ items: [{ id }] });
    expect((await viewerOnly.call('POST', `/api/v1/incidents/${id}/acknowledge`)).body).toMatchObject({
      status: 403,
      code: 'VIGIL_FORBIDDEN',
    });
    const operator = await serve(engine, undefined, 'operator');
    expect((await operator.call('POST', `/api/v1/incidents/${id}/acknowledge`)).body).toMatchObject({
      status: 'acknowledged',
      acknowledged_by: 'anonymous',
    });
  });
});
