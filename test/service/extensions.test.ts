import { describe, expect, it } from 'vitest';
import { registry } from '../../src/components.ts';
import { parseConfig } from '../../src/service/config/load.ts';
import { obj } from '../../src/config/schema.ts';
import type { ExporterFactory, ExtensionFactory } from '../../src/pipeline/component.ts';
import { VigilService } from '../../src/service/service.ts';
import { createLogger } from '../../src/telemetry/logger.ts';

/** An extension and an exporter that write their lifecycle into one journal; the extension counts as an authenticator letting everyone in. */
function recording(journal: string[]) {
  const extension: ExtensionFactory = {
    kind: 'extension',
    type: 'recorder',
    signals: [],
    provides: ['authenticator'],
    description: 'test',
    configSchema: obj({}),
    create: (settings) => ({
      start: async () => void journal.push(`start ${settings.id}`),
      shutdown: async () => void journal.push(`shutdown ${settings.id}`),
      authenticator: () => ({
        id: settings.id,
        authenticate: async () => ({
          subject: 'anyone',
          role: 'viewer',
          tenant: `from-${settings.id}`,
          method: 'none',
        }),
      }),
    }),
  };
  const exporter: ExporterFactory = {
    kind: 'exporter',
    type: 'journal',
    signals: ['logs'],
    description: 'test',
    configSchema: obj({}),
    create: () => ({
      start: async () => void journal.push('start exporter'),
      shutdown: async () => void journal.push('shutdown exporter'),
      consumeLogs: async (batch) => void journal.push(...batch.map((e) => `event of ${e.tenant}`)),
    }),
  };
  return { ...registry, extensions: [...registry.extensions, extension], exporters: [...registry.exporters, exporter] };
}

describe('extensions in the running service', () => {
  it('starts the listed extensions before the pipelines, hands them to receivers by id, and shuts them down last, in reverse', async () => {
    const journal: string[] = [];
    const reg = recording(journal);
    const cfg = parseConfig(
      `
extensions:
  recorder/a: {}
  recorder/b: {}
  recorder/unlisted: {}
receivers: { json: { endpoint: 127.0.0.1:0, auth: { authenticator: recorder/b } } }
exporters: { journal: {} }
service:
  extensions: [recorder/a, recorder/b]
  pipelines: { logs: { receivers: [json], exporters: [journal] } }
  telemetry: { metrics: { endpoint: 127.0.0.1:0 }, logs: { level: silent } }
`,
      reg,
      {},
    );
    const service = new VigilService(cfg, { dataDir: '/nonexistent', registry: reg, logger: createLogger('silent') });
    await service.start();
    const res = await fetch(`http://127.0.0.1:${service.httpAddresses[0]!.port}/v1/events`, {
      method: 'POST',
      body: '{"message":"hi","tenant":"body"}',
      headers: { 'content-type': 'application/json' },
    });
    expect(res.status).toBe(200);
    expect(service.readiness().components).toMatchObject({ 'extension:recorder/a': { status: 'ok' } });
    await service.shutdown();
    expect(journal).toEqual([
      'start recorder/a',
      'start recorder/b',
      'start exporter',
      'event of from-recorder/b',
      'shutdown exporter',
      'shutdown recorder/b',
      'shutdown recorder/a',
    ]);
  });
});
