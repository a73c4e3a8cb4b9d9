import { beforeEach, afterEach, describe, expect, it } from 'vitest';
import type { CorrelationEngine } from '../../src/correlation/engine.ts';
import type { IncidentChange } from '../../src/model/incident.ts';
import { engineFrom, ev } from '../support/correlation.ts';
import { engineDesk, FakeAuthenticator, SpecChecker, startApi, type RunningApi } from './harness.ts';

const RULES = `
defaults: { allowed_lateness: 1h, group_wait: 0s }
rules:
  - { kind: pair, name: host_down, group_by: [tenant, asset] }
`;
const auth = new FakeAuthenticator()
  .add('op', { subject: 'alice', role: 'operator' })
  .add('viewer', { subject: 'victor', role: 'viewer' })
  .add('acme-op', { subject: 'ann', role: 'operator', tenant: 'acme' })
  .add('globex-op', { subject: 'gus', role: 'operator', tenant: 'globex' });

let engine: CorrelationEngine;
let api: RunningApi;
let spec: SpecChecker;
const clock = { now: 0 };
let delivered: IncidentChange[] = [];
const cleanup: (() => Promise<void>)[] = [];
beforeEach(async () => {
  engine = engineFrom(RULES);
  delivered = [];
  api = await startApi({ desk: () => engineDesk(engine, () => clock.now, delivered), authenticator: auth });
  cleanup.push(() => api.close());
  spec = await SpecChecker.load(api.base);
});
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

const WINDOWS = '/api/v1/maintenance-windows';
const ONE = '/api/v1/maintenance-windows/{id}';

async function call(method: string, template: string, opts: { id?: string; as?: string; body?: unknown } = {}) {
  const answer = await api.call(method, template.replace('{id}', encodeURIComponent(opts.id ?? '')), {
    as: opts.as ?? 'op',
    body: opts.body,
  });
  spec.check(method, template, answer);
  return answer;
}

/** Sunday nights 02:30–04:00 in Paris, for web servers. */
const sundayNight = {
  matchers: [{ name: 'asset', value: 'web-.*', isRegex: true }],
  days: ['sun'],
  start: '02:30',
  end: '04:00',
  timezone: 'Europe/Paris',
  comment: 'kernel updates',
};

type Window = { id: string; in_window: boolean; next: { starts_at: string; ends_at: string } | null; status: string };

function down(atIso: string, asset: string, tenant = ''): IncidentChange[] {
  clock.now = Date.parse(atIso);
  const out = engine.process([ev(clock.now, { asset, tenant, type: 'down', severityNumber: 17 })], clock.now);
  delivered.push(...out);
  return out;
}

function tick(atIso: string): IncidentChange[] {
  clock.now = Date.parse(atIso);
  const out = engine.tick(clock.now);
  delivered.push(...out);
  return out;
}

const told = (changes: IncidentChange[]) =>
  changes.map(
    (c) =>
      `${c.kind}${c.notify ? '!' : ''} ${c.incident.asset}${c.incident.suppressedBy ? ` by ${c.incident.suppressedBy}` : ''}`,
  );

