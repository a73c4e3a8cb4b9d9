import { connect } from 'node:net';
import { describe, expect, it } from 'vitest';
import { HttpListeners } from '../../src/service/httpListeners.ts';
import { waitFor } from '../support/waitFor.ts';

describe('HttpListeners during shutdown', () => {
  it('answers a request that arrives on a kept-alive connection with 503, Retry-After and Connection: close', async () => {
    const listeners = new HttpListeners();
    const server = listeners.get({ host: '127.0.0.1', port: 0 });
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let handled = 0;
    server.post('/v1/events', async () => {
      handled++;
      await gate;
      return { accepted: 1 };
    });
    await listeners.listenAll();
    let arrived = 0;
    server.server.on('request', () => arrived++);
    const { port } = listeners.addresses()[0]!;

    // One keep-alive connection: its first request is in flight when shutdown starts, the second comes after.
    const sock = connect(port, '127.0.0.1');
    let answer = '';
    sock.on('data', (d: Buffer) => (answer += d.toString()));
    const closed = new Promise<void>((r) => sock.on('close', () => r()));
    const request =
      'POST /v1/events HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\n{}';
    sock.write(request);
    await waitFor(() => handled === 1, 'the first request to reach its handler');

    const closing = listeners.closeAll();
    sock.write(request);
    await waitFor(() => arrived === 2, 'the request sent while shutting down to arrive');
    release();
    await closed;
    await closing;

    const responses = answer.split(/(?=HTTP\/1\.1 )/);
    expect(responses).toHaveLength(2);
    expect(responses[0]).toMatch(/^HTTP\/1\.1 200 /);
    expect(responses[1]).toMatch(/^HTTP\/1\.1 503 /);
    expect(responses[1]).toMatch(/\r\nretry-after: 5\r\n/i);
    expect(responses[1]).toMatch(/\r\nconnection: close\r\n/i);
    expect(responses[1]).toContain('"code":"VIGIL_SHUTTING_DOWN"');
    expect(handled).toBe(1);
  });
});
