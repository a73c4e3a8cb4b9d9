import { RefusedError } from '../errors.ts';
import { ReceiveLease, type ReceiveBuffers } from '../pipeline/receiveBuffers.ts';
import { DEFAULT_PEER_IPV6_PREFIX, peerGroup } from './peerGroup.ts';

export class PeerShareFullError extends RefusedError {
  constructor(peer: string, share: number, percentage: number) {
    super(
      'VIGIL_RECEIVE_BUFFERS_FULL',
      `request bodies still arriving from ${peer} already hold ${Math.round(share / 1048576)} MiB, ${percentage} % of service.memory_limiter.max_receive_buffer_size (service.memory_limiter.peer_receive_buffer_percentage); finish or cancel them, or retry later`,
      'exhausted',
    );
  }
}

/**
 * Bytes held per peer within one receive budget. Without it, one sender with a few stalled
 * uploads (or stalled gRPC streams) fills the budget every listener shares, and every other
 * sender is refused 429 until `read_timeout` frees it: a peer may hold a part of it
 * (`peer_receive_buffer_percentage`, a quarter by default), so stalled uploads cost their own
 * sender only.
 */
class PeerShares {
  readonly share: number;
  private readonly percentage: number;
  private readonly held = new Map<string, number>();

  constructor(buffers: ReceiveBuffers) {
    this.percentage = buffers.peerPercentage;
    this.share = (buffers.limit * buffers.peerPercentage) / 100;
  }

  admit(peer: string): void {
    if ((this.held.get(peer) ?? 0) >= this.share) throw new PeerShareFullError(peer, this.share, this.percentage);
  }

  take(peer: string, n: number): void {
    const now = (this.held.get(peer) ?? 0) + n;
    if (now > this.share) throw new PeerShareFullError(peer, this.share, this.percentage);
    this.held.set(peer, now);
  }

  give(peer: string, n: number): void {
    const now = (this.held.get(peer) ?? 0) - n;
    if (now > 0) this.held.set(peer, now);
    else this.held.delete(peer);
  }
}

/** A request's lease, counted in its peer's share as well as in the shared budget. */
class PeerLease extends ReceiveLease {
  private readonly shares: PeerShares;
  private readonly peer: string;
  private mine = 0;

  constructor(buffers: ReceiveBuffers, shares: PeerShares, peer: string) {
    super(buffers);
    this.shares = shares;
    this.peer = peer;
  }

  override reserve(n: number): void {
    this.shares.take(this.peer, n);
    try {
      super.reserve(n);
    } catch (err) {
      this.shares.give(this.peer, n);
      throw err;
    }
    this.mine += n;
  }

  override release(): void {
    super.release();
    this.shares.give(this.peer, this.mine);
    this.mine = 0;
  }
}

// One set of shares per budget, so that a peer's bytes count the same on every listener.
const sharesByBudget = new WeakMap<ReceiveBuffers, PeerShares>();

function sharesOf(buffers: ReceiveBuffers): PeerShares {
  let shares = sharesByBudget.get(buffers);
  if (!shares) sharesByBudget.set(buffers, (shares = new PeerShares(buffers)));
  return shares;
}

/**
 * The lease a request from the address `peer` counts its bytes in: its peer's share and the
 * shared budget. `ipv6Prefix` groups IPv6 senders (the listener's `peer_ipv6_prefix`).
 */
export function peerLease(
  buffers: ReceiveBuffers,
  peer: string | undefined,
  ipv6Prefix = DEFAULT_PEER_IPV6_PREFIX,
): ReceiveLease {
  if (peer === undefined || !Number.isFinite(buffers.limit)) return buffers.lease();
  return new PeerLease(buffers, sharesOf(buffers), peerGroup(peer, ipv6Prefix));
}

/**
 * Throws, before a body is read, when the budget is spent (ReceiveBuffersFullError) or when
 * `peer` holds its share already (PeerShareFullError): both 429 / RESOURCE_EXHAUSTED.
 */
export function admitPeer(
  buffers: ReceiveBuffers,
  peer: string | undefined,
  ipv6Prefix = DEFAULT_PEER_IPV6_PREFIX,
): void {
  buffers.admit();
  if (peer !== undefined && Number.isFinite(buffers.limit)) sharesOf(buffers).admit(peerGroup(peer, ipv6Prefix));
}
