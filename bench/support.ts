import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { Agent, request } from 'node:http';
import { tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { parseArgs, type ParseArgsConfig } from 'node:util';

/**
 * A benchmark's command line: `parseArgs(config)` that answers `--help` with the file's own doc
 * comment and its options, and an unknown or malformed option with one line and exit status 2
 * instead of a stack trace.
 */
export function benchArgs<T extends ParseArgsConfig>(file: string, config: T): ReturnType<typeof parseArgs<T>> {
  const name = `bench/${basename(file)}`;
  const argv = process.argv.slice(2);
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(benchUsage(file, config));
    process.exit(0);
  }
  try {
    return parseArgs(config);
  } catch (err) {
    process.stderr.write(`${name}: ${(err as Error).message}\nRun \`node ${name} --help\` for its options.\n`);
    process.exit(2);
  }
}

function benchUsage(file: string, config: ParseArgsConfig): string {
  const doc = /\/\*\*([\s\S]*?)\*\//.exec(readFileSync(file, 'utf8'))?.[1] ?? '';
  const text = doc
    .split('\n')
    .map((l) => l.replace(/^\s*\* ?/, '').trimEnd())
    .join('\n')
    .trim();
  const options = Object.entries(config.options ?? {}).map(([key, o]) => {
    const value = o.type === 'string' ? ` <value>` : '';
    const dflt = o.default !== undefined && o.type === 'string' ? ` (default ${String(o.default)})` : '';
    return `  --${key}${value}${o.multiple ? ' (repeatable)' : ''}${dflt}`;
  });
  return `${text}\n\nOptions:\n${[...options, '  --help  this text'].join('\n')}\n`;
}

/** Peak resident set size (VmHWM) of a live process, in MiB; Linux only. */
export function peakRssMiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const m = /VmHWM:\s+(\d+) kB/.exec(status);
  return m ? Math.round(Number(m[1]) / 1024) : NaN;
}

/** Resident set size (VmRSS) of a live process now, in MiB; Linux only. */
export function rssMiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Math.round(Number(m[1]) / 1024) : NaN;
}

/** CPU time a live process (all its threads) has used so far, user + system, in seconds; Linux only. */
export function cpuSeconds(pid: number): number {
  const { user, system } = cpuTimes(pid);
  return user + system;
}

