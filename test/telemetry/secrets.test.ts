import { afterEach, describe, expect, it } from 'vitest';
import { redactUrl } from '../../src/telemetry/redact.ts';
import { startDaemon, type RunningDaemon } from '../support/daemon.ts';
import { waitFor } from '../support/waitFor.ts';

let daemon: RunningDaemon | undefined;
afterEach(async () => {
  await daemon?.stop('SIGKILL');
  daemon = undefined;
});

describe('secrets stay out of the logs', () => {
  it('masks the password of a URL and nothing else', () => {
    expect(redactUrl('https://vigil:s3cret@ch.example:8443/?database=otel')).toBe(
      'https://vigil:[redacted]@ch.example:8443/?database=otel',
    );
    expect(redactUrl('https://ch.example:8443')).toBe('https://ch.example:8443');
    expect(redactUrl('not a url')).toBe('not a url');
  });

  it('never prints the ClickHouse password, from the URL or the password key, while the server is away', async () => {
    // Nothing listens on port 9: the exporter logs that ClickHouse is unreachable and keeps spooling.
    daemon = await startDaemon(`
receivers:
  json: { endpoint: 127.0.0.1:0 }
exporters:
  clickhouse:
    endpoint: http://vigil:url-s3cret@127.0.0.1:9
    username: vigil
    password: key-s3cret
    retry: { initial_interval: 50ms, max_interval: 100ms }
service:
  pipelines:
    logs: { receivers: [json], exporters: [clickhouse] }
  telemetry:
    metrics: { endpoint: 127.0.0.1:0 }
    logs: { level: debug }
`);
    await fetch(daemon.url('/v1/events'), {
      method: 'POST',
      body: '{"asset":"a"}',
      headers: { 'content-type': 'application/json' },
    });
    await waitFor(
      () => daemon!.logs.some((l) => l.includes('ClickHouse insert failed')),
      'a failed insert to be logged',
    );
    await daemon.stop('SIGTERM');
    const all = daemon.logs.join('\n');
    expect(all).toContain('127.0.0.1:9');
    expect(all).not.toContain('url-s3cret');
    expect(all).not.toContain('key-s3cret');
  });
});
