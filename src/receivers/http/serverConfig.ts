import { bytes, duration, int, optional } from '../../config/schema.ts';
import { peerIpv6PrefixField } from '../peerGroup.ts';
import { allowedHostsField } from './allowedHosts.ts';

/**
 * Limits of an HTTP listener against slow or idle senders, with the names of the Collector's
 * confighttp. Receivers sharing a listener must agree on them (and on `allowed_hosts`).
 */
export const httpServerLimitFields = {
  read_timeout: duration({
    default: '30s',
    doc: 'Time a request may take to arrive whole, headers and body; a slower one is answered 408 and its connection closed. 0 waits forever.',
  }),
  read_header_timeout: duration({
    default: '10s',
    doc: 'Time a request may take to send its headers; the connection is closed after it. 0 waits forever.',
  }),
  idle_timeout: duration({
    default: '65s',
    doc: "A kept-alive connection with no request for this long is closed (longer than load balancers' 60 s, so they close first).",
  }),
  max_connections: int({
    default: 1000,
    min: 1,
    doc: 'Connections the listener holds at once; further ones are closed on accept.',
  }),
  max_connections_per_peer: optional(
    int({
      min: 1,
      doc: 'Connections one peer (an address; an IPv6 network of `peer_ipv6_prefix`) may hold at once, so that one sender cannot take every slot; further ones from it are closed on accept. Default: a quarter of max_connections (at least 1).',
    }),
  ),
  peer_ipv6_prefix: peerIpv6PrefixField(),
  allowed_hosts: allowedHostsField,
};

/** Every limit is a number (milliseconds or a count), except the list of hosts answered. */
export type HttpServerLimits = Record<
  Exclude<keyof typeof httpServerLimitFields, 'allowed_hosts' | 'max_connections_per_peer'>,
  number
> & {
  max_connections_per_peer?: number | undefined;
  allowed_hosts?: string[] | undefined;
};

export function httpServerLimits(c: HttpServerLimits): HttpServerLimits {
  return {
    read_timeout: c.read_timeout,
    read_header_timeout: c.read_header_timeout,
    idle_timeout: c.idle_timeout,
    max_connections: c.max_connections,
    max_connections_per_peer: c.max_connections_per_peer,
    peer_ipv6_prefix: c.peer_ipv6_prefix,
    allowed_hosts: c.allowed_hosts,
  };
}

/** For receivers that read request bodies themselves (not the admin API, whose bodies are small). */
export const minBodyRateField = bytes({
  default: '1KiB',
  doc: 'Bytes per second a request body must arrive at, measured over each 5 s while it is read; a slower one (a stalled upload) is answered 408 and its connection closed, instead of holding its part of the receive budget until read_timeout. 0: any rate.',
});
