import { afterEach, describe, expect, it } from 'vitest';
import { CONSOLE_CSP } from '../../src/api/consoleRoutes.ts';
import type { CorrelationEngine } from '../../src/correlation/engine.ts';
import type { IncidentDesk } from '../../src/correlation/incidentActions.ts';
import type { IncidentChange } from '../../src/model/incident.ts';
import { engineFrom, ev } from '../support/correlation.ts';
import { waitFor } from '../support/waitFor.ts';
import { engineDesk, FakeAuthenticator, SpecChecker, startApi, type RunningApi } from './harness.ts';

const RULES = `
defaults: { allowed_lateness: 1h, group_wait: 0s }
rules:
  - { kind: pair, name: link_down, group_by: [tenant, asset] }
`;
const T0 = Date.parse('2026-12-01T10:00:00Z');

const auth = new FakeAuthenticator()
  .add('viewer', { subject: 'victor', role: 'viewer' })
  .add('acme-op', { subject: 'ann', role: 'operator', tenant: 'acme' })
  .add('globex-viewer', { subject: 'gina', role: 'viewer', tenant: 'globex' });

const cleanup: (() => Promise<unknown> | void)[] = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

/** The engine's desk with the runtime's `watch`: actions and `emit` reach the watchers. */
function watchedDesk(engine: CorrelationEngine, clock: () => number) {
  const watchers = new Set<(c: readonly IncidentChange[]) => void>();
  const base = engineDesk(engine, clock);
  const emit = (changes: IncidentChange[]) => {
    for (const w of watchers) w(changes);
  };
  const desk: IncidentDesk = {
    ...base,
    act: async (id, actor, action) => {
      const out = await base.act(id, actor, action);
      if (out.ok) emit(out.changes);
      return out;
    },
    watch: (w) => {
      watchers.add(w);
      return () => watchers.delete(w);
    },
  };
  return { desk, emit, watchers };
}

function openIncident(engine: CorrelationEngine, tenant: string, asset: string, t: number): IncidentChange[] {
  return engine.process([ev(t, { tenant, asset, type: 'down', severityNumber: 17, title: `${asset} down` })], t);
}

/** Reads server-sent events from the stream into `events` until closed. */
async function readStream(api: RunningApi, as: string) {
  const controller = new AbortController();
  cleanup.push(() => controller.abort());
  const res = await fetch(`${api.base}/api/v1/incidents/stream`, {
    headers: { authorization: `Bearer ${as}` },
    signal: controller.signal,
  });
  const events: { event: string; data: unknown }[] = [];
  const state = { ended: false };
  void (async () => {
    const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
    let buf = '';
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += value;
        let end: number;
        while ((end = buf.indexOf('\n\n')) !== -1) {
          const block = buf.slice(0, end);
          buf = buf.slice(end + 2);
          const event = /^event: (.*)$/m.exec(block)?.[1];
          const data = /^data: (.*)$/m.exec(block)?.[1];
          if (event) events.push({ event, data: data ? JSON.parse(data) : undefined });
        }
      }
    } catch {
      /* aborted */
    }
    state.ended = true;
  })();
  return { res, events, state };
}

