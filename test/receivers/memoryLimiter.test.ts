import { connect as http2Connect, type ClientHttp2Session } from 'node:http2';
import { connect, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { registry } from '../../src/components.ts';
import { parseConfig } from '../../src/service/config/load.ts';
import type { MemorySource } from '../../src/pipeline/memorySource.ts';
import type { OtlpReceiver } from '../../src/receivers/otlp/receiver.ts';
import type { SyslogReceiver } from '../../src/receivers/syslog/receiver.ts';
import { VigilService } from '../../src/service/service.ts';
import { createLogger } from '../../src/telemetry/logger.ts';
import { captureExporter, type Captured } from '../support/captureExporter.ts';
import { grpcExport, http2From, postJsonFrom } from '../support/peers.ts';
import { waitFor } from '../support/waitFor.ts';

const MIB = 1024 * 1024;

let service: VigilService | undefined;
const sockets: Socket[] = [];
const sessions: ClientHttp2Session[] = [];
afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  for (const s of sessions.splice(0)) s.destroy();
  await service?.shutdown();
  service = undefined;
});

/** Vigil in-process with every listener and a memory the test sets (limit 256 MiB, soft 200). */
async function startFlooded(opts: { spooled?: { items: number }; memoryLimiter?: string } = {}) {
  const { spooled, memoryLimiter = '' } = opts;
  const memory = { resident: 50 * MIB };
  let clock = 0;
  const source: MemorySource = {
    resident: () => memory.resident,
    heap: () => ({ used: 10 * MIB, limit: 4096 * MIB }),
    cgroup: () => undefined,
    totalMemory: () => 8192 * MIB,
  };
  const captured: Captured = { logs: [], metrics: [], traces: [] };
  const reg = {
    ...registry,
    exporters: [...registry.exporters, captureExporter(captured, { wait: undefined }, spooled)],
  };
  const cfg = parseConfig(
    `
receivers:
  json: { endpoint: 127.0.0.1:0 }
  otlp:
    protocols:
      grpc: { endpoint: 127.0.0.1:0 }
  syslog:
    tcp: { endpoint: 127.0.0.1:0 }
exporters: { capture: {} }
service:
  pipelines:
    logs: { receivers: [json, otlp, syslog], exporters: [capture] }
  telemetry: { metrics: { endpoint: 127.0.0.1:0 }, logs: { level: silent } }
  memory_limiter: { limit_mib: 256, spike_limit_mib: 56, check_interval: 0${memoryLimiter} }
`,
    reg,
    {},
  );
  service = new VigilService(cfg, {
    dataDir: '/nonexistent',
    registry: reg,
    logger: createLogger('silent'),
    memorySource: source,
    memoryClock: () => clock,
  });
  await service.start();
  const s = service;
  return {
    captured,
    http: s.httpAddresses[0]!.port,
    grpc: (s.receiver('otlp') as OtlpReceiver).grpcPort!,
    syslog: (s.receiver('syslog') as SyslogReceiver).addresses.tcp!.port,
    admin: s.adminAddress!.port,
    /** Sets memory and runs the periodic check, as the timer would a second after the last. */
    setMiB(n: number) {
      memory.resident = n * MIB;
      clock += 1000;
      s.memory.check();
    },
  };
}

function rawSocket(
  port: number,
  localAddress = '127.0.0.1',
): Promise<{ socket: Socket; answer: () => string; closed: () => boolean }> {
  return new Promise((resolve, reject) => {
    const socket = connect({ port, host: '127.0.0.1', localAddress });
    sockets.push(socket);
    let answer = '';
    let closed = false;
    socket.on('data', (d: Buffer) => (answer += d.toString('latin1')));
    socket.on('close', () => (closed = true));
    socket.on('error', () => {});
    socket.once('connect', () => resolve({ socket, answer: () => answer, closed: () => closed }));
    socket.once('error', reject);
  });
}

