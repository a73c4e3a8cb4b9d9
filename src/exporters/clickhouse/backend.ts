import { VigilError } from '../../errors.ts';

/**
 * What the exporter and the query layer need from ClickHouse, whether it is a server reached
 * over HTTP or the engine embedded in this process. Rows travel as JSONEachRow bytes so the
 * same buffer serves both backends and the spool.
 */
export interface ClickHouseBackend {
  /** For logs and errors: the URL, or "embedded (<path>)". */
  readonly description: string;
  /** The server's version string, e.g. "26.7.2.1". */
  version(): Promise<string>;
  /** Runs a statement that returns no rows (DDL). */
  command(sql: string): Promise<void>;
  /**
   * Inserts JSONEachRow bytes into `database.table` (both plain identifiers). `dedupToken`
   * goes out as `insert_deduplication_token`, so a retry of a batch ClickHouse already stored
   * is a no-op; '' sends none.
   */
  insert(database: string, table: string, rows: Buffer, dedupToken: string): Promise<void>;
  /** A SELECT with `{name:Type}` placeholders bound server-side; rows as objects. */
  select<T>(sql: string, params: Record<string, unknown>): Promise<T[]>;
  close(): Promise<void>;
}

/** ClickHouse's own error: its numeric code (e.g. 516 AUTHENTICATION_FAILED) and message. */
export class ClickHouseError extends VigilError {
  readonly clickhouseCode: number;
  constructor(clickhouseCode: number, message: string, options?: ErrorOptions) {
    // The code says retryable or not through the table in src/errors.ts.
    super(
      BAD_DATA_CODES.has(clickhouseCode) ? 'VIGIL_CLICKHOUSE_BAD_DATA' : 'VIGIL_CLICKHOUSE_ERROR',
      message,
      options,
    );
    this.clickhouseCode = clickhouseCode;
  }
}

/** The server refused the credentials: retrying will not help until the config changes. */
export class ClickHouseAuthError extends VigilError {
  constructor(where: string, username: string, serverMessage: string, configPath: string) {
    super(
      'VIGIL_CLICKHOUSE_AUTH',
      `ClickHouse at ${where} refused user "${username}": ${serverMessage.trim()}. Check ${configPath}.username and ${configPath}.password (for example password: \${file:/run/secrets/clickhouse})`,
    );
  }
}

/**
 * The oldest server Vigil writes to: insert_deduplication_token (what makes retries safe)
 * arrived in 22.2; DateTime64 and Map, which the OTel tables use, are older.
 */
export const MIN_SERVER_VERSION = [22, 2] as const;

export class ClickHouseTooOldError extends VigilError {
  constructor(where: string, version: string) {
    super(
      'VIGIL_CLICKHOUSE_TOO_OLD',
      `ClickHouse at ${where} is version ${version}; Vigil needs ${MIN_SERVER_VERSION.join('.')} or newer (insert_deduplication_token, DateTime64, Map). Upgrade the server or leave endpoint unset to use embedded ClickHouse`,
    );
  }
}

/** Compares ClickHouse's `major.minor.patch.build` version string with `major.minor`. */
export function versionAtLeast(version: string, major: number, minor: number): boolean {
  const [ma = 0, mi = 0] = version.split('.').map(Number);
  return ma > major || (ma === major && mi >= minor);
}

/** chdb is an optional dependency; this says how to get it. */
export class EmbeddedUnavailableError extends VigilError {
  constructor(configPath: string, cause: unknown) {
    super(
      'VIGIL_CHDB_MISSING',
      `embedded ClickHouse needs the optional "chdb" package (npm install chdb; Linux x64/arm64 glibc or macOS), or set ${configPath}.endpoint to a ClickHouse server: ${(cause as Error).message}`,
      { cause },
    );
  }
}

/** Codes meaning the credentials are wrong (UNKNOWN_USER, WRONG_PASSWORD, REQUIRED_PASSWORD, AUTHENTICATION_FAILED). */
export const AUTH_CODES = new Set([192, 193, 194, 516]);

/**
 * Codes meaning this batch can never be inserted as it is (bad data, unknown column, wrong
 * type): retrying would block the spool forever, so such a batch is set aside instead.
 * A code of the server's state (memory, timeouts, too many parts) never belongs here: those
 * rows were acknowledged and must be retried, never set aside.
 */
const BAD_DATA_CODES = new Set([6, 16, 26, 27, 38, 41, 53, 62, 69, 70, 72, 117, 130, 131]);

/**
 * Server errors that pass by themselves: timeouts (159 TIMEOUT_EXCEEDED, 209 SOCKET_TIMEOUT,
 * 425 SYSTEM_ERROR), overload (202 TOO_MANY_SIMULTANEOUS_QUERIES, 241 MEMORY_LIMIT_EXCEEDED,
 * 242 TABLE_IS_READ_ONLY while Keeper is away), 210 NETWORK_ERROR, 999 KEEPER_EXCEPTION.
 */
const TRANSIENT_CODES = new Set([159, 202, 209, 210, 241, 242, 425, 999]);

/** Wrong credentials or an old server: retried, as the rows are fine, but an operator must act. */
export function needsOperator(err: unknown): boolean {
  return (err instanceof ClickHouseError && AUTH_CODES.has(err.clickhouseCode)) || err instanceof ClickHouseTooOldError;
}

export function isTransient(err: unknown): boolean {
  return err instanceof ClickHouseError && TRANSIENT_CODES.has(err.clickhouseCode);
}

/** Parses ClickHouse's "Code: N. DB::Exception: ..." text into a ClickHouseError. */
export function clickhouseErrorFromText(text: string, fallbackCode = 0, cause?: unknown): ClickHouseError {
  const m = /Code:\s*(\d+)/.exec(text);
  return new ClickHouseError(m ? Number(m[1]) : fallbackCode, text.trim(), cause === undefined ? undefined : { cause });
}
