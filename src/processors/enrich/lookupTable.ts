import { EventEmitter } from 'node:events';
import { watch, type FSWatcher, type Stats } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import type { Attributes } from '../../model/attributes.ts';
import { VigilError } from '../../errors.ts';
import { parseCsvTable, parseYamlTable, type Table } from './tableFile.ts';

export interface LookupTableEvents {
  reload: [rows: number];
  reloadError: [err: Error];
}

/**
 * What tells a changed file apart. The inode is in it because file times tick coarsely (a few
 * ms): a file replaced by rename or symlink swap within one tick, at the same size, would
 * otherwise look unchanged.
 */
function signatureOf(st: Stats): string {
  return `${st.ino}:${st.mtimeMs}:${st.size}`;
}

/** Coalesces the burst of change events one save produces (truncate, write, rename). */
const SETTLE_MS = 50;

/**
 * A CSV or YAML lookup table kept current: the directory is watched (watching the file
 * itself loses track when editors replace it by rename), it is also polled every
 * `check_interval`, and either reloads only when the file's inode, mtime or size moved. A file that fails to parse keeps the previous table and
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
  private poller: NodeJS.Timeout | undefined;
  private readonly checkIntervalMs: number;
  private loading: Promise<void> | undefined;

  constructor(path: string, format: 'auto' | 'csv' | 'yaml', keyField: string, checkIntervalMs: number) {
    super();
    this.checkIntervalMs = checkIntervalMs;
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
      throw new VigilError('VIGIL_LOOKUP_TABLE', `cannot load lookup table ${this.path}: ${(err as Error).message}`, {
        cause: err,
      });
    }
    const name = basename(this.path);
    this.watcher = watch(dirname(this.path), (_event, filename) => {
      // Kubernetes updates a mounted ConfigMap by swapping its `..data` symlink: the event
      // names that link, not the table, though the table's content is what changed.
      if (filename !== null && filename !== name && !filename.startsWith('..')) return;
      // Coalesce without postponing: a steady stream of events must not starve the check.
      this.timer ??= setTimeout(() => {
        this.timer = undefined;
        void this.reloadIfChanged();
      }, SETTLE_MS);
    });
    this.watcher.on('error', (err) => this.emit('reloadError', err));
    // Some file systems (NFS, FUSE mounts) deliver no change events: check now and then anyway.
    this.poller = setInterval(() => void this.reloadIfChanged(), this.checkIntervalMs);
    this.poller.unref();
  }

  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    clearInterval(this.poller);
    this.watcher?.close();
    this.watcher = undefined;
  }

  private async load(): Promise<void> {
    const st = await stat(this.path);
    const text = await readFile(this.path, 'utf8');
    this.table = this.format === 'csv' ? parseCsvTable(text, this.keyField) : parseYamlTable(text, this.keyField);
    this.signature = signatureOf(st);
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
      if (signatureOf(st) === this.signature) return;
      try {
        await this.load();
        this.emit('reload', this.table.size);
      } catch (err) {
        this.signature = signatureOf(st);
        this.emit('reloadError', err as Error);
      }
    });
    return this.loading;
  }
}
