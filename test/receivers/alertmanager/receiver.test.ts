import { gzipSync } from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import type { VigilService } from '../../../src/service/service.ts';
import type { Captured } from '../../support/captureExporter.ts';
import { startCapturingLogs } from '../../support/captureService.ts';
import { waitFor } from '../../support/waitFor.ts';

interface Harness {
  service: VigilService;
  captured: Captured;
  url(path: string): string;
}

let running: VigilService | undefined;
afterEach(async () => {
  await running?.shutdown();
  running = undefined;
});

/** An in-process Vigil whose alertmanager receiver (and json receiver, on the same port) feed a capturing exporter. */
async function start(receiverYaml = ''): Promise<Harness> {
  const { service, captured } = await startCapturingLogs(
    `  alertmanager:
    endpoint: 127.0.0.1:0
${receiverYaml.replace(/^/gm, '    ')}
  json: { endpoint: 127.0.0.1:0 }`,
    ['alertmanager', 'json'],
  );
  running = service;
  return { service, captured, url: (path) => `http://127.0.0.1:${service.httpAddresses[0]!.port}${path}` };
}

async function post(
  h: Harness,
  body: unknown,
  headers: Record<string, string> = { 'content-type': 'application/json' },
) {
  const res = await fetch(h.url('/api/v2/alerts'), {
    method: 'POST',
    body: typeof body === 'string' || body instanceof Buffer ? body : JSON.stringify(body),
    headers,
  });
  return { status: res.status, text: await res.text() };
}

const alert = (instance: string, endsAt?: string) => ({
  labels: { alertname: 'InstanceDown', instance, job: 'node' },
  annotations: { summary: `${instance} down` },
  startsAt: new Date(Date.now() - 60_000).toISOString(),
  ...(endsAt ? { endsAt } : {}),
});

describe('alertmanager receiver: POST /api/v2/alerts', () => {
  it('answers 200 with an empty body, as Alertmanager does, and passes firing and resolved alerts on as down and up events', async () => {
    const h = await start();
    const res = await post(h, [alert('web-1'), alert('web-2', new Date(Date.now() - 1000).toISOString())]);
    expect(res).toEqual({ status: 200, text: '' });
    await waitFor(() => h.captured.logs.length === 2, 'two events');
    const byAsset = Object.fromEntries(h.captured.logs.map((e) => [e.asset, e]));
    expect(byAsset['web-1']).toMatchObject({
      type: 'down',
      title: 'InstanceDown',
      service: 'node',
      source: 'alertmanager',
    });
    expect(byAsset['web-2']).toMatchObject({ type: 'up', title: 'InstanceDown' });
  });

  it('takes gzip bodies and an empty array', async () => {
    const h = await start();
    expect(await post(h, [], { 'content-type': 'application/json' })).toEqual({ status: 200, text: '' });
    expect(
      (
        await post(h, gzipSync(JSON.stringify([alert('web-3')])), {
          'content-type': 'application/json',
          'content-encoding': 'gzip',
        })
      ).status,
    ).toBe(200);
    await waitFor(() => h.captured.logs.some((e) => e.asset === 'web-3'), 'the gzipped alert');
  });

  it('keeps the valid alerts of a partly bad array and answers 400 naming each bad one', async () => {
    const h = await start();
    const res = await post(h, [alert('web-1'), { labels: {} }, alert('web-2'), { annotations: { summary: 'x' } }]);
    expect(res.status).toBe(400);
    const body = JSON.parse(res.text) as { error: string; code: string; accepted: number; rejected: unknown[] };
    expect(body).toEqual({
      error:
        '2 of 4 alerts rejected (the others were accepted): alert 1: at least one label pair required; alert 3: labels is required',
      code: 'VIGIL_INVALID_INPUT',
      accepted: 2,
      rejected: [
        { index: 1, reason: 'at least one label pair required' },
        { index: 3, reason: 'labels is required' },
      ],
    });
    await waitFor(() => h.captured.logs.length === 2, 'the two valid alerts');
    expect(h.captured.logs.map((e) => e.asset).sort()).toEqual(['web-1', 'web-2']);
  });

  it('answers a malformed body 400 with the reason and takes nothing from it', async () => {
    const h = await start();
    const cases: [string, RegExp][] = [
      ['[{"labels": ', /^body is not valid JSON/],
      [JSON.stringify(alert('web-1')), /^the body must be a JSON array of alerts .* got object$/],
      ['null', /got null$/],
      ['', /^request body is empty; send a JSON array of alerts$/],
    ];
    for (const [body, reason] of cases) {
      const res = await post(h, body);
      expect(res.status, body).toBe(400);
      expect((JSON.parse(res.text) as { error: string }).error, body).toMatch(reason);
    }
    expect(h.captured.logs).toEqual([]);
  });

  it('refuses other media types (415), browser requests (403) and methods (405)', async () => {
    const h = await start();
    expect((await post(h, JSON.stringify([alert('a')]), { 'content-type': 'text/plain' })).status).toBe(415);
    expect(
      (
        await post(h, JSON.stringify([alert('a')]), {
          'content-type': 'application/json',
          origin: 'https://evil.example',
        })
      ).status,
    ).toBe(403);
    const get = await fetch(h.url('/api/v2/alerts'));
    expect(get.status).toBe(405);
    expect(get.headers.get('allow')).toBe('POST');
    expect(h.captured.logs).toEqual([]);
  });

  it('refuses more alerts than max_records_per_request (413) and bodies over max_request_body_size (413)', async () => {
    const h = await start('max_records_per_request: 3\nmax_request_body_size: 4KiB');
    const four = await post(h, [alert('a'), alert('b'), alert('c'), alert('d')]);
    expect(four.status).toBe(413);
    expect((JSON.parse(four.text) as { error: string }).error).toContain(
      'receivers.alertmanager.max_records_per_request',
    );
    expect((await post(h, [{ labels: { big: 'x'.repeat(5000) } }])).status).toBe(413);
    expect(h.captured.logs).toEqual([]);
  });

  it("answers Alertmanager's health and readiness probes", async () => {
    const h = await start();
    for (const path of ['/-/healthy', '/-/ready']) {
      const res = await fetch(h.url(path));
      expect(res.status, path).toBe(200);
      expect(await res.text()).toBe('OK');
    }
  });
});
