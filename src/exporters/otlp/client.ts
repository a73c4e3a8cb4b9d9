import { readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { gzip, zstdCompress } from 'node:zlib';
import { ExportError } from '../helper/exportError.ts';
import type { OtlpSignal } from '../../receivers/otlp/signals.ts';
import type { OtlpTlsClientConfig } from './config.ts';

/**
 * What one export attempt came to: taken (perhaps in part, OTLP's partial success), or failed
 * with the exporters' ExportError, permanent or retryable as the OTLP specification says.
 */
export type ExportResult = { kind: 'ok'; rejected: number; message: string } | { kind: 'failed'; error: ExportError };

/** One transport (gRPC or HTTP/protobuf) to one OTLP server. */
export interface OtlpClient {
  /** `body` is an uncompressed Export*ServiceRequest. */
  export(signal: OtlpSignal, body: Buffer): Promise<ExportResult>;
  close(): Promise<void>;
}

const gzipAsync = promisify(gzip);
const zstdAsync = promisify(zstdCompress);

export type Compression = 'gzip' | 'zstd' | 'none';

export function compress(body: Buffer, compression: Compression): Promise<Buffer> {
  if (compression === 'gzip') return gzipAsync(body);
  if (compression === 'zstd') return zstdAsync(body);
  return Promise.resolve(body);
}

/** Node TLS client options from the config's `tls` block, files read once at start. */
export function tlsClientOptions(tls: OtlpTlsClientConfig | undefined): {
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
  rejectUnauthorized: boolean;
  servername?: string;
} {
  if (!tls) return { rejectUnauthorized: true };
  return {
    ca: tls.ca_file === undefined ? undefined : readFileSync(tls.ca_file),
    cert: tls.cert_file === undefined ? undefined : readFileSync(tls.cert_file),
    key: tls.key_file === undefined ? undefined : readFileSync(tls.key_file),
    rejectUnauthorized: !tls.insecure_skip_verify,
    servername: tls.server_name_override,
  };
}

export const USER_AGENT = 'Vigil OTLP exporter';

export function retryable(message: string, retryAfterMs?: number): ExportResult {
  return { kind: 'failed', error: new ExportError(message, { retryAfterMs }) };
}

export function permanent(message: string): ExportResult {
  return { kind: 'failed', error: new ExportError(message, { permanent: true }) };
}
