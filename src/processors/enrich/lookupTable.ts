import { EventEmitter } from 'node:events';
import { watch, type FSWatcher } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import type { Attributes } from '../../model/attributes.ts';
import { VigilError } from '../../errors.ts';
import { parseCsvTable, parseYamlTable, type Table } from './tableFile.ts';

export interface LookupTableEvents {
  reload: [rows: number];
  reloadError: [err: Error];
}

/** Coalesces the burst of change events one save produces (truncate, write, rename). */
const SETTLE_MS = 50;

/**
 * A CSV or YAML lookup table kept current: the directory is watched (watching the file
 * itself loses track when editors replace it by rename), and a change event reloads only when
 * the file's mtime or size moved. A file that fails to parse keeps the previous table and
 * emits `reloadError`; a good one swaps in at once and emits `reload`.
 */
export class LookupTable extends EventEmitter<LookupTableEvents> {
  readonly path: string;
  private readonly format: 'csv' | 'yaml';
  private readonly keyField: string;
  private table: Table = new Map();
  private signature = '';
  private watcher: FSWatcher | undefined;
  private timer: NodeJS.Timeout | undefined;
  private loading: Promise<void> | undefined;

  constructor(path: string, format: 'auto' | 'csv' | 'yaml', keyField: string) {
    super();
    this.path = path;
    this.format = format === 'auto' ? (path.toLowerCase().endsWith('.csv') ? 'csv' : 'yaml') : format;
    this.keyField = keyField;
  }

  get(key: string): Attributes | undefined {
    return this.table.get(key);
  }

  get size(): number {
    return this.table.size;
  }

  /** Loads the table (failing clearly when it cannot) and starts watching it. */
  async start(): Promise<void> {
    try {
      await this.load();
    } catch (err) {
      throw new VigilError('VIGIL_LOOKUP_TABLE', `cannot load lookup table ${this.path}: ${(err as Error).message}`, { cause: err });
    }
    const name = basename(this.path);
    this.watcher = watch(dirname(this.path), (_event, filename) => {
      if (filename !== null && filename !== name) return;
      clearTimeout(this.timer);
      this.timer = setTimeout(() => void this.reloadIfChanged(), SETTLE_MS);
    });
    this.watcher.on('error', (err) => this.emit('reloadError', err));
  }

  stop(): void {
    clearTimeout(this.timer);
    this.watcher?.close();
    this.watcher = undefined;
  }

  private async load(): Promise<void> {
    const st = await stat(this.path);
    const text = await readFile(this.path, 'utf8');
    this.table = this.format === 'csv' ? parseCsvTable(text, this.keyField) : parseYamlTable(text, this.keyField);
    this.signature = `${st.mtimeMs}:${st.size}`;
  }

  /** Serialised, so two change events never race two reads of the same file. */
  reloadIfChanged(): Promise<void> {
    this.loading = (this.loading ?? Promise.resolve()).then(async () => {
      let st;
      try {
        st = await stat(this.path);
      } catch (err) {
        // Mid-replace the file may be briefly absent; the next event brings it back.
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') this.emit('reloadError', err as Error);
        return;
      }
      if (`${st.mtimeMs}:${st.size}` === this.signature) return;
      try {
        await this.load();
        this.emit('reload', this.table.size);
      } catch (err) {
        this.signature = `${st.mtimeMs}:${st.size}`;
        this.emit('reloadError', err as Error);
      }
    });
    return this.loading;
  }
}
