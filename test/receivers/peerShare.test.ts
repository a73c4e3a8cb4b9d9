import { describe, expect, it } from 'vitest';
import { ReceiveBuffers, ReceiveBuffersFullError } from '../../src/pipeline/receiveBuffers.ts';
import { admitPeer, PeerShareFullError, peerLease } from '../../src/receivers/peerShare.ts';

describe('per-peer shares of the receive budget', () => {
  it('refuses a peer past a quarter of the budget while another peer is admitted', () => {
    const buffers = new ReceiveBuffers(400);
    const a = peerLease(buffers, '10.0.0.1');
    a.reserve(100);
    expect(() => a.reserve(1)).toThrow(PeerShareFullError);
    expect(() => admitPeer(buffers, '10.0.0.1')).toThrow(PeerShareFullError);
    // The same sender over a dual-stack socket is the same peer.
    expect(() => admitPeer(buffers, '::ffff:10.0.0.1')).toThrow(PeerShareFullError);
    expect(() => admitPeer(buffers, '10.0.0.2')).not.toThrow();
    expect(buffers.bytes).toBe(100);
    a.release();
    expect(buffers.bytes).toBe(0);
    expect(() => admitPeer(buffers, '10.0.0.1')).not.toThrow();
  });

  it('counts nothing in the peer share when the shared budget refuses the bytes', () => {
    const buffers = new ReceiveBuffers(400);
    const others = ['10.0.0.2', '10.0.0.3', '10.0.0.4', '10.0.0.5'].map((p) => peerLease(buffers, p));
    for (const l of others) l.reserve(90);
    const a = peerLease(buffers, '10.0.0.1');
    a.reserve(30);
    expect(() => a.reserve(20)).toThrow(ReceiveBuffersFullError);
    a.reserve(10);
    expect(buffers.bytes).toBe(400);
    expect(() => admitPeer(buffers, '10.0.0.1')).toThrow(ReceiveBuffersFullError);
    for (const l of others) l.release();
    // The refused 20 is not in the share: 60 more fill it exactly.
    a.reserve(60);
    expect(() => a.reserve(1)).toThrow(PeerShareFullError);
    a.release();
    expect(buffers.bytes).toBe(0);
    expect(() => admitPeer(buffers, '10.0.0.1')).not.toThrow();
  });

  it('gives a request whose peer is unknown the shared budget alone', () => {
    const buffers = new ReceiveBuffers(400);
    const lease = peerLease(buffers, undefined);
    lease.reserve(300);
    expect(buffers.bytes).toBe(300);
    lease.release();
    expect(buffers.bytes).toBe(0);
  });
});
