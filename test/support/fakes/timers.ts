import type { Timers } from '../../../src/exporters/tickets/delivery.ts';

/** Timers whose clock only moves when the test says so; records every delay asked for. */
export class ManualTimers implements Timers {
  private t: number;
  private pending: { at: number; fn: () => void; id: number }[] = [];
  private ids = 0;
  readonly delays: number[] = [];

  constructor(start = 1_700_000_000_000) {
    this.t = start;
  }

  now(): number {
    return this.t;
  }

  setTimeout(fn: () => void, ms: number): unknown {
    this.delays.push(ms);
    const id = ++this.ids;
    this.pending.push({ at: this.t + ms, fn, id });
    return id;
  }

  clearTimeout(handle: unknown): void {
    this.pending = this.pending.filter((p) => p.id !== handle);
  }

  /** How far ahead each pending timer is due, in ms. */
  pendingDelays(): number[] {
    return this.pending.map((p) => p.at - this.t);
  }

  /** Moves the clock and runs what fell due, in time order. */
  advance(ms: number): void {
    this.t += ms;
    const due = this.pending.filter((p) => p.at <= this.t).sort((a, b) => a.at - b.at);
    this.pending = this.pending.filter((p) => p.at > this.t);
    for (const p of due) p.fn();
  }
}
