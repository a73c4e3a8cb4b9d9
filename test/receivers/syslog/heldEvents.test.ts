import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { ConfigIssue } from '../../../src/config/schema.ts';
import type { VigilEvent } from '../../../src/model/event.ts';
import { syslogReceiverSchema } from '../../../src/receivers/syslog/config.ts';
import { SyslogIngest } from '../../../src/receivers/syslog/ingest.ts';
import { SyslogMetrics } from '../../../src/receivers/syslog/metrics.ts';
import { SyslogParser } from '../../../src/receivers/syslog/parser.ts';
import { SyslogConnection } from '../../../src/receivers/syslog/streamListener.ts';
import { createLogger } from '../../../src/telemetry/logger.ts';
import { SelfMetrics } from '../../../src/telemetry/selfMetrics.ts';
import { SwitchableConsumer } from '../../support/switchableConsumer.ts';
import type { Consumer } from '../../../src/pipeline/signals.ts';

/** What a connection uses of a socket: events in, pause and resume recorded. */
class StandInSocket extends EventEmitter {
  remoteAddress = '192.0.2.7';
  readableEnded = false;
  paused = false;
  setTimeout(): this {
    return this;
  }
  pause(): this {
    this.paused = true;
    return this;
  }
  resume(): this {
    this.paused = false;
    return this;
  }
  end(): this {
    return this;
  }
  destroy(): this {
    this.emit('close');
    return this;
  }
}

/** Array elements copied by slice and concat while `fn` runs: what a retry loop copying its queue would make. */
async function elementsCopiedDuring(fn: () => Promise<void>): Promise<number> {
  const { slice, concat } = Array.prototype;
  let copied = 0;
  Array.prototype.slice = function (this: unknown[], ...args: [number?, number?]) {
    const out = slice.apply(this, args);
    copied += out.length;
    return out;
  };
  Array.prototype.concat = function (this: unknown[], ...args: unknown[]) {
    const out = concat.apply(this, args);
    copied += out.length;
    return out;
  } as typeof concat;
  try {
    await fn();
  } finally {
    Array.prototype.slice = slice;
    Array.prototype.concat = concat;
  }
  return copied;
}

afterEach(() => {
  vi.useRealTimers();
});

const lines = (from: number, to: number) => {
  let text = '';
  for (let i = from; i < to; i++) text += `<13>Jan  1 00:00:00 host app: ${i}\n`;
  return Buffer.from(text);
};

/** A pipeline stand-in that takes lines, as one into the file exporter alone does. */
class SwitchableLineConsumer extends SwitchableConsumer<VigilEvent | Uint8Array> {
  consumeLines(lines: Uint8Array[]): Promise<void> {
    return this.consume(lines);
  }
}

/**
 * One message, then 20,000 more read before the socket paused, offered to a pipeline that
 * refuses for 5 s and then takes them: returns the numbers of the messages taken, in order.
 */
async function refusedForAWhile(
  consumer: SwitchableConsumer<VigilEvent> | SwitchableLineConsumer,
  bodiesOf: (taken: (VigilEvent | Uint8Array)[]) => string[],
): Promise<number[]> {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
  const issues: ConfigIssue[] = [];
  const config = syslogReceiverSchema.parse({ tcp: { endpoint: '127.0.0.1:0' } }, 'receivers.syslog', issues)!;
  expect(issues).toEqual([]);
  consumer.full = true;
  const self = new SelfMetrics();
  const ingest = new SyslogIngest({
    id: 'syslog',
    parser: new SyslogParser('auto', 'UTC'),
    consumer: consumer as Consumer<VigilEvent>,
    metrics: new SyslogMetrics(self.registry),
    self,
    logger: createLogger('silent'),
  });
  const socket = new StandInSocket();
  const conn = new SyslogConnection(socket as unknown as Socket, ingest, 'tcp', config.tcp!, () => {});

  socket.emit('data', lines(0, 1));
  await vi.advanceTimersByTimeAsync(0);
  expect(socket.paused).toBe(true);
  // Chunks the socket had read before it paused: 20,000 messages more, held behind the first.
  const held = 20_000;
  socket.emit('data', lines(1, held + 1));

  const copied = await elementsCopiedDuring(async () => {
    await vi.advanceTimersByTimeAsync(5_000);
  });
  // About 50 retries of 100 ms. Copying the queue on each (as slice + concat of what stays would)
  // is 2 × 20,001 elements per retry; offering one slice each is at most 1,024 + 512 + … + 1 per retry.
  expect(consumer.refusals).toBeGreaterThan(40);
  expect(copied).toBeLessThan(held);

  consumer.full = false;
  await vi.advanceTimersByTimeAsync(1_000);
  expect(socket.paused).toBe(false);
  await conn.close();
  expect(await self.metrics()).toMatch(
    new RegExp(
      `vigil_receiver_accepted_records_total\\{receiver="syslog",signal="logs",transport="tcp"\\} ${held + 1}\\n`,
    ),
  );
  expect(consumer.accepted).toHaveLength(held + 1);
  return bodiesOf(consumer.accepted).map((body) => Number(body.split(' ').at(-1)));
}

describe('a syslog TCP connection the pipeline keeps refusing', () => {
  it('retries without copying what it holds, then delivers every message once, in order', async () => {
    const taken = await refusedForAWhile(new SwitchableConsumer<VigilEvent>(), (events) =>
      events.map((e) => (e as VigilEvent).body as string),
    );
    expect(taken).toEqual(Array.from({ length: 20_001 }, (_, i) => i));
  });

  it('does the same with the lines of a pipeline that takes lines', async () => {
    const consumer = new SwitchableLineConsumer();
    // What the file exporter writes: every record's bytes in order (a record may hold the lines
    // of the records after it, which are then empty).
    const taken = await refusedForAWhile(consumer, (records) => {
      for (const r of records) expect(r).toBeInstanceOf(Uint8Array);
      const text = Buffer.concat(records as Uint8Array[]).toString();
      expect(text.endsWith('\n')).toBe(true);
      return text
        .slice(0, -1)
        .split('\n')
        .map((line) => (JSON.parse(line) as { body: string }).body);
    });
    expect(taken).toEqual(Array.from({ length: 20_001 }, (_, i) => i));
  });
});
