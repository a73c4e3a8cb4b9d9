import { createBrotliDecompress, createGunzip, createInflate, createInflateRaw, createZstdDecompress } from 'node:zlib';
import type { IncomingMessage } from 'node:http';
import type { Readable, Transform } from 'node:stream';
import { InvalidInputError, VigilError } from '../../errors.ts';

export class PayloadTooLargeError extends VigilError {
  readonly limit: number;
  constructor(limit: number) {
    super('VIGIL_PAYLOAD_TOO_LARGE', `request body exceeds the limit of ${limit} bytes (after decompression)`);
    this.limit = limit;
  }
}

export class UnsupportedEncodingError extends VigilError {
  constructor(encoding: string) {
    super('VIGIL_UNSUPPORTED_ENCODING', `Content-Encoding "${encoding}" is not supported; use gzip, deflate, zstd or none`);
  }
}

function decoderFor(encoding: string): Transform | null {
  switch (encoding) {
    case '':
    case 'identity':
      return null;
    case 'gzip':
    case 'x-gzip':
      return createGunzip();
    case 'deflate':
    case 'zlib':
      // Real clients send both zlib-wrapped and raw deflate under this name; sniff per request.
      return createInflate();
    case 'deflate-raw':
      return createInflateRaw();
    case 'zstd':
      return createZstdDecompress();
    case 'br':
      return createBrotliDecompress();
    default:
      throw new UnsupportedEncodingError(encoding);
  }
}

/**
 * Reads a request body, decompressing by Content-Encoding, and enforces `limit` on the
 * decompressed bytes so a small compressed bomb cannot inflate past it.
 */
export async function readRequestBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const encoding = String(req.headers['content-encoding'] ?? '').trim().toLowerCase();
  const declared = Number(req.headers['content-length']);
  if (encoding === '' && Number.isFinite(declared) && declared > limit) {
    req.resume();
    throw new PayloadTooLargeError(limit);
  }
  let decoder = decoderFor(encoding);
  if (decoder && (encoding === 'deflate' || encoding === 'zlib')) {
    const raw = await collect(req, limit * 4 + 1024);
    // zlib streams start with 0x78; anything else is raw deflate.
    decoder = raw[0] === 0x78 ? createInflate() : createInflateRaw();
    return inflate(raw, decoder, limit);
  }
  if (!decoder) return collect(req, limit);
  const source: Readable = req;
  source.pipe(decoder);
  source.on('error', (err) => decoder.destroy(err));
  try {
    return await collect(decoder, limit);
  } catch (err) {
    source.unpipe(decoder);
    source.resume();
    throw err;
  }
}

function inflate(raw: Buffer, decoder: Transform, limit: number): Promise<Buffer> {
  const p = collect(decoder, limit);
  decoder.end(raw);
  return p;
}

function collect(stream: Readable, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    stream.on('data', (chunk: Buffer) => {
      if (done) return;
      size += chunk.length;
      if (size > limit) {
        done = true;
        stream.destroy();
        reject(new PayloadTooLargeError(limit));
        return;
      }
      chunks.push(chunk);
    });
    stream.on('end', () => {
      if (done) return;
      done = true;
      resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size));
    });
    stream.on('error', (err) => {
      if (done) return;
      done = true;
      reject(err instanceof VigilError ? err : new InvalidInputError(`request body could not be read or decompressed: ${err.message}`));
    });
  });
}
