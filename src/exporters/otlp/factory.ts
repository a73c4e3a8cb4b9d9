import type { Schema } from '../../config/schema.ts';
import type { ExporterFactory } from '../../pipeline/component.ts';
import type { OtlpClient } from './client.ts';
import {
  otlpGrpcExporterSchema,
  otlpHttpExporterSchema,
  type OtlpExporterConfig,
  type OtlpGrpcExporterConfig,
  type OtlpHttpExporterConfig,
} from './config.ts';
import { OtlpExporter } from './exporter.ts';
import { OtlpGrpcClient } from './grpcClient.ts';
import { OtlpHttpClient } from './httpClient.ts';

function otlpExporterFactory<C extends OtlpExporterConfig>(
  type: string,
  schema: Schema<C>,
  description: string,
  client: (config: C) => OtlpClient,
): ExporterFactory<C> {
  return {
    kind: 'exporter',
    type,
    signals: ['logs', 'metrics', 'traces'],
    description,
    configSchema: schema,
    create: (settings, config) => new OtlpExporter(settings, config, () => client(config)),
  };
}

/** The Collector's current names (v0.165): `otlp_grpc` and `otlp_http`; the receiver stays `otlp`. */
export const otlpGrpcExporterFactory = otlpExporterFactory<OtlpGrpcExporterConfig>(
  'otlp_grpc',
  otlpGrpcExporterSchema,
  'Forwards logs, metrics and traces to an OTLP/gRPC server (a Vigil or Collector gateway), through a durable queue on disk with retries.',
  (config) => new OtlpGrpcClient(config),
);

export const otlpHttpExporterFactory = otlpExporterFactory<OtlpHttpExporterConfig>(
  'otlp_http',
  otlpHttpExporterSchema,
  'Forwards logs, metrics and traces to an OTLP/HTTP server in protobuf (POST /v1/logs, /v1/metrics, /v1/traces), through a durable queue on disk with retries.',
  (config) => new OtlpHttpClient(config),
);
