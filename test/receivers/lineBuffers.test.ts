import { describe, expect, it } from 'vitest';
import { LineBuffers } from '../../src/receivers/lineBuffers.ts';

/** A line of about 1 KB whose text says which it is: 64 fill a 64 KiB chunk. */
const text = (i: number) => `${String(i).padStart(6, '0')} ${'x'.repeat(1000)}`;

function make(buffers: LineBuffers, from: number, to: number): Buffer[] {
  const lines: Buffer[] = [];
  for (let i = from; i < to; i++) lines.push(buffers.add(text(i), -1));
  return lines;
}

const joined = (lines: readonly Uint8Array[]) => Buffer.concat(lines).toString();
const expected = (from: number, to: number) => {
  let s = '';
  for (let i = from; i < to; i++) s += text(i) + '\n';
  return s;
};

describe('syslog line buffers', () => {
  it('gives a chunk whose lines were all written to new lines, and keeps their bytes until then', () => {
    const buffers = new LineBuffers();
    // 150 lines: two chunks filled, a third begun.
    const first = make(buffers, 0, 150);
    const chunks = new Set(first.map((l) => l.buffer));
    expect(chunks.size).toBe(3);
    expect(buffers.freeChunks).toBe(0);

    // All but the last line of the first chunk written: nothing to reuse yet.
    const firstChunk = first[0]!.buffer;
    const inFirst = first.filter((l) => l.buffer === firstChunk);
    buffers.written(inFirst.slice(0, -1));
    expect(buffers.freeChunks).toBe(0);
    buffers.written(inFirst.slice(-1));
    expect(buffers.freeChunks).toBe(1);

    // The next chunk the lines need is that one, and the lines not written yet are intact.
    const more = make(buffers, 150, 250);
    expect(more.some((l) => l.buffer === firstChunk)).toBe(true);
    expect(joined(first.filter((l) => l.buffer !== firstChunk))).toBe(expected(inFirst.length, 150));
    expect(joined(more)).toBe(expected(150, 250));
  });

  it('does not reuse a chunk a line of which was never written', () => {
    const buffers = new LineBuffers();
    const lines = make(buffers, 0, 200);
    const dropped = lines[10]!;
    buffers.written(lines.filter((l) => l !== dropped));
    const kept = new Set(make(buffers, 200, 400).map((l) => l.buffer));
    expect(kept.has(dropped.buffer)).toBe(false);
    expect(dropped.toString()).toBe(text(10) + '\n');
  });

  it('joins the lines that follow each other in a chunk into one view, the same bytes in order', () => {
    const buffers = new LineBuffers();
    const lines: Uint8Array[] = make(buffers, 0, 100);
    const before = joined(lines);
    LineBuffers.join(lines);
    expect(lines).toHaveLength(100);
    expect(joined(lines)).toBe(before);
    // One view per chunk the lines span (two here), the rest empty.
    expect(lines.filter((l) => l.byteLength > 0)).toHaveLength(2);
    expect(lines[0]!.byteLength).toBeGreaterThan(60 * 1000);

    // Written as joined, the chunk the lines have left is free; the one they are in is not.
    buffers.written(lines);
    expect(buffers.freeChunks).toBe(1);
  });

  it('a batch cut after its joined line still writes every line once, in order', () => {
    const buffers = new LineBuffers();
    const lines: Uint8Array[] = make(buffers, 0, 10);
    LineBuffers.join(lines);
    // Held lines are offered in slices: the first holds all ten lines' bytes, the second none.
    expect(joined(lines.slice(0, 4)) + joined(lines.slice(4))).toBe(expected(0, 10));
  });

  it('moves a line written in pieces to the next chunk, whole, when it outgrows its own', () => {
    const buffers = new LineBuffers();
    const before = make(buffers, 0, 60);
    // About 4 KB left in the chunk: a line of 10 pieces of 1 KB each crosses into the next.
    const parts = Array.from({ length: 10 }, (_, k) => `${k}${'p'.repeat(999)}`);
    for (const [k, part] of parts.entries()) {
      if (k % 2 === 0) buffers.piece(Buffer.from(part));
      else expect(buffers.text(part)).toBe(true);
    }
    const crossing = buffers.end(-1);
    expect(crossing.toString()).toBe(parts.join('') + '\n');
    expect(crossing.buffer).not.toBe(before[0]!.buffer);
    expect(joined(before)).toBe(expected(0, 60));
    // The old chunk owes only the 60 lines handed out from it: written, it is free.
    buffers.written(before);
    expect(buffers.freeChunks).toBe(1);
  });

  it('writes text as JSON writes it between quotes, escapes and non-ASCII included', () => {
    const buffers = new LineBuffers();
    const values = [
      'plain ascii',
      'say "hi" \\ there',
      'tab\tnewline\n\u0001',
      'żółw 🐢',
      'lone \ud800 end',
      '\u007f del',
    ];
    const plainness = values.map((v) => buffers.text(v + '|'));
    const line = buffers.end(-1);
    expect(line.toString()).toBe(values.map((v) => JSON.stringify(v + '|').slice(1, -1)).join('') + '\n');
    expect(plainness).toEqual([true, false, false, false, false, false]);
  });

  it('gives a line longer than a chunk a buffer of its own, never reused', () => {
    const buffers = new LineBuffers();
    const long = buffers.add('y'.repeat(100_000), -1);
    expect(long.byteLength).toBe(100_001);
    buffers.written([long]);
    make(buffers, 0, 100);
    expect(buffers.freeChunks).toBe(0);
    expect(long.toString()).toBe('y'.repeat(100_000) + '\n');
  });
});
