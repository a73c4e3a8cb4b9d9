import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import { startDaemon, type RunningDaemon } from '../support/daemon.ts';
import { readNdjson } from '../support/ndjson.ts';

const config = `
receivers:
  json:
    endpoint: 127.0.0.1:0
    max_request_body_size: 64KiB
exporters:
  file/events:
    path: events.ndjson
service:
  pipelines:
    logs: { receivers: [json], exporters: [file/events] }
  telemetry:
    metrics: { endpoint: 127.0.0.1:0 }
    logs: { level: info }
`;

let daemon: RunningDaemon | undefined;
afterEach(async () => {
  await daemon?.stop('SIGKILL');
  daemon = undefined;
});

async function post(
  path: string,
  body: string | Buffer,
  headers: Record<string, string> = { 'content-type': 'application/json' },
) {
  const res = await fetch(daemon!.url(path), { method: 'POST', body, headers });
  return { status: res.status, headers: res.headers, json: (await res.json()) as Record<string, unknown> };
}

describe('vigil run: JSON events to the file exporter', () => {
  it('stores posted events (object, array, NDJSON, gzip) and says so in /metrics', async () => {
    daemon = await startDaemon(config);
    expect(
      (await post('/v1/events', JSON.stringify({ asset: 'web-1', type: 'down', message: 'HTTP 500 on /' }))).json,
    ).toEqual({ accepted: 1, rejected: [] });
    expect((await post('/ingest', JSON.stringify([{ asset: 'web-2' }, { asset: 'web-3' }]))).json).toEqual({
      accepted: 2,
      rejected: [],
    });
    expect(
      (await post('/v1/events', '{"asset":"web-4"}\n{"asset":"web-5"}\n', { 'content-type': 'application/x-ndjson' }))
        .json,
    ).toEqual({ accepted: 2, rejected: [] });
    const gz = gzipSync(JSON.stringify({ asset: 'web-6' }));
    expect(
      (await post('/v1/events', gz, { 'content-type': 'application/json', 'content-encoding': 'gzip' })).json,
    ).toEqual({ accepted: 1, rejected: [] });

    expect(await daemon.stop()).toBe(0);
    const events = readNdjson<{ asset: string; type: string; title: string }>(join(daemon.dataDir, 'events.ndjson'));
    expect(events.map((e) => e.asset)).toEqual(['web-1', 'web-2', 'web-3', 'web-4', 'web-5', 'web-6']);
    expect(events[0]).toMatchObject({ type: 'down', title: 'HTTP 500 on /' });
  });

  it('answers bad input with 400 and its reason, and keeps the good records next to it', async () => {
    daemon = await startDaemon(config);
    const broken = await post('/v1/events', '{"asset": ');
    expect(broken.status).toBe(400);
    expect(broken.json.error).toMatch(/body is not valid JSON/);

    const allBad = await post('/v1/events', JSON.stringify([{ type: 'sideways' }, 42]));
    expect(allBad.status).toBe(400);
    expect(allBad.json.rejected).toEqual([
      { index: 0, reason: 'field "type": type must be one of up, down, neutral; got "sideways"' },
      { index: 1, reason: 'an event must be a JSON object, got number' },
    ]);

    const mixed = await post(
      '/v1/events',
      JSON.stringify([{ asset: 'good-1' }, { asset: 'bad', ts: 'soon' }, { asset: 'good-2' }]),
    );
    expect(mixed.status).toBe(200);
    expect(mixed.json).toEqual({
      accepted: 2,
      rejected: [{ index: 1, reason: expect.stringContaining('field "ts": not a timestamp') }],
    });

    const empty = await post('/v1/events', '');
    expect(empty.status).toBe(400);
    expect(empty.json.error).toMatch(/body is empty/);

    const huge = await post('/v1/events', JSON.stringify({ message: 'x'.repeat(70 * 1024) }));
    expect(huge.status).toBe(413);

    const bomb = gzipSync(Buffer.alloc(10 * 1024 * 1024, 0x20)); // ~10 KiB on the wire, 10 MiB inflated
    const bombed = await post('/v1/events', bomb, { 'content-type': 'application/json', 'content-encoding': 'gzip' });
    expect(bombed.status).toBe(413);

    const proto = await post('/v1/events', 'x', { 'content-type': 'application/x-protobuf' });
    expect(proto.status).toBe(415);

    const badGzip = await post('/v1/events', Buffer.from('not gzip at all'), {
      'content-type': 'application/json',
      'content-encoding': 'gzip',
    });
    expect(badGzip.status).toBe(400);

    const get = await fetch(daemon.url('/v1/events'));
    expect(get.status).toBe(405);

    // Still serving after all that.
    expect((await post('/v1/events', JSON.stringify({ asset: 'after' }))).status).toBe(200);
    expect(await daemon.stop()).toBe(0);
    const assets = readNdjson<{ asset: string }>(join(daemon.dataDir, 'events.ndjson')).map((e) => e.asset);
    expect(assets).toEqual(['good-1', 'good-2', 'after']);
  });

  it('loses no acknowledged event when stopped with SIGTERM under load', async () => {
    daemon = await startDaemon(config);
    const acked: string[] = [];
    let stopAt = 0;
    let inFlight = 0;
    let inFlightAtStop = 0;
    const senders = Array.from({ length: 8 }, async (_, s) => {
      for (let i = 0; ; i++) {
        const batch = Array.from({ length: 50 }, (_, j) => ({ asset: `s${s}-r${i}-e${j}` }));
        let res: Response;
        inFlight++;
        try {
          res = await fetch(daemon!.url('/v1/events'), {
            method: 'POST',
            body: JSON.stringify(batch),
            headers: { 'content-type': 'application/json' },
          });
        } catch {
          return; // listener closed
        } finally {
          inFlight--;
        }
        if (res.status === 200) acked.push(...batch.map((b) => b.asset));
        else {
          await res.body?.cancel();
          if (res.status === 503 || stopAt) return;
        }
        if (i === 20 && s === 0) {
          stopAt = acked.length;
          inFlightAtStop = inFlight;
          daemon!.proc.kill('SIGTERM');
        }
      }
    });
    await Promise.all(senders);
    expect(await daemon.exited).toBe(0);
    expect(stopAt).toBeGreaterThan(0);
    const stored = new Set(readNdjson<{ asset: string }>(join(daemon.dataDir, 'events.ndjson')).map((e) => e.asset));
    const lost = acked.filter((a) => !stored.has(a));
    // Under load: other senders' requests were on the wire when the signal went out.
    expect(inFlightAtStop).toBeGreaterThan(0);
    expect(lost).toEqual([]);
  });

  it('serves /healthz, /readyz and Prometheus text that promtool accepts', async () => {
    daemon = await startDaemon(config);
    await post('/v1/events', JSON.stringify({ asset: 'm' }));
    await post('/v1/events', JSON.stringify({ type: 'bad' }));
    expect((await fetch(daemon.adminUrl('/healthz'))).status).toBe(200);
    const ready = await fetch(daemon.adminUrl('/readyz'));
    expect(ready.status).toBe(200);
    expect(await ready.json()).toMatchObject({
      status: 'ready',
      components: { 'service:listeners': { status: 'ok' }, 'exporter:file/events': { status: 'ok' } },
    });

    const text = await (await fetch(daemon.adminUrl('/metrics'))).text();
    expect(text).toMatch(
      /^vigil_receiver_accepted_records_total\{receiver="json",signal="logs",transport="http"\} 1$/m,
    );
    expect(text).toMatch(/^vigil_receiver_rejected_records_total\{receiver="json",signal="logs"\} 1$/m);
    expect(text).toMatch(/^vigil_exporter_sent_records_total\{exporter="file\/events",signal="logs"\} 1$/m);
    expect(text).toMatch(/^vigil_pipeline_queue_capacity\{pipeline="logs"\} 20000$/m);
    // Process and runtime metrics under the names stock Node.js dashboards expect, and who is running.
    expect(text).toMatch(/^nodejs_eventloop_lag_seconds /m);
    expect(text).toMatch(/^process_resident_memory_bytes /m);
    expect(text).not.toMatch(/^vigil_process_/m);
    expect(text).toContain(`vigil_build_info{version="0.1.0",node="${process.versions.node}"} 1`);
    const file = join(daemon.dataDir, 'metrics.txt');
    writeFileSync(file, text);
    // promtool (Debian's prometheus package) is the reference parser for the exposition format.
    const out = execFileSync('sh', ['-c', `promtool check metrics < ${file} 2>&1; echo "exit=$?"`]).toString();
    expect(out.trim().split('\n').at(-1)).toBe('exit=0');
  });

  it('rejects a record nested 20,000 deep alone, with its reason, and stores the records beside it', async () => {
    daemon = await startDaemon(config);
    const deep = '{"asset":"deep","x":' + '['.repeat(20_000) + ']'.repeat(20_000) + '}';
    const body = `[{"asset":"good-1"},${deep},{"asset":"good-2"}]`;
    const res = await fetch(daemon.url('/v1/events'), {
      method: 'POST',
      body,
      headers: { 'content-type': 'application/json' },
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({
      accepted: 2,
      rejected: [{ index: 1, reason: 'values nested deeper than 64 levels; flatten the event' }],
    });
    // The next request is served as usual: nothing downstream is stuck retrying the deep record.
    const next = await fetch(daemon.url('/v1/events'), {
      method: 'POST',
      body: '{"asset":"good-3"}',
      headers: { 'content-type': 'application/json' },
    });
    expect(next.status).toBe(200);
    expect(await daemon.stop()).toBe(0);
    const events = readNdjson<{ asset: string }>(join(daemon.dataDir, 'events.ndjson'));
    expect(events.map((e) => e.asset)).toEqual(['good-1', 'good-2', 'good-3']);
  });

  it('takes only JSON media types, and nothing a web page could post without a CORS preflight', async () => {
    daemon = await startDaemon(config);
    const body = '{"asset":"csrf"}';
    for (const contentType of [
      'text/plain',
      'application/x-www-form-urlencoded',
      'multipart/form-data; boundary=x',
      '',
    ]) {
      const res = await fetch(daemon.url('/v1/events'), {
        method: 'POST',
        body,
        headers: contentType ? { 'content-type': contentType } : {},
      });
      // fetch gives a string body text/plain when no type is set: the bare case is refused as text/plain.
      expect(res.status, contentType || '(none)').toBe(415);
      expect(((await res.json()) as { error: string }).error).toMatch(
        /send application\/json or application\/x-ndjson/,
      );
    }
    const fromPage = await fetch(daemon.url('/v1/events'), {
      method: 'POST',
      body,
      headers: { 'content-type': 'application/json', origin: 'https://evil.example' },
    });
    expect(fromPage.status).toBe(403);
    expect(((await fromPage.json()) as { code: string }).code).toBe('VIGIL_CROSS_ORIGIN');
    for (const contentType of [
      'application/json; charset=utf-8',
      'application/vnd.vigil+json',
      'application/x-ndjson',
    ]) {
      const res = await fetch(daemon.url('/v1/events'), {
        method: 'POST',
        body: '{"asset":"ok"}',
        headers: { 'content-type': contentType },
      });
      expect(res.status, contentType).toBe(200);
    }
    expect(await daemon.stop()).toBe(0);
    expect(readNdjson<{ asset: string }>(join(daemon.dataDir, 'events.ndjson')).map((e) => e.asset)).toEqual([
      'ok',
      'ok',
      'ok',
    ]);
  });
});
