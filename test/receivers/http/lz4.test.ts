import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { decodeLz4, Lz4CorruptError, lz4Module, Xxh32, xxh32 } from '../../../src/receivers/http/lz4.ts';
import { mulberry32 } from '../../support/seededRandom.ts';
import { corruptMessage, MiB, mutationsOnlyRefused, TooLarge, tooLarge } from './decodeErrors.ts';

const lz4 = lz4Module()!;

const dir = mkdtempSync(join(tmpdir(), 'vigil-lz4-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/**
 * A frame written by the reference implementation's command-line tool (Debian's `lz4`), from a
 * file so that it knows the size `--content-size` writes.
 */
function lz4Cli(data: Buffer, ...args: string[]): Buffer {
  const file = join(dir, 'data');
  writeFileSync(file, data);
  return execFileSync('lz4', [...args, '-c', file], { stdio: ['ignore', 'pipe', 'ignore'], maxBuffer: 64 * MiB });
}

/** Log-like text: repeats near and far, so blocks hold literals and matches of every length. */
function sample(size: number, seed = 7): Buffer {
  const random = mulberry32(seed);
  const parts: string[] = [];
  let n = 0;
  while (n < size) {
    const line = `ts=${Math.floor(random() * 1e6)} level=${random() < 0.9 ? 'info' : 'error'} msg="checkout ${random() < 0.5 ? 'ok' : 'failed'}"\n`;
    parts.push(line);
    n += line.length;
  }
  return Buffer.from(parts.join('').slice(0, size));
}

const decode = (body: Buffer, max = 16 * MiB) => Buffer.concat(decodeLz4(body, lz4, max, tooLarge));

const corrupt = (fn: () => unknown) => corruptMessage(Lz4CorruptError, fn);

/** A frame descriptor's header checksum byte, for frames built by hand. */
const hc = (descriptor: number[]) => (xxh32(Buffer.from(descriptor)) >>> 8) & 0xff;
const MAGIC = [0x04, 0x22, 0x4d, 0x18];

describe('lz4 decoding', () => {
  it('computes xxHash32, in one piece or many', () => {
    expect(xxh32(Buffer.alloc(0))).toBe(0x02cc5d05);
    expect(xxh32(Buffer.from('abc'))).toBe(0x32d153ff);
    const data = sample(1000);
    const whole = xxh32(data);
    const pieces = new Xxh32();
    for (let p = 0; p < data.length; p += 7) pieces.update(data, p, Math.min(p + 7, data.length));
    expect(pieces.digest()).toBe(whole);
  });

  it('decodes what the lz4 tool writes, byte for byte: block sizes, linked and independent blocks, every checksum, content size', () => {
    const data = sample(600_000);
    const variants = [
      [],
      ['-B4'],
      ['-B4', '-BD'],
      ['-B5', '-BX'],
      ['--content-size'],
      ['-B4', '-BD', '-BX', '--content-size'],
      ['--no-frame-crc'],
      ['-9', '-B4', '-BD'],
    ];
    for (const args of variants) expect(decode(lz4Cli(data, ...args)).equals(data), args.join(' ')).toBe(true);
    // Data that does not compress is stored in uncompressed blocks.
    const random = mulberry32(18);
    const noise = Buffer.from(Array.from({ length: 200_000 }, () => Math.floor(random() * 256)));
    expect(decode(lz4Cli(noise, '-B4')).equals(noise)).toBe(true);
    expect(decode(lz4Cli(Buffer.alloc(0))).length).toBe(0);
  });

  it('decodes concatenated frames and skips skippable ones', () => {
    const a = sample(10_000, 1);
    const b = sample(20_000, 2);
    const skippable = Buffer.from([0x5a, 0x2a, 0x4d, 0x18, 3, 0, 0, 0, 1, 2, 3]);
    expect(decode(Buffer.concat([lz4Cli(a), skippable, lz4Cli(b, '-BD', '-B4')])).equals(Buffer.concat([a, b]))).toBe(
      true,
    );
  });

  it('refuses a bomb once its blocks pass the limit, never decoding a block past it', () => {
    const bomb = lz4Cli(Buffer.alloc(64 * MiB), '-B4');
    expect(bomb.length).toBeLessThan(MiB / 2);
    let thrown: unknown;
    try {
      decodeLz4(bomb, lz4, MiB, tooLarge);
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(TooLarge);
    expect((thrown as TooLarge).stated).toBe(MiB + 1);
    // 4 MiB blocks: the one block that passes 1 MiB is decoded into no more than 1 MiB.
    expect(() => decodeLz4(lz4Cli(Buffer.alloc(64 * MiB)), lz4, MiB, tooLarge)).toThrow(TooLarge);
  });

  it('refuses a frame stating more content than the limit before decoding any of it', () => {
    const frame = lz4Cli(Buffer.alloc(2 * MiB), '--content-size');
    expect(() => decodeLz4(frame, lz4, MiB, tooLarge)).toThrow(`too large: ${2 * MiB}`);
    // 2^64 - 1 stated, no block at all.
    const descriptor = [0x68, 0x40, ...Array<number>(8).fill(0xff)];
    const huge = Buffer.from([...MAGIC, ...descriptor, hc(descriptor), 0, 0, 0, 0]);
    expect(() => decodeLz4(huge, lz4, MiB, tooLarge)).toThrow(TooLarge);
  });

  it('says what is wrong with a corrupt frame', () => {
    const data = sample(300_000);
    const frame = lz4Cli(data, '-B4', '-BX');
    expect(corrupt(() => decode(Buffer.alloc(0)))).toMatch(/body is empty/);
    expect(corrupt(() => decode(frame.subarray(0, frame.length - 4)))).toMatch(/ends inside the content checksum/);
    expect(corrupt(() => decode(frame.subarray(0, frame.length - 8)))).toMatch(/end mark missing/);
    expect(corrupt(() => decode(frame.subarray(0, 1000)))).toMatch(/ends inside a block/);
    const flipped = Buffer.from(frame);
    flipped[frame.length - 1000] = flipped[frame.length - 1000]! ^ 0x40;
    expect(corrupt(() => decode(flipped))).toMatch(/a block fails its checksum/);
    const content = lz4Cli(data);
    const wrongSum = Buffer.from(content);
    wrongSum[wrongSum.length - 1] = wrongSum[wrongSum.length - 1]! ^ 1;
    expect(corrupt(() => decode(wrongSum))).toBe('lz4 body is corrupt: the content fails its checksum');
    const badHeader = Buffer.from(content);
    badHeader[6] = badHeader[6]! ^ 1;
    expect(corrupt(() => decode(badHeader))).toMatch(/header checksum/);
    expect(corrupt(() => decode(Buffer.from('not lz4 at all')))).toMatch(/is not an LZ4 frame magic number/);
    expect(corrupt(() => decode(lz4Cli(data, '-l')))).toMatch(/legacy LZ4 format/);
    // A block holding more than the 64 KiB its frame allows, and one that does not decode.
    const d64 = [0x60, 0x40];
    const big = Buffer.alloc(4);
    big.writeUInt32LE(70_000);
    expect(corrupt(() => decode(Buffer.from([...MAGIC, ...d64, hc(d64), ...big])))).toMatch(/over the 65536/);
    const garbage = [5, 0, 0, 0, 0xf0, 0xff, 0xff, 0xff, 0xff];
    expect(corrupt(() => decode(Buffer.from([...MAGIC, ...d64, hc(d64), ...garbage, 0, 0, 0, 0])))).toMatch(
      /a block does not decode/,
    );
    const dict = [0x61, 0x40, 1, 2, 3, 4];
    expect(corrupt(() => decode(Buffer.from([...MAGIC, ...dict, hc(dict), 0, 0, 0, 0])))).toMatch(/dictionary/);
  });

  it('never fails any other way on mutated input (seeded)', () => {
    const random = mulberry32(18);
    const bodies = [lz4Cli(sample(5000), '-B4', '-BD'), lz4Cli(sample(3000), '-BX', '--no-frame-crc')];
    mutationsOnlyRefused(Lz4CorruptError, bodies, (body) => decodeLz4(body, lz4, 64 * 1024, tooLarge), random);
  });
});
