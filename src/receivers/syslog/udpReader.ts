/**
 * Worker thread that owns the syslog UDP socket. Reading datagrams off the kernel buffer is
 * all it does, so a main thread busy parsing or exporting no longer lets that buffer overflow
 * (kernel drops are invisible to Vigil). What waits for the main thread, or for room in the
 * pipeline, is bounded: past `maxPending` messages or `maxPendingBytes` the worker drops and
 * reports how many, so they are counted.
 */
import { createSocket } from 'node:dgram';
import { parentPort, workerData } from 'node:worker_threads';
import { UdpBatchBuilder, type UdpBatch } from './udpBatch.ts';

export interface UdpReaderOptions {
  host: string;
  port: number;
  recvBufferSize: number;
  /** Datagrams handed over and not yet acknowledged (or held) past which new ones are dropped. */
  maxPending: number;
  /** The same bound in bytes. */
  maxPendingBytes: number;
}

export type UdpReaderMessage =
  | { type: 'listening'; host: string; port: number; receiveBufferSize: number }
  | { type: 'failed'; message: string; code: string | undefined }
  | { type: 'batch'; batch: UdpBatch }
  | { type: 'overflow'; dropped: number }
  | { type: 'closed' };

export type UdpReaderCommand = { type: 'ack'; n: number; bytes: number } | { type: 'close' };

const MAX_BATCH = 1024;
/**
 * How long a datagram waits for others before the batch goes to the main thread. Handed over
 * at every turn of the reader's loop, batches held a few datagrams each at 100,000/s, and each
 * hand-over (a message each way between the threads) cost more than the datagrams in it. With
 * batches every 2 ms, as one transferred buffer (udpBatch.ts), the main thread took 12 % less
 * CPU and the reader 5 % less (500,000 datagrams at 100,000/s into a file).
 */
const FLUSH_MS = 2;

function run(opts: UdpReaderOptions, port: NonNullable<typeof parentPort>): void {
  const post = (m: UdpReaderMessage) => port.postMessage(m);
  const held = new UdpBatchBuilder(MAX_BATCH);
  let pending = 0;
  let pendingBytes = 0;
  let dropped = 0;
  let scheduled = false;

  const flush = () => {
    if (dropped) {
      post({ type: 'overflow', dropped });
      dropped = 0;
    }
    if (held.count === 0) return;
    pending += held.count;
    pendingBytes += held.size;
    const batch = held.take();
    port.postMessage({ type: 'batch', batch } satisfies UdpReaderMessage, [batch.bytes.buffer, batch.ends.buffer]);
  };

  const socket = createSocket({ type: opts.host.includes(':') ? 'udp6' : 'udp4', recvBufferSize: opts.recvBufferSize });
  socket.on('message', (msg, rinfo) => {
    if (msg.length === 0) return;
    if (pending + held.count >= opts.maxPending || pendingBytes + held.size + msg.length > opts.maxPendingBytes)
      dropped++;
    else {
      if (!held.fits(msg.length)) flush();
      held.add(msg, rinfo.address);
    }
    // Under a flood the batch fills before the timer fires.
    if (held.count >= MAX_BATCH) flush();
    else if (!scheduled) {
      scheduled = true;
      setTimeout(() => {
        scheduled = false;
        flush();
      }, FLUSH_MS);
    }
  });
  socket.on('error', (err: NodeJS.ErrnoException) => post({ type: 'failed', message: err.message, code: err.code }));
  socket.bind(opts.port, opts.host, () => {
    const addr = socket.address();
    post({ type: 'listening', host: addr.address, port: addr.port, receiveBufferSize: socket.getRecvBufferSize() });
  });
  port.on('message', (cmd: UdpReaderCommand) => {
    if (cmd.type === 'ack') {
      pending -= cmd.n;
      pendingBytes -= cmd.bytes;
    } else
      socket.close(() => {
        flush();
        post({ type: 'closed' });
        port.close();
      });
  });
}

if (parentPort && workerData) run(workerData as UdpReaderOptions, parentPort);
