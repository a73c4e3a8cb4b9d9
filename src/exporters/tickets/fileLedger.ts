import { mkdir, open, readFile, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import { replaceFile } from './atomicFile.ts';
import { mergedRecord, type TicketLedger, type TicketRecord } from './ledger.ts';

/** Rewrite the file once it holds this many superseded lines. */
const COMPACT_AFTER = 1000;

/**
 * A TicketLedger for one instance, in an append-only NDJSON file under the data dir: each
 * put() is written and fsynced before it resolves, so a restart finds every ticket id that
 * was stored. Claims live in memory: after a crash nobody else can hold one, and the window
 * between "ticket created" and "id stored" is covered by the exporter's search for its marker.
 */
export class FileTicketLedger implements TicketLedger {
  private readonly path: string;
  private readonly records = new Map<string, TicketRecord>();
  private readonly claims = new Set<string>();
  private handle: FileHandle | undefined;
  private writes: Promise<void> = Promise.resolve();
  private superseded = 0;

  constructor(path: string) {
    this.path = path;
  }

  async open(): Promise<void> {
    await mkdir(dirname(this.path), { recursive: true });
    let text = '';
    try {
      text = await readFile(this.path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    for (const line of text.split('\n')) {
      if (!line) continue;
      try {
        const rec = JSON.parse(line) as { k: string; v: TicketRecord };
        this.records.set(rec.k, rec.v);
      } catch {
        // a torn last line from a crash mid-write: that put() never resolved
      }
    }
    await this.compact();
  }

  async get(key: string): Promise<TicketRecord | undefined> {
    return this.records.get(key);
  }

  async claim(key: string): Promise<boolean> {
    if (this.claims.has(key)) return false;
    this.claims.add(key);
    return true;
  }

  put(key: string, record: TicketRecord): Promise<void> {
    return this.write(key, () => record, true);
  }

  async release(key: string): Promise<void> {
    this.claims.delete(key);
  }

  merge(key: string, lost: string, into: string): Promise<void> {
    return this.write(key, (rec) => rec && mergedRecord(rec, lost, into), false);
  }

  async close(): Promise<void> {
    await this.writes;
    await this.handle?.close();
    this.handle = undefined;
  }

  /**
   * Writes what `next` makes of the key's record as it stands once earlier writes are done
   * (nothing when it returns undefined); `release` drops the caller's claim, as put() does.
   */
  private write(
    key: string,
    next: (current: TicketRecord | undefined) => TicketRecord | undefined,
    release: boolean,
  ): Promise<void> {
    const done = this.writes.then(async () => {
      const record = next(this.records.get(key));
      if (record !== undefined) {
        await this.handle!.write(JSON.stringify({ k: key, v: record }) + '\n');
        await this.handle!.sync();
        if (this.records.has(key)) this.superseded++;
        this.records.set(key, record);
      }
      if (release) this.claims.delete(key);
      if (this.superseded >= COMPACT_AFTER) await this.compact();
    });
    this.writes = done.catch(() => undefined);
    return done;
  }

  private async compact(): Promise<void> {
    await this.handle?.close();
    let text = '';
    for (const [k, v] of this.records) text += JSON.stringify({ k, v }) + '\n';
    await replaceFile(this.path, text);
    this.handle = await open(this.path, 'a', 0o600);
    this.superseded = 0;
  }
}
