import { RefusedError } from '../errors.ts';

export class ReceiveBuffersFullError extends RefusedError {
  constructor(limit: number) {
    super(
      'VIGIL_RECEIVE_BUFFERS_FULL',
      `request bodies being received already hold ${Math.round(limit / 1048576)} MiB (service.memory_limiter.max_receive_buffer_size); retry later`,
      'exhausted',
    );
  }
}

/** The part of the receive budget one peer may hold across every listener unless configured: a quarter. */
export const DEFAULT_PEER_RECEIVE_BUFFER_PERCENTAGE = 25;

/**
 * One budget for the bytes receivers hold while a request is still arriving (bodies being
 * read, decompressed output, gRPC messages being assembled), shared by every listener.
 * Stalled senders hold that memory for as long as they stall, and the heap check cannot see
 * it (Buffers live outside the V8 heap), so it is counted here: past the budget new requests
 * are refused before any of their body is read, and requests in flight are refused when they
 * would grow past it.
 */
export class ReceiveBuffers {
  readonly limit: number;
  /** The percentage of `limit` one peer may hold (`peer_receive_buffer_percentage`). */
  readonly peerPercentage: number;
  private used = 0;

  constructor(limit: number, peerPercentage = DEFAULT_PEER_RECEIVE_BUFFER_PERCENTAGE) {
    this.limit = limit;
    this.peerPercentage = peerPercentage;
  }

  get bytes(): number {
    return this.used;
  }

  /** Throws ReceiveBuffersFullError when the budget is spent: call before reading a body. */
  admit(): void {
    if (this.used >= this.limit) throw new ReceiveBuffersFullError(this.limit);
  }

  /** A per-request account, released once the request's bytes are no longer held. */
  lease(): ReceiveLease {
    return new ReceiveLease(this);
  }

  /** @internal */
  take(n: number): void {
    if (this.used + n > this.limit) throw new ReceiveBuffersFullError(this.limit);
    this.used += n;
  }

  /** @internal */
  give(n: number): void {
    this.used -= n;
  }
}

export class ReceiveLease {
  private readonly buffers: ReceiveBuffers;
  private held = 0;

  constructor(buffers: ReceiveBuffers) {
    this.buffers = buffers;
  }

  /** Counts `n` more bytes held for this request; throws ReceiveBuffersFullError past the budget. */
  reserve(n: number): void {
    this.buffers.take(n);
    this.held += n;
  }

  release(): void {
    this.buffers.give(this.held);
    this.held = 0;
  }
}

/** For code paths with no shared budget (unit tests, embedding): counts nothing. */
export const UNLIMITED_RECEIVE_BUFFERS = new ReceiveBuffers(Number.POSITIVE_INFINITY);
