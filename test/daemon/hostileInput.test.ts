import { readFileSync } from 'node:fs';
import { connect as http2Connect, type ClientHttp2Session } from 'node:http2';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { deflateRawSync } from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import { readNdjson } from '../support/ndjson.ts';
import { startDaemon, type RunningDaemon } from '../support/daemon.ts';
import { waitFor } from '../support/waitFor.ts';

let daemon: RunningDaemon | undefined;
const sockets: Socket[] = [];
afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  await daemon?.stop('SIGKILL');
  daemon = undefined;
});

function config(extra: { json?: string; otlp?: string; syslog?: string; memory?: string } = {}): string {
  return `
receivers:
  json: { endpoint: 127.0.0.1:0, ${extra.json ?? ''} }
${extra.otlp ? `  otlp:\n    protocols:\n      grpc: { endpoint: 127.0.0.1:0, ${extra.otlp} }` : ''}
${extra.syslog ? `  syslog:\n    tcp: { endpoint: 127.0.0.1:0, ${extra.syslog} }` : ''}
exporters:
  file/events: { path: events.ndjson }
service:
  pipelines:
    logs: { receivers: [json${extra.otlp ? ', otlp' : ''}${extra.syslog ? ', syslog' : ''}], exporters: [file/events] }
  telemetry:
    metrics: { endpoint: 127.0.0.1:0 }
  memory_limiter: { check_interval: 100ms, ${extra.memory ?? ''} }
`;
}

