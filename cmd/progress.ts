import { createReadStream } from 'node:fs';
import { StringDecoder } from 'node:string_decoder';

/** Where a progress bar draws: stderr, or a fake terminal in tests. */
export interface ProgressOutput {
  isTTY?: boolean;
  columns?: number;
  write(s: string): unknown;
}

const count = new Intl.NumberFormat('en-US');
const megabytes = (n: number) => (n / 1e6).toFixed(1);

function clock(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600);
  const mm = String(Math.floor((s % 3600) / 60)).padStart(h ? 2 : 1, '0');
  return `${h ? `${h}:` : ''}${mm}:${String(s % 60).padStart(2, '0')}`;
}

/**
 * One line on a terminal, redrawn at most every `intervalMs`: a bar, the position in bytes (and
 * percent when the total is known), the count and rate of what was read, and the time left at
 * that rate. Off a terminal it draws nothing, so logs and pipes stay clean.
 */
export class ProgressBar {
  private readonly out: ProgressOutput;
  /** What the position counts up to; 0 when unknown (no bar, no ETA). */
  total: number;
  private readonly unit: string;
  private readonly position: (position: number, total: number) => string;
  private readonly now: () => number;
  private readonly intervalMs: number;
  private readonly startMs: number;
  private lastDrawMs = -Infinity;
  private drawn = false;

  constructor(
    out: ProgressOutput,
    total: number,
    opts: {
      unit?: string;
      now?: () => number;
      intervalMs?: number;
      position?: (position: number, total: number) => string;
    } = {},
  ) {
    this.out = out;
    this.total = total;
    this.unit = opts.unit ?? 'events';
    this.position = opts.position ?? ((p, t) => `${megabytes(p)}/${megabytes(t)} MB`);
    this.now = opts.now ?? (() => performance.now());
    this.intervalMs = opts.intervalMs ?? 200;
    this.startMs = this.now();
  }

  get enabled(): boolean {
    return this.out.isTTY === true;
  }

  update(items: number, position: number): void {
    if (!this.enabled) return;
    const now = this.now();
    if (now - this.lastDrawMs < this.intervalMs) return;
    this.lastDrawMs = now;
    this.draw(items, position, now, false);
  }

  /** The last state, left on its own line. */
  done(items: number, position: number): void {
    if (!this.enabled) return;
    this.draw(items, position, this.now(), true);
    this.out.write('\n');
  }

  /** Takes the bar off the terminal (before an error message, say). */
  clear(): void {
    if (this.enabled && this.drawn) this.out.write('\r\x1b[2K');
    this.drawn = false;
  }

  private draw(items: number, position: number, now: number, finished: boolean): void {
    const seconds = (now - this.startMs) / 1000;
    const rate = seconds > 0 ? items / seconds : 0;
    const fraction = this.total > 0 ? Math.min(position / this.total, 1) : undefined;
    const parts = [
      `${count.format(items)} ${this.unit}`,
      `${this.position(position, this.total)} ${fraction === undefined ? '' : `${Math.floor(fraction * 100)}%`}`.trim(),
      `${count.format(Math.round(rate))} ${this.unit}/s`,
    ];
    if (finished) parts.push(`in ${clock(seconds)}`);
    else if (fraction !== undefined && fraction > 0) parts.push(`ETA ${clock((seconds * (1 - fraction)) / fraction)}`);
    const text = parts.join('  ');
    const width = Math.max((this.out.columns ?? 80) - text.length - 4, 0);
    const barWidth = Math.min(width, 30);
    const bar =
      fraction === undefined || barWidth < 10
        ? ''
        : `[${'#'.repeat(Math.round(fraction * barWidth)).padEnd(barWidth, '.')}]  `;
    this.out.write(`\r\x1b[2K${bar}${text}`);
    this.drawn = true;
  }
}

/**
 * A file's lines, read in chunks so memory does not grow with its size; `position` is how many
 * bytes have been read so far (for a progress bar).
 */
export async function* fileLines(path: string, progress?: { position: number }): AsyncGenerator<string> {
  const decoder = new StringDecoder('utf8');
  let rest = '';
  for await (const chunk of createReadStream(path, { highWaterMark: 256 * 1024 }) as AsyncIterable<Buffer>) {
    if (progress) progress.position += chunk.length;
    const text = rest + decoder.write(chunk);
    const lines = text.split('\n');
    rest = lines.pop()!;
    yield* lines;
  }
  rest += decoder.end();
  if (rest !== '') yield rest;
}
