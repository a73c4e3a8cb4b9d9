import snappyjs from 'snappyjs';
import { describe, expect, it } from 'vitest';
import {
  crc32c,
  decodeSnappy,
  decodeSnappyBlock,
  decodeSnappyFramed,
  SnappyCorruptError,
} from '../../../src/receivers/http/snappy.ts';
import { mulberry32 } from '../../support/seededRandom.ts';
import { corruptMessage, MiB, mutationsOnlyRefused, TooLarge, tooLarge } from './decodeErrors.ts';

/** Text-like data with repeats near and far, so the encoder emits every tag kind. */
function sample(random: () => number, size: number): Buffer {
  const words = ['vigil', 'snappy', ' ', 'otlp', '\n', 'incident', 'a', 'aaaaaaaaaaaaaaaa'];
  const parts: string[] = [];
  let n = 0;
  while (n < size) {
    const w = random() < 0.1 ? String(Math.floor(random() * 1e9)) : words[Math.floor(random() * words.length)]!;
    parts.push(w);
    n += w.length;
  }
  return Buffer.from(parts.join('').slice(0, size));
}

/** A framed stream from chunks given as [type, payload]; data chunks get their masked CRC. */
function framed(chunks: [number, Buffer, Buffer?][]): Buffer {
  const out: Buffer[] = [Buffer.from([0xff, 0x06, 0x00, 0x00, 0x73, 0x4e, 0x61, 0x50, 0x70, 0x59])];
  for (const [type, payload, crcOf] of chunks) {
    let body = payload;
    if (type <= 1) {
      const c = crc32c(crcOf ?? payload);
      const masked = ((((c >>> 15) | (c << 17)) >>> 0) + 0xa282ead8) >>> 0;
      const crc = Buffer.alloc(4);
      crc.writeUInt32LE(masked);
      body = Buffer.concat([crc, type === 0 ? snappyjs.compress(payload) : payload]);
    }
    const head = Buffer.alloc(4);
    head[0] = type;
    head.writeUIntLE(body.length, 1, 3);
    out.push(head, body);
  }
  return Buffer.concat(out);
}

const corrupt = (fn: () => unknown) => corruptMessage(SnappyCorruptError, fn);

