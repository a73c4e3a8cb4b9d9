import { connect, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { ReceiveBuffers } from '../../src/pipeline/receiveBuffers.ts';
import { peerGroup } from '../../src/receivers/peerGroup.ts';
import { admitPeer, PeerShareFullError, peerLease } from '../../src/receivers/peerShare.ts';
import type { VigilService } from '../../src/service/service.ts';
import { startCapturingLogs } from '../support/captureService.ts';
import { waitFor } from '../support/waitFor.ts';

describe('which senders count as one peer', () => {
  it('groups IPv6 senders by their /64, whatever the spelling of the address', () => {
    expect(peerGroup('2001:db8:1:2:3:4:5:6')).toBe('2001:db8:1:2::/64');
    expect(peerGroup('2001:db8:1:2:ffff:ffff:ffff:ffff')).toBe('2001:db8:1:2::/64');
    expect(peerGroup('2001:0DB8:0001:0002::1')).toBe('2001:db8:1:2::/64');
    expect(peerGroup('2001:db8:1:3::1')).toBe('2001:db8:1:3::/64');
    expect(peerGroup('::1')).toBe('::/64');
    expect(peerGroup('::')).toBe('::/64');
    expect(peerGroup('fe80::1%eth0')).toBe('fe80::/64');
    // An IPv4 tail in a non-mapped address is just its last 32 bits.
    expect(peerGroup('64:ff9b::192.0.2.1')).toBe('64:ff9b::/64');
  });

  it('takes any prefix length, a group boundary or not; 128 is the address alone', () => {
    expect(peerGroup('2001:db8:1:2:3:4:5:6', 48)).toBe('2001:db8:1::/48');
    expect(peerGroup('2001:db8:1:2:3:4:5:6', 56)).toBe('2001:db8:1::/56');
    expect(peerGroup('2001:db8:1:2ff:3:4:5:6', 56)).toBe('2001:db8:1:200::/56');
    expect(peerGroup('2001:db8:1:2:3:4:5:6', 1)).toBe('::/1');
    expect(peerGroup('fd00::2', 6)).toBe('fc00::/6');
    expect(peerGroup('fe80::fc:ff:fe00:1', 6)).toBe('fc00::/6');
    expect(peerGroup('2001:db8:0:0:1:0:0:1', 128)).toBe('2001:db8::1:0:0:1');
    expect(peerGroup('2001:db8:1:2:3:4:5:6', 127)).toBe('2001:db8:1:2:3:4:5:6/127');
    expect(peerGroup('2001:db8:1:2:3:4:5:7', 127)).toBe('2001:db8:1:2:3:4:5:6/127');
  });

  it('counts IPv4 per address, also when it arrives IPv4-mapped over a dual-stack socket', () => {
    expect(peerGroup('192.0.2.7')).toBe('192.0.2.7');
    expect(peerGroup('::ffff:192.0.2.7')).toBe('192.0.2.7');
    expect(peerGroup('::FFFF:c000:0207')).toBe('192.0.2.7');
    expect(peerGroup('::ffff:192.0.2.7', 128)).toBe('192.0.2.7');
    // Not an address (a socket without one): kept as it is.
    expect(peerGroup('')).toBe('');
    expect(peerGroup('not-an-address')).toBe('not-an-address');
  });

  it('shares one part of the receive budget across a /64, and the part is configurable', () => {
    const buffers = new ReceiveBuffers(400);
    const a = peerLease(buffers, '2001:db8:1:2::a');
    a.reserve(100);
    expect(() => admitPeer(buffers, '2001:db8:1:2::b')).toThrow(PeerShareFullError);
    expect(() => admitPeer(buffers, '2001:db8:1:2::b')).toThrow(/from 2001:db8:1:2::\/64 .* 25 % of/);
    expect(() => admitPeer(buffers, '2001:db8:1:3::a')).not.toThrow();
    // Counted per address where the listener says so.
    expect(() => admitPeer(buffers, '2001:db8:1:2::b', 128)).not.toThrow();
    a.release();

    const half = new ReceiveBuffers(400, 50);
    const b = peerLease(half, '10.0.0.1');
    b.reserve(200);
    expect(() => b.reserve(1)).toThrow(/50 % of service\.memory_limiter\.max_receive_buffer_size/);
    expect(() => admitPeer(half, '10.0.0.2')).not.toThrow();
  });
});

let service: VigilService | undefined;
const sockets: Socket[] = [];
afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  await service?.shutdown();
  service = undefined;
});

