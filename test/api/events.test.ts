import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ClickHouseExporter } from '../../src/exporters/clickhouse/exporter.ts';
import { newEvent, type VigilEvent } from '../../src/model/index.ts';
import { newExporter } from '../exporters/clickhouse/harness.ts';
import { mulberry32 } from '../support/seededRandom.ts';
import { waitFor } from '../support/waitFor.ts';
import { FakeAuthenticator, SpecChecker, startApi, type RunningApi } from './harness.ts';

/*
 * One file, one chdb engine (chdb holds one data directory per process): every case reads the
 * events stored once, in beforeAll, by a real clickhouse exporter on embedded ClickHouse.
 */
const T0_MS = Date.parse('2026-11-02T10:00:00Z');
const T0_NS = BigInt(T0_MS) * 1_000_000n;
const HOUR_NS = 3_600_000_000_000n;
const TENANTS = ['acme', 'globex', 'initech', ''];
const SERVICES = ['checkout', 'billing'];
const ASSETS = ['web-1', 'web-2', 'db-1'];
const SEVERITIES: [number, string][] = [
  [0, ''],
  [5, 'DEBUG'],
  [9, 'INFO'],
  [13, 'WARN'],
  [17, 'ERROR'],
  [21, 'FATAL'],
];
const CLASS = ['unspecified', 'trace', 'debug', 'info', 'warn', 'error', 'fatal'];
const classOf = (n: number) => (n === 0 ? 'unspecified' : CLASS[Math.floor((n - 1) / 4) + 1]!);

let exporter: ClickHouseExporter;
let stored: VigilEvent[] = [];
let api: RunningApi;
let bare: RunningApi;
let spec: SpecChecker;
const auth = new FakeAuthenticator().add('global', { subject: 'g', role: 'viewer' });
for (const t of TENANTS) auth.add(`tok-${t || 'none'}`, { subject: `s-${t}`, role: 'viewer', tenant: t });

/** 600 events over an hour; every fifth shares its predecessor's time, so pages must break ties by id. */
function makeEvents(seed: number): VigilEvent[] {
  const random = mulberry32(seed);
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(random() * xs.length)]!;
  const out: VigilEvent[] = [];
  let t = T0_NS;
  for (let i = 0; i < 600; i++) {
    if (i % 5 !== 0) t += BigInt(Math.floor(random() * 12_000)) * 1_000_000n + 1n;
    const [severityNumber, severityText] = pick(SEVERITIES);
    const service = pick(SERVICES);
    const asset = pick(ASSETS);
    out.push(
      newEvent({
        source: pick(['json', 'syslog', 'otlp']),
        timeUnixNano: t,
        observedTimeUnixNano: t + 5n,
        severityNumber,
        severityText,
        body: `${asset} answered ${pick(['HTTP 500', 'timeout', 'OK'])} (${i})`,
        title: `${service} on ${asset} #${i}`,
        attributes: { n: i, 'http.route': '/pay' },
        resource: { 'service.name': service, 'host.name': asset },
        asset,
        service,
        tenant: pick(TENANTS),
        type: pick(['down', 'up', 'neutral'] as const),
        fingerprint: `fp-${i % 7}`,
      }),
    );
  }
  return out;
}

beforeAll(async () => {
  ({ exporter } = newExporter({ database: 'api_events', batch: { max_delay: '20ms' } }));
  await exporter.start();
  stored = makeEvents(16);
  for (let i = 0; i < stored.length; i += 100) await exporter.consumeLogs(stored.slice(i, i + 100));
  await waitFor(() => exporter.writer.pendingBatches === 0, 'every batch inserted', 60_000);
  api = await startApi({ desk: () => undefined, authenticator: auth, eventStore: () => exporter.queries() });
  bare = await startApi({ desk: () => undefined });
  spec = await SpecChecker.load(api.base);
}, 120_000);

afterAll(async () => {
  await api?.close();
  await bare?.close();
  await exporter?.shutdown();
});

type EventOut = {
  id: string;
  time: string;
  time_unix_nano: string;
  tenant: string;
  service: string;
  asset: string;
  severity: string;
  severity_number: number;
  title: string;
  body: string;
  source: string;
  attributes: Record<string, string>;
};
type Page = { events: EventOut[]; next_cursor: string | null };

const iso = (ns: bigint) => new Date(Number(ns / 1_000_000n)).toISOString();
const RANGE = `from=${iso(T0_NS)}&to=${iso(T0_NS + HOUR_NS)}`;

/** Newest first, ties by id descending: the order the API promises. */
const newestFirst = (a: VigilEvent, b: VigilEvent) =>
  a.timeUnixNano === b.timeUnixNano ? (a.id < b.id ? 1 : -1) : a.timeUnixNano < b.timeUnixNano ? 1 : -1;

