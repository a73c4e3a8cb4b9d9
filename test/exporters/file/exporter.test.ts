import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { fileExporterSchema } from '../../../src/exporters/file/config.ts';
import { FileExporter } from '../../../src/exporters/file/exporter.ts';
import type { ConfigIssue } from '../../../src/config/schema.ts';
import { createLogger } from '../../../src/telemetry/logger.ts';
import { SelfMetrics } from '../../../src/telemetry/selfMetrics.ts';

function newFileExporter(): FileExporter {
  const issues: ConfigIssue[] = [];
  const config = fileExporterSchema.parse({ path: 'out.ndjson' }, 'exporters.file/out', issues);
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