async function metric(adminPort: number, name: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${adminPort}/metrics`)).text();
  const m = new RegExp(`^${name.replace(/[{}]/g, '\\$&')} (\\d+)$`, 'm').exec(text);
  return m ? Number(m[1]) : 0;
}

describe('memory limiter at the listeners', () => {
  it('answers an HTTP request whose body never completes 429 with Retry-After at once', async () => {
    const v = await startFlooded();
    v.setMiB(230);
    const c = await rawSocket(v.http);
    // Headers and the first bytes of a 4 MiB body that will never come.
    c.socket.write(
      'POST /v1/events HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 4194304\r\n\r\n[{"body":"',
    );
    await waitFor(() => c.answer().includes('\r\n\r\n'), 'an answer to the stalled request', 10_000);
    expect(c.answer()).toMatch(/^HTTP\/1\.1 429 /);
    expect(c.answer()).toMatch(/\r\nretry-after: 1\r\n/i);
    expect(c.answer()).toContain('VIGIL_MEMORY_LIMIT');
    expect(await metric(v.admin, 'vigil_memory_limiter_refused_total{receiver="json"}')).toBe(1);
    expect(v.captured.logs).toHaveLength(0);
  });

  it('answers a gRPC export whose message never completes RESOURCE_EXHAUSTED with RetryInfo at once', async () => {
    const v = await startFlooded();
    v.setMiB(230);
    const session = http2Connect(`http://127.0.0.1:${v.grpc}`);
    sessions.push(session);
    const stream = session.request({
      ':method': 'POST',
      ':path': '/opentelemetry.proto.collector.logs.v1.LogsService/Export',
      'content-type': 'application/grpc',
      te: 'trailers',
    });
    // A gRPC frame header announcing 1 MiB, then a few bytes of it, and the stream left open.
    const frame = Buffer.alloc(5 + 16);
    frame.writeUInt32BE(MIB, 1);
    stream.write(frame);
    const trailers = await new Promise<Record<string, string | string[] | undefined>>((resolve, reject) => {
      stream.on('trailers', (t) => resolve(t));
      stream.on('response', (h) => {
        if (h['grpc-status'] !== undefined) resolve(h); // a trailers-only answer
      });
      stream.on('error', reject);
    });
    expect(trailers['grpc-status']).toBe('8');
    expect(String(trailers['grpc-message'])).toMatch(/memory/);
    // google.rpc.Status details carry a RetryInfo.
    const details = Buffer.from(String(trailers['grpc-status-details-bin']), 'base64');
    expect(details.toString('latin1')).toContain('type.googleapis.com/google.rpc.RetryInfo');
    expect(await metric(v.admin, 'vigil_memory_limiter_refused_total{receiver="otlp"}')).toBe(1);
  });

  it('stops reading a syslog TCP stream while over the limit, and takes every line once under it', async () => {
    const v = await startFlooded();
    const c = await rawSocket(v.syslog);
    c.socket.write('<13>1 2026-01-01T00:00:00Z h1 app - - - before\n');
    await waitFor(() => v.captured.logs.length === 1, 'the first line to be taken');
    v.setMiB(230);
    for (let i = 0; i < 50; i++) c.socket.write(`<13>1 2026-01-01T00:00:00Z h1 app - - - held ${i}\n`);
    await waitFor(
      async () => (await metric(v.admin, 'vigil_memory_limiter_refused_total{receiver="syslog"}')) > 0,
      'the limiter to refuse the held lines',
    );
    expect(v.captured.logs).toHaveLength(1);
    expect(c.closed()).toBe(false);
    v.setMiB(100);
    await waitFor(() => v.captured.logs.length === 51, 'every held line once memory fell');
    const bodies = v.captured.logs.map((e) => String(e.body)).sort();
    expect(new Set(bodies).size).toBe(51);
  });

  it('takes held syslog lines again when the daemon rests above the soft limit, and says why on /readyz', async () => {
    const v = await startFlooded();
    const c = await rawSocket(v.syslog);
    v.setMiB(280); // what embedded ClickHouse keeps after a flood, with nothing left to store
    for (let i = 0; i < 20; i++) c.socket.write(`<13>1 2026-01-01T00:00:00Z h1 app - - - held ${i}\n`);
    await waitFor(
      async () => (await metric(v.admin, 'vigil_memory_limiter_refused_total{receiver="syslog"}')) > 0,
      'the limiter to refuse the held lines',
    );
    for (let i = 0; i < 4; i++) v.setMiB(280); // 3 s at rest: the floor has settled
    await waitFor(() => v.captured.logs.length === 20, 'every held line with memory still at its floor');
    expect(new Set(v.captured.logs.map((e) => String(e.body))).size).toBe(20);
    const res = await fetch(`http://127.0.0.1:${v.admin}/readyz`);
    const body = (await res.json()) as { components: Record<string, { status: string; reason?: string }> };
    expect(res.status).toBe(200);
    expect(body.components['service:memory_limiter']).toMatchObject({ status: 'degraded' });
    expect(body.components['service:memory_limiter']!.reason).toMatch(/nothing in flight/);
    expect(await metric(v.admin, 'vigil_memory_floor_bytes')).toBe(280 * MIB);
  });

  it('keeps refusing above the soft limit while an exporter still has rows to deliver', async () => {
    const spooled = { items: 3 };
    const v = await startFlooded({ spooled });
    const c = await rawSocket(v.syslog);
    v.setMiB(280);
    for (let i = 0; i < 5; i++) c.socket.write(`<13>1 2026-01-01T00:00:00Z h1 app - - - held ${i}\n`);
    await waitFor(
      async () => (await metric(v.admin, 'vigil_memory_limiter_refused_total{receiver="syslog"}')) > 0,
      'the limiter to refuse the held lines',
    );
    // Longer than a floor takes to settle with nothing in flight: the spooled rows are in flight.
    for (let i = 0; i < 10; i++) v.setMiB(280);
    expect(await metric(v.admin, 'vigil_memory_floor_bytes')).toBe(0);
    expect(v.captured.logs).toHaveLength(0);
    spooled.items = 0;
    for (let i = 0; i < 4; i++) v.setMiB(280);
    await waitFor(() => v.captured.logs.length === 5, 'the held lines once the spool is empty');
  });

  it('shows the limiter in /readyz: degraded above the soft limit, failing above the hard one, then ok', async () => {
    const v = await startFlooded();
    const readyz = async () => {
      const res = await fetch(`http://127.0.0.1:${v.admin}/readyz`);
      const body = (await res.json()) as { components: Record<string, { status: string; reason?: string }> };
      return { code: res.status, limiter: body.components['service:memory_limiter'] };
    };
    v.setMiB(210);
    expect(await readyz()).toMatchObject({ code: 200, limiter: { status: 'degraded' } });
    v.setMiB(300);
    const hard = await readyz();
    expect(hard).toMatchObject({ code: 503, limiter: { status: 'failing' } });
    expect(hard.limiter!.reason).toMatch(/300 MiB above the hard limit 256 MiB/);
    v.setMiB(100);
    expect(await readyz()).toMatchObject({ code: 200, limiter: { status: 'ok' } });
    const res = await fetch(`http://127.0.0.1:${v.http}/v1/events`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"body":"after"}',
    });
    expect(res.status).toBe(200);
  });
});

