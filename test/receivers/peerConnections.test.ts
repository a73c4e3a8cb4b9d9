import { connect, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { OtlpReceiver } from '../../src/receivers/otlp/receiver.ts';
import type { VigilService } from '../../src/service/service.ts';
import { startCapturingLogs } from '../support/captureService.ts';
import { grpcExport, http2From, postJsonFrom } from '../support/peers.ts';
import { waitFor } from '../support/waitFor.ts';

let service: VigilService | undefined;
// Sockets and sessions the test opened.
const opened: { destroy(): void }[] = [];
afterEach(async () => {
  for (const o of opened.splice(0)) o.destroy();
  await service?.shutdown();
  service = undefined;
});

const ATTACKER = '127.0.0.1';
const OTHER_PEER = '127.0.0.2';

/** Vigil with JSON and OTLP/gRPC listeners of 8 connections each (so 2 per peer by default). */
async function start(): Promise<{ http: number; grpc: number }> {
  const started = await startCapturingLogs(
    `  json: { endpoint: 127.0.0.1:0, max_connections: 8 }
  otlp: { protocols: { grpc: { endpoint: 127.0.0.1:0, max_connections: 8 } } }`,
    ['json', 'otlp'],
  );
  service = started.service;
  return {
    http: service.httpAddresses[0]!.port,
    grpc: (service.receiver('otlp') as OtlpReceiver).grpcPort!,
  };
}

/** Opens `n` idle connections from the attacker; resolves how many are still open a moment later. */
async function idleSockets(port: number, n: number): Promise<() => number> {
  const mine: Socket[] = [];
  for (let i = 0; i < n; i++) {
    const s = connect({ port, host: '127.0.0.1', localAddress: ATTACKER });
    s.on('error', () => {});
    await new Promise((r) => s.once('connect', r));
    opened.push(s);
    mine.push(s);
  }
  return () => mine.filter((s) => !s.destroyed && !s.readableEnded).length;
}

describe('one peer holds only its share of a listener’s connections', () => {
  it('closes an HTTP peer’s connections past a quarter of max_connections while another peer is served', async () => {
    const { http } = await start();
    const open = await idleSockets(http, 8);
    await waitFor(() => open() === 2, 'the attacker’s connections past its share to be closed', 10_000);
    expect(await postJsonFrom(http, OTHER_PEER, '{"body":"well-behaved"}')).toBe(200);
  });

  it('closes a gRPC peer’s connections past a quarter of max_connections while another peer calls', async () => {
    const { grpc } = await start();
    const open = await idleSockets(grpc, 8);
    await waitFor(() => open() === 2, 'the attacker’s connections past its share to be closed', 10_000);
    const session = http2From(grpc, OTHER_PEER);
    opened.push(session);
    const status = await grpcExport(session, Buffer.alloc(5)); // an empty ExportLogsServiceRequest
    expect(status).toBe('0');
  });
});
