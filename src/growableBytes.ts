/** Node's Buffer write method that skips write()'s argument handling (long-standing, untyped). */
export type FastWriteBuffer = Buffer & { utf8Write(s: string, offset: number): number };

/**
 * One buffer written from the front, doubled (and copied) when a write needs more room: what
 * Vigil's byte writers share, the protobuf writer of the OTLP encoders and the JSON row writer
 * of the ClickHouse exporter.
 */
export class GrowableBytes {
  protected buf: FastWriteBuffer;
  /** Bytes written so far. */
  pos = 0;

  constructor(capacity: number) {
    this.buf = Buffer.allocUnsafe(capacity) as FastWriteBuffer;
  }

  /** Makes room for `n` more bytes. */
  protected ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + n) size *= 2;
    const next = Buffer.allocUnsafe(size) as FastWriteBuffer;
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }
}