async function allPages(query: string, as: string | undefined = 'global'): Promise<EventOut[]> {
  const out: EventOut[] = [];
  let cursor: string | null = null;
  for (let n = 0; n < 200; n++) {
    const answer = await api.call(
      'GET',
      `/api/v1/events?${query}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`,
      { as },
    );
    expect(answer.status, JSON.stringify(answer.body)).toBe(200);
    spec.check('GET', '/api/v1/events', answer);
    const page = answer.body as Page;
    out.push(...page.events);
    cursor = page.next_cursor;
    if (!cursor) return out;
  }
  throw new Error('paging did not end');
}

describe('events from ClickHouse', () => {
  it('pages through every event of a range newest first, ties broken by id, none twice, with what was stored', async () => {
    const got = await allPages(`${RANGE}&limit=37`);
    const expected = [...stored].sort(newestFirst);
    expect(got.map((e) => e.id)).toEqual(expected.map((e) => e.id));
    const first = expected[0]!;
    expect(got[0]).toMatchObject({
      time_unix_nano: String(first.timeUnixNano),
      tenant: first.tenant,
      service: first.service,
      asset: first.asset,
      severity: classOf(first.severityNumber),
      severity_number: first.severityNumber,
      title: first.title,
      body: first.body,
      source: first.source,
      attributes: { n: String(first.attributes.n), 'http.route': '/pay' },
    });
    expect(BigInt(Date.parse(got[0]!.time)) * 1_000_000n).toBe((first.timeUnixNano / 1_000_000n) * 1_000_000n);
    expect(got[0]!.time.endsWith(`${String(first.timeUnixNano % 1_000_000_000n).padStart(9, '0')}Z`)).toBe(true);
  });

  it('filters by service, asset, severity, text and a narrower range, all at once', async () => {
    const from = T0_NS + HOUR_NS / 4n;
    const to = T0_NS + HOUR_NS / 2n;
    const got = await allPages(
      `from=${iso(from)}&to=${iso(to)}&service=checkout&asset=web-2&severity=warn&q=${encodeURIComponent('http 500')}&limit=5`,
    );
    const fromMs = (from / 1_000_000n) * 1_000_000n;
    const toMs = (to / 1_000_000n) * 1_000_000n;
    const expected = stored
      .filter(
        (e) =>
          e.timeUnixNano >= fromMs &&
          e.timeUnixNano < toMs &&
          e.service === 'checkout' &&
          e.asset === 'web-2' &&
          e.severityNumber >= 13 &&
          (e.title.toLowerCase().includes('http 500') || (e.body as string).toLowerCase().includes('http 500')),
      )
      .sort(newestFirst);
    expect(expected.length).toBeGreaterThan(0);
    expect(got.map((e) => e.id)).toEqual(expected.map((e) => e.id));
  });

  it('finds the text as text: quotes and SQL in q match nothing and break nothing', async () => {
    for (const q of ["500' OR 1=1 --", '%', '_', "\\'", '{text:String}']) {
      const answer = await api.call('GET', `/api/v1/events?${RANGE}&q=${encodeURIComponent(q)}`, { as: 'global' });
      expect(answer.status).toBe(200);
      expect((answer.body as Page).events).toEqual([]);
    }
  });

  it("never shows a tenant another tenant's events, and shows it all of its own (random tenants, filters and page sizes)", async () => {
    const random = mulberry32(977);
    for (let round = 0; round < 6; round++) {
      const tenant = TENANTS[round % TENANTS.length]!;
      const token = `tok-${tenant || 'none'}`;
      const limit = 1 + Math.floor(random() * 150);
      const severity = ['debug', 'info', 'warn', 'error'][Math.floor(random() * 4)]!;
      const asked = random() < 0.5 ? '' : `&tenant=${encodeURIComponent(TENANTS[Math.floor(random() * 4)]!)}`;
      const got = await allPages(`${RANGE}&severity=${severity}&limit=${limit}${asked}`, token);
      const askedTenant = asked ? decodeURIComponent(asked.slice('&tenant='.length)) : tenant;
      const min = { debug: 5, info: 9, warn: 13, error: 17 }[severity]!;
      const expected = stored
        .filter((e) => e.tenant === tenant && askedTenant === tenant && e.severityNumber >= min)
        .sort(newestFirst);
      expect(got.every((e) => e.tenant === tenant)).toBe(true);
      expect(got.map((e) => e.id)).toEqual(expected.map((e) => e.id));

      const histogram = await api.call('GET', `/api/v1/events/histogram?${RANGE}&step_seconds=300${asked}`, {
        as: token,
      });
      expect(histogram.status).toBe(200);
      const total = (histogram.body as { buckets: { counts: Record<string, number> }[] }).buckets.reduce(
        (n, b) => n + Object.values(b.counts).reduce((a, c) => a + c, 0),
        0,
      );
      expect(total).toBe(stored.filter((e) => e.tenant === tenant && askedTenant === tenant).length);
    }
    // A caller whose credentials name no tenant sees them all, or the one it asks for.
    expect((await allPages(`${RANGE}&tenant=&limit=1000`)).map((e) => e.tenant)).toEqual(
      stored.filter((e) => e.tenant === '').map(() => ''),
    );
  });

  it('counts events per bucket and severity in ClickHouse, every bucket of the range present', async () => {
    const answer = await api.call('GET', `/api/v1/events/histogram?${RANGE}&step_seconds=600&service=billing`, {
      as: 'global',
    });
    expect(answer.status, JSON.stringify(answer.body)).toBe(200);
    spec.check('GET', '/api/v1/events/histogram', answer);
    const body = answer.body as { step_seconds: number; buckets: { start: string; counts: Record<string, number> }[] };
    expect(body.step_seconds).toBe(600);
    expect(body.buckets.map((b) => b.start)).toEqual(
      Array.from({ length: 6 }, (_, i) => new Date(T0_MS + i * 600_000).toISOString()),
    );
    const expected = body.buckets.map(() => Object.fromEntries(CLASS.map((c) => [c, 0])) as Record<string, number>);
    for (const e of stored) {
      if (e.service !== 'billing') continue;
      const i = Math.floor((Number(e.timeUnixNano / 1_000_000n) - T0_MS) / 600_000);
      if (i < 6) expected[i]![classOf(e.severityNumber)]!++;
    }
    expect(body.buckets.map((b) => b.counts)).toEqual(expected);

    const chosen = await api.call('GET', `/api/v1/events/histogram?${RANGE}`, { as: 'global' });
    expect(chosen.body).toMatchObject({ step_seconds: 30 });
    expect((chosen.body as { buckets: unknown[] }).buckets).toHaveLength(120);
  });

  it('answers a bad request with a 400 problem saying which parameter, before asking ClickHouse', async () => {
    const cases: [string, string][] = [
      ['/api/v1/events?to=2026-11-02T11:00:00Z', 'querystring'],
      [`/api/v1/events?from=2026-11-02T11:00:00Z&to=2026-11-02T10:00:00Z`, 'querystring/to'],
      [`/api/v1/events?from=2026-01-01T00:00:00Z&to=2026-03-01T00:00:00Z`, 'querystring/to'],
      [`/api/v1/events?${RANGE}&limit=0`, 'querystring/limit'],
      [`/api/v1/events?${RANGE}&limit=1001`, 'querystring/limit'],
      [`/api/v1/events?${RANGE}&severity=loud`, 'querystring/severity'],
      [`/api/v1/events?${RANGE}&from=yesterday`, 'querystring/from'],
      [`/api/v1/events?${RANGE}&colour=red`, 'querystring'],
      [`/api/v1/events/histogram?${RANGE}&step_seconds=1`, 'querystring/step_seconds'],
      [`/api/v1/events/histogram?${RANGE}&step_seconds=0`, 'querystring/step_seconds'],
    ];
    for (const [path, at] of cases) {
      const answer = await api.call('GET', path, { as: 'global' });
      expect(answer.status, path).toBe(400);
      expect(answer.contentType.split(';')[0]).toBe('application/problem+json');
      expect(answer.body).toMatchObject({ code: 'VIGIL_INVALID_REQUEST' });
      const errors = (answer.body as { errors?: { path: string }[] }).errors ?? [];
      expect(
        errors.some((e) => e.path.startsWith(at)),
        `${path}: ${JSON.stringify(answer.body)}`,
      ).toBe(true);
      spec.check(
        'GET',
        path.startsWith('/api/v1/events/histogram') ? '/api/v1/events/histogram' : '/api/v1/events',
        answer,
      );
    }
    for (const cursor of ['nope', Buffer.from('["events","-1","x"]').toString('base64url')]) {
      const answer = await api.call('GET', `/api/v1/events?${RANGE}&cursor=${cursor}`, { as: 'global' });
      expect(answer.status).toBe(400);
      expect(answer.body).toMatchObject({ code: 'VIGIL_INVALID_CURSOR' });
    }
  });

  it('refuses callers without valid credentials (401), and says 503 when no event store is configured', async () => {
    for (const path of [`/api/v1/events?${RANGE}`, `/api/v1/events/histogram?${RANGE}`]) {
      for (const as of [undefined, 'forged']) {
        const answer = await api.call('GET', path, { as });
        expect(answer.status).toBe(401);
        expect(answer.body).toMatchObject({ code: 'VIGIL_UNAUTHENTICATED' });
        expect(answer.headers.get('www-authenticate')).toBe('Bearer');
      }
      const none = await bare.call('GET', path);
      expect(none.status).toBe(503);
      expect(none.body).toMatchObject({ code: 'VIGIL_EVENTS_UNAVAILABLE' });
      expect((none.body as { detail: string }).detail).toContain('api.event_store');
    }
  });
});
