import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { parseRetryAfter } from '../helper/exportError.ts';
import { decodePartialSuccess, decodeRpcStatus } from '../../otlp/proto/responses.ts';
import { SIGNAL_SPECS, type OtlpSignal } from '../../receivers/otlp/signals.ts';
import {
  compress,
  permanent,
  retryable,
  tlsClientOptions,
  USER_AGENT,
  type Compression,
  type ExportResult,
  type OtlpClient,
} from './client.ts';
import type { OtlpHttpExporterConfig } from './config.ts';

/** HTTP statuses the OTLP/HTTP specification marks retryable; every other failure is permanent. */
const RETRYABLE = new Set([429, 502, 503, 504]);
const MAX_RESPONSE_BYTES = 64 * 1024;

/** OTLP/HTTP with protobuf bodies: `POST <endpoint>/v1/logs` and the like. */
export class OtlpHttpClient implements OtlpClient {
  private readonly base: string;
  private readonly https: boolean;
  private readonly agent: HttpAgent;
  private readonly headers: Record<string, string>;
  private readonly compression: Compression;
  private readonly timeoutMs: number;
  private readonly now: () => number;

  constructor(config: OtlpHttpExporterConfig, now: () => number = Date.now) {
    this.base = config.endpoint.replace(/\/+$/, '');
    this.https = this.base.startsWith('https:');
    this.agent = this.https
      ? new HttpsAgent({ keepAlive: true, maxSockets: 4, ...tlsClientOptions(config.tls) })
      : new HttpAgent({ keepAlive: true, maxSockets: 4 });
    this.compression = config.compression;
    this.timeoutMs = config.timeout;
    this.now = now;
    this.headers = { ...config.headers, 'content-type': 'application/x-protobuf', 'user-agent': USER_AGENT };
    if (config.compression !== 'none') this.headers['content-encoding'] = config.compression;
  }

  async export(signal: OtlpSignal, body: Buffer): Promise<ExportResult> {
    const payload = await compress(body, this.compression);
    const url = this.base + SIGNAL_SPECS[signal].httpPath;
    let res: { status: number; headers: IncomingMessage['headers']; body: Buffer };
    try {
      res = await this.post(url, payload);
    } catch (err) {
      return retryable(`POST ${url}: ${(err as Error).message}`);
    }
    if (res.status >= 200 && res.status < 300) {
      try {
        const partial = isProtobuf(res.headers) ? decodePartialSuccess(res.body) : { rejected: 0, errorMessage: '' };
        return { kind: 'ok', rejected: partial.rejected, message: partial.errorMessage };
      } catch {
        return { kind: 'ok', rejected: 0, message: '' };
      }
    }
    const said = `POST ${url}: HTTP ${res.status}${describeBody(res)}`;
    if (!RETRYABLE.has(res.status)) return permanent(said);
    const retryAfter = res.headers['retry-after'];
    return retryable(said, parseRetryAfter(typeof retryAfter === 'string' ? retryAfter : null, this.now()));
  }

  private post(
    url: string,
    payload: Buffer,
  ): Promise<{ status: number; headers: IncomingMessage['headers']; body: Buffer }> {
    return new Promise((resolve, reject) => {
      const send = this.https ? httpsRequest : httpRequest;
      const req = send(
        url,
        {
          method: 'POST',
          agent: this.agent,
          headers: { ...this.headers, 'content-length': String(payload.length) },
          timeout: this.timeoutMs,
        },
        (res) => {
          const chunks: Buffer[] = [];
          let size = 0;
          res.on('data', (c: Buffer) => {
            size += c.length;
            if (size <= MAX_RESPONSE_BYTES) chunks.push(c);
          });
          res.on('end', () =>
            resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }),
          );
          res.on('error', reject);
        },
      );
      req.on('timeout', () => req.destroy(new Error(`no answer within ${this.timeoutMs} ms (timeout)`)));
      req.on('error', reject);
      req.end(payload);
    });
  }

  close(): Promise<void> {
    this.agent.destroy();
    return Promise.resolve();
  }
}

function isProtobuf(headers: IncomingMessage['headers']): boolean {
  return (headers['content-type'] ?? '').startsWith('application/x-protobuf');
}

/** The server's reason: google.rpc.Status message for protobuf, the start of a text body otherwise. */
function describeBody(res: { headers: IncomingMessage['headers']; body: Buffer }): string {
  if (res.body.length === 0) return '';
  if (isProtobuf(res.headers)) {
    try {
      const s = decodeRpcStatus(res.body);
      return s.message ? `: ${s.message}` : '';
    } catch {
      return '';
    }
  }
  return `: ${res.body.subarray(0, 300).toString('utf8').trim()}`;
}
