import { createGunzip, createInflate, createInflateRaw, createZstdDecompress } from 'node:zlib';
import type { IncomingMessage } from 'node:http';
import { Transform } from 'node:stream';
import { InvalidInputError, VigilError } from '../../errors.ts';
import { UNLIMITED_RECEIVE_BUFFERS, type ReceiveLease } from '../../pipeline/receiveBuffers.ts';
import { BodyRateWatch, RATE_WINDOW_MS } from './bodyRate.ts';
import { decodeLz4, lz4Module } from './lz4.ts';
import { decodeSnappy } from './snappy.ts';

export class PayloadTooLargeError extends VigilError {
  readonly limit: number;
  constructor(limit: number) {
    super(
      'VIGIL_PAYLOAD_TOO_LARGE',
      `request body exceeds the limit of ${limit} bytes (compressed or after decompression)`,
    );
    this.limit = limit;
  }
}

/** What a sender may use instead: lz4 only where its optional package is installed. */
function supportedEncodings(): string {
  return `gzip, deflate, zstd, snappy, x-snappy-framed${lz4Module() ? ', lz4' : ''}`;
}

export class UnsupportedEncodingError extends VigilError {
  constructor(encoding: string, why = 'is not supported') {
    super('VIGIL_UNSUPPORTED_ENCODING', `Content-Encoding "${encoding}" ${why}; use ${supportedEncodings()} or none`);
  }
}

/** The body did not arrive within `read_timeout` (HTTP 408; the connection is closed). */
export class RequestTimeoutError extends VigilError {
  constructor(timeoutMs: number) {
    super(
      'VIGIL_REQUEST_TIMEOUT',
      `the request body did not arrive within ${timeoutMs} ms (read_timeout); send it faster or raise read_timeout`,
    );
  }
}

/** The body arrived slower than `min_body_rate` (HTTP 408; the connection is closed). */
export class SlowBodyError extends VigilError {
  constructor(bytesPerSecond: number) {
    super(
      'VIGIL_REQUEST_TIMEOUT',
      `the request body arrived slower than ${bytesPerSecond} bytes/s over ${RATE_WINDOW_MS / 1000} s (min_body_rate); send it faster or lower min_body_rate`,
    );
  }
}

/**
 * Snappy has no streaming form in the block format, and the framed one is decoded as it
 * arrived whole too, as is an LZ4 frame (its blocks refer to one another): the compressed body
 * is held (within `limit`, and counted as any other), then decoded, each part checked against
 * `limit` before it is allocated.
 */
function wholeBodyDecoder(decode: (body: Buffer, tooLarge: () => Error) => Buffer[], limit: number): Transform {
  const held: Buffer[] = [];
  return new Transform({
    transform(chunk: Buffer, _enc, done) {
      held.push(chunk);
      done();
    },
    flush(done) {
      try {
        for (const data of decode(Buffer.concat(held), () => new PayloadTooLargeError(limit))) this.push(data);
        done();
      } catch (err) {
        done(err as Error);
      }
    },
  });
}

const snappyDecoder = (encoding: 'snappy' | 'x-snappy-framed', limit: number) =>
  wholeBodyDecoder((body, tooLarge) => decodeSnappy(body, encoding, limit, tooLarge), limit);

/** Decoder factories by Content-Encoding; `deflate` picks zlib or raw from the first byte. */
const DECODERS: Record<string, ((first: number, limit: number) => Transform) | null> = {
  '': null,
  identity: null,
  gzip: () => createGunzip(),
  // RFC 9110 asks recipients to read x-gzip as gzip.
  'x-gzip': () => createGunzip(),
  // Real clients send both zlib-wrapped (RFC 1950, first byte 0x78) and raw deflate under this name.
  deflate: (first) => (first === 0x78 ? createInflate() : createInflateRaw()),
  zstd: () => createZstdDecompress(),
  snappy: (_first, limit) => snappyDecoder('snappy', limit),
  'x-snappy-framed': (_first, limit) => snappyDecoder('x-snappy-framed', limit),
  // Checked for in readRequestBody first: lz4-napi is optional.
  lz4: (_first, limit) => wholeBodyDecoder((body, tooLarge) => decodeLz4(body, lz4Module()!, limit, tooLarge), limit),
};

/**
 * A streaming decoder for a Content-Encoding (gRPC's message encodings share the names), null
 * for identity, undefined for one not supported; `first` is the first byte of the body.
 */