function rssMiB(d: RunningDaemon): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${d.proc.pid}/status`, 'utf8'));
  return Number(m![1]) / 1024;
}

function grpcPort(d: RunningDaemon): number {
  for (const line of d.logs) {
    const rec = JSON.parse(line) as { msg?: string; grpc?: { port: number } };
    if (rec.msg === 'OTLP gRPC listening') return rec.grpc!.port;
  }
  throw new Error('no "OTLP gRPC listening" line in the daemon log');
}

function syslogTcpPort(d: RunningDaemon): number {
  for (const line of d.logs) {
    if (line.includes('syslog receiver listening'))
      return (JSON.parse(line) as { syslog: { tcp: { port: number } } }).syslog.tcp.port;
  }
  throw new Error('the daemon did not log its syslog addresses');
}

/** A raw HTTP/1.1 connection: what it was answered, and whether the server closed it. */
interface RawClient {
  socket: Socket;
  answer: string;
  closed: boolean;
}

function rawClient(port: number, opts: { localAddress?: string } = {}): Promise<RawClient> {
  return new Promise((resolve, reject) => {
    const socket = connect({ port, host: '127.0.0.1', ...opts });
    sockets.push(socket);
    const c: RawClient = { socket, answer: '', closed: false };
    socket.on('data', (d: Buffer) => (c.answer += d.toString('latin1')));
    socket.on('close', () => (c.closed = true));
    socket.on('error', () => {});
    socket.once('connect', () => resolve(c));
    socket.once('error', reject);
  });
}

const EVENT = JSON.stringify({ body: 'well behaved', severity: 'info', asset: 'h1' });

async function postEvent(d: RunningDaemon, body = EVENT): Promise<Response> {
  return fetch(d.url('/v1/events'), { method: 'POST', headers: { 'content-type': 'application/json' }, body });
}

describe('hostile HTTP senders', () => {
  it('answers bodies that stall 408 and closes their sockets, while a well-behaved client is served', async () => {
    daemon = await startDaemon(config({ json: 'read_timeout: 400ms' }));
    const { port } = daemon.http[0]!;
    const stalled: RawClient[] = [];
    for (let i = 0; i < 20; i++) {
      const c = await rawClient(port);
      c.socket.write(
        `POST /v1/events HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 1048576\r\n\r\n{"body":"`,
      );
      stalled.push(c);
    }
    const ok = await postEvent(daemon);
    expect(ok.status).toBe(200);
    await waitFor(() => stalled.every((c) => c.closed), 'every stalled socket to be closed', 10_000);
    for (const c of stalled) expect(c.answer).toMatch(/^HTTP\/1\.1 408 /);
    expect((await postEvent(daemon)).status).toBe(200);
  });

  it('refuses with 429 and Retry-After once bodies in flight fill the receive budget, and RSS stays bounded', async () => {
    daemon = await startDaemon(
      config({ json: 'max_request_body_size: 8MiB, read_timeout: 20s', memory: 'max_receive_buffer_size: 16MiB' }),
    );
    const { port } = daemon.http[0]!;
    const before = rssMiB(daemon);
    let peak = before;
    const chunk = Buffer.alloc(6 * 1024 * 1024, 0x61);
    const clients: RawClient[] = [];
    // 40 senders each push 6 MiB of an 8 MiB body and stall: 240 MiB if all were held. They are
    // one peer (127.0.0.1), which may hold a quarter of the budget (4 MiB, the default
    // peer_receive_buffer_percentage): each body is refused once its reads take that peer past it.
    for (let i = 0; i < 40; i++) {
      const c = await rawClient(port);
      c.socket.write(
        `POST /v1/events HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: ${8 * 1024 * 1024}\r\n\r\n`,
      );
      c.socket.write(chunk);
      clients.push(c);
      peak = Math.max(peak, rssMiB(daemon));
    }
    await waitFor(
      () => {
        peak = Math.max(peak, rssMiB(daemon!));
        return clients.filter((c) => c.answer.startsWith('HTTP/1.1 429')).length >= 30;
      },
      'most stalled senders to be refused 429',
      15_000,
    );
    for (const c of clients.filter((c) => c.answer.startsWith('HTTP/1.1 429')))
      expect(c.answer).toMatch(/\r\nretry-after: \d+\r\n/i);
    // A new request that would take its peer past its share is refused: at once if the senders let
    // in hold it already, or once its reads reach it; 7 MiB do not fit in 4 whichever way the reads
    // went. (With the whole budget as one peer's share, whether 7 MiB fit would depend on how much
    // of the stalled bodies the kernel still held: not a test that can be relied on.)
    // Sent raw: the daemon answers before the body is in and closes, and a client still writing
    // it may meet a broken pipe (fetch then fails without the answer it was given).
    const refused = await rawClient(port);
    const big = JSON.stringify({ body: 'x'.repeat(7 * 1024 * 1024) });
    refused.socket.write(
      `POST /v1/events HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: ${big.length}\r\n\r\n`,
    );
    refused.socket.write(big);
    await waitFor(
      () => /\r\n\r\n/.test(refused.answer),
      'the answer to the request past the budget',
      10_000,
      // Seen once in a fresh-clone run and never reproduced since: what a reader of the log needs.
      () => ({
        socket: {
          closed: refused.closed,
          answer: refused.answer.slice(0, 200),
          bytesWritten: refused.socket.bytesWritten,
          stillBuffered: refused.socket.writableLength,
        },
        answered429: clients.filter((c) => c.answer.startsWith('HTTP/1.1 429')).length,
        closed: clients.filter((c) => c.closed).length,
        rssMiB: rssMiB(daemon!),
        daemonLog: daemon!.logs.slice(-8),
      }),
    );
    expect(refused.answer).toMatch(/^HTTP\/1\.1 429 /);
    expect(refused.answer).toMatch(/\r\nretry-after: \d+\r\n/i);
    expect(peak - before).toBeLessThan(150);
    // Once every sender has gone, whatever the ones let in held is free again.
    for (const c of clients) c.socket.destroy();
    await waitFor(
      async () => (await postEvent(daemon!)).status === 200,
      'the budget to free up once the senders are gone',
      10_000,
    );
  });

  it('streams deflate: bodies far past the limit are refused 413 without being buffered', async () => {
    daemon = await startDaemon(config());
    const { port } = daemon.http[0]!;
    // 79 MiB on the wire (stored blocks inflate 1:1), against the default 20 MiB limit.
    const body = deflateRawSync(Buffer.alloc(79 * 1024 * 1024, 0x20), { level: 0 });
    const before = rssMiB(daemon);
    let peak = before;
    const clients: RawClient[] = [];
    for (let i = 0; i < 8; i++) {
      const c = await rawClient(port);
      c.socket.write(
        'POST /v1/events HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Encoding: deflate\r\nTransfer-Encoding: chunked\r\n\r\n',
      );
      c.socket.write(`${body.length.toString(16)}\r\n`);
      c.socket.write(body);
      c.socket.write('\r\n0\r\n\r\n');
      clients.push(c);
    }
    await waitFor(
      () => {
        peak = Math.max(peak, rssMiB(daemon!));
        return clients.every((c) => c.answer.length > 0);
      },
      'every deflate request to be answered',
      30_000,
    );
    for (const c of clients) expect(c.answer).toMatch(/^HTTP\/1\.1 (413|429) /);
    expect(clients.some((c) => c.answer.startsWith('HTTP/1.1 413'))).toBe(true);
    expect(peak - before).toBeLessThan(400);
  });

  it('answers an unknown Content-Encoding 415', async () => {
    daemon = await startDaemon(config());
    const res = await fetch(daemon.url('/v1/events'), {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'content-encoding': 'br' },
      body: EVENT,
    });
    expect(res.status).toBe(415);
  });
});

