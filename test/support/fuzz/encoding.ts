import { constants as zlibConstants, deflateSync, gzipSync, zstdCompressSync } from 'node:zlib';
import { compressFrameSync } from 'lz4-napi';
import snappyjs from 'snappyjs';
import { crc32c } from '../../../src/receivers/http/snappy.ts';
import type { Mutator } from './mutator.ts';

/** The snappy framing format of `body`: 64 KiB chunks, each a compressed block with its masked CRC-32C. */
export function snappyFramed(body: Buffer): Buffer {
  const parts: Buffer[] = [Buffer.from([0xff, 0x06, 0x00, 0x00, 0x73, 0x4e, 0x61, 0x50, 0x70, 0x59])];
  for (let i = 0; i < body.length; i += 65_536) {
    const data = body.subarray(i, i + 65_536);
    const c = crc32c(data);
    const head = Buffer.alloc(8);
    const block = snappyjs.compress(data);
    head.writeUIntLE(block.length + 4, 1, 3);
    head.writeUInt32LE(((((c >>> 15) | (c << 17)) >>> 0) + 0xa282ead8) >>> 0, 4);
    parts.push(head, block);
  }
  return Buffer.concat(parts);
}

/**
 * A body compressed as some Content-Encoding claims, or not as it claims: the declared coding,
 * a different one, a truncated stream, or bit flips inside the compressed bytes.
 */
export function encodeBody(m: Mutator, body: Buffer): { body: Buffer; encoding: string | undefined } {
  const encoding = m.pick([
    undefined,
    undefined,
    'identity',
    'gzip',
    'deflate',
    'zstd',
    'snappy',
    'x-snappy-framed',
    'lz4',
    'br',
    'gzip, gzip',
    'x-bogus',
    'GZIP',
    'constructor',
  ]);
  let out = body;
  const coding = m.chance(0.85)
    ? encoding
    : m.pick(['gzip', 'deflate', 'zstd', 'snappy', 'x-snappy-framed', 'lz4', undefined]);
  // The fastest levels: what is tested is the decoding, and compressing was most of a run's time.
  if (coding?.toLowerCase() === 'gzip') out = gzipSync(body, { level: 1 });
  else if (coding === 'deflate') out = deflateSync(body, { level: 1 });
  else if (coding === 'zstd') out = zstdCompressSync(body, { params: { [zlibConstants.ZSTD_c_compressionLevel]: 1 } });
  else if (coding === 'snappy') out = m.chance(0.8) ? snappyjs.compress(body) : snappyFramed(body);
  else if (coding === 'x-snappy-framed') out = snappyFramed(body);
  else if (coding === 'lz4') out = compressFrameSync(body, { contentChecksum: m.chance(0.5) });
  if (out !== body && m.chance(0.15)) out = m.bytes(out);
  return { body: out, encoding };
}

/**
 * How often an HTTP input is a compression bomb. Each costs the daemon tens of milliseconds of
 * inflating up to the body limit; at 1 in 200 a run of any length still sends thousands of them.
 */
export const BOMB_CHANCE = 0.005;

const bombs = new Map<string, Buffer>();

/** A compression bomb: 64 MiB of one byte, compressed (built once per kind: it takes a while). */
export function bomb(m: Mutator): { body: Buffer; encoding: string } {
  const fill = m.pick([0x20, 0x7b, 0x5b, 0x00]);
  const encoding = m.pick(['gzip', 'zstd', 'snappy', 'x-snappy-framed', 'lz4']);
  const key = `${fill}/${encoding}`;
  let body = bombs.get(key);
  if (!body) {
    const plain = Buffer.alloc(64 * 1024 * 1024, fill);
    // Snappy compresses at most about 21:1, so its bombs are a few MB rather than KB.
    const compress: Record<string, (b: Buffer) => Buffer> = {
      gzip: (b) => gzipSync(b, { level: 9 }),
      zstd: zstdCompressSync,
      snappy: snappyjs.compress,
      'x-snappy-framed': snappyFramed,
      lz4: (b) => compressFrameSync(b),
    };
    body = compress[encoding]!(plain);
    bombs.set(key, body);
  }
  return { body, encoding };
}
