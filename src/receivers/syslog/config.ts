import { peerIpv6PrefixField } from '../peerGroup.ts';
import {
  bytes,
  duration,
  endpoint,
  int,
  literalUnion,
  obj,
  optional,
  refine,
  type Infer,
  timeZone,
} from '../../config/schema.ts';
import { tlsServerSchema } from '../../config/tls.ts';
import { defaultTenant } from '../defaultTenant.ts';

const udpSchema = obj(
  {
    endpoint: endpoint({
      default: '127.0.0.1:5514',
      doc: 'UDP address to listen on (`[::]:5514` for IPv6; 514 needs root or NET_BIND_SERVICE).',
    }),
    receive_buffer_size: bytes({
      default: '4MiB',
      min: 65536,
      doc: 'Kernel receive buffer asked for the socket; absorbs bursts while a batch is processed. Linux caps it at net.core.rmem_max (208 KiB on most distributions): the receiver logs a warning at start when it got less, and then bursts beyond it are lost in the kernel (Udp RcvbufErrors in /proc/net/snmp). Raise rmem_max on the node (sysctl) to keep what is asked here.',
    }),
  },
  { doc: 'Listen on UDP: one message per datagram. Omit to not listen on UDP.' },
);

/** What every stream listener (plain TCP and TLS) shares: framing limits and abuse guards. */
const streamFields = {
  max_connections: int({
    default: 1000,
    min: 1,
    doc: 'Connections served at once; further ones are closed on accept and counted.',
  }),
  max_connections_per_peer: optional(
    int({
      min: 1,
      doc: 'Connections one peer (an address; an IPv6 network of `peer_ipv6_prefix`) may hold at once, so that one sender cannot take every slot; further ones from it are closed on accept and counted. Default: a quarter of max_connections (at least 1).',
    }),
  ),
  peer_ipv6_prefix: peerIpv6PrefixField(),
  idle_timeout: duration({
    default: '5m',
    doc: 'A connection that sends nothing for this long is closed; 0 never closes.',
  }),
  max_message_size: bytes({
    default: '64KiB',
    min: 480,
    doc: 'Largest message kept whole; longer ones are truncated to this size, flagged `syslog.truncated` and counted.',
  }),
};

const tcpSchema = obj(
  {
    endpoint: endpoint({ default: '127.0.0.1:5514', doc: 'TCP address to listen on.' }),
    ...streamFields,
  },
  {
    doc: 'Listen on TCP: octet-counted (RFC 6587) or LF-delimited framing, detected per message. Omit to not listen on TCP.',
  },
);

const tlsSchema = obj(
  {
    endpoint: endpoint({ default: '127.0.0.1:6514', doc: 'TLS address to listen on (6514 is the RFC 5425 port).' }),
    ...tlsServerSchema.shape,
    ...streamFields,
  },
  {
    doc: 'Listen on TLS (RFC 5425), with client certificates when `client_ca_file` is set; framing as for TCP. Omit to not listen on TLS.',
  },
);

export const syslogReceiverSchema = refine(
  obj({
    protocol: literalUnion(['auto', 'rfc5424', 'rfc3164'], {
      default: 'auto',
      doc: '`auto` tells RFC 5424 from RFC 3164 per message (by the version digit after PRI).',
    }),
    attribute_names: literalUnion(['vigil', 'collector'], {
      default: 'vigil',
      doc: "Names of the syslog attributes. `vigil`: `syslog.priority`, `syslog.facility`, `syslog.appname`, `syslog.procid`, `syslog.msgid`, `syslog.version`, structured data as flat `syslog.sd.<SD-ID>.<param>`, the message as body. `collector`: the names of the OpenTelemetry Collector's syslog receiver, `priority`, `facility`, `appname`, `hostname`, `proc_id`, `msg_id`, `version`, `message`, `structured_data` (a map of maps), and the line as received as body, so dashboards built on the Collector's output work.",
    }),
    location: timeZone({
      local: true,
      default: 'Local',
      doc: 'Time zone of RFC 3164 timestamps that carry none: `Local` (the host zone), `UTC` or an IANA name such as `Europe/Paris`.',
    }),
    udp: optional(udpSchema),
    tcp: optional(tcpSchema),
    tls: optional(tlsSchema),
    tenant: defaultTenant('Tenant stamped on every message received (syslog carries no credentials); empty: none.'),
  }),
  (c) => {
    const issues = [];
    if (!c.udp && !c.tcp && !c.tls)
      issues.push({ path: '', message: 'needs at least one of udp, tcp, tls; e.g. `udp: {endpoint: 127.0.0.1:5514}`' });
    return issues;
  },
  'At least one of `udp`, `tcp`, `tls`.',
);

export type SyslogReceiverConfig = Infer<typeof syslogReceiverSchema>;
export type SyslogUdpConfig = Infer<typeof udpSchema>;
export type SyslogTcpConfig = Infer<typeof tcpSchema>;
export type SyslogTlsConfig = Infer<typeof tlsSchema>;
/** The settings a stream listener needs, whether plain TCP or TLS. */
export type SyslogStreamConfig = SyslogTcpConfig | SyslogTlsConfig;