const LOGS_EXPORT = '/opentelemetry.proto.collector.logs.v1.LogsService/Export';

describe('hostile gRPC senders', () => {
  it('ends a stalled call with DEADLINE_EXCEEDED and closes the connection once idle', async () => {
    daemon = await startDaemon(
      config({ otlp: 'read_timeout: 300ms, keepalive: { server_parameters: { max_connection_idle: 500ms } }' }),
    );
    const session: ClientHttp2Session = http2Connect(`http://127.0.0.1:${grpcPort(daemon)}`);
    session.on('error', () => {});
    let sessionClosed = false;
    session.on('close', () => (sessionClosed = true));
    const stream = session.request({
      ':method': 'POST',
      ':path': LOGS_EXPORT,
      'content-type': 'application/grpc',
      te: 'trailers',
    });
    stream.on('error', () => {});
    let status: string | undefined;
    let streamClosed = false;
    stream.on('response', (h) => (status ??= h['grpc-status'] as string | undefined));
    stream.on('trailers', (h) => (status ??= h['grpc-status'] as string | undefined));
    stream.on('close', () => (streamClosed = true));
    // The prefix announces 1000 bytes; 10 arrive, then nothing. The message is one unknown field
    // (15, length-delimited, 997 bytes) spanning it: well-formed as far as it goes, so it stalls
    // rather than being refused as invalid protobuf.
    const prefix = Buffer.alloc(5);
    prefix.writeUInt32BE(1000, 1);
    const start = Buffer.alloc(10);
    Buffer.from([0x7a, 0xe5, 0x07]).copy(start);
    stream.write(Buffer.concat([prefix, start]));
    await waitFor(() => streamClosed, 'the stalled call to be ended', 10_000);
    expect(status).toBe('4');
    await waitFor(() => sessionClosed, 'the idle connection to be closed', 10_000);
  });

  it(
    'survives idle gRPC connections past its descriptor limit and serves once they are gone',
    { timeout: 60_000 },
    async () => {
      daemon = await startDaemon(config({ otlp: 'keepalive: { server_parameters: { max_connection_idle: 3s } }' }), {
        fdLimit: 256,
      });
      const port = grpcPort(daemon);
      const closed = new Set<Socket>();
      for (let i = 0; i < 400; i++) {
        const s = connect(port, '127.0.0.1');
        s.on('error', () => {});
        s.on('close', () => closed.add(s));
        s.resume();
        sockets.push(s);
      }
      // Past the descriptor limit connections are dropped on accept; the others are closed once idle.
      // Meanwhile the memory guard ran dozens of times.
      await waitFor(
        () => closed.size === 400 || daemon!.proc.exitCode !== null,
        'every connection to be dropped, or closed once idle',
        30_000,
      );
      expect(daemon.proc.exitCode).toBeNull();
      await waitFor(
        async () => (await postEvent(daemon!).catch(() => undefined))?.status === 200,
        'an export once the idle connections are gone',
        15_000,
      );
      expect(daemon.proc.exitCode).toBeNull();
    },
  );
});

describe('hostile syslog peers', () => {
  it('refuses one peer past its share of max_connections while another peer connects', async () => {
    daemon = await startDaemon(config({ syslog: 'max_connections: 8' }));
    const port = syslogTcpPort(daemon);
    const greedy: RawClient[] = [];
    for (let i = 0; i < 4; i++) greedy.push(await rawClient(port));
    // The default share is a quarter of max_connections: two from 127.0.0.1 stay, the rest are closed.
    await waitFor(
      () => greedy.filter((c) => c.closed).length === 2,
      "the greedy peer's extra connections to be closed",
      10_000,
    );
    expect(greedy.slice(0, 2).every((c) => !c.closed)).toBe(true);
    const other = await rawClient(port, { localAddress: '127.0.0.2' });
    other.socket.write('<13>Nov 23 10:00:00 h2 app: from another peer\n');
    const file = join(daemon.dataDir, 'events.ndjson');
    await waitFor(
      () => readNdjson<{ body: string }>(file).some((e) => e.body === 'from another peer'),
      "the other peer's message",
      10_000,
    );
    expect(other.closed).toBe(false);
  });
});
