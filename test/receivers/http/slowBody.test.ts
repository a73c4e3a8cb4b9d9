import { connect } from 'node:net';
import type { OtlpReceiver } from '../../../src/receivers/otlp/receiver.ts';
import { afterEach, describe, expect, it } from 'vitest';
import type { VigilService } from '../../../src/service/service.ts';
import { startCapturingLogs } from '../../support/captureService.ts';
import { rawCall } from '../otlp/harness.ts';
import { waitFor } from '../../support/waitFor.ts';

let service: VigilService | undefined;
const opened: { destroy(): void }[] = [];
afterEach(async () => {
  for (const s of opened.splice(0)) s.destroy();
  await service?.shutdown();
  service = undefined;
});

/** A raw HTTP/1.1 connection: what it was answered and whether Vigil closed it. */
async function rawPost(port: number, path: string, contentType: string, length: number) {
  const socket = connect({ port, host: '127.0.0.1' });
  opened.push(socket);
  let answer = '';
  let closed = false;
  socket.on('data', (d: Buffer) => (answer += d.toString('latin1')));
  socket.on('close', () => (closed = true));
  socket.on('error', () => {});
  await new Promise((r) => socket.once('connect', r));
  socket.write(
    `POST ${path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: ${contentType}\r\nContent-Length: ${length}\r\n\r\n`,
  );
  return { socket, answer: () => answer, closed: () => closed };
}

/**
 * The first `sent` bytes of a protobuf message `total` bytes long that is one unknown field (15,
 * length-delimited) spanning it: well-formed as far as it goes, so it is held as stalled, not
 * refused as invalid protobuf before its end.
 */
function spanningUnknownField(total: number, sent: number): Buffer {
  const head = [0x7a];
  for (let n = total - 4; ; n >>>= 7) {
    if (n < 0x80) {
      head.push(n);
      break;
    }
    head.push((n & 0x7f) | 0x80);
  }
  if (head.length !== 4) throw new Error('spanningUnknownField takes a total whose length varint is 3 bytes');
  const out = Buffer.alloc(sent);
  Buffer.from(head).copy(out);
  return out;
}

describe('min_body_rate', () => {
  it('answers a body that stalls 408 long before read_timeout, and takes a slow one above the rate', async () => {
    const started = await startCapturingLogs(
      `  json: { endpoint: 127.0.0.1:0, read_timeout: 120s, min_body_rate: 1KiB }
  otlp: { protocols: { http: { endpoint: 127.0.0.1:0, read_timeout: 120s, min_body_rate: 1KiB } } }`,
      ['json', 'otlp'],
    );
    service = started.service;
    // Both receivers share the one listener on 127.0.0.1:0.
    const json = service.httpAddresses[0]!.port;
    const otlp = json;
    const stalledJson = await rawPost(json, '/v1/events', 'application/json', 1_000_000);
    stalledJson.socket.write('[{"body":"');
    const stalledOtlp = await rawPost(otlp, '/v1/logs', 'application/x-protobuf', 1_000_000);
    stalledOtlp.socket.write(spanningUnknownField(1_000_000, 100));
    // 2 KiB/s, twice the minimum, for 8 s: slow, but a sender within the rate.
    const event = JSON.stringify({ body: `slow ${'x'.repeat(16 * 1024 - 20)}` });
    const slow = await rawPost(json, '/v1/events', 'application/json', event.length);
    for (let sent = 0; sent < event.length; sent += 512) {
      slow.socket.write(event.slice(sent, sent + 512));
      await new Promise((r) => setTimeout(r, 250));
    }
    for (const stalled of [stalledJson, stalledOtlp]) {
      await waitFor(() => stalled.answer().startsWith('HTTP/1.1 408') && stalled.closed(), 'a 408 and a close', 30_000);
      expect(stalled.answer()).toContain('min_body_rate');
    }
    await waitFor(() => slow.answer().includes('\r\n\r\n'), 'the slow sender to be answered', 30_000);
    expect(slow.answer()).toMatch(/^HTTP\/1\.1 200 /);
    expect(started.captured.logs.map((e) => String(e.body).slice(0, 4))).toEqual(['slow']);
  });
});

describe('min_body_rate on OTLP/gRPC', () => {
  it('ends a call whose message stalls DEADLINE_EXCEEDED long before read_timeout', async () => {
    const started = await startCapturingLogs(
      `  otlp: { protocols: { grpc: { endpoint: 127.0.0.1:0, read_timeout: 120s, min_body_rate: 1KiB } } }`,
      ['otlp'],
    );
    service = started.service;
    // A prefix announcing 1 MB, 100 bytes of it, and nothing more.
    const frame = Buffer.alloc(105);
    frame.writeUInt32BE(1_000_000, 1);
    spanningUnknownField(1_000_000, 100).copy(frame, 5);
    const answer = await rawCall(`127.0.0.1:${(service.receiver('otlp') as OtlpReceiver).grpcPort!}`, frame, {}, false);
    expect(answer.grpcStatus).toBe(4);
    // Ended by the rate, not by read_timeout (which would say so).
    expect(answer.grpcMessage).toMatch(/arrived slower than 1024 bytes\/s over \d+ s \(min_body_rate\)/);
  });
});
