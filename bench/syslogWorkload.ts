/**
 * The syslog benchmarks' workload and its peer: the RFC 5424 and RFC 3164 lines, TCP and UDP
 * senders, a counter of lines landed in an output file, and rsyslog (imtcp/imudp → omfile), so
 * bench/syslog.ts and bench/peers.ts send the same bytes and count them the same way.
 */
import { scratchDir } from './support.ts';
import { spawn, type ChildProcess } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { closeSync, existsSync, openSync, readFileSync, readSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';

export const line5424 = (i: number) =>
  `<134>1 2026-11-23T10:00:00.123456Z web-${i % 50} billing 4242 PAY [req@32473 id="${i}" user="u${i % 1000}"] payment ${i} processed in 23 ms`;
export const line3164 = (i: number) =>
  `<134>Nov 23 10:00:00 web-${i % 50} billing[4242]: payment ${i} processed in 23 ms`;

function payload(make: (i: number) => string, from: number, to: number): Buffer {
  const parts: string[] = [];
  for (let i = from; i < to; i++) parts.push(make(i));
  return Buffer.from(parts.join('\n') + '\n');
}

/** Counts LFs appended to a file since the last call, reading only the new bytes. */
export class FileLineCounter {
  private readonly path: string;
  private offset = 0;
  private lines = 0;
  private readonly buf = Buffer.allocUnsafe(1 << 20);
  constructor(path: string) {
    this.path = path;
  }
  count(): number {
    if (!existsSync(this.path)) return 0;
    const fd = openSync(this.path, 'r');
    try {
      for (;;) {
        const n = readSync(fd, this.buf, 0, this.buf.length, this.offset);
        if (n === 0) break;
        this.offset += n;
        for (let at = this.buf.indexOf(10); at !== -1 && at < n; at = this.buf.indexOf(10, at + 1)) this.lines++;
      }
    } finally {
      closeSync(fd);
    }
    return this.lines;
  }
}

/**
 * Waits until `count()` reaches `target`, or, once the sender is done, stops growing for
 * `stallMs` (lost UDP datagrams); returns the count and when the last message landed.
 */
export async function waitForCount(
  count: () => number | Promise<number>,
  target: number,
  sending: Promise<unknown>,
  stallMs = 1500,
): Promise<{ n: number; at: number }> {
  let sentAt = Infinity;
  void sending.then(() => (sentAt = performance.now()));
  let last = -1;
  let lastChange = performance.now();
  for (;;) {
    const n = await count();
    const now = performance.now();
    if (n !== last) {
      last = n;
      lastChange = now;
    }
    if (n >= target) return { n, at: now };
    // A server busy with a flood may report late: the stall is timed from the end of sending too.
    if (now - Math.max(lastChange, sentAt) > stallMs) return { n, at: lastChange };
    await new Promise((r) => setTimeout(r, 20));
  }
}

export async function sendTcp(
  port: number,
  make: (i: number) => string,
  total: number,
  connections: number,
): Promise<void> {
  const per = Math.ceil(total / connections);
  const buffers = Array.from({ length: connections }, (_, c) => payload(make, c * per, Math.min(total, (c + 1) * per)));
  await Promise.all(
    buffers.map(
      (buf) =>
        new Promise<void>((res, rej) => {
          const s = connect(port, '127.0.0.1', () => {
            let at = 0;
            const pump = () => {
              while (at < buf.length) {
                const chunk = buf.subarray(at, at + 65536);
                at += chunk.length;
                if (!s.write(chunk)) return void s.once('drain', pump);
              }
              s.end();
            };
            pump();
          });
          s.on('close', () => res());
          s.on('error', (err) => rej(new Error(`sending to port ${port}: ${err.message}`, { cause: err })));
        }),
    ),
  );
}

/**
 * Sends `total` datagrams; at most `rate` a second when given (in 10 ms slices), else as fast
 * as the socket takes them. Resolves with the achieved sending rate.
 */
export async function sendUdp(
  port: number,
  make: (i: number) => string,
  total: number,
  rate?: number,
): Promise<number> {
  const s = createSocket('udp4');
  const msgs = Array.from({ length: 1000 }, (_, i) => Buffer.from(make(i)));
  const slice = rate === undefined ? 500 : Math.max(1, Math.round(rate / 100));
  const started = performance.now();
  for (let i = 0; i < total; i += slice) {
    await Promise.all(
      Array.from(
        { length: Math.min(slice, total - i) },
        (_, j) => new Promise<void>((res) => s.send(msgs[(i + j) % 1000]!, port, '127.0.0.1', () => res())),
      ),
    );
    if (rate !== undefined) {
      const due = started + ((i + slice) / rate) * 1000;
      const wait = due - performance.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    }
  }
  s.close();
  return total / ((performance.now() - started) / 1000);
}

export async function freeUdpPort(): Promise<number> {
  const s = createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
  const port = s.address().port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

export interface RunningRsyslog {
  proc: ChildProcess;
  tcpPort: number;
  udpPort: number;
  /** The omfile output, one line per message. */
  out: string;
}

/**
 * rsyslogd in the foreground on its own config: imtcp on a free port, imudp on 127.0.0.1,
 * everything to one omfile. `command` wraps the argv (e.g. taskset); undefined when rsyslogd
 * is not installed.
 */
export async function startRsyslog(
  command: (argv: string[]) => [string, string[]] = (argv) => [argv[0]!, argv.slice(1)],
): Promise<RunningRsyslog | undefined> {
  const dir = scratchDir('vigil-bench-rsyslog-');
  const out = join(dir, 'out.log');
  const udpPort = await freeUdpPort();
  writeFileSync(
    join(dir, 'rsyslog.conf'),
    `global(workDirectory="${dir}")
module(load="imtcp")
module(load="imudp")
input(type="imtcp" port="0" listenPortFileName="${join(dir, 'tcp.port')}")
input(type="imudp" port="${udpPort}" address="127.0.0.1" rcvbufSize="8m")
action(type="omfile" file="${out}")
`,
  );
  const [cmd, args] = command(['rsyslogd', '-n', '-f', join(dir, 'rsyslog.conf'), '-i', join(dir, 'rsyslogd.pid')]);
  let proc: ChildProcess;
  try {
    proc = spawn(cmd, args, { stdio: 'ignore' });
  } catch {
    return undefined;
  }
  const failed = new Promise<undefined>((r) => {
    proc.once('error', () => r(undefined));
    proc.once('exit', () => r(undefined));
  });
  const portFile = join(dir, 'tcp.port');
  const ready = (async () => {
    while (!existsSync(portFile) || readFileSync(portFile, 'utf8').trim() === '') {
      if (proc.exitCode !== null || proc.signalCode !== null) return undefined;
      await new Promise((r) => setTimeout(r, 20));
    }
    return Number(readFileSync(portFile, 'utf8').trim());
  })();
  const tcpPort = await Promise.race([ready, failed]);
  if (tcpPort === undefined) return undefined;
  return { proc, tcpPort, udpPort, out };
}
