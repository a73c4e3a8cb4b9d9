import { mkdir, readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import type * as Chdb from 'chdb';
import { VigilError } from '../../errors.ts';
import { clickhouseErrorFromText, EmbeddedUnavailableError, type ClickHouseBackend } from './backend.ts';
import { quoteIdentifier } from './embeddedMemory.ts';

type ChdbModule = typeof Chdb;
type Session = Chdb.Session;

interface SharedSession {
  session: Session;
  path: string;
  users: number;
}

/*
 * chdb runs one engine per process with one data directory: every exporter (and query layer)
 * of this process naming the same path shares one Session, and a second path is an error
 * that names both.
 */
let shared: SharedSession | undefined;
let opening: Promise<SharedSession> | undefined;

async function loadChdb(configPath: string): Promise<ChdbModule> {
  try {
    return await import('chdb');
  } catch (err) {
    throw new EmbeddedUnavailableError(configPath, err);
  }
}

async function acquire(path: string, configPath: string, connectionArgs: string[]): Promise<SharedSession> {
  while (opening) await opening.catch(() => undefined);
  if (shared) {
    if (shared.path !== path) {
      throw new VigilError(
        'VIGIL_CHDB_PATH_CONFLICT',
        `${configPath}.path: embedded ClickHouse is already open at ${shared.path} in this process and can hold only one data directory; give every embedded clickhouse exporter the same path`,
      );
    }
    shared.users++;
    return shared;
  }
  opening = (async () => {
    const chdb = await loadChdb(configPath);
    await mkdir(path, { recursive: true });
    shared = { session: new chdb.Session(path, { connectionArgs }), path, users: 1 };
    return shared;
  })();
  try {
    return await opening;
  } finally {
    opening = undefined;
  }
}

/** A ClickHouse string literal. */
const literal = (s: string) => `'${s.replace(/[\\']/g, (c) => `\\${c}`)}'`;

/**
 * `FROM INFILE` takes its path as a glob: `{a,b}` expands (a path with braces in it names no
 * file, and the insert takes nothing, silently), `*` and `?` match other files too. Such a path
 * goes as the insert call's payload instead.
 */
const GLOB = /[*?{}]/;

function translate(err: unknown): unknown {
  const e = err as { clickhouseCode?: number; message?: string };
  if (typeof e?.clickhouseCode === 'number') return clickhouseErrorFromText(e.message ?? '', e.clickhouseCode, err);
  return err;
}

/** ClickHouse embedded in this process (chdb), its data under the Vigil data dir. */
export class EmbeddedBackend implements ClickHouseBackend {
  readonly description: string;
  private readonly path: string;
  private readonly configPath: string;
  private handle: SharedSession | undefined;

  private constructor(path: string, configPath: string) {
    this.path = resolve(path);
    this.configPath = configPath;
    this.description = `embedded (${this.path})`;
  }

  /** Opens (or joins) the process's chdb session at `path`; the first to open it gives the engine's arguments. */
  static async open(path: string, configPath: string, connectionArgs: string[] = []): Promise<EmbeddedBackend> {
    const b = new EmbeddedBackend(path, configPath);
    b.handle = await acquire(b.path, configPath, connectionArgs);
    return b;
  }

  private get session(): Session {
    if (!this.handle) throw new VigilError('VIGIL_CHDB_CLOSED', `embedded ClickHouse at ${this.path} is closed`);
    return this.handle.session;
  }

  async version(): Promise<string> {
    const rows = await this.select<{ v: string }>('SELECT version() AS v', {});
    return rows[0]?.v ?? '';
  }

  async command(sql: string): Promise<void> {
    try {
      await this.session.queryAsync(sql, { format: 'Null' });
    } catch (err) {
      throw translate(err);
    }
  }

  /** JSONEachRow bytes as the payload of chdb's insert call (the exporter inserts its spool's files instead). */
  async insert(database: string, table: string, rows: Buffer, dedupToken: string): Promise<void> {
    try {
      await this.session.insert({
        table: `${database}.${table}`,
        values: rows,
        format: 'JSONEachRow',
        settings: dedupToken ? { insert_deduplication_token: dedupToken, insert_deduplicate: 1 } : {},
      });
    } catch (err) {
      throw translate(err);
    }
  }

  /**
   * The engine reads the batch's file itself (`INSERT … FROM INFILE`): the same JSONEachRow bytes
   * cost it about a quarter less CPU than as `insert`'s payload (docs/benchmarks.md, "Inserts
   * read from a file, freed pages kept a moment").
   */
  async insertFile(database: string, table: string, path: string, dedupToken: string): Promise<void> {
    if (GLOB.test(path)) return this.insert(database, table, await readFile(path), dedupToken);
    const session = this.session;
    const settings = dedupToken
      ? ` SETTINGS insert_deduplication_token = ${literal(dedupToken)}, insert_deduplicate = 1`
      : '';
    try {
      await session.queryAsync(
        `INSERT INTO ${quoteIdentifier(database)}.${quoteIdentifier(table)} FROM INFILE ${literal(path)}${settings} FORMAT JSONEachRow`,
        { format: 'Null' },
      );
    } catch (err) {
      throw translate(err);
    }
  }

  async select<T>(sql: string, params: Record<string, unknown>): Promise<T[]> {
    let text: string;
    try {
      text = (await this.session.queryBindAsync(sql, params, { format: 'JSONEachRow' })).text();
    } catch (err) {
      throw translate(err);
    }
    const out: T[] = [];
    let start = 0;
    for (let nl = text.indexOf('\n'); nl !== -1; nl = text.indexOf('\n', start)) {
      if (nl > start) out.push(JSON.parse(text.slice(start, nl)) as T);
      start = nl + 1;
    }
    return out;
  }

  async close(): Promise<void> {
    const h = this.handle;
    this.handle = undefined;
    if (!h || --h.users > 0) return;
    if (shared === h) shared = undefined;
    h.session.close();
    const chdb = await loadChdb(this.configPath);
    // close() defers teardown behind running operations; wait so a new Session can open at once.
    await chdb.drainPending();
  }
}
