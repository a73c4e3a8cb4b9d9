import { isIPv4, isIPv6 } from 'node:net';
import { int } from '../config/schema.ts';

/**
 * What the per-peer limits (`max_connections_per_peer`, a peer's share of the receive budget)
 * count as one peer. An IPv4 sender has one address; an IPv6 one is routinely handed a /64 (a
 * home line, a cloud instance) and may send from any of its 2^64 addresses, so IPv6 senders
 * are grouped by the network their address belongs to.
 */
export const DEFAULT_PEER_IPV6_PREFIX = 64;

export function peerIpv6PrefixField() {
  return int({
    default: DEFAULT_PEER_IPV6_PREFIX,
    min: 1,
    max: 128,
    doc: 'IPv6 senders count as one peer (for `max_connections_per_peer` and the per-peer share of the receive budget) per network of this prefix length: 64 groups each /64, which one sender routinely holds; 128 counts every address alone. IPv4 senders, and IPv4 reached over IPv6 (`::ffff:a.b.c.d`), are one peer per address.',
  });
}

/** The eight 16-bit groups of an IPv6 address (zone and embedded IPv4 tail taken), or undefined. */
function hextets(address: string): number[] | undefined {
  const bare = address.split('%', 1)[0]!;
  if (!isIPv6(bare)) return undefined;
  let text = bare;
  // An embedded IPv4 tail (::ffff:1.2.3.4, 64:ff9b::1.2.3.4) as its two groups.
  const dotted = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (dotted) {
    const [a, b, c, d] = dotted.slice(1).map(Number) as [number, number, number, number];
    text = `${text.slice(0, dotted.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, tail] = text.includes('::') ? text.split('::') : [text, undefined];
  const part = (s: string | undefined) => (s ? s.split(':').map((h) => parseInt(h, 16)) : []);
  const front = part(head);
  const back = part(tail);
  const zeros = tail === undefined ? [] : new Array<number>(8 - front.length - back.length).fill(0);
  return [...front, ...zeros, ...back];
}

/**
 * The peer an address counts as: an IPv4 address as itself (also when it arrives IPv4-mapped
 * over a dual-stack socket), an IPv6 address as its network of `ipv6Prefix` bits, written
 * `2001:db8:1:2::/64` (the address alone at 128). Anything else (no address) is returned as is.
 */
export function peerGroup(address: string, ipv6Prefix = DEFAULT_PEER_IPV6_PREFIX): string {
  if (isIPv4(address)) return address;
  const groups = hextets(address);
  if (!groups) return address;
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff)
    return [groups[6]! >> 8, groups[6]! & 0xff, groups[7]! >> 8, groups[7]! & 0xff].join('.');
  const masked = groups.map((g, i) => {
    const keep = Math.min(16, Math.max(0, ipv6Prefix - 16 * i));
    return keep === 16 ? g : keep === 0 ? 0 : g & ((0xffff << (16 - keep)) & 0xffff);
  });
  // The URL parser writes an IPv6 host in its canonical (RFC 5952) form.
  const canonical = new URL(`http://[${masked.map((g) => g.toString(16)).join(':')}]`).hostname.slice(1, -1);
  return ipv6Prefix >= 128 ? canonical : `${canonical}/${ipv6Prefix}`;
}
