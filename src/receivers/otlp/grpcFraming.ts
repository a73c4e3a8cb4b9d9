import type { ServerHttp2Stream } from 'node:http2';
import { VigilError } from '../../errors.ts';
import { bodyDecoder, PayloadTooLargeError } from '../http/requestBody.ts';
import type { ReceiveLease } from '../../pipeline/receiveBuffers.ts';
import { BodyRateWatch, RATE_WINDOW_MS } from '../http/bodyRate.ts';
import { GrpcCode } from './status.ts';

/**
 * gRPC over HTTP/2 framing ("Length-Prefixed-Message" in the gRPC HTTP/2 protocol document):
 * a 1-byte compressed flag, a 4-byte big-endian length, then the message.
 */
export const PREFIX_BYTES = 5;

/** Message encodings this server decompresses, in `grpc-accept-encoding` form. */
export const ACCEPT_ENCODING = 'identity,deflate,gzip,zstd,snappy';
const SUPPORTED = new Set(['identity', 'deflate', 'gzip', 'zstd', 'snappy']);

/**
 * A request the gRPC protocol itself refuses (framing, encoding), with the status to answer.
 * Framing and decompression faults are the sender's, so they are INVALID_ARGUMENT with the fault
 * named, where grpc-go (under the Collector) answers INTERNAL: both are final under OTLP's retry
 * rules, and INTERNAL stays for Vigil's own faults, so an alert on it means a bug here.
 */
export class GrpcProtocolError extends VigilError {
  readonly grpcCode: number;
  constructor(grpcCode: number, message: string) {
    super('VIGIL_GRPC_PROTOCOL', message);
    this.grpcCode = grpcCode;
  }
}

/** The request's `grpc-encoding`, checked; unknown ones are UNIMPLEMENTED, as the protocol says. */
export function messageEncoding(header: string | string[] | undefined): string {
  const encoding = (typeof header === 'string' ? header : 'identity').trim().toLowerCase();
  if (!SUPPORTED.has(encoding))
    throw new GrpcProtocolError(
      GrpcCode.UNIMPLEMENTED,
      `grpc-encoding "${encoding}" is not supported; use one of ${ACCEPT_ENCODING}`,
    );
  return encoding;
}

/** One length-prefixed message, uncompressed. */
export function frame(message: Buffer): Buffer {
  const out = Buffer.allocUnsafe(PREFIX_BYTES + message.length);
  out[0] = 0;
  out.writeUInt32BE(message.length, 1);
  message.copy(out, PREFIX_BYTES);
  return out;
}

export interface RawMessage {
  compressed: boolean;
  payload: Buffer;
}

/**
 * Reads the single message of a unary request. The prefix is checked as soon as it arrives, so
 * a length past `limit` is refused before the body is buffered.
 */
