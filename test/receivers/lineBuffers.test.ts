import { describe, expect, it } from 'vitest';
import { LineBuffers } from '../../src/receivers/lineBuffers.ts';

/** A line of about 1 KB whose text says which it is: 64 fill a 64 KiB chunk. */
const text = (i: number) => `${String(i).padStart(6, '0')} ${'x'.repeat(1000)}`;

/** Lines `from` to `to` made as one batch, as a listener hands them on. */
function batch(buffers: LineBuffers, from: number, to: number): Buffer[] {
  buffers.beginBatch();
  for (let i = from; i < to; i++) buffers.add(text(i), -1);
  return finished(buffers, to - from);
}

function finished(buffers: LineBuffers, n: number): Buffer[] {
  const lines = new Array<Buffer>(n);
  buffers.finishBatch(lines);
  return lines;
}

const joined = (lines: readonly Uint8Array[]) => Buffer.concat(lines).toString();
const expected = (from: number, to: number) => {
  let s = '';
  for (let i = from; i < to; i++) s += text(i) + '\n';
  return s;
};
const memories = (...batches: Buffer[][]) =>
  new Set(
    batches
      .flat()
      .filter((l) => l.byteLength > 0)
      .map((l) => l.buffer),
  );

describe('line buffers', () => {
  it('hands a batch on as one view per chunk it spans, the other lines empty, the same bytes in order', () => {
    const buffers = new LineBuffers();
    const lines = batch(buffers, 0, 100);
    expect(lines).toHaveLength(100);
    expect(joined(lines)).toBe(expected(0, 100));
    // Two chunks: the first line holds the first chunk's lines, the line that begins the second its lines.
    const views = lines.flatMap((l, i) => (l.byteLength > 0 ? [i] : []));
    expect(views).toHaveLength(2);
    expect(views[0]).toBe(0);
    expect(lines[0]!.byteLength).toBeGreaterThan(60 * 1000);

    // Written, the chunk the lines have left is free; the one they are in is not.
    buffers.written(lines);
    expect(buffers.freeChunks).toBe(1);
  });

  it('gives a chunk all of whose bytes were written to new lines, and keeps their bytes until then', () => {
    const buffers = new LineBuffers();
    const a = batch(buffers, 0, 40);
    // The rest of the first chunk, a second, a third begun.
    const b = batch(buffers, 40, 150);
    expect(memories(a, b).size).toBe(3);
    const [first, second] = [a[0]!.buffer, b.find((l) => l.byteLength > 0 && l.buffer !== a[0]!.buffer)!.buffer];

    // The first chunk still owes a's lines; the second is all b's.
    buffers.written(b);
    expect(buffers.freeChunks).toBe(1);
    expect(joined(a)).toBe(expected(0, 40));
    buffers.written(a);
    expect(buffers.freeChunks).toBe(2);

    // The next chunks the lines need are those two.
    const c = batch(buffers, 150, 300);
    expect(memories(c)).toContain(first);
    expect(memories(c)).toContain(second);
    expect(joined(c)).toBe(expected(150, 300));
  });

  it('does not reuse a chunk a line of which was never written', () => {
    const buffers = new LineBuffers();
    const dropped = batch(buffers, 0, 30);
    buffers.written(batch(buffers, 30, 200));
    const later = memories(batch(buffers, 200, 400));
    expect(later.has(dropped[0]!.buffer)).toBe(false);
    expect(joined(dropped)).toBe(expected(0, 30));
  });

  it('a batch cut after its first line still writes every line once, in order', () => {
    const buffers = new LineBuffers();
    const lines = batch(buffers, 0, 10);
    // Held lines are offered in slices: the first holds all ten lines' bytes, the second none.
    expect(joined(lines.slice(0, 4)) + joined(lines.slice(4))).toBe(expected(0, 10));
  });

  it('refuses a batch whose count is not the lines made, and leaves lines of a batch never finished out of the next', () => {
    const buffers = new LineBuffers();
    buffers.beginBatch();
    buffers.add('one', -1);
    buffers.add('two', -1);
    expect(() => finished(buffers, 3)).toThrow(/a batch of 3 lines, but 2/);
    buffers.beginBatch();
    buffers.add('three', -1);
    expect(joined(finished(buffers, 1))).toBe('three\n');
  });

  it('moves a line written in pieces to the next chunk, whole, when it outgrows its own', () => {
    const buffers = new LineBuffers();
    const before = batch(buffers, 0, 60);
    // About 4 KB left in the chunk: a line of 10 pieces of 1 KB each crosses into the next.
    const parts = Array.from({ length: 10 }, (_, k) => `${k}${'p'.repeat(999)}`);
    buffers.beginBatch();
    for (const [k, part] of parts.entries()) {
      if (k % 2 === 0) buffers.piece(Buffer.from(part));
      else expect(buffers.text(part)).toBe(true);
    }
    buffers.end(-1);
    const [crossing] = finished(buffers, 1);
    expect(crossing!.toString()).toBe(parts.join('') + '\n');
    expect(crossing!.buffer).not.toBe(before[0]!.buffer);
    expect(joined(before)).toBe(expected(0, 60));
    // The old chunk owes only the 60 lines handed out from it: written, it is free.
    buffers.written(before);
    expect(buffers.freeChunks).toBe(1);
  });

  it('writes a value of the line again, also after the line moved to the next chunk', () => {
    const buffers = new LineBuffers();
    const before = batch(buffers, 0, 62);
    buffers.beginBatch();
    const value = 'v"\u00e9'.repeat(300);
    buffers.piece(Buffer.from('['));
    const at = buffers.at;
    expect(buffers.text(value)).toBe(false);
    const end = buffers.at;
    // About 2 KB were left in the chunk: the third copy does not fit and moves the line.
    for (let k = 0; k < 3; k++) {
      buffers.piece(Buffer.from(','));
      buffers.again(at, end);
    }
    buffers.end(-1);
    const [line] = finished(buffers, 1);
    const escaped = JSON.stringify(value).slice(1, -1);
    expect(line!.toString()).toBe(`[${[escaped, escaped, escaped, escaped].join(',')}\n`);
    expect(line!.buffer).not.toBe(before[0]!.buffer);
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
    buffers.beginBatch();
    const plainness = values.map((v) => buffers.text(v + '|'));
    buffers.end(-1);
    const [line] = finished(buffers, 1);
    expect(line!.toString()).toBe(values.map((v) => JSON.stringify(v + '|').slice(1, -1)).join('') + '\n');
    expect(plainness).toEqual([true, false, false, false, false, false]);
  });

  it('copies bytes as they are, short and long pieces, quotes and non-ASCII included', () => {
    const buffers = new LineBuffers();
    const src = Buffer.from(`{"k":"żółw 🐢","long":"${'q'.repeat(100)}"}`);
    buffers.beginBatch();
    buffers.copy(src, 0, 12);
    buffers.copy(src, 12, src.length);
    buffers.end(-1);
    buffers.copy(src, 5, 8);
    buffers.end(-1);
    expect(joined(finished(buffers, 2))).toBe(`${src.toString()}\n"ż\n`);
  });

  it('drops an abandoned batch and takes its room back, the lines before and after whole', () => {
    const buffers = new LineBuffers();
    const before = batch(buffers, 0, 3);
    buffers.beginBatch();
    for (let i = 100; i < 110; i++) buffers.add(text(i), -1);
    buffers.piece(Buffer.from('half a line'));
    buffers.abandonBatch();
    const after = batch(buffers, 3, 6);
    expect(joined(before) + joined(after)).toBe(expected(0, 6));
    // The batch after begins where the abandoned one began: one view of the same chunk.
    expect(memories(before, after).size).toBe(1);
    expect(after[0]!.byteOffset).toBe(before[0]!.byteOffset + before[0]!.byteLength);
    // Abandoned across chunks: what comes after is still whole and in order, from the start of
    // the chunk the abandoned batch ended in.
    buffers.beginBatch();
    for (let i = 200; i < 300; i++) buffers.add(text(i), -1);
    buffers.abandonBatch();
    const next = batch(buffers, 6, 80);
    expect(joined(next)).toBe(expected(6, 80));
    expect(next[0]!.byteOffset).toBe(0);
  });

  it('gives a line longer than a chunk a buffer of its own, never reused', () => {
    const buffers = new LineBuffers();
    buffers.beginBatch();
    buffers.add('y'.repeat(100_000), -1);
    const [long] = finished(buffers, 1);
    expect(long!.byteLength).toBe(100_001);
    buffers.written([long!]);
    batch(buffers, 0, 100);
    expect(buffers.freeChunks).toBe(0);
    expect(long!.toString()).toBe('y'.repeat(100_000) + '\n');
  });
});
