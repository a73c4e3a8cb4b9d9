import { createHash } from 'node:crypto';
import { watch, type FSWatcher } from 'node:fs';
import { readFile, realpath } from 'node:fs/promises';
import { basename, dirname, resolve } from 'node:path';

export interface ConfigWatcherOptions {
  /** Gets the file's text when its content changed; called one at a time, awaited. */
  onChange: (text: string, why: string) => Promise<void> | void;
  /** A watch that failed, or a file that cannot be read: reloads then need SIGHUP. */
  onError: (err: Error) => void;
  /** Quiet time after the last event before the file is read. */
  settleMs?: number;
}

/** Editors write in several steps; a file rewritten without pause still gets read this often. */
const MAX_SETTLE_MS = 2000;

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/**
 * Keeps watch on a config file through the ways it really gets replaced. Editors, `sed -i` and
 * Ansible rename a new file over it, which leaves a watch on the file itself on the old, unlinked
 * inode; Kubernetes updates a mounted ConfigMap by swapping the `..data` symlink that the file
 * links through. So the file's directory is watched, and the directory its real path lies in,
 * re-resolved after every change. A burst of events settles into one read, and only content whose
 * hash differs from the last handed over counts as a change.
 */
export class ConfigWatcher {
  readonly path: string;
  private readonly opts: ConfigWatcherOptions;
  private readonly settleMs: number;
  private readonly watchers = new Map<string, FSWatcher>();
  private realPath: string;
  private hash = '';
  private timer: NodeJS.Timeout | undefined;
  private firstEventMs: number | undefined;
  private checking: Promise<void> = Promise.resolve();
  private stopped = false;

  constructor(path: string, opts: ConfigWatcherOptions) {
    this.path = resolve(path);
    this.realPath = this.path;
    this.opts = opts;
    this.settleMs = opts.settleMs ?? 200;
  }

  /** Remembers the content in force and starts watching. */
  async start(): Promise<void> {
    this.hash = sha256(await readFile(this.path, 'utf8'));
    this.watchDir(dirname(this.path));
    await this.followRealPath();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    for (const w of this.watchers.values()) w.close();
    this.watchers.clear();
  }

  /**
   * Reads the file and hands its text over if it changed since the last hand-over, or in any case
   * with `force` (SIGHUP). Serialised, so two events never race two reads.
   */
  check(why = 'file changed', force = false): Promise<void> {
    this.checking = this.checking
      .then(async () => {
        let text: string;
        try {
          text = await readFile(this.path, 'utf8');
        } catch (err) {
          // Mid-replace the file may be briefly absent; the event that brings it back checks again.
          if ((err as NodeJS.ErrnoException).code !== 'ENOENT') this.opts.onError(err as Error);
          return;
        }
        await this.followRealPath();
        const hash = sha256(text);
        if (hash === this.hash && !force) return;
        this.hash = hash;
        await this.opts.onChange(text, why);
      })
      .catch((err: unknown) => this.opts.onError(err as Error));
    return this.checking;
  }

  private relevant(dir: string, name: string | null): boolean {
    if (name === null) return true;
    if (dir === dirname(this.path) && (name === basename(this.path) || name.startsWith('..'))) return true;
    return dir === dirname(this.realPath) && name === basename(this.realPath);
  }

  private watchDir(dir: string): void {
    if (this.watchers.has(dir) || this.stopped) return;
    try {
      const w = watch(dir, (_event, name) => {
        if (this.relevant(dir, name)) this.settle();
      });
      w.on('error', (err) => {
        // The real directory of a ConfigMap goes away after the swap; the next check finds the new one.
        w.close();
        this.watchers.delete(dir);
        if (dir === dirname(this.path)) this.opts.onError(err);
        else this.settle();
      });
      this.watchers.set(dir, w);
    } catch (err) {
      this.opts.onError(err as Error);
    }
  }

  /** Watches the directory the file's real path lies in now, and no longer the one it lay in before. */
  private async followRealPath(): Promise<void> {
    let real: string;
    try {
      real = await realpath(this.path);
    } catch {
      return;
    }
    const before = dirname(this.realPath);
    this.realPath = real;
    const after = dirname(real);
    if (before !== after && before !== dirname(this.path)) {
      this.watchers.get(before)?.close();
      this.watchers.delete(before);
    }
    this.watchDir(after);
  }

  /** Debounces a burst of events into one check, without letting a steady stream postpone it for ever. */
  private settle(): void {
    if (this.stopped) return;
    const now = Date.now();
    this.firstEventMs ??= now;
    clearTimeout(this.timer);
    this.timer = setTimeout(
      () => {
        this.timer = undefined;
        this.firstEventMs = undefined;
        void this.check();
      },
      Math.max(0, Math.min(this.settleMs, this.firstEventMs + MAX_SETTLE_MS - now)),
    );
  }
}