export function bodyDecoder(encoding: string, first: number, limit: number): Transform | null | undefined {
  // Own keys only: `constructor` and the like are not encodings.
  const make = Object.hasOwn(DECODERS, encoding) ? DECODERS[encoding] : undefined;
  return make && make(first, limit);
}

export interface ReadBodyOptions {
  /** Largest body, compressed and after decompression. */
  limit: number;
  /** Time from the call until the whole body is in; 0 waits forever. */
  timeoutMs?: number;
  /**
   * Bytes per second the body must arrive at, over each RATE_WINDOW_MS in which it was read (a
   * stalled upload holds its share of the receive budget until read_timeout otherwise); 0 or
   * unset: any rate.
   */
  minBytesPerSecond?: number;
  /** Where the bytes held are counted (the service's receive-buffer budget). */
  lease?: ReceiveLease;
  /**
   * Sees each chunk of the decoded body as it arrives; what it throws fails the read at once,
   * before the rest is decompressed (a record count past its cap).
   */
  inspect?: (chunk: Buffer) => void;
}

/**
 * Reads a request body, decompressing by Content-Encoding as it streams. `limit` caps both the
 * bytes on the wire (so gigabytes of zstd skippable frames are refused) and the decompressed
 * bytes (so a small compressed bomb cannot inflate past it); every byte held is counted in the
 * lease, which refuses past the shared budget. On any failure the request is left paused:
 * the caller answers and closes the connection.
 */
export function readRequestBody(req: IncomingMessage, opts: ReadBodyOptions): Promise<Buffer> {
  const { limit } = opts;
  const lease = opts.lease ?? UNLIMITED_RECEIVE_BUFFERS.lease();
  const encoding = String(req.headers['content-encoding'] ?? '')
    .trim()
    .toLowerCase();
  // Own keys only: `constructor` and the like are not encodings.
  const makeDecoder = Object.hasOwn(DECODERS, encoding) ? DECODERS[encoding] : undefined;
  if (makeDecoder === undefined) return Promise.reject(new UnsupportedEncodingError(encoding));
  if (encoding === 'lz4' && !lz4Module())
    return Promise.reject(
      new UnsupportedEncodingError(encoding, 'needs the optional package lz4-napi, which is not installed here'),
    );
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) return Promise.reject(new PayloadTooLargeError(limit));

  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let wire = 0;
    let decoder: Transform | null = null;
    let settled = false;
    const timer = opts.timeoutMs
      ? setTimeout(() => fail(new RequestTimeoutError(opts.timeoutMs!)), opts.timeoutMs)
      : undefined;
    const rate = new BodyRateWatch(
      opts.minBytesPerSecond ?? 0,
      () => fail(new SlowBodyError(opts.minBytesPerSecond!)),
      () => req.isPaused(),
    );
    const fail = (err: unknown) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      rate.stop();
      req.off('data', onWire);
      req.pause();
      decoder?.destroy();
      reject(
        err instanceof VigilError
          ? err
          : new InvalidInputError(`request body could not be read or decompressed: ${(err as Error).message}`),
      );
    };
    const finish = () => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      rate.stop();
      resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size));
    };
    const keep = (chunk: Buffer) => {
      if (settled) return;
      size += chunk.length;
      if (size > limit) return fail(new PayloadTooLargeError(limit));
      try {
        lease.reserve(chunk.length);
        opts.inspect?.(chunk);
      } catch (err) {
        return fail(err);
      }
      chunks.push(chunk);
    };
    const onWire = (chunk: Buffer) => {
      wire += chunk.length;
      rate.count(chunk.length);
      if (wire > limit) return fail(new PayloadTooLargeError(limit));
      if (!makeDecoder) return keep(chunk);
      if (!decoder) {
        decoder = makeDecoder(chunk[0] ?? 0x78, limit);
        decoder.on('data', keep);
        decoder.on('end', finish);
        decoder.on('error', fail);
        decoder.on('drain', () => req.resume());
      }
      try {
        // The compressed bytes sit in the decoder until it has inflated them.
        lease.reserve(chunk.length);
      } catch (err) {
        return fail(err);
      }
      if (!decoder.write(chunk)) {
        rate.pausedByReader();
        req.pause();
      }
    };
    req.on('data', onWire);
    req.on('end', () => {
      rate.stop();
      if (settled) return;
      if (!makeDecoder) return finish();
      // An empty compressed body is the decoder's to judge, as for any other.
      if (!decoder) onWire(Buffer.alloc(0));
      decoder!.end();
    });
    req.on('error', fail);
    req.on('close', () => {
      if (!req.complete) fail(new InvalidInputError('the client closed the connection before the body was complete'));
    });
  });
}