const MIB = 1024 * 1024;

/** The JSON receiver on [::1] with a receive budget of 8 MiB; resolves its port. */
async function startOnIpv6(json: string, memory: string): Promise<number> {
  ({ service } = await startCapturingLogs(
    `  json: { endpoint: '[::1]:0'${json} }`,
    ['json'],
    `  memory_limiter: { max_receive_buffer_size: 8MiB${memory} }`,
  ));
  return service.httpAddresses[0]!.port;
}

/** A socket from ::1 to the listener, and what has been answered on it so far. */
async function fromLoopback6(port: number): Promise<{ socket: Socket; answer: () => string }> {
  const socket = connect({ port, host: '::1' });
  sockets.push(socket);
  let answer = '';
  socket.on('data', (d: Buffer) => (answer += d.toString('latin1')));
  socket.on('error', () => {});
  await new Promise((r) => socket.once('connect', r));
  return { socket, answer: () => answer };
}

/** Starts a JSON upload of `declared` bytes and sends `sent` of them. */
function upload(socket: Socket, declared: number, sent: number): void {
  socket.write(
    `POST /v1/events HTTP/1.1\r\nHost: [::1]\r\nContent-Type: application/json\r\nContent-Length: ${declared}\r\n\r\n`,
  );
  socket.write(Buffer.alloc(sent, 0x20));
}

async function postSmall(port: number): Promise<string> {
  const c = await fromLoopback6(port);
  c.socket.end(
    'POST /v1/events HTTP/1.1\r\nHost: [::1]\r\nContent-Type: application/json\r\nContent-Length: 15\r\nConnection: close\r\n\r\n{"body":"next"}',
  );
  await new Promise((r) => c.socket.once('close', r));
  return c.answer();
}

describe('per-peer limits over IPv6 ([::1])', () => {
  it('caps one IPv6 peer’s connections at its share of max_connections', async () => {
    const port = await startOnIpv6(', max_connections: 8', '');
    const idle = await Promise.all(Array.from({ length: 8 }, () => fromLoopback6(port)));
    await waitFor(
      () => idle.filter((c) => !c.socket.destroyed && !c.socket.readableEnded).length === 2,
      'the connections past the peer’s share to be closed',
      10_000,
    );
  });

  it('names the /64 a stalled upload is refused for once it holds a quarter of the budget', async () => {
    const port = await startOnIpv6('', '');
    const c = await fromLoopback6(port);
    upload(c.socket, 4 * MIB, 2.5 * MIB);
    await waitFor(() => c.answer().startsWith('HTTP/1.1 429'), 'the upload past the share to be refused', 20_000);
    expect(c.answer()).toMatch(/request bodies still arriving from ::\/64 already hold 2 MiB, 25 % of/);
  });

  it('takes peer_ipv6_prefix and peer_receive_buffer_percentage from the config', async () => {
    const port = await startOnIpv6(', peer_ipv6_prefix: 128', ', peer_receive_buffer_percentage: 50');
    const c = await fromLoopback6(port);
    // 3 MiB held: past a quarter, within half, so the same peer is still admitted.
    upload(c.socket, 6 * MIB, 3 * MIB);
    await waitFor(() => service!.memory.receiveBuffers.bytes >= 3 * MIB, 'the upload to be held', 20_000);
    expect(await postSmall(port)).toMatch(/^HTTP\/1\.1 200/);
    expect(c.answer()).toBe('');
    c.socket.write(Buffer.alloc(1.5 * MIB, 0x20));
    await waitFor(() => c.answer().startsWith('HTTP/1.1 429'), 'the upload past the share to be refused', 20_000);
    expect(c.answer()).toMatch(/request bodies still arriving from ::1 already hold 4 MiB, 50 % of/);
  });
});
