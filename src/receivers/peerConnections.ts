import type { Server, Socket } from 'node:net';
import { peerGroup } from './peerGroup.ts';

/**
 * Closes on accept a connection from a peer that already holds `maxPerPeer`, so that one
 * sender's idle or stalled sockets cannot take every slot of `max_connections` (the syslog
 * listener's guard, for the HTTP and gRPC listeners). A peer is an address, or an IPv6
 * network of `ipv6Prefix` bits (peerGroup). `onRefused` is told the peer.
 */
export function capConnectionsPerPeer(
  server: Server,
  maxPerPeer: number,
  ipv6Prefix: number,
  onRefused: (peer: string) => void,
): void {
  const perPeer = new Map<string, number>();
  // Before the server's own listener: a refused socket is never served.
  server.prependListener('connection', (socket: Socket) => {
    const peer = peerGroup(socket.remoteAddress ?? '', ipv6Prefix);
    const held = perPeer.get(peer) ?? 0;
    if (held >= maxPerPeer) {
      socket.destroy();
      onRefused(peer);
      return;
    }
    perPeer.set(peer, held + 1);
    socket.once('close', () => {
      const left = perPeer.get(peer)! - 1;
      if (left > 0) perPeer.set(peer, left);
      else perPeer.delete(peer);
    });
  });
}

/** `max_connections_per_peer` when unset: a quarter of `max_connections`, at least 1. */
export function defaultPerPeer(maxConnections: number, perPeer: number | undefined): number {
  return perPeer ?? Math.max(1, Math.floor(maxConnections / 4));
}
