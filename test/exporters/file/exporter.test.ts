import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { toJson } from '../../../src/model/attributes.ts';
import { newEvent } from '../../../src/model/event.ts';
import { eventToJson } from '../../../src/model/eventJson.ts';
import { fileExporterSchema } from '../../../src/exporters/file/config.ts';
import { FileExporter } from '../../../src/exporters/file/exporter.ts';
import type { ConfigIssue } from '../../../src/config/schema.ts';
import { createLogger } from '../../../src/telemetry/logger.ts';
import { SelfMetrics } from '../../../src/telemetry/selfMetrics.ts';

function newFileExporter(rotation?: { max_megabytes: number; max_backups: number }): FileExporter {
  const issues: ConfigIssue[] = [];
  const config = fileExporterSchema.parse({ path: 'out.ndjson', rotation }, 'exporters.file/out', issues);
  if (!config) throw new Error(JSON.stringify(issues));
  return new FileExporter(
    {
      id: 'file/out',
      logger: createLogger('silent'),
      metrics: new SelfMetrics(),
      dataDir: mkdtempSync(join(tmpdir(), 'vigil-file-')),
    },
    config,
  );
}

describe('file exporter lifecycle', () => {
  it('refuses a batch after shutdown with an error naming the exporter, not a TypeError', async () => {
    const exporter = newFileExporter();
    await exporter.start();
    await exporter.consumeIncidents([{ n: 1 }]);
    await exporter.shutdown();
    const after = exporter.consumeIncidents([{ n: 2 }]);
    await expect(after).rejects.not.toBeInstanceOf(TypeError);
    await expect(after).rejects.toMatchObject({
      code: 'VIGIL_COMPONENT_SHUT_DOWN',
      message: expect.stringContaining('exporter "file/out" is shut down'),
    });
    expect(readFileSync(exporter.path, 'utf8')).toBe('{"n":1}\n');
  });
});

/** Text of `n` UTF-16 code units mixing 1-, 2-, 3- and 4-byte UTF-8, a lone surrogate and escapes. */
function mixed(i: number, n: number): string {
  const parts = ['a', 'é', '✓', '🐢', '"', '\\', '\n', '\ud800'];
  let s = `${i}:`;
  while (s.length < n) s += parts[(s.length + i) % parts.length];
  return s;
}

describe('file exporter lines', () => {
  it('writes a batch larger than its write buffers as one line per record, byte for byte', async () => {
    const events = Array.from({ length: 3000 }, (_, i) =>
      newEvent({ source: 'test', body: mixed(i, i % 500 === 0 ? 700_000 : 300), attributes: { i } }, 1n),
    );
    const records = Array.from({ length: 2000 }, (_, i) => ({ i, at: BigInt(i) * 10n ** 18n, text: mixed(i, 400) }));
    const exporter = newFileExporter();
    await exporter.start();
    await exporter.consumeLogs(events);
    await exporter.consumeIncidents(records);
    await exporter.shutdown();
    const expected = [...events.map(eventToJson), ...records.map(toJson), ''].join('\n');
    expect(readFileSync(exporter.path).equals(Buffer.from(expected, 'utf8'))).toBe(true);
  });

  it('rotates by the UTF-8 bytes written, not by characters', async () => {
    // 150,000 three-byte characters a batch: 450 KB, two of which fit in 1 MiB and three do not.
    const batch = (tag: string) => [{ tag, text: '✓'.repeat(150_000) }];
    const exporter = newFileExporter({ max_megabytes: 1, max_backups: 2 });
    await exporter.start();
    for (const tag of ['a', 'b', 'c']) await exporter.consumeIncidents(batch(tag));
    await exporter.shutdown();
    const tags = (path: string) =>
      readFileSync(path, 'utf8')
        .trimEnd()
        .split('\n')
        .map((l) => JSON.parse(l).tag);
    expect(tags(`${exporter.path}.1`)).toEqual(['a', 'b']);
    expect(tags(exporter.path)).toEqual(['c']);
  });
});

describe('file exporter after a crash mid-write', () => {
  const parsedLines = (path: string) =>
    readFileSync(path, 'utf8')
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => JSON.parse(l) as { n: number });

  it('cuts a torn last line left by a killed process before it appends, so every line parses', async () => {
    const exporter = newFileExporter();
    // What a process killed inside a write leaves: whole lines, then part of one, never acknowledged.
    mkdirSync(dirname(exporter.path), { recursive: true });
    writeFileSync(exporter.path, '{"n":1}\n{"n":2}\n{"n":3,"incid');
    await exporter.start();
    await exporter.consumeIncidents([{ n: 4 }, { n: 5 }]);
    await exporter.shutdown();
    expect(parsedLines(exporter.path)).toEqual([{ n: 1 }, { n: 2 }, { n: 4 }, { n: 5 }]);
  });

  it('cuts a file that is one torn line, and a torn line longer than one read back', async () => {
    const cases = [
      { before: '{"n":1,"x":"', kept: [] },
      { before: `{"n":0}\n{"n":1,"x":"${'y'.repeat(200_000)}`, kept: [{ n: 0 }] },
    ];
    for (const { before, kept } of cases) {
      const exporter = newFileExporter();
      mkdirSync(dirname(exporter.path), { recursive: true });
      writeFileSync(exporter.path, before);
      await exporter.start();
      await exporter.consumeIncidents([{ n: 2 }]);
      await exporter.shutdown();
      expect(parsedLines(exporter.path)).toEqual([...kept, { n: 2 }]);
    }
  });

  it('leaves a file that ends with a whole line as it is', async () => {
    const exporter = newFileExporter();
    mkdirSync(dirname(exporter.path), { recursive: true });
    const before = `{"n":1}\n{"n":2,"x":"${'y'.repeat(100_000)}"}\n`;
    writeFileSync(exporter.path, before);
    await exporter.start();
    await exporter.consumeIncidents([{ n: 3 }]);
    await exporter.shutdown();
    expect(readFileSync(exporter.path, 'utf8')).toBe(`${before}{"n":3}\n`);
  });
});
