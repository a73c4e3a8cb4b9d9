import {
  bool,
  bytes,
  duration,
  literalUnion,
  obj,
  optional,
  record,
  refine,
  str,
  url,
  type Infer,
  type Schema,
} from '../../config/schema.ts';
import { insecureSkipVerify, tlsClientFiles } from '../../config/tls.ts';

const tlsClientSchema = obj(
  {
    insecure: bool({
      default: false,
      doc: '`otlp_grpc` only: plain-text HTTP/2 instead of TLS, for an endpoint written `host:port` (an `http://` endpoint says the same).',
    }),
    ...tlsClientFiles,
    insecure_skip_verify: insecureSkipVerify(),
    server_name_override: optional(
      str({
        nonEmpty: true,
        doc: 'Name to verify the server certificate against (and to send as SNI) instead of the endpoint host.',
      }),
    ),
  },
  { doc: "TLS client settings, as the Collector's configtls names them." },
);

const GRPC_ENDPOINT = /^(?:(?:https?):\/\/)?(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):\d{1,5}\/?$/;

function commonFields<E>(endpoint: Schema<E>) {
  return {
    endpoint,
    compression: literalUnion(['gzip', 'zstd', 'none'], {
      default: 'gzip',
      doc: 'Compression of each request body (gRPC: message encoding).',
    }),
    headers: record(str(), {
      doc: 'Headers (gRPC metadata) sent with every request, e.g. `authorization: "Bearer ${env:GATEWAY_TOKEN}"`.',
    }),
    timeout: duration({
      default: '10s',
      positive: true,
      doc: 'Time one request may take; a request that takes longer is retried.',
    }),
    tls: optional(tlsClientSchema),
    retry_on_failure: obj(
      {
        initial_interval: duration({
          default: '1s',
          positive: true,
          doc: 'Wait after the first retryable failure; doubles (with ±20% jitter) up to max_interval. A Retry-After or RetryInfo from the server replaces it.',
        }),
        max_interval: duration({ default: '30s', positive: true, doc: 'Longest wait between attempts.' }),
        max_elapsed_time: duration({
          default: 0,
          doc: 'Give a batch up (counted as failed, logged) after retrying it this long; 0 keeps retrying, the batch waiting on disk.',
        }),
      },
      {
        doc: "Retry of retryable failures (unreachable server, gRPC UNAVAILABLE, HTTP 429/502/503/504…), as the Collector's exporterhelper does. Permanent failures (gRPC INVALID_ARGUMENT, HTTP 400…) are dropped, counted and logged.",
      },
    ),
    sending_queue: obj(
      {
        dir: optional(
          str({
            doc: 'Where accepted batches wait to be sent. Default: `otlp-queue/<exporter id>` under the data dir.',
          }),
        ),
        max_bytes: bytes({
          default: '1GiB',
          min: 1024,
          doc: 'Ceiling of the queue on disk (uncompressed protobuf); when full, the pipeline stops taking data and receivers answer 429 / RESOURCE_EXHAUSTED.',
        }),
        max_request_bytes: bytes({
          default: '4MiB',
          min: 1024,
          doc: 'Queued batches of one signal are merged into requests up to this size (before compression); the gRPC default limit of a receiver is 4 MiB.',
        }),
        fsync: bool({
          default: false,
          doc: 'fsync every accepted batch: survives power loss as well as a crash, at a throughput cost.',
        }),
      },
      {
        doc: 'The durable queue: a batch is on disk before the pipeline is told it is accepted, and leaves it once the server confirmed it, so a restart resends what was not confirmed.',
      },
    ),
  };
}

function tlsPairCheck(tls: { cert_file?: string; key_file?: string } | undefined) {
  return tls && (tls.cert_file === undefined) !== (tls.key_file === undefined)
    ? { path: 'tls', message: 'cert_file and key_file go together' }
    : undefined;
}

export const otlpGrpcExporterSchema = refine(
  obj(
    commonFields(
      str({
        nonEmpty: true,
        pattern: GRPC_ENDPOINT,
        patternHint: 'host:port, or http:// or https:// followed by host:port',
        doc: "The gateway's OTLP/gRPC address, `gateway.example:4317`. TLS unless `tls.insecure` is set or the endpoint starts with `http://`.",
      }),
    ),
  ),
  (c) => tlsPairCheck(c.tls),
  '`tls.cert_file` and `tls.key_file` go together.',
);

export const otlpHttpExporterSchema = refine(
  obj(
    commonFields(
      url({
        doc: "Base URL of the gateway's OTLP/HTTP listener, `https://gateway.example:4318`; requests go to `/v1/logs`, `/v1/metrics`, `/v1/traces` under it.",
      }),
    ),
  ),
  (c) =>
    tlsPairCheck(c.tls) ??
    (c.tls?.insecure
      ? { path: 'tls.insecure', message: 'applies to otlp_grpc only; an http:// endpoint is plain text' }
      : undefined),
  '`tls.cert_file` and `tls.key_file` go together; `tls.insecure` applies to otlp_grpc only.',
);

export type OtlpGrpcExporterConfig = Infer<typeof otlpGrpcExporterSchema>;
export type OtlpHttpExporterConfig = Infer<typeof otlpHttpExporterSchema>;
export type OtlpExporterConfig = OtlpGrpcExporterConfig | OtlpHttpExporterConfig;
export type OtlpTlsClientConfig = Infer<typeof tlsClientSchema>;