export function readUnaryMessage(
  stream: ServerHttp2Stream,
  limit: number,
  opts: {
    timeoutMs?: number;
    lease?: ReceiveLease;
    minBytesPerSecond?: number;
    /** Sees the bytes of an uncompressed message as they arrive; what it throws fails the read. */
    inspect?: (chunk: Buffer) => void;
  } = {},
): Promise<RawMessage> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let expected = -1;
    let compressed = false;
    let inspected = 0;
    let failed = false;
    const timer = opts.timeoutMs
      ? setTimeout(
          () =>
            fail(
              new GrpcProtocolError(
                GrpcCode.DEADLINE_EXCEEDED,
                `the request message did not arrive within ${opts.timeoutMs} ms (read_timeout)`,
              ),
            ),
          opts.timeoutMs,
        )
      : undefined;
    const rate = new BodyRateWatch(opts.minBytesPerSecond ?? 0, () =>
      fail(
        new GrpcProtocolError(
          GrpcCode.DEADLINE_EXCEEDED,
          `the request message arrived slower than ${opts.minBytesPerSecond} bytes/s over ${RATE_WINDOW_MS / 1000} s (min_body_rate)`,
        ),
      ),
    );
    const fail = (err: unknown) => {
      failed = true;
      settle();
      reject(err);
    };
    const onData = (chunk: Buffer) => {
      rate.count(chunk.length);
      try {
        opts.lease?.reserve(chunk.length);
      } catch (err) {
        return fail(err);
      }
      chunks.push(chunk);
      size += chunk.length;
      if (expected < 0 && size >= PREFIX_BYTES) {
        const head = chunks.length === 1 ? chunk : Buffer.concat(chunks, size);
        if (head[0]! > 1)
          return fail(
            new GrpcProtocolError(
              GrpcCode.INVALID_ARGUMENT,
              `invalid gRPC message prefix: compressed flag ${head[0]} (must be 0 or 1)`,
            ),
          );
        expected = head.readUInt32BE(1);
        if (expected > limit) return fail(new PayloadTooLargeError(limit));
        compressed = head[0] === 1;
      }
      if (expected >= 0 && size > PREFIX_BYTES + expected)
        return fail(new GrpcProtocolError(GrpcCode.INVALID_ARGUMENT, 'more than one request message in a unary call'));
      if (expected < 0 || compressed || !opts.inspect) return;
      // The message bytes not yet seen all sit at the end of this chunk (the prefix may have
      // ended inside it).
      const unseen = size - PREFIX_BYTES - inspected;
      if (unseen === 0) return;
      inspected += unseen;
      try {
        opts.inspect(chunk.subarray(chunk.length - unseen));
      } catch (err) {
        fail(err);
      }
    };
    const onEnd = () => {
      settle();
      if (failed) return;
      if (size === 0) return reject(new GrpcProtocolError(GrpcCode.INVALID_ARGUMENT, 'the request carried no message'));
      if (expected < 0 || size < PREFIX_BYTES + expected)
        return reject(
          new GrpcProtocolError(
            GrpcCode.INVALID_ARGUMENT,
            `the request ended inside a message (${size} of ${expected < 0 ? PREFIX_BYTES : PREFIX_BYTES + expected} bytes)`,
          ),
        );
      const all = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size);
      chunks.length = 0;
      resolve({ compressed: all[0] === 1, payload: all.subarray(PREFIX_BYTES) });
    };
    const onError = (err: Error) => {
      settle();
      if (!failed) reject(err);
    };
    // A call the client cancels (RST_STREAM) closes without 'end'; settle so nothing waits on it.
    const onClose = () => {
      settle();
      if (!failed && !stream.readableEnded)
        reject(new GrpcProtocolError(GrpcCode.CANCELLED, 'the client cancelled the call'));
    };
    /**
     * Stops the clocks and takes this read's listeners off the stream once it has settled (the
     * stream's own no-op 'error' listener stays). A finished HTTP/2 stream outlives young-
     * generation collections until a full one, and whatever its listeners reached (the chunks,
     * the lease, the record counter) was promoted with it: under telemetrygen's gRPC load,
     * 115–168 KB per young collection and 3–11 full collections in 10 s; detached, 50 KB and
     * none (docs/benchmarks.md).
     */
    const settle = () => {
      clearTimeout(timer);
      rate.stop();
      stream.removeListener('data', onData);
      stream.removeListener('end', onEnd);
      stream.removeListener('error', onError);
      stream.removeListener('close', onClose);
    };
    stream.on('data', onData);
    stream.on('end', onEnd);
    stream.on('error', onError);
    stream.on('close', onClose);
  });
}

/**
 * The message bytes: decompressed as a stream off the main thread, each chunk counted in the
 * lease and shown to `inspect` (the record count), and stopped at `limit` bytes, so a small
 * compressed bomb neither inflates past the limit nor, once its records pass the cap, any further.
 */
export function decodeMessage(
  raw: RawMessage,
  encoding: string,
  limit: number,
  lease?: ReceiveLease,
  inspect?: (chunk: Buffer) => void,
): Promise<Buffer> {
  if (!raw.compressed) return Promise.resolve(raw.payload);
  // A compressed flag without a grpc-encoding is a protocol error, per the gRPC HTTP/2 document.
  // gRPC's "deflate" is zlib-wrapped (RFC 1950), some clients send raw deflate: the decoder picks
  // by the first byte. The Collector's gRPC snappy is the framing format; a block is taken too.
  const decoder = encoding === 'identity' ? undefined : bodyDecoder(encoding, raw.payload[0] ?? 0x78, limit);
  if (!decoder)
    return Promise.reject(
      new GrpcProtocolError(GrpcCode.INVALID_ARGUMENT, 'compressed message without a grpc-encoding'),
    );
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let failed = false;
    const fail = (err: unknown) => {
      if (failed) return;
      failed = true;
      decoder.destroy();
      reject(err);
    };
    decoder.on('data', (chunk: Buffer) => {
      if (failed) return;
      size += chunk.length;
      if (size > limit) return fail(new PayloadTooLargeError(limit));
      try {
        lease?.reserve(chunk.length);
        inspect?.(chunk);
      } catch (err) {
        return fail(err);
      }
      chunks.push(chunk);
    });
    decoder.on('end', () => {
      if (!failed) resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size));
    });
    decoder.on('error', (err) =>
      fail(
        err instanceof PayloadTooLargeError
          ? err
          : new GrpcProtocolError(
              GrpcCode.INVALID_ARGUMENT,
              `the ${encoding} message could not be decompressed: ${err.message}`,
            ),
      ),
    );
    decoder.end(raw.payload);
  });
}

/** grpc-message is percent-encoded UTF-8 outside printable ASCII (and '%' itself). */
export function percentEncode(message: string): string {
  let out = '';
  for (const byte of Buffer.from(message, 'utf8')) {
    out +=
      byte >= 0x20 && byte <= 0x7e && byte !== 0x25
        ? String.fromCharCode(byte)
        : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}
