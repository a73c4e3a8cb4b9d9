import { deflateSync, gzipSync, zstdCompressSync } from 'node:zlib';
import type { Mutator } from './mutator.ts';

/**
 * A body compressed as some Content-Encoding claims, or not as it claims: the declared coding,
 * a different one, a truncated stream, or bit flips inside the compressed bytes.
 */
export function encodeBody(m: Mutator, body: Buffer): { body: Buffer; encoding: string | undefined } {
  const encoding = m.pick([undefined, undefined, 'identity', 'gzip', 'deflate', 'zstd', 'br', 'gzip, gzip', 'x-bogus', 'GZIP']);
  let out = body;
  const coding = m.chance(0.85) ? encoding : m.pick(['gzip', 'deflate', 'zstd', undefined]);
  if (coding?.toLowerCase() === 'gzip') out = gzipSync(body);
  else if (coding === 'deflate') out = deflateSync(body);
  else if (coding === 'zstd') out = zstdCompressSync(body);
  if (out !== body && m.chance(0.15)) out = m.bytes(out);
  return { body: out, encoding };
}

const bombs = new Map<string, Buffer>();

/** A compression bomb: 64 MiB of one byte, compressed to a few KB (built once per kind: it takes a while). */
export function bomb(m: Mutator): { body: Buffer; encoding: string } {
  const fill = m.pick([0x20, 0x7b, 0x5b, 0x00]);
  const encoding = m.pick(['gzip', 'zstd']);
  const key = `${fill}/${encoding}`;
  let body = bombs.get(key);
  if (!body) {
    const plain = Buffer.alloc(64 * 1024 * 1024, fill);
    body = encoding === 'gzip' ? gzipSync(plain, { level: 9 }) : zstdCompressSync(plain);
    bombs.set(key, body);
  }
  return { body, encoding };
}