describe('recurring maintenance windows', () => {
  it('suppresses matching incidents only while a window is on, on the spring-forward night too', async () => {
    clock.now = Date.parse('2026-03-27T12:00:00Z');
    const created = await call('POST', WINDOWS, { body: sundayNight });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const w = created.body as Window;
    // 02:30 does not exist on 2026-03-29 in Paris: the window opens at 03:30 CEST (01:30Z), closes at 04:00 CEST.
    expect(created.body).toMatchObject({
      status: 'active',
      in_window: false,
      ends_at: null,
      created_by: 'alice',
      next: { starts_at: '2026-03-29T01:30:00.000Z', ends_at: '2026-03-29T02:00:00.000Z' },
    });
    // 03:10 CEST: clocks have gone forward but the window is not on yet.
    expect(told(down('2026-03-29T01:10:00Z', 'web-1'))).toEqual(['opened! web-1']);
    // 03:40 CEST: on; a web server's incident is held, a database's is not.
    expect(told(down('2026-03-29T01:40:00Z', 'web-2'))).toEqual([`opened web-2 by maintenance:${w.id}`]);
    expect(told(down('2026-03-29T01:41:00Z', 'db-1'))).toEqual(['opened! db-1']);
    expect(told(tick('2026-03-29T01:42:00Z'))).toEqual([`suppressed web-1 by maintenance:${w.id}`]);
    expect((await call('GET', ONE, { id: w.id, as: 'viewer' })).body).toMatchObject({ in_window: true });
    // 04:00 CEST: off; what it held and is still open is told now (web-2's opening for the first time).
    const after = told(tick('2026-03-29T02:00:00Z'));
    expect(after).toHaveLength(3);
    expect(after).toEqual(expect.arrayContaining(['unsuppressed! web-1', 'unsuppressed web-2', 'opened! web-2']));
    expect((await call('GET', ONE, { id: w.id, as: 'viewer' })).body).toMatchObject({
      in_window: false,
      next: { starts_at: '2026-04-05T00:30:00.000Z', ends_at: '2026-04-05T02:00:00.000Z' },
    });
  });

  it('runs from the first 02:30 to 04:00 on the fall-back night, and stops for good when expired', async () => {
    clock.now = Date.parse('2026-10-24T12:00:00Z');
    const w = (await call('POST', WINDOWS, { body: { ...sundayNight, ends_at: '2026-12-31T00:00:00Z' } }))
      .body as Window;
    expect(w.next).toEqual({ starts_at: '2026-10-25T00:30:00.000Z', ends_at: '2026-10-25T03:00:00.000Z' });
    // 02:30 CEST, then 02:30 CET an hour later: the same window, on throughout.
    expect(told(down('2026-10-25T00:30:00Z', 'web-1'))).toEqual([`opened web-1 by maintenance:${w.id}`]);
    expect(told(down('2026-10-25T01:30:00Z', 'web-2'))).toEqual([`opened web-2 by maintenance:${w.id}`]);
    expect(told(tick('2026-10-25T02:59:00Z'))).toEqual([]);
    const expired = await call('DELETE', ONE, { id: w.id });
    expect(expired.body).toMatchObject({ status: 'expired', in_window: false, next: null });
    expect(told(delivered.slice(-4))).toEqual(
      expect.arrayContaining(['unsuppressed web-1', 'opened! web-1', 'unsuppressed web-2', 'opened! web-2']),
    );
    // Next Sunday it is not on.
    expect(told(down('2026-11-01T01:45:00Z', 'web-3'))).toEqual(['opened! web-3']);
  });

  it("keeps to its tenant: another tenant's window is 404, is not listed, and holds none of its incidents", async () => {
    clock.now = Date.parse('2026-03-27T12:00:00Z');
    const w = (await call('POST', WINDOWS, { as: 'acme-op', body: { ...sundayNight, days: ['sun', 'sat'] } }))
      .body as Window;
    for (const [method, template] of [
      ['GET', ONE],
      ['DELETE', ONE],
    ] as const) {
      const answer = await call(method, template, { id: w.id, as: 'globex-op' });
      expect(answer.status).toBe(404);
      expect(answer.body).toMatchObject({ code: 'VIGIL_MAINTENANCE_NOT_FOUND' });
      expect((await call(method, template, { id: 'f'.repeat(36), as: 'globex-op' })).body).toMatchObject({
        code: 'VIGIL_MAINTENANCE_NOT_FOUND',
      });
    }
    expect((await call('GET', WINDOWS, { as: 'globex-op' })).body).toEqual([]);
    expect((await call('GET', WINDOWS, { as: 'viewer' })).body).toEqual([expect.objectContaining({ id: w.id })]);
    expect(told(down('2026-03-28T01:45:00Z', 'web-1', 'globex'))).toEqual(['opened! web-1']);
    expect(told(down('2026-03-28T01:46:00Z', 'web-1', 'acme'))).toEqual([`opened web-1 by maintenance:${w.id}`]);
    // Alertmanager's clients know no recurrence: its silence routes do not show windows.
    expect((await api.call('GET', '/api/v2/silences', { as: 'viewer' })).body).toEqual([]);
    expect((await api.call('GET', `/api/v2/silence/${w.id}`, { as: 'viewer' })).status).toBe(404);
  });

  it('refuses what cannot be a window (400), strangers (401), viewers (403), and says 503 without correlation', async () => {
    clock.now = Date.parse('2026-03-27T12:00:00Z');
    for (const [body, path] of [
      [{ ...sundayNight, timezone: 'Mars/Olympus' }, 'body/timezone'],
      [{ ...sundayNight, days: [] }, 'body/days'],
      [{ ...sundayNight, days: ['sunday'] }, 'body/days/0'],
      [{ ...sundayNight, start: '24:00' }, 'body/start'],
      [{ ...sundayNight, matchers: [{ name: 'asset', value: '.*', isRegex: true }] }, 'body/matchers'],
      [{ ...sundayNight, ends_at: '2026-01-01T00:00:00Z' }, 'body/ends_at'],
      [{ ...sundayNight, starts_at: '2026-04-02T00:00:00Z', ends_at: '2026-04-01T00:00:00Z' }, 'body/ends_at'],
      [{ ...sundayNight, starts_at: '2026-04-01T00:00:00Z', ends_at: '2026-04-01T00:00:00Z' }, 'body/ends_at'],
    ] as const) {
      const answer = await call('POST', WINDOWS, { body });
      expect(answer.status, JSON.stringify(body)).toBe(400);
      expect((answer.body as { errors: { path: string }[] }).errors[0]!.path).toBe(path);
    }
    const backwards = await call('POST', WINDOWS, {
      body: { ...sundayNight, starts_at: '2026-04-02T00:00:00Z', ends_at: '2026-04-01T00:00:00Z' },
    });
    expect((backwards.body as { detail: string }).detail).toBe(
      'ends_at (2026-04-01T00:00:00.000Z) must be after starts_at (2026-04-02T00:00:00.000Z)',
    );
    const past = await call('POST', WINDOWS, { body: { ...sundayNight, ends_at: '2026-01-01T00:00:00Z' } });
    expect((past.body as { detail: string }).detail).toBe(
      'ends_at (2026-01-01T00:00:00.000Z) must be in the future: it is 2026-03-27T12:00:00.000Z',
    );
    expect((await call('GET', WINDOWS, { as: 'viewer' })).body).toEqual([]);
    expect((await call('POST', WINDOWS, { as: 'nobody', body: sundayNight })).status).toBe(401);
    expect((await call('POST', WINDOWS, { as: 'viewer', body: sundayNight })).status).toBe(403);
    const bare = await startApi({ desk: () => undefined, anonymousRole: 'operator' });
    try {
      const answer = await bare.call('POST', WINDOWS, { body: sundayNight });
      expect(answer.status).toBe(503);
      expect(answer.body).toMatchObject({ code: 'VIGIL_SILENCES_UNAVAILABLE' });
    } finally {
      await bare.close();
    }
  });
});
