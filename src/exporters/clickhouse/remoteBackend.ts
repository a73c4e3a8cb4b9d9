import { readFileSync } from 'node:fs';
import { Readable } from 'node:stream';
import { rootCertificates } from 'node:tls';
import {
  createClient,
  ClickHouseError as ClientError,
  ClickHouseLogLevel,
  type ClickHouseClient,
} from '@clickhouse/client';
import { ClickHouseError, clickhouseErrorFromText, type ClickHouseBackend } from './backend.ts';
import { redactUrl } from '../../telemetry/redact.ts';

export interface RemoteOptions {
  url: string;
  database: string;
  username: string;
  password: string;
  compression: boolean;
  timeoutMs: number;
  maxOpenConnections: number;
  tls?: { ca_file?: string; cert_file?: string; key_file?: string };
}

/**
 * Turns the client's error (which carries ClickHouse's code as a string) into ours; network
 * errors pass through. Servers before ~19.x write `Code: 193, e.displayText() = ...`, which the
 * client does not recognise and hands back as a plain Error with that text.
 */
function translate(err: unknown): unknown {
  if (err instanceof ClientError) return new ClickHouseError(Number(err.code) || 0, err.message, { cause: err });
  if (err instanceof Error && /^Code: \d+/.test(err.message)) return clickhouseErrorFromText(err.message, 0, err);
  return err;
}

/**
 * A ClickHouse server over HTTP(S) through @clickhouse/client: keep-alive sockets, gzip both
 * ways, credentials as basic auth. Inserts go through `exec` with the body already in
 * JSONEachRow, because the client's `insert` would re-serialise objects we have already
 * serialised once for the spool.
 */
export class RemoteBackend implements ClickHouseBackend {
  readonly description: string;
  private readonly client: ClickHouseClient;

  constructor(o: RemoteOptions) {
    this.description = redactUrl(o.url);
    let tls: { ca_cert: Buffer; cert?: Buffer; key?: Buffer } | undefined;
    if (o.tls && (o.tls.ca_file || o.tls.cert_file)) {
      // The client takes a client certificate only together with a CA; without ca_file that is Node's bundled set.
      tls = { ca_cert: o.tls.ca_file ? readFileSync(o.tls.ca_file) : Buffer.from(rootCertificates.join('\n')) };
      if (o.tls.cert_file)
        Object.assign(tls, { cert: readFileSync(o.tls.cert_file), key: readFileSync(o.tls.key_file!) });
    }
    this.client = createClient({
      url: o.url,
      // Statements name the database explicitly; the connection stays on `default`, which
      // always exists, so CREATE DATABASE can run before the configured one does.
      database: 'default',
      username: o.username,
      password: o.password,
      request_timeout: o.timeoutMs,
      max_open_connections: o.maxOpenConnections,
      compression: { request: o.compression, response: o.compression },
      keep_alive: { enabled: true },
      application: 'vigil',
      // Failures reach the exporter, which logs them once with context; the client's own log would repeat them.
      log: { level: ClickHouseLogLevel.OFF },
      ...(tls ? { tls } : {}),
    });
  }

  async version(): Promise<string> {
    const rows = await this.select<{ v: string }>('SELECT version() AS v', {});
    return rows[0]?.v ?? '';
  }

  async command(sql: string): Promise<void> {
    try {
      await this.client.command({ query: sql });
    } catch (err) {
      throw translate(err);
    }
  }

  async insert(database: string, table: string, rows: Buffer, dedupToken: string): Promise<void> {
    try {
      const res = await this.client.exec({
        query: `INSERT INTO \`${database}\`.\`${table}\` FORMAT JSONEachRow`,
        values: Readable.from([rows]),
        // Synchronous inserts: the answer then means stored, and the token dedups this very batch
        // even where a user profile turns async_insert on. Into a Distributed table
        // (`distributed: true`) too: insert_distributed_sync waits for the shards, which dedup by
        // the token, instead of queueing the batch on this server's disk.
        clickhouse_settings: dedupToken
          ? {
              insert_deduplication_token: dedupToken,
              insert_deduplicate: 1,
              async_insert: 0,
              insert_distributed_sync: 1,
            }
          : {},
      });
      // The body is empty on success, but the socket only returns to the pool once it is read.
      for await (const _ of res.stream);
    } catch (err) {
      throw translate(err);
    }
  }

  async select<T>(sql: string, params: Record<string, unknown>): Promise<T[]> {
    try {
      const rs = await this.client.query({ query: sql, query_params: params, format: 'JSONEachRow' });
      return await rs.json<T>();
    } catch (err) {
      throw translate(err);
    }
  }

  async close(): Promise<void> {
    await this.client.close();
  }
}
