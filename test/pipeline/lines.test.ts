import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { cleanUpProbed, startProbed, stopProbed } from '../support/probeReceiver.ts';
import { waitFor } from '../support/waitFor.ts';
import { obj } from '../../src/config/schema.ts';
import { newEvent, type VigilEvent } from '../../src/model/event.ts';
import { eventToJson } from '../../src/model/eventJson.ts';
import type { ExporterFactory } from '../../src/pipeline/component.ts';
import type { Consumer } from '../../src/pipeline/signals.ts';

afterEach(cleanUpProbed);

/** An exporter that takes lines, as the file exporter does, and fails every batch. */
const failingLinesExporter: ExporterFactory = {
  kind: 'exporter',
  type: 'failing',
  signals: ['logs'],
  description: 'test',
  configSchema: obj({}),
  create: () => ({
    takesLogLines: true,
    start: async () => {},
    shutdown: async () => {},
    consumeLogs: () => Promise.reject(new Error('disk on fire')),
  }),
};

function start(pipelines: string): Promise<{ logs: Consumer<VigilEvent>; dir: string }> {
  return startProbed(
    `
receivers: { probe: {} }
processors: { filter: { logs: ['severity_number < 5'] } }
exporters: { file: { path: out.ndjson }, file/other: { path: other.ndjson }, debug: { verbosity: basic }, failing: {} }`,
    pipelines,
    [failingLinesExporter],
  );
}

describe('a receiver told whether its pipelines take JSON lines', () => {
  it('is offered lines when every pipeline it feeds only writes files, with no processor', async () => {
    const { logs } = await start(
      '{ logs: { receivers: [probe], exporters: [file, file/other] }, logs/b: { receivers: [probe], exporters: [file] } }',
    );
    expect(logs.consumeLines).toBeTypeOf('function');
  });

  it('is not offered lines when a pipeline has a processor, or an exporter that reads events', async () => {
    for (const pipelines of [
      '{ logs: { receivers: [probe], processors: [filter], exporters: [file] } }',
      '{ logs: { receivers: [probe], exporters: [file, debug] } }',
      '{ logs: { receivers: [probe], exporters: [file] }, logs/b: { receivers: [probe], exporters: [debug] } }',
    ]) {
      const { logs } = await start(pipelines);
      expect(logs.consumeLines, pipelines).toBeUndefined();
      await stopProbed();
    }
  });

  it('writes lines and events handed to one pipeline in the order they came, as their JSON lines', async () => {
    const { logs, dir } = await start('{ logs: { receivers: [probe], exporters: [file] } }');
    const events = [0, 1, 2, 3].map((i) => newEvent({ source: 'probe', body: `event ${i}` }));
    const line = (e: VigilEvent) => Buffer.from(eventToJson(e) + '\n');
    // Two lines that follow each other in one buffer, as a receiver makes them, then an event, then a line.
    const shared = Buffer.concat([line(events[0]!), line(events[1]!)]);
    const first = line(events[0]!).length;
    await logs.consumeLines!([shared.subarray(0, first), shared.subarray(first)]);
    await logs.consume([events[2]!]);
    await logs.consumeLines!([line(events[3]!)]);
    await stopProbed();
    expect(readFileSync(join(dir, 'out.ndjson'), 'utf8')).toBe(events.map((e) => eventToJson(e) + '\n').join(''));
  });
});

describe('a receiver told when its lines are written', () => {
  const lineOf = (i: number) => Buffer.from(eventToJson(newEvent({ source: 'probe', body: `line ${i}` })) + '\n');
  const fileOf = (dir: string, name: string) => {
    try {
      return readFileSync(join(dir, name), 'utf8');
    } catch {
      return '';
    }
  };

  for (const acknowledge of ['exported', 'queued']) {
    it(`hears it once the file holds them, with acknowledge: ${acknowledge}`, async () => {
      const { logs, dir } = await start(
        `{ logs: { receivers: [probe], exporters: [file], acknowledge: ${acknowledge} }, logs/b: { receivers: [probe], exporters: [file/other], acknowledge: ${acknowledge} } }`,
      );
      const lines = [lineOf(0), lineOf(1)];
      const text = Buffer.concat(lines).toString();
      const heard: string[][] = [];
      await logs.consumeLines!(lines, () => heard.push([fileOf(dir, 'out.ndjson'), fileOf(dir, 'other.ndjson')]));
      await waitFor(() => heard.length > 0, 'the lines written');
      // Told once, after both pipelines' files hold the lines.
      expect(heard).toEqual([[text, text]]);
    });
  }

  it('never hears it when an exporter failed to take them, so their bytes are not reused', async () => {
    const { logs, dir } = await start(
      '{ logs: { receivers: [probe], exporters: [file] }, logs/b: { receivers: [probe], exporters: [failing] } }',
    );
    let heard = 0;
    const line = lineOf(0);
    await expect(logs.consumeLines!([line], () => heard++)).rejects.toThrow(/failing/);
    // The file exporter of the other pipeline writes it (the refusal may come first: the batch
    // is refused as soon as one pipeline fails); the failing one did not take it.
    await waitFor(() => fileOf(dir, 'out.ndjson') === line.toString(), 'the line in the file', 10_000);
    expect(heard).toBe(0);
  });
});
