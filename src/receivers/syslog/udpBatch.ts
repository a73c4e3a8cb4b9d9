/**
 * Datagrams as the UDP reader thread hands them to the main thread: their bytes one after another
 * in one buffer that is transferred, not copied, where each one ends, and their senders as runs
 * (a sender's datagrams usually come one after another). Handing over an array of strings
 * instead made the reader decode every datagram and both threads copy every string through
 * the structured clone: about a quarter of the reader's CPU, most of its garbage.
 */
export interface UdpBatch {
  /** The messages' bytes, each after the one before. */
  bytes: Uint8Array<ArrayBuffer>;
  /** Where each message ends in `bytes`; it starts where the one before ends. */
  ends: Uint32Array<ArrayBuffer>;
  /** The senders' addresses, one per run of messages from the same sender. */
  peers: string[];
  /** The index after each run's last message. */
  runEnds: number[];
}

/** Bytes of the reader's buffer: a few hundred typical datagrams, or the largest one UDP carries. */
const BUFFER_BYTES = 256 * 1024;

/** Collects datagrams in the reader thread, in one reused buffer; `take()` copies out what it holds. */
export class UdpBatchBuilder {
  private readonly bytes = Buffer.allocUnsafe(BUFFER_BYTES);
  private readonly ends: Uint32Array;
  private used = 0;
  /** Messages held. */
  count = 0;
  private peers: string[] = [];
  private runEnds: number[] = [];
  private readonly maxMessages: number;

  constructor(maxMessages: number) {
    this.maxMessages = maxMessages;
    this.ends = new Uint32Array(maxMessages);
  }

  /** Bytes held. */
  get size(): number {
    return this.used;
  }

  /** Whether a datagram of `length` bytes fits without a take() first. */
  fits(length: number): boolean {
    return this.count < this.maxMessages && this.used + length <= BUFFER_BYTES;
  }

  /**
   * One message per datagram (RFC 5426): a trailing LF, CR or NUL some senders add is not part
   * of it. Call fits() first; a datagram larger than the buffer is cut to its size.
   */
  add(msg: Uint8Array, peer: string): void {
    let end = msg.length;
    while (end > 0) {
      const c = msg[end - 1];
      if (c !== 10 && c !== 13 && c !== 0) break;
      end--;
    }
    const n = Math.min(end, BUFFER_BYTES - this.used);
    this.bytes.set(n === msg.length ? msg : msg.subarray(0, n), this.used);
    this.used += n;
    const i = this.count++;
    this.ends[i] = this.used;
    const runs = this.runEnds.length;
    if (runs > 0 && this.peers[runs - 1] === peer) this.runEnds[runs - 1] = i + 1;
    else {
      this.peers.push(peer);
      this.runEnds.push(i + 1);
    }
  }

  /** What is held, copied into buffers of its own (for the transfer list), leaving the builder empty. */
  take(): UdpBatch {
    const batch: UdpBatch = {
      bytes: new Uint8Array(this.bytes.subarray(0, this.used)),
      ends: this.ends.slice(0, this.count),
      peers: this.peers,
      runEnds: this.runEnds,
    };
    this.used = 0;
    this.count = 0;
    this.peers = [];
    this.runEnds = [];
    return batch;
  }
}

/**
 * The batch as batches of at most `max` messages each, in order; they share its bytes (for the
 * main thread, which transfers nothing further).
 */
export function splitBatch(batch: UdpBatch, max: number): UdpBatch[] {
  const { ends, peers, runEnds } = batch;
  const out: UdpBatch[] = [];
  let run = 0;
  for (let from = 0; from < ends.length; from += max) {
    const to = Math.min(ends.length, from + max);
    const start = from === 0 ? 0 : ends[from - 1]!;
    const piece: UdpBatch = {
      bytes: batch.bytes.subarray(start, ends[to - 1]!),
      ends: ends.slice(from, to).map((end) => end - start),
      peers: [],
      runEnds: [],
    };
    while (runEnds[run]! <= from) run++;
    for (let r = run; r < runEnds.length; r++) {
      piece.peers.push(peers[r]!);
      piece.runEnds.push(Math.min(runEnds[r]!, to) - from);
      if (runEnds[r]! >= to) break;
    }
    out.push(piece);
  }
  return out;
}
