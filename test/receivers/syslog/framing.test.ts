import { describe, expect, it } from 'vitest';
import { SyslogFramer, type Frame } from '../../../src/receivers/syslog/framing.ts';

function frame(chunks: (string | Buffer)[], max = 1024, end = true): Frame[] {
  const f = new SyslogFramer(max);
  const out: Frame[] = [];
  for (const c of chunks) f.push(Buffer.isBuffer(c) ? c : Buffer.from(c), out);
  if (end) f.end(out);
  return out;
}
const texts = (frames: Frame[]) => frames.map((f) => f.bytes.toString('utf8', f.from, f.to));
/** Each frame as its text and whether it was cut. */
const read = (frames: Frame[]) =>
  frames.map((f) => ({ text: f.bytes.toString('utf8', f.from, f.to), truncated: f.truncated }));
const octet = (msg: string) => `${Buffer.byteLength(msg)} ${msg}`;

/** Deterministic PRNG so a failing fuzz case can be replayed. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

describe('TCP framing (RFC 6587)', () => {
  it('reads LF-delimited lines, dropping CR and empty lines', () => {
    expect(texts(frame(['<13>a\n<13>b\r\n\n<13>c\n']))).toEqual(['<13>a', '<13>b', '<13>c']);
  });

  it('reads octet-counted frames, whose messages may hold newlines', () => {
    expect(texts(frame([octet('<13>1 - h a - - - two\nlines') + octet('<14>x')]))).toEqual([
      '<13>1 - h a - - - two\nlines',
      '<14>x',
    ]);
  });

  it('drops the LF (or CRLF) some senders put at the end of an octet-counted frame', () => {
    expect(texts(frame([octet('<13>a\n') + octet('<13>b\r\n') + octet('<13>c\n\n')]))).toEqual([
      '<13>a',
      '<13>b',
      '<13>c\n',
    ]);
  });

  it('counts octets, not characters, for UTF-8 messages', () => {
    expect(texts(frame([octet('<13>héllo ✓') + octet('<13>next')]))).toEqual(['<13>héllo ✓', '<13>next']);
  });

  it('tells the framing per frame, so a stream may mix both', () => {
    expect(texts(frame([`${octet('<13>a')}<13>b\n${octet('<13>c')}`]))).toEqual(['<13>a', '<13>b', '<13>c']);
  });

  it('reassembles frames split at every possible byte boundary', () => {
    const stream = Buffer.from(
      `${octet('<13>1 - h app - - - first\nwith newline')}<14>second line\r\n${octet('<15>thïrd')}<16>fourth\n`,
    );
    const expected = ['<13>1 - h app - - - first\nwith newline', '<14>second line', '<15>thïrd', '<16>fourth'];
    for (let a = 0; a <= stream.length; a++) {
      for (let b = a; b <= stream.length; b += 7) {
        expect(texts(frame([stream.subarray(0, a), stream.subarray(a, b), stream.subarray(b)]))).toEqual(expected);
      }
    }
  });

  it('keeps a last line that has no LF when the connection ends', () => {
    expect(texts(frame(['<13>a\n<13>no newline']))).toEqual(['<13>a', '<13>no newline']);
    expect(frame(['<13>a\n<13>held'], 1024, false).map((f) => f.bytes.toString('utf8', f.from, f.to))).toEqual([
      '<13>a',
    ]);
  });

  it('keeps a cut-off octet-counted frame as truncated when the connection ends', () => {
    expect(read(frame(['20 <13>only part']))).toEqual([{ text: '<13>only part', truncated: true }]);
  });

  it('truncates an over-long LF line to max_message_size and resumes at the next line', () => {
    const long = `<13>${'x'.repeat(2000)}`;
    const out = frame([`${long.slice(0, 700)}`, `${long.slice(700)}\n<13>after\n`], 500);
    expect(read(out)).toEqual([
      { text: long.slice(0, 500), truncated: true },
      { text: '<13>after', truncated: false },
    ]);
  });

  it('truncates an over-long octet-counted frame and skips exactly its remaining bytes', () => {
    const long = `<13>${'y'.repeat(3000)}\n${'z'.repeat(100)}`;
    const stream = Buffer.from(octet(long) + octet('<13>after'));
    for (const cut of [1, 10, 505, 1000, stream.length - 5]) {
      const out = frame([stream.subarray(0, cut), stream.subarray(cut)], 500);
      expect(read(out)).toEqual([
        { text: long.slice(0, 500), truncated: true },
        { text: '<13>after', truncated: false },
      ]);
    }
  });

  it('holds at most max_message_size plus a length prefix between chunks', () => {
    const f = new SyslogFramer(600);
    const out: Frame[] = [];
    for (let i = 0; i < 1000; i++) f.push(Buffer.alloc(1000, 0x61), out);
    expect(out.length).toBe(1);
    expect(out[0]).toMatchObject({ truncated: true });
    expect(out[0]!.to - out[0]!.from).toBe(600);
    f.push(Buffer.from('\n<13>ok\n'), out);
    expect(read(out).at(-1)).toEqual({ text: '<13>ok', truncated: false });
  });

  it('treats digits not followed by a space as the start of a plain line', () => {
    expect(texts(frame(['123abc\n99999999999 x\n']))).toEqual(['123abc', '99999999999 x']);
  });

  it('survives random bytes between good frames and loses no good neighbour', () => {
    const next = rng(42);
    for (let round = 0; round < 300; round++) {
      const garbage = Buffer.from(
        Array.from({ length: Math.floor(next() * 200) }, () => Math.floor(next() * 256)).filter((b) => b !== 10),
      );
      // A garbage run ends at LF; a good frame after it must come through whatever the garbage was.
      const parts = [Buffer.from(`<13>before ${round}\n`), garbage, Buffer.from(`\n<13>after ${round}\n`)];
      const stream = Buffer.concat(parts);
      const cuts = [Math.floor(next() * stream.length), Math.floor(next() * stream.length)].sort((a, b) => a - b);
      const out = texts(
        frame([stream.subarray(0, cuts[0]), stream.subarray(cuts[0], cuts[1]), stream.subarray(cuts[1])], 4096),
      );
      expect(out[0]).toBe(`<13>before ${round}`);
      if (!/^[1-9]\d{0,8} /.test(garbage.toString('latin1'))) expect(out.at(-1)).toBe(`<13>after ${round}`);
    }
  });
});
