import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { exporterFactories } from '../../../src/components.ts';
import { createExporter } from '../../../src/exporters/helper/telemetry.ts';
import { newEvent } from '../../../src/model/index.ts';
import type { ExporterFactory } from '../../../src/pipeline/component.ts';
import { createLogger } from '../../../src/telemetry/logger.ts';
import { SelfMetrics } from '../../../src/telemetry/selfMetrics.ts';

/** The least config each exporter type takes; a new factory without an entry here fails the test below. */
const MINIMAL: Record<string, Record<string, unknown>> = {
  file: { path: 'out.jsonl' },
  debug: {},
  glpi: { url: 'https://glpi.example.com/apirest.php', user_token: 't' },
  jira: { url: 'https://jira.example.com', project: 'OPS', token: 't' },
  webhook: { url: 'https://hooks.example.com/vigil' },
  servicenow: { url: 'https://example.service-now.com', username: 'u', password: 'p' },
  email: { host: 'smtp.example.com', from: 'vigil@example.com', to: ['ops@example.com'] },
  sms: { url: 'https://sms.example.com/send', from: '+15550100', to: ['+15550101'] },
  clickhouse: { endpoint: 'http://127.0.0.1:1' },
  otlp_grpc: { endpoint: '127.0.0.1:1' },
  otlp_http: { endpoint: 'http://127.0.0.1:1' },
};

function build(factory: ExporterFactory, metrics: SelfMetrics, dataDir: string) {
  const raw = MINIMAL[factory.type];
  expect(raw, `a minimal config for exporter type ${factory.type}`).toBeDefined();
  const issues: { path: string; message: string }[] = [];
  const config = factory.configSchema.parse(raw, `exporters.${factory.type}`, issues);
  expect(issues).toEqual([]);
  const settings = { id: `${factory.type}/t`, logger: createLogger('silent'), metrics, dataDir };
  return createExporter(factory, settings, config);
}

describe('exporter telemetry', () => {
  it('wraps the exporter of every registered factory: its sent and failed series exist before any send', async () => {
    const metrics = new SelfMetrics();
    const dataDir = mkdtempSync(join(tmpdir(), 'vigil-exptel-'));
    for (const factory of exporterFactories) {
      await factory.load?.();
      build(factory, metrics, dataDir);
    }
    const text = await metrics.metrics();
    for (const factory of exporterFactories)
      for (const signal of factory.signals)
        for (const name of ['vigil_exporter_sent_records_total', 'vigil_exporter_send_failed_records_total'])
          expect(text).toContain(`${name}{exporter="${factory.type}/t",signal="${signal}"} 0`);
  });

  it('counts a synchronous exporter’s sends, their latency and its failures around each consume call', async () => {
    const metrics = new SelfMetrics();
    const dataDir = mkdtempSync(join(tmpdir(), 'vigil-exptel-'));
    const exporter = build(
      exporterFactories.find((f) => f.type === 'file')!,
      metrics,
      dataDir,
    );
    await exporter.start({} as never);
    await exporter.consumeLogs!([
      newEvent({ source: 'json', body: 'a' }),
      newEvent({ source: 'json', body: 'b' }),
      newEvent({ source: 'json', body: 'c' }),
    ]);
    await exporter.shutdown();
    await expect(exporter.consumeLogs!([newEvent({ source: 'json', body: 'late' })])).rejects.toThrow(/shut down/);
    const text = await metrics.metrics();
    expect(text).toContain('vigil_exporter_sent_records_total{exporter="file/t",signal="logs"} 3');
    expect(text).toContain('vigil_exporter_send_failed_records_total{exporter="file/t",signal="logs"} 1');
    expect(text).toContain('vigil_exporter_send_duration_seconds_count{exporter="file/t",signal="logs"} 1');
  });
});
