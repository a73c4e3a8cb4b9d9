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
  /**
   * Inserts the JSONEachRow file at `path`, as `insert` does its bytes, where the backend reads
   * this machine's files itself (embedded ClickHouse): the rows never pass through JS.
   */
  insertFile?(database: string, table: string, path: string, dedupToken: string): Promise<void>;
  /** A SELECT with `{name:Type}` placeholders bound server-side; rows as objects. */
  select<T>(sql: string, params: Record<string, unknown>): Promise<T[]>;
  close(): Promise<void>;
}

/** ClickHouse's own error: its numeric code (e.g. 516 AUTHENTICATION_FAILED) and message. */
export class ClickHouseError extends VigilError {
  readonly clickhouseCode: number;
  readonly errorClass: ClickHouseErrorClass;
  constructor(clickhouseCode: number, message: string, options?: ErrorOptions) {
    const errorClass = classifyClickHouseCode(clickhouseCode);
    // The class's code says retryable or not, through the table in src/errors.ts.
    super(VIGIL_CODE[errorClass], message, options);
    this.clickhouseCode = clickhouseCode;
    this.errorClass = errorClass;
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
  /** `needs`: what this version lacks and how to do without, when it is not Vigil's minimum. */
  constructor(where: string, version: string, needs?: string) {
    super(
      'VIGIL_CLICKHOUSE_TOO_OLD',
      `ClickHouse at ${where} is version ${version}; ${needs ?? `Vigil needs ${MIN_SERVER_VERSION.join('.')} or newer (insert_deduplication_token, DateTime64, Map). Upgrade the server or leave endpoint unset to use embedded ClickHouse`}`,
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

/** How Vigil treats a ClickHouse error code, by what it says about the batch. */
export type ClickHouseErrorClass =
  /** The server's state (load, a timeout, a replica or Keeper away): the batch is retried as it is. */
  | 'transient'
  /** The batch is too big for the server right now: retried in halves until the halves go in. */
  | 'size'
  /** The rows themselves are refused: the batch is set aside (`rejected/`), the spool flows on. */
  | 'bad_data'
  /** Credentials, rights, schema or server settings: retried, loudly, until an operator fixes them; rows kept. */
  | 'operator'
  /** A code not classified here: retried, as losing acknowledged rows is worse than waiting. */
  | 'unknown';

/*
 * Every ClickHouse code the exporter meets, by number and name as in ClickHouse's
 * src/Common/ErrorCodes.cpp. A code of the server's state never counts as bad data: those rows
 * were acknowledged and must be retried, never set aside. Codes a schema mismatch raises (a
 * missing table or column) are the operator's, not bad data: with a wrong schema every batch
 * would fail, and setting them all aside would empty the spool into `rejected/`.
 */
const CLASSES: Record<ClickHouseErrorClass, readonly number[]> = {
  transient: [
    159, // TIMEOUT_EXCEEDED
    160, // TOO_SLOW
    198, // DNS_ERROR
    201, // QUOTA_EXCEEDED (QUOTA_EXPIRED before 21.x): the quota interval ends
    202, // TOO_MANY_SIMULTANEOUS_QUERIES
    203, // NO_FREE_CONNECTION
    209, // SOCKET_TIMEOUT
    210, // NETWORK_ERROR
    225, // NO_ZOOKEEPER
    236, // ABORTED
    242, // TABLE_IS_READ_ONLY: a replicated table while Keeper is away
    243, // NOT_ENOUGH_SPACE: passes once disk is freed; rows stay spooled meanwhile
    244, // UNEXPECTED_ZOOKEEPER_ERROR
    // TOO_MANY_PARTS: merges lag behind inserts. Smaller batches would make more parts, so the
    // same batch waits out the backoff instead.
    252,
    254, // NO_ACTIVE_REPLICAS
    279, // ALL_CONNECTION_TRIES_FAILED
    285, // TOO_FEW_LIVE_REPLICAS
    286, // UNSATISFIED_QUORUM_FOR_PREVIOUS_WRITE
    289, // REPLICA_IS_NOT_IN_QUORUM
    319, // UNKNOWN_STATUS_OF_INSERT: the token makes the retry safe
    335, // BARRIER_TIMEOUT
    364, // RECEIVED_ERROR_TOO_MANY_REQUESTS
    373, // SESSION_IS_LOCKED
    394, // QUERY_WAS_CANCELLED
    425, // SYSTEM_ERROR
    439, // CANNOT_SCHEDULE_TASK: thread pool exhausted
    473, // DEADLOCK_AVOIDED
    519, // NO_REMOTE_SHARD_AVAILABLE
    574, // DISTRIBUTED_TOO_MANY_PENDING_BYTES
    745, // SERVER_OVERLOADED
    999, // KEEPER_EXCEPTION
  ],
  size: [
    173, // CANNOT_ALLOCATE_MEMORY
    241, // MEMORY_LIMIT_EXCEEDED
    565, // TOO_MANY_PARTITIONS: one batch spans more partitions than max_partitions_per_insert_block
  ],
  bad_data: [
    6, // CANNOT_PARSE_TEXT
    19, // SIZE_OF_FIXED_STRING_DOESNT_MATCH
    25, // CANNOT_PARSE_ESCAPE_SEQUENCE
    26, // CANNOT_PARSE_QUOTED_STRING
    27, // CANNOT_PARSE_INPUT_ASSERTION_FAILED
    32, // ATTEMPT_TO_READ_AFTER_EOF: a truncated row
    33, // CANNOT_READ_ALL_DATA
    38, // CANNOT_PARSE_DATE
    41, // CANNOT_PARSE_DATETIME
    53, // TYPE_MISMATCH
    62, // SYNTAX_ERROR
    69, // ARGUMENT_OUT_OF_BOUND
    70, // CANNOT_CONVERT_TYPE
    72, // CANNOT_PARSE_NUMBER
    117, // INCORRECT_DATA
    128, // TOO_LARGE_ARRAY_SIZE
    130, // CANNOT_READ_ARRAY_FROM_TEXT
    131, // TOO_LARGE_STRING_SIZE
    190, // SIZES_OF_ARRAYS_DOESNT_MATCH
    321, // VALUE_IS_OUT_OF_RANGE_OF_DATA_TYPE
    349, // CANNOT_INSERT_NULL_IN_ORDINARY_COLUMN
    376, // CANNOT_PARSE_UUID
    407, // DECIMAL_OVERFLOW
    441, // CANNOT_PARSE_DOMAIN_VALUE_FROM_STRING
    467, // CANNOT_PARSE_BOOL
    469, // VIOLATED_CONSTRAINT
    675, // CANNOT_PARSE_IPV4
    676, // CANNOT_PARSE_IPV6
  ],
  operator: [
    8, // THERE_IS_NO_COLUMN
    10, // NOT_FOUND_COLUMN_IN_BLOCK
    16, // NO_SUCH_COLUMN_IN_TABLE
    60, // UNKNOWN_TABLE
    73, // UNKNOWN_FORMAT
    81, // UNKNOWN_DATABASE
    115, // UNKNOWN_SETTING: a server too old for insert_deduplication_token
    164, // READONLY: the user's profile says readonly
    192, // UNKNOWN_USER
    193, // WRONG_PASSWORD
    194, // REQUIRED_PASSWORD
    195, // IP_ADDRESS_NOT_ALLOWED
    218, // TABLE_IS_DROPPED
    291, // DATABASE_ACCESS_DENIED
    452, // SETTING_CONSTRAINT_VIOLATION
    472, // READONLY_SETTING
    497, // ACCESS_DENIED
    516, // AUTHENTICATION_FAILED
  ],
  unknown: [],
};

const CLASS_OF = new Map<number, ClickHouseErrorClass>();
for (const [cls, codes] of Object.entries(CLASSES) as [ClickHouseErrorClass, readonly number[]][])
  for (const code of codes) CLASS_OF.set(code, cls);

export function classifyClickHouseCode(code: number): ClickHouseErrorClass {
  return CLASS_OF.get(code) ?? 'unknown';
}

/** The Vigil code of each class, whose retryability the table in src/errors.ts gives. */
const VIGIL_CODE: Record<ClickHouseErrorClass, string> = {
  transient: 'VIGIL_CLICKHOUSE_TRANSIENT',
  size: 'VIGIL_CLICKHOUSE_TRANSIENT',
  bad_data: 'VIGIL_CLICKHOUSE_BAD_DATA',
  operator: 'VIGIL_CLICKHOUSE_REFUSED',
  unknown: 'VIGIL_CLICKHOUSE_ERROR',
};

/** Codes meaning the credentials are wrong (UNKNOWN_USER, WRONG_PASSWORD, REQUIRED_PASSWORD, AUTHENTICATION_FAILED). */
export const AUTH_CODES = new Set([192, 193, 194, 516]);

/** Credentials, rights, schema or an old server: retried, as the rows are fine, but an operator must act. */
export function needsOperator(err: unknown): boolean {
  return (err instanceof ClickHouseError && err.errorClass === 'operator') || err instanceof ClickHouseTooOldError;
}

/** The batch is too big for the server now: worth retrying in smaller pieces. */
export function isSizeError(err: unknown): boolean {
  return err instanceof ClickHouseError && err.errorClass === 'size';
}

export function isTransient(err: unknown): boolean {
  return err instanceof ClickHouseError && (err.errorClass === 'transient' || err.errorClass === 'size');
}

/** Parses ClickHouse's "Code: N. DB::Exception: ..." text into a ClickHouseError. */
export function clickhouseErrorFromText(text: string, fallbackCode = 0, cause?: unknown): ClickHouseError {
  const m = /Code:\s*(\d+)/.exec(text);
  return new ClickHouseError(m ? Number(m[1]) : fallbackCode, text.trim(), cause === undefined ? undefined : { cause });
}
