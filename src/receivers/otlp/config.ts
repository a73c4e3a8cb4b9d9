import {
  bytes,
  duration,
  endpoint,
  int,
  list,
  obj,
  optional,
  record,
  refine,
  str,
  type ConfigIssue,
  type Infer,
  type Schema,
} from '../../config/schema.ts';
import { httpServerLimitFields, minBodyRateField } from '../http/serverConfig.ts';
import { tlsServerSchema } from '../../config/tls.ts';
import { defaultTenant } from '../defaultTenant.ts';
import { maxRecordsPerRequest } from '../recordLimit.ts';
import { peerIpv6PrefixField } from '../peerGroup.ts';

/**
 * A protocol block as the OTel Collector reads it: absent means off, while `grpc:` with no
 * value (YAML null) means on with every default.
 */
function enabledBlock<T>(inner: Schema<T>): Schema<T | undefined> {
  return {
    typeName: inner.typeName,
    doc: inner.doc,
    hasDefault: false,
    isOptional: true,
    parse(value: unknown, path: string, issues: ConfigIssue[]) {
      if (value === undefined) return undefined;
      return inner.parse(value === null ? {} : value, path, issues);
    },
    describe: () => ({ ...inner.describe(), required: false }),
  };
}

const grpcSchema = obj(
  {
    endpoint: endpoint({ default: '127.0.0.1:4317', doc: 'gRPC listener address.' }),
    max_recv_msg_size: bytes({
      default: '4MiB',
      min: 1,
      doc: 'Largest request message accepted, after decompression (RESOURCE_EXHAUSTED above).',
    }),
    max_records_per_request: maxRecordsPerRequest(),
    max_concurrent_streams: int({
      default: 100,
      min: 1,
      doc: 'Calls one connection may have open at once (HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS); clients queue the rest.',
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
    read_timeout: duration({
      default: '30s',
      doc: 'Time a call may take to deliver its request message; a slower call is answered DEADLINE_EXCEEDED and reset. 0 waits forever.',
    }),
    min_body_rate: bytes({
      default: '1KiB',
      doc: 'Bytes per second a request message must arrive at, measured over each 5 s while it is read; a slower call (a stalled stream) is answered DEADLINE_EXCEEDED and reset, instead of holding its part of the receive budget until read_timeout. 0: any rate.',
    }),
    keepalive: obj(
      {
        server_parameters: obj({
          max_connection_idle: duration({
            default: '5m',
            doc: 'A connection with no call open for this long is closed (GOAWAY); 0 never closes. Clients reconnect when they next send.',
          }),
        }),
      },
      { doc: "Connection management, as the Collector's configgrpc names it." },
    ),
    tls: optional(tlsServerSchema),
  },
  {
    doc: 'OTLP/gRPC (LogsService, MetricsService, TraceService and grpc.health.v1.Health). Write `grpc:` alone to enable it with the defaults.',
  },
);

const corsSchema = obj(
  {
    allowed_origins: list(str(), {
      default: [],
      doc: 'Origins allowed to send from a browser; `*` wildcards match within the origin (`https://*.example.com`).',
    }),
    allowed_headers: list(str(), {
      default: [],
      doc: 'Request headers allowed besides the CORS-safelisted ones and Content-Type/Content-Encoding/Authorization.',
    }),
    max_age: duration({
      default: 0,
      doc: 'How long browsers may cache a preflight answer; 0 leaves it to the browser.',
    }),
  },
  { doc: 'Cross-origin requests (browser SDKs).' },
);

const httpSchema = obj(
  {
    endpoint: endpoint({
      default: '127.0.0.1:4318',
      doc: 'HTTP listener address; shared with the json receiver when equal.',
    }),
    max_request_body_size: bytes({
      default: '20MiB',
      min: 1,
      doc: 'Largest request body accepted, after decompression (413 above).',
    }),
    max_records_per_request: maxRecordsPerRequest(),
    ...httpServerLimitFields,
    min_body_rate: minBodyRateField,
    tls: optional(tlsServerSchema),
    cors: optional(corsSchema),
  },
  {
    doc: 'OTLP/HTTP: POST /v1/logs, /v1/metrics, /v1/traces in protobuf or JSON. Write `http:` alone to enable it with the defaults.',
  },
);

const authSchema = refine(
  obj(
    {
      authenticator: optional(
        str({
          nonEmpty: true,
          doc: 'Id of an authenticator extension (listed in service.extensions): JWTs and API keys, each naming the tenant its records are stamped with. Any authenticated caller may send, whatever its role.',
        }),
      ),
      bearer_tokens: optional(
        refine(
          record(str({ nonEmpty: true }), {
            doc: 'Accepted static bearer tokens, each mapped to the tenant its records are stamped with. Keep tokens out of the file: a key may be a reference, `"${file:/run/secrets/token-a}": team-a`.',
          }),
          (tokens) => (Object.keys(tokens).length === 0 ? [{ path: '', message: 'must list at least one token' }] : []),
          'At least one token.',
        ),
      ),
    },
    {
      doc: 'Require `Authorization: Bearer <credential>` (gRPC metadata `authorization`), checked by an authenticator extension or against static tokens (one of the two); other requests get 401 / UNAUTHENTICATED.',
    },
  ),
  (a) =>
    (a.authenticator === undefined) === (a.bearer_tokens === undefined)
      ? { path: '', message: 'give authenticator or bearer_tokens (one of them)' }
      : undefined,
  'Exactly one of `authenticator` and `bearer_tokens`.',
);

export const otlpReceiverSchema = refine(
  obj({
    protocols: obj(
      { grpc: enabledBlock(grpcSchema), http: enabledBlock(httpSchema) },
      { doc: 'At least one of grpc, http.' },
    ),
    auth: optional(authSchema),
    tenant: defaultTenant(
      "Tenant stamped on records whose sender's credentials name none, and on every record without `auth`; empty: none.",
    ),
  }),
  (c) =>
    c.protocols.grpc || c.protocols.http
      ? undefined
      : {
          path: 'protocols',
          message: 'enable at least one of grpc, http (e.g. `grpc:` with no value for the defaults)',
        },
  'At least one of `protocols.grpc` and `protocols.http` is enabled.',
);

export type OtlpReceiverConfig = Infer<typeof otlpReceiverSchema>;
export type OtlpGrpcConfig = Infer<typeof grpcSchema>;
export type OtlpHttpConfig = Infer<typeof httpSchema>;
export type OtlpCorsConfig = Infer<typeof corsSchema>;
