import { readFileSync } from 'node:fs';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';

/** Peak resident set size (VmHWM) of a live process, in MiB; Linux only. */
export function peakRssMiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const m = /VmHWM:\s+(\d+) kB/.exec(status);
  return m ? Math.round(Number(m[1]) / 1024) : NaN;
}

/** Starts a child process and resolves when a stderr/stdout line matches `ready`. */
export function spawnUntil(
  cmd: string,
  args: string[],
  ready: RegExp,
  env: NodeJS.ProcessEnv = {},
): Promise<{ proc: ChildProcess; line: string }> {
  return new Promise((resolve, reject) => {
    const proc = spawn(cmd, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let buf = '';
    const onData = (d: Buffer) => {
      buf += d.toString();
      const lines = buf.split('\n');
      buf = lines.pop()!;
      for (const line of lines) if (ready.test(line)) resolve({ proc, line });
    };
    proc.stdout!.on('data', onData);
    proc.stderr!.on('data', onData);
    proc.on('exit', (code) => reject(new Error(`${cmd} exited with ${code} before it was ready`)));
  });
}

export function fmt(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

/** Prints a Markdown table: the format docs/benchmarks.md uses. */
export function table(header: string[], rows: (string | number)[][]): string {
  const line = (cells: (string | number)[]) => `| ${cells.join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n');
}

function tasksetWorks(): boolean {
  try {
    execFileSync('taskset', ['-c', '0', 'true']);
    return true;
  } catch {
    return false;
  }
}

/** Whether taskset can pin processes: the server to core 0, the load generator to core 1. */
export const pinned = tasksetWorks();

/** Moves the calling process (the load generator) to core 1, off the server's core. */
export function pinSelfToLoadCore(): void {
  if (pinned) execFileSync('taskset', ['-cp', '1', String(process.pid)]);
}

/** The command and arguments that run `cmd` on `core` ("one core" means the server's), or as is without taskset. */
export function pin(core: number, cmd: string[]): [string, string[]] {
  return pinned ? ['taskset', ['-c', String(core), ...cmd]] : [cmd[0]!, cmd.slice(1)];
}