/** `n` (below 2^28) as a varint of exactly four bytes. */
function varint4(n: number): Buffer {
  return Buffer.from([(n & 0x7f) | 0x80, ((n >> 7) & 0x7f) | 0x80, ((n >> 14) & 0x7f) | 0x80, n >> 21]);
}

/** A gRPC export from `localAddress` on a session of its own. */
function grpcFrom(port: number, localAddress: string, frame: Buffer, end: boolean): Promise<string> {
  const session = http2From(port, localAddress);
  sessions.push(session);
  return grpcExport(session, frame, end);
}

describe('one peer holds only its share of the receive budget', () => {
  // 16 MiB of budget: a peer may hold 4 MiB of it.
  const BUDGET = ', max_receive_buffer_size: 16MiB';
  const OTHER_PEER = '127.0.0.2';

  it('answers another sender over HTTP while one peer holds stalled uploads as large as the budget', async () => {
    const v = await startFlooded({ memoryLimiter: BUDGET });
    // Four uploads of 4 MiB of a 5 MiB body each, then silence: 16 MiB if all were held.
    const attacker = await Promise.all(Array.from({ length: 4 }, () => rawSocket(v.http)));
    for (const c of attacker) {
      c.socket.write(
        `POST /v1/events HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: ${5 * MIB}\r\n\r\n`,
      );
      c.socket.write(Buffer.alloc(4 * MIB, 0x20));
    }
    const oneMiB = JSON.stringify({ body: 'x'.repeat(MIB - 64) });
    // The attacker's own next request is refused once what it holds is in (a small body, answered
    // whole before the connection closes).
    await waitFor(
      async () => (await postJsonFrom(v.http, '127.0.0.1', '{"body":"again"}')) === 429,
      'the attacker to be refused',
      20_000,
    );
    expect(await postJsonFrom(v.http, OTHER_PEER, oneMiB)).toBe(200);
    await waitFor(
      () => v.captured.logs.some((e) => String(e.body).startsWith('xxx')),
      "the other sender's event to be delivered",
    );
    // The uploads past the attacker's share were answered at once, not held.
    expect(attacker.filter((c) => c.answer().startsWith('HTTP/1.1 429')).length).toBeGreaterThanOrEqual(3);
  });

  it('answers another sender over gRPC while one peer holds stalled streams as large as the budget', async () => {
    const v = await startFlooded({ memoryLimiter: BUDGET });
    // Eight streams each announce 2 MiB + 1 KiB and send 2 MiB of it (header included): 16 MiB.
    // The message is one unknown field (15, length-delimited) spanning it, so what arrives is
    // well-formed as far as it goes and is held, not refused as invalid protobuf.
    const stalled = Buffer.alloc(2 * MIB);
    stalled.writeUInt32BE(2 * MIB + 1024, 1);
    stalled[5] = 0x7a;
    varint4(2 * MIB + 1024 - 5).copy(stalled, 6);
    const attacker = Array.from({ length: 8 }, () => grpcFrom(v.grpc, '127.0.0.1', stalled, false));
    const empty = Buffer.alloc(5); // an empty ExportLogsServiceRequest
    await waitFor(
      async () => (await grpcFrom(v.grpc, '127.0.0.1', empty, true)) === '8',
      'the attacker to be refused RESOURCE_EXHAUSTED',
      20_000,
    );
    expect(await grpcFrom(v.grpc, OTHER_PEER, empty, true)).toBe('0');
    // The streams past the attacker's share were refused, not held until read_timeout.
    const answered = await Promise.all(
      attacker.map((a) => Promise.race([a, new Promise((r) => setTimeout(r, 100, 'held'))])),
    );
    expect(answered.filter((a) => a === '8').length).toBeGreaterThanOrEqual(5);
  });
});