describe('snappy decoding', () => {
  it('computes CRC-32C (Castagnoli), the framing format checksum', () => {
    expect(crc32c(Buffer.from('123456789'))).toBe(0xe3069283);
    expect(crc32c(Buffer.alloc(32))).toBe(0x8a9136aa);
  });

  it('decodes what snappyjs encodes, every size and tag kind, byte for byte', () => {
    const random = mulberry32(7);
    for (const size of [0, 1, 59, 60, 61, 255, 256, 65_535, 65_536, 70_000, 300_000]) {
      const data = size === 300_000 ? Buffer.alloc(size, 7) : sample(random, size);
      expect(decodeSnappyBlock(snappyjs.compress(data), 1 * MiB, tooLarge).equals(data), `size ${size}`).toBe(true);
    }
  });

  it('decodes framed streams: compressed, uncompressed, padding and skippable chunks, repeated identifiers', () => {
    const a = Buffer.from('first chunk '.repeat(100));
    const b = Buffer.from('raw bytes');
    const stream = Buffer.concat([
      framed([
        [0, a],
        [0xfe, Buffer.alloc(7)],
        [1, b],
        [0x80, Buffer.from('skip me')],
      ]),
      framed([[0, a]]),
    ]);
    expect(Buffer.concat(decodeSnappyFramed(stream, MiB, tooLarge)).toString()).toBe(
      a.toString() + b.toString() + a.toString(),
    );
    expect(Buffer.concat(decodeSnappy(stream, 'snappy', MiB, tooLarge)).toString()).toBe(
      a.toString() + b.toString() + a.toString(),
    );
  });

  it('refuses a block stating more than the limit before allocating it, bombs included', () => {
    const bomb = snappyjs.compress(Buffer.alloc(8 * MiB));
    expect(bomb.length).toBeLessThan(400 * 1024);
    expect(() => decodeSnappyBlock(bomb, MiB, tooLarge)).toThrow(TooLarge);
    // A 5-byte body stating 4 GiB - 1.
    expect(() => decodeSnappyBlock(Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f]), MiB, tooLarge)).toThrow(
      'too large: 4294967295',
    );
  });

  it('refuses a framed stream once its chunks pass the limit, before decoding the chunk that would', () => {
    const chunk = Buffer.alloc(65_536);
    const stream = framed(Array.from({ length: 40 }, () => [0, chunk] as [number, Buffer]));
    expect(stream.length).toBeLessThan(200 * 1024);
    let thrown: unknown;
    try {
      decodeSnappyFramed(stream, MiB, tooLarge);
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(TooLarge);
    expect((thrown as TooLarge).stated).toBe(MiB + 65_536);
  });

  it('says what is wrong with a corrupt block', () => {
    const good = snappyjs.compress(Buffer.from('hello hello hello hello hello'));
    expect(corrupt(() => decodeSnappyBlock(good.subarray(0, good.length - 2), MiB, tooLarge))).toMatch(
      /runs past the end|holds/,
    );
    expect(corrupt(() => decodeSnappyBlock(Buffer.from([]), MiB, tooLarge))).toMatch(/ends inside its length/);
    expect(corrupt(() => decodeSnappyBlock(Buffer.from([0x80, 0x80, 0x80, 0x80, 0x80, 0x01]), MiB, tooLarge))).toMatch(
      /not a valid varint/,
    );
    // States 3 bytes, copies before the start.
    expect(corrupt(() => decodeSnappyBlock(Buffer.from([0x03, 0x01 | (0 << 2), 0x05]), MiB, tooLarge))).toMatch(
      /refers before the start/,
    );
    // States 2 bytes, holds a 3-byte literal.
    expect(corrupt(() => decodeSnappyBlock(Buffer.from([0x02, 0x08, 0x61, 0x62, 0x63]), MiB, tooLarge))).toMatch(
      /runs past the 2 bytes the block states/,
    );
    // States 5 bytes, holds 3.
    expect(corrupt(() => decodeSnappyBlock(Buffer.from([0x05, 0x08, 0x61, 0x62, 0x63]), MiB, tooLarge))).toBe(
      'snappy body is corrupt: the block states 5 bytes but holds 3',
    );
  });

  it('says what is wrong with a corrupt framed stream', () => {
    const data = Buffer.from('some data '.repeat(20));
    expect(corrupt(() => decodeSnappyFramed(snappyjs.compress(data), MiB, tooLarge))).toMatch(
      /must start with the stream identifier/,
    );
    expect(corrupt(() => decodeSnappy(snappyjs.compress(data), 'x-snappy-framed', MiB, tooLarge))).toMatch(
      /must start with the stream identifier/,
    );
    expect(corrupt(() => decodeSnappyFramed(framed([[0, data, Buffer.from('other data')]]), MiB, tooLarge))).toMatch(
      /fails its CRC-32C checksum/,
    );
    expect(corrupt(() => decodeSnappyFramed(framed([[1, data, Buffer.from('other data')]]), MiB, tooLarge))).toMatch(
      /fails its CRC-32C checksum/,
    );
    expect(corrupt(() => decodeSnappyFramed(framed([[0x02, Buffer.from('x')]]), MiB, tooLarge))).toMatch(
      /unskippable reserved chunk type 0x2/,
    );
    const whole = framed([[0, data]]);
    expect(corrupt(() => decodeSnappyFramed(whole.subarray(0, whole.length - 1), MiB, tooLarge))).toMatch(
      /runs past the end of the body/,
    );
    expect(corrupt(() => decodeSnappyFramed(whole.subarray(0, 12), MiB, tooLarge))).toMatch(/inside a chunk header/);
    expect(corrupt(() => decodeSnappyFramed(framed([[1, Buffer.alloc(65_537)]]), 10 * MiB, tooLarge))).toMatch(
      /over the 65536 the format allows/,
    );
    expect(corrupt(() => decodeSnappyFramed(framed([[0, Buffer.alloc(65_537)]]), 10 * MiB, tooLarge))).toMatch(
      /over the 65536 the format allows/,
    );
  });

  it('never fails any other way on mutated input (seeded)', () => {
    const random = mulberry32(18);
    const bodies = [
      snappyjs.compress(sample(random, 5000)),
      framed([
        [0, sample(random, 3000)],
        [1, sample(random, 100)],
      ]),
    ];
    mutationsOnlyRefused(
      SnappyCorruptError,
      bodies,
      (body) => decodeSnappy(body, 'snappy', 64 * 1024, tooLarge),
      random,
    );
  });
});
