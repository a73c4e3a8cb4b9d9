import { describe, expect, it } from 'vitest';
import { sliceString, type FastSliceBuffer } from '../src/byteStrings.ts';
import { mulberry32 } from './support/seededRandom.ts';

/** Byte strings a decoder meets: ASCII words, UTF-8 letters, stray and cut-off bytes, long ones. */
function byteString(rnd: () => number): number[] {
  const len = Math.floor(rnd() * (rnd() < 0.1 ? 90 : 24));
  const out: number[] = [];
  while (out.length < len) {
    const r = rnd();
    if (r < 0.75) out.push(0x20 + Math.floor(rnd() * 0x5f));
    else if (r < 0.85) out.push(...Buffer.from(rnd() < 0.5 ? 'é' : '€'));
    else if (r < 0.92)
      out.push(0x80 + Math.floor(rnd() * 0x80)); // a byte no UTF-8 sequence starts or ends well
    else out.push(0xc3); // a sequence cut off, or followed by ASCII
  }
  return out;
}

describe('sliceString', () => {
  it('gives the bytes decoded as UTF-8, whatever its cache held before', () => {
    const rnd = mulberry32(15);
    // Strings that share their first and last 8 bytes and differ between them, and some that
    // come back, so that hits, misses and look-alikes meet in caches of 1, 2 and 4,096 slots.
    const pool: number[][] = [];
    for (let i = 0; i < 400; i++) pool.push(byteString(rnd));
    for (let i = 0; i < 100; i++) {
      const middle = Array.from({ length: 1 + Math.floor(rnd() * 20) }, () => 0x61 + Math.floor(rnd() * 26));
      pool.push([...Buffer.from('/api/v1/'), ...middle, ...Buffer.from('/orders!')]);
    }
    for (const slots of [1, 2, 4096]) {
      const cache = new Array<string>(slots).fill('');
      for (let n = 0; n < 20_000; n++) {
        const bytes = pool[Math.floor(rnd() * pool.length)]!;
        const pad = Math.floor(rnd() * 4);
        const buf = Buffer.from([...Array<number>(pad).fill(0x22), ...bytes, 0x22]) as FastSliceBuffer;
        const got = sliceString(buf, pad, pad + bytes.length, cache);
        expect(got).toBe(Buffer.from(bytes).toString('utf8'));
      }
    }
  });

  it('never hands a cached letter out for a byte that only looks like its code', () => {
    // "é" is two bytes in UTF-8 and one character; the lone byte 0xE9 (its code) is invalid
    // UTF-8 and reads as U+FFFD. With one slot, both meet in it.
    const cache = [''];
    expect(sliceString(Buffer.from([0xc3, 0xa9]) as FastSliceBuffer, 0, 2, cache)).toBe('é');
    expect(sliceString(Buffer.from([0xe9]) as FastSliceBuffer, 0, 1, cache)).toBe('\uFFFD');
    expect(sliceString(Buffer.from([0xe9, 0x41]) as FastSliceBuffer, 0, 2, cache)).toBe('\uFFFDA');
    expect(sliceString(Buffer.from([0xe9, 0x41]) as FastSliceBuffer, 0, 2, cache)).toBe('\uFFFDA');
  });
});
