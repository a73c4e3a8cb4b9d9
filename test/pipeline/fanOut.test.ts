import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { newEvent, type VigilEvent } from '../../src/model/event.ts';
import type { Consumer } from '../../src/pipeline/signals.ts';
import { cleanUpProbed, startProbed, stopProbed } from '../support/probeReceiver.ts';

// One receiver feeding several pipelines: a pipeline whose processors change records (tag sets
// an event's type and severity in place) must not change what the pipelines beside it see.

afterEach(cleanUpProbed);

function start(pipelines: string): Promise<{ logs: Consumer<VigilEvent>; dir: string }> {
  return startProbed(
    `
receivers: { probe: {} }
processors:
  tag: { rules: [{ where: 'body == "link down"', type: down, severity: critical }] }
  tag/again: { rules: [{ where: 'body == "link down"', type: up }] }
  filter: { logs: ['body == "noise"'] }
exporters: { file/a: { path: a.ndjson }, file/b: { path: b.ndjson }, file/c: { path: c.ndjson } }`,
    pipelines,
  );
}

function written(dir: string, name: string): { body: string; type: string; severityText: string }[] {
  return readFileSync(join(dir, name), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { body: string; type: string; severityText: string });
}

const batch = () => [
  newEvent({ source: 'probe', body: 'link down', severityText: 'INFO', severityNumber: 9 }),
  newEvent({ source: 'probe', body: 'noise', severityText: 'INFO', severityNumber: 9 }),
];

describe('a receiver feeding several pipelines', () => {
  it('hands a pipeline whose processors change records copies of its own: the others see the records as received', async () => {
    const { logs, dir } = await start(`
    logs/tagged: { receivers: [probe], processors: [tag], exporters: [file/a] }
    logs/raw: { receivers: [probe], exporters: [file/b] }
    logs/filtered: { receivers: [probe], processors: [filter], exporters: [file/c] }`);
    const events = batch();
    await logs.consume(events);
    await stopProbed();
    expect(written(dir, 'a.ndjson').map((e) => [e.body, e.type, e.severityText])).toEqual([
      ['link down', 'down', 'critical'],
      ['noise', 'neutral', 'INFO'],
    ]);
    expect(written(dir, 'b.ndjson').map((e) => [e.body, e.type, e.severityText])).toEqual([
      ['link down', 'neutral', 'INFO'],
      ['noise', 'neutral', 'INFO'],
    ]);
    expect(written(dir, 'c.ndjson').map((e) => [e.body, e.type, e.severityText])).toEqual([
      ['link down', 'neutral', 'INFO'],
    ]);
    // The receiver's own records are left as they came.
    expect(events[0]!.type).toBe('neutral');
  });

  it('gives two pipelines that both change records each their own: neither sees the other’s changes', async () => {
    const { logs, dir } = await start(`
    logs/tagged: { receivers: [probe], processors: [tag], exporters: [file/a] }
    logs/again: { receivers: [probe], processors: [tag/again], exporters: [file/b] }`);
    await logs.consume(batch());
    await stopProbed();
    expect(written(dir, 'a.ndjson').map((e) => [e.type, e.severityText])).toEqual([
      ['down', 'critical'],
      ['neutral', 'INFO'],
    ]);
    expect(written(dir, 'b.ndjson').map((e) => [e.type, e.severityText])).toEqual([
      ['up', 'INFO'],
      ['neutral', 'INFO'],
    ]);
  });
});