/** CPU time a live process (all its threads) has used so far in user mode and in the kernel, in seconds; Linux only. */
export function cpuTimes(pid: number): { user: number; system: number } {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  // utime and stime, in clock ticks of 1/100 s.
  return { user: Number(fields[11]) / 100, system: Number(fields[12]) / 100 };
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

/** CPU µs (user + system, every thread) this process has used since `since` (a `process.cpuUsage()` reading). */
export function cpuUs(since: NodeJS.CpuUsage): number {
  const c = process.cpuUsage(since);
  return c.user + c.system;
}

/** The middle value of `xs` (the upper of the two middle ones for an even count); `xs` is left as it is. */
export function median(xs: readonly number[]): number {
  return [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
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

let compileCache: string | undefined;

const scratchDirs: string[] = [];
let scratchRemovedAtExit = false;

/**
 * A new directory under the system's temporary one, removed when this process ends (or before,
 * by `removeScratch`): a daemon's data and its output files run to hundreds of megabytes a
 * benchmark, and left behind they filled the disk.
 */
export function scratchDir(prefix = 'vigil-bench-'): string {
  if (!scratchRemovedAtExit) {
    scratchRemovedAtExit = true;
    process.on('exit', () => {
      for (const dir of scratchDirs.splice(0)) rmSync(dir, { recursive: true, force: true });
    });
  }
  const dir = mkdtempSync(join(tmpdir(), prefix));
  scratchDirs.push(dir);
  return dir;
}

/** Removes a `scratchDir` now, once what ran in it is stopped. */
export function removeScratch(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

/**
 * The environment a benchmark starts Vigil's daemon with, so that it runs as the `vigil` command
 * (cmd/start.mjs) and the container image run it: with Node's compile cache, which keeps each
 * module's compiled code, types stripped, on disk. Without it, every start strips the types of
 * some 600 modules and keeps Node's TypeScript stripper (about 25 MiB of WebAssembly memory) for
 * the process's life, which a user's daemon pays on its first start only. One directory per
 * benchmark run, removed at its end; `warmVigil` fills it.
 */
export function vigilEnv(): NodeJS.ProcessEnv {
  if (!compileCache) {
    compileCache = scratchDir('vigil-bench-compile-cache-');
  }
  return { NODE_COMPILE_CACHE: compileCache };
}

const warmed = new Set<string>();

/**
 * Fills the compile cache (see `vigilEnv`) for a daemon setup the first time a benchmark run
 * meets it: `start` starts that daemon (with `vigilEnv()`), which is then stopped, so that the
 * measured start finds the setup's modules compiled, as a user's daemon finds them from its
 * second start on.
 */
export async function warmVigil(
  setup: string,
  start: () => Promise<ChildProcess | { stop(signal: NodeJS.Signals): Promise<unknown> }>,
): Promise<void> {
  if (warmed.has(setup)) return;
  warmed.add(setup);
  const started = await start();
  if ('stop' in started) {
    await started.stop('SIGTERM');
    return;
  }
  const exited = new Promise((r) => started.on('exit', r));
  started.kill('SIGTERM');
  await exited;
}

/** `vigil run` on `<dir>/vigil.yaml` with `dir` as data dir, on `core` (see `pin`), with extra node flags. */
export function vigilCommand(core: number, dir: string, nodeFlags: string[] = []): [string, string[]] {
  return pin(core, [
    process.execPath,
    ...nodeFlags,
    resolve(import.meta.dirname, '../cmd/vigil.ts'),
    'run',
    '--config',
    join(dir, 'vigil.yaml'),
    '--data-dir',
    dir,
  ]);
}

/**
 * Closed-loop load: `concurrency` keep-alive connections POST `body` (or several bodies, in
 * turn) to `path` for `seconds`, backing off 5 ms on 429/503. Resolves with the records
 * acknowledged (`recordsPerRequest` a 200) and their rate per wall-clock second.
 */
export async function postFor(
  target: { port: number; path: string; contentType: string },
  body: Buffer | readonly Buffer[],
  recordsPerRequest: number,
  seconds: number,
  concurrency: number,
): Promise<{ records: number; rate: number }> {
  const agent = new Agent({ keepAlive: true, maxSockets: concurrency });
  const deadline = performance.now() + seconds * 1000;
  let records = 0;
  const bodies = Buffer.isBuffer(body) ? [body] : body;
  let next = 0;
  const worker = async () => {
    while (performance.now() < deadline) {
      const body = bodies[next++ % bodies.length]!;
      const status = await new Promise<number>((res, rej) => {
        const req = request(
          {
            host: '127.0.0.1',
            port: target.port,
            path: target.path,
            method: 'POST',
            agent,
            headers: { 'content-type': target.contentType, 'content-length': body.length },
          },
          (r) => {
            r.resume();
            r.on('end', () => res(r.statusCode!));
          },
        );
        req.on('error', rej);
        req.end(body);
      });
      if (status === 200) records += recordsPerRequest;
      else if (status === 429 || status === 503) await new Promise((r) => setTimeout(r, 5));
      else throw new Error(`unexpected status ${status}`);
    }
  };
  const started = performance.now();
  await Promise.all(Array.from({ length: concurrency }, worker));
  agent.destroy();
  return { records, rate: records / ((performance.now() - started) / 1000) };
}

/** The sum of a counter's series, read from a daemon's `/metrics`, whose labels include `label`. */
export async function metricSum(metricsUrl: string, name: string, label: string): Promise<number> {
  const text = await (await fetch(metricsUrl)).text();
  let sum = 0;
  for (const m of text.matchAll(new RegExp(`^${name}\\{([^}]*)\\} (\\S+)$`, 'gm')))
    if (m[1]!.includes(label)) sum += Number(m[2]);
  return sum;
}