describe('the console on the API listener', () => {
  it('serves the console under /ui/ with a strict CSP and ETags, redirects /ui, and routes any page path to the console', async () => {
    const api = await startApi({ desk: () => undefined, authenticator: auth });
    cleanup.push(() => api.close());
    const redirect = await fetch(`${api.base}/ui`, { redirect: 'manual' });
    expect(redirect.status).toBe(302);
    expect(redirect.headers.get('location')).toBe('/ui/');

    const page = await fetch(`${api.base}/ui/`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(page.headers.get('content-security-policy')).toBe(CONSOLE_CSP);
    expect(CONSOLE_CSP).toMatch(/^default-src 'self';/);
    expect(CONSOLE_CSP).not.toContain('unsafe');
    const html = await page.text();
    // Nothing inline, nothing from elsewhere.
    expect(html).toContain('<script type="module" src="/ui/app.js"></script>');
    expect(html).not.toMatch(/<script>|<style|style=|https?:\/\//);

    const script = await fetch(`${api.base}/ui/app.js`);
    expect(script.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    expect(script.headers.get('cache-control')).toBe('no-cache');
    const etag = script.headers.get('etag')!;
    expect(etag).toMatch(/^"[A-Za-z0-9_-]{27}"$/);
    expect((await script.text()).length).toBeGreaterThan(1000);
    const again = await fetch(`${api.base}/ui/app.js`, { headers: { 'if-none-match': etag } });
    expect(again.status).toBe(304);
    expect(await again.text()).toBe('');
    expect((await fetch(`${api.base}/ui/app.css`)).headers.get('content-type')).toBe('text/css; charset=utf-8');

    // A page of the console (a deep link) is the console; a missing file is missing.
    const deep = await fetch(`${api.base}/ui/incidents/abc?state=open`);
    expect(deep.status).toBe(200);
    expect(await deep.text()).toBe(html);
    expect((await fetch(`${api.base}/ui/nothing.js`)).status).toBe(404);
    // The console is not part of the API's document.
    const doc = (await api.call('GET', '/openapi.json')).body as { paths: Record<string, unknown> };
    expect(Object.keys(doc.paths).filter((p) => p.startsWith('/ui') || p.endsWith('/stream'))).toEqual([]);
  });

  it('tells the console who signed in: subject, role and tenant, as the document declares', async () => {
    const api = await startApi({ desk: () => undefined, authenticator: auth });
    cleanup.push(() => api.close());
    const spec = await SpecChecker.load(api.base);
    const me = await api.call('GET', '/api/v1/whoami', { as: 'acme-op' });
    spec.check('GET', '/api/v1/whoami', me);
    expect(me.body).toEqual({ subject: 'ann', role: 'operator', tenant: 'acme', method: 'token' });
    const viewer = await api.call('GET', '/api/v1/whoami', { as: 'viewer' });
    expect(viewer.body).toEqual({ subject: 'victor', role: 'viewer', tenant: null, method: 'token' });
    const stranger = await api.call('GET', '/api/v1/whoami', { as: 'stolen' });
    spec.check('GET', '/api/v1/whoami', stranger);
    expect(stranger.body).toMatchObject({ status: 401, code: 'VIGIL_UNAUTHENTICATED' });
    // Without an authenticator everyone is anonymous with the configured role.
    const open = await startApi({ desk: () => undefined, anonymousRole: 'viewer' });
    cleanup.push(() => open.close());
    expect((await open.call('GET', '/api/v1/whoami')).body).toEqual({
      subject: 'anonymous',
      role: 'viewer',
      tenant: null,
      method: 'none',
    });
  });

  it("pushes incident changes on the stream to the caller's tenant only, and refuses a caller without credentials", async () => {
    const engine = engineFrom(RULES);
    const { desk, emit, watchers } = watchedDesk(engine, () => T0 + 60_000);
    const api = await startApi({ desk: () => desk, authenticator: auth });
    cleanup.push(() => api.close());

    const refused = await fetch(`${api.base}/api/v1/incidents/stream`);
    expect(refused.status).toBe(401);
    expect(refused.headers.get('content-type')).toMatch(/^application\/problem\+json/);

    const acme = await readStream(api, 'acme-op');
    const globex = await readStream(api, 'globex-viewer');
    const everyone = await readStream(api, 'viewer');
    expect(acme.res.headers.get('content-type')).toBe('text/event-stream; charset=utf-8');
    for (const s of [acme, globex, everyone])
      await waitFor(() => s.events.some((e) => e.event === 'ready'), 'the stream to be ready');

    const opened = openIncident(engine, 'acme', 'sw-1', T0);
    emit(opened);
    const id = opened[0]!.incident.id;
    await waitFor(() => acme.events.some((e) => e.event === 'incident'), 'the acme incident on its stream');
    expect(acme.events.filter((e) => e.event === 'incident').map((e) => e.data)).toEqual([
      expect.objectContaining({ id, tenant: 'acme', status: 'open', title: 'sw-1 down' }),
    ]);

    // An action through the API reaches the streams as it happens.
    const ack = await api.call('POST', `/api/v1/incidents/${id}/acknowledge`, { as: 'acme-op', body: {} });
    expect(ack.status).toBe(200);
    await waitFor(
      () => acme.events.some((e) => (e.data as { status?: string })?.status === 'acknowledged'),
      'the acknowledgement on the stream',
    );
    await waitFor(() => everyone.events.filter((e) => e.event === 'incident').length === 2, 'both on the open stream');
    // A globex change reaches globex; nothing of acme's ever did.
    emit(openIncident(engine, 'globex', 'sw-9', T0 + 1000));
    await waitFor(() => globex.events.some((e) => e.event === 'incident'), 'the globex incident on its stream');
    expect(
      globex.events.filter((e) => e.event === 'incident').map((e) => (e.data as { tenant: string }).tenant),
    ).toEqual(['globex']);
    expect(
      acme.events.filter((e) => e.event === 'incident').every((e) => (e.data as { tenant: string }).tenant === 'acme'),
    ).toBe(true);

    // Closing the listener ends the streams (they are never idle) and unsubscribes them.
    await api.close();
    cleanup.length = 0;
    await waitFor(() => acme.state.ended && globex.state.ended && everyone.state.ended, 'the streams to end');
    expect(watchers.size).toBe(0);
  });

  it('gives every incident of the list and of the stream its ticket links, as the document declares', async () => {
    const engine = engineFrom(RULES);
    const { desk, emit } = watchedDesk(engine, () => T0 + 60_000);
    const ticket = {
      exporter: 'glpi',
      ref: '42',
      url: 'https://glpi.example/front/ticket.form.php?id=42',
      resolved: false,
    };
    const api = await startApi({
      desk: () => desk,
      authenticator: auth,
      ticketsOf: async (i) => (i.labels.asset === 'sw-1' ? [ticket] : []),
    });
    cleanup.push(() => api.close());
    const stream = await readStream(api, 'viewer');
    await waitFor(() => stream.events.some((e) => e.event === 'ready'), 'the stream to be ready');
    emit([...openIncident(engine, 'acme', 'sw-1', T0), ...openIncident(engine, 'acme', 'sw-2', T0 + 1000)]);
    await waitFor(() => stream.events.filter((e) => e.event === 'incident').length === 2, 'both on the stream');
    const byAsset = (items: unknown[]) =>
      Object.fromEntries(
        (items as { labels: { asset: string }; tickets: unknown }[]).map((i) => [i.labels.asset, i.tickets]),
      );
    const expected = { 'sw-1': [ticket], 'sw-2': [] };
    expect(byAsset(stream.events.filter((e) => e.event === 'incident').map((e) => e.data))).toEqual(expected);

    const list = await api.call('GET', '/api/v1/incidents', { as: 'viewer' });
    (await SpecChecker.load(api.base)).check('GET', '/api/v1/incidents', list);
    expect(byAsset((list.body as { items: unknown[] }).items)).toEqual(expected);
  });

  it('ends the stream of a reader that falls more than 8 MiB behind instead of buffering without end, and unsubscribes it', async () => {
    const engine = engineFrom(RULES);
    const { desk, emit, watchers } = watchedDesk(engine, () => T0 + 60_000);
    const api = await startApi({ desk: () => desk, authenticator: auth });
    cleanup.push(() => api.close());
    const controller = new AbortController();
    cleanup.push(() => controller.abort());
    // Connected, then not read while changes pile up: more than the 8 MiB the server holds.
    const res = await fetch(`${api.base}/api/v1/incidents/stream`, {
      headers: { authorization: 'Bearer viewer' },
      signal: controller.signal,
    });
    await waitFor(() => watchers.size === 1, 'the subscription');
    const opened = openIncident(engine, 'acme', 'sw-1', T0);
    const sent = 40_000;
    for (let n = 0; n < sent; n++) emit(opened);
    let text = '';
    const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      text += value;
    }
    const received = text.split('event: incident\n').length - 1;
    expect(received).toBeGreaterThan(0);
    expect(received).toBeLessThan(sent);
    await waitFor(() => watchers.size === 0, 'the dropped reader unsubscribed');
  });
});
