/**
 * Worker thread that owns the syslog UDP socket. Reading datagrams off the kernel buffer is
 * all it does, so a main thread busy parsing or exporting no longer lets that buffer overflow
 * (kernel drops are invisible to Vigil). What waits for the main thread is bounded: past
 * `maxPending` messages the worker drops and reports how many, so they are counted.
 */
import { createSocket } from 'node:dgram';
import { parentPort, workerData } from 'node:worker_threads';

export interface UdpReaderOptions {
  host: string;
  port: number;
  recvBufferSize: number;
  maxPending: number;
}

export type UdpReaderMessage =
  | { type: 'listening'; host: string; port: number }
  | { type: 'failed'; message: string; code: string | undefined }
  | { type: 'lines'; lines: string[]; peers: string[] }
  | { type: 'overflow'; dropped: number }
  | { type: 'closed' };

export type UdpReaderCommand = { type: 'ack'; n: number } | { type: 'close' };

const MAX_BATCH = 1024;

/** One message per datagram (RFC 5426); a trailing LF, CR or NUL some senders add is not part of it. */
export function datagramText(msg: Buffer): string {
  let end = msg.length;
  while (end > 0) {
    const c = msg[end - 1];
    if (c !== 10 && c !== 13 && c !== 0) break;
    end--;
  }
  return msg.toString('utf8', 0, end);
}

function run(opts: UdpReaderOptions, port: NonNullable<typeof parentPort>): void {
  const post = (m: UdpReaderMessage) => port.postMessage(m);
  let lines: string[] = [];
  let peers: string[] = [];
  let pending = 0;
  let dropped = 0;
  let scheduled = false;

  const flush = () => {
    if (dropped) {
      post({ type: 'overflow', dropped });
      dropped = 0;
    }
    if (lines.length === 0) return;
    pending += lines.length;
    post({ type: 'lines', lines, peers });
    lines = [];
    peers = [];
  };

  const socket = createSocket({ type: opts.host.includes(':') ? 'udp6' : 'udp4', recvBufferSize: opts.recvBufferSize });
  socket.on('message', (msg, rinfo) => {
    if (msg.length === 0) return;
    if (pending + lines.length >= opts.maxPending) {
      dropped++;
    } else {
      lines.push(datagramText(msg));
      peers.push(rinfo.address);
    }
    // Under a flood libuv keeps delivering datagrams without yielding to setImmediate: flush
    // by size too.
    if (lines.length >= MAX_BATCH) flush();
    else if (!scheduled) {
      scheduled = true;
      setImmediate(() => {
        scheduled = false;
        flush();
      });
    }
  });
  socket.on('error', (err: NodeJS.ErrnoException) => post({ type: 'failed', message: err.message, code: err.code }));
  socket.bind(opts.port, opts.host, () => {
    const addr = socket.address();
    post({ type: 'listening', host: addr.address, port: addr.port });
  });
  port.on('message', (cmd: UdpReaderCommand) => {
    if (cmd.type === 'ack') pending -= cmd.n;
    else
      socket.close(() => {
        flush();
        post({ type: 'closed' });
        port.close();
      });
  });
}

if (parentPort && workerData) run(workerData as UdpReaderOptions, parentPort);
