import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

/** Where Debian's libfaketime package puts the preload library. */
export const LIBFAKETIME = [
  '/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1',
  '/usr/lib/aarch64-linux-gnu/faketime/libfaketime.so.1',
  '/usr/lib/faketime/libfaketime.so.1',
].find((p) => existsSync(p));

/**
 * The rule that answers every input line with `ACK <n>`. It must come last in the rule file and
 * every rule before it must say `continue=TakeNext` (and `continue2=TakeNext`), so that the ACK
 * is written after everything the line caused.
 */
export const SEC_ACK_RULE = `
type=Single
ptype=RegExp
pattern=^#(\\d+) 
desc=ack
action=write - ACK $1
`;

const pad = (n: number) => String(n).padStart(2, '0');
/** libfaketime's "absolute, stopped clock" form, read in UTC. */
function frozenAt(sec: number): string {
  const d = new Date(sec * 1000);
  return `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}`;
}

/**
 * A real `sec` whose clock is a file we write. SEC takes every occurrence time from time(2), so
 * it runs under libfaketime with a stopped clock read from FAKETIME_TIMESTAMP_FILE on every call
 * (FAKETIME_NO_CACHE). Lines are `#<n> <text>`; the last rule answers `ACK <n>`.
 *
 * Why no step can race with SEC's scheduler: SEC reads one line per loop iteration and, at the
 * end of an iteration, runs its timers (window expiries) when time() has moved at least
 * `--cleantime` (1 s) since their last run. Time only moves between a line's ACK and the next
 * line, in whole seconds, and a `tick` line is sent first at each new second: its iteration runs
 * the timers due by then, before the event line of that second is read. The event's own
 * iteration runs no timers (same second), so nothing of SEC's is in flight when the clock moves.
 */
export class SecOnFakeClock {
  private readonly proc: ChildProcessWithoutNullStreams;
  private readonly dir: string;
  private readonly clockFile: string;
  private seq = 0;
  private nowSec: number;
  private pending: { n: number; resolve: () => void } | undefined;
  private stderr = '';
  /** Lines SEC wrote besides the ACKs, in order. */
  readonly output: string[] = [];

  private constructor(rules: string, startSec: number) {
    if (!LIBFAKETIME) throw new Error('libfaketime is not installed: apt-get install faketime');
    this.dir = mkdtempSync(join(tmpdir(), 'vigil-sec-'));
    this.clockFile = join(this.dir, 'clock');
    this.nowSec = startSec;
    this.writeClock(startSec);
    writeFileSync(join(this.dir, 'rules.conf'), rules + SEC_ACK_RULE);
    this.proc = spawn(
      'sec',
      [
        `--conf=${join(this.dir, 'rules.conf')}`,
        '--input=-',
        '--notail',
        '--nointevents',
        '--cleantime=1',
        '--poll-timeout=0.001',
        '--bufsize=1',
        '--debug=3',
        `--log=${join(this.dir, 'sec.log')}`,
        `--dump=${join(this.dir, 'sec.dump')}`,
      ],
      {
        env: {
          ...process.env,
          TZ: 'UTC',
          LD_PRELOAD: LIBFAKETIME,
          FAKETIME_TIMESTAMP_FILE: this.clockFile,
          FAKETIME_NO_CACHE: '1',
        },
        stdio: ['pipe', 'pipe', 'pipe'],
      },
    );
    this.proc.stderr.on('data', (d: Buffer) => (this.stderr += d.toString()));
    createInterface({ input: this.proc.stdout }).on('line', (line) => {
      const ack = /^ACK (\d+)$/.exec(line);
      if (!ack) {
        this.output.push(line);
        return;
      }
      if (this.pending && Number(ack[1]) === this.pending.n) {
        const { resolve } = this.pending;
        this.pending = undefined;
        resolve();
      }
    });
  }

  static start(rules: string, startSec: number): SecOnFakeClock {
    return new SecOnFakeClock(rules, startSec);
  }

  /** Atomically, so that no time(2) call ever reads half a timestamp. */
  private writeClock(sec: number): void {
    writeFileSync(this.clockFile + '.next', frozenAt(sec) + '\n');
    renameSync(this.clockFile + '.next', this.clockFile);
  }

  private sendAndWait(lines: string[]): Promise<void> {
    let n = 0;
    const text = lines.map((l) => `#${(n = ++this.seq)} ${l}\n`).join('');
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`sec did not acknowledge line ${n} within 10 s; stderr: ${this.stderr}`)),
        10_000,
      );
      this.pending = {
        n,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
      };
      this.proc.stdin.write(text);
    });
  }

  /** Moves SEC's clock to `sec` (never back) and lets it run the timers due by then. */
  async advance(sec: number): Promise<void> {
    if (sec < this.nowSec) throw new Error(`the clock only moves forward (${sec} < ${this.nowSec})`);
    if (sec === this.nowSec) return;
    this.nowSec = sec;
    this.writeClock(sec);
    // The tick's iteration runs the timers; the second line is read only after they ran.
    await this.sendAndWait(['tick', 'tick']);
  }

  /** Feeds one event line at `sec`, after the timers due by then, and waits until SEC handled it. */
  async send(sec: number, line: string): Promise<void> {
    if (sec < this.nowSec) throw new Error(`the clock only moves forward (${sec} < ${this.nowSec})`);
    if (sec === this.nowSec) return this.sendAndWait([line]);
    this.nowSec = sec;
    this.writeClock(sec);
    await this.sendAndWait(['tick', line]);
  }

  async close(): Promise<void> {
    const exited = new Promise<void>((resolve) => this.proc.once('exit', () => resolve()));
    this.proc.stdin.end();
    await exited;
    rmSync(this.dir, { recursive: true, force: true });
  }
}
