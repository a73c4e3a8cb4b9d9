import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { glpiExporterFactory } from '../../../src/exporters/glpi/factory.ts';
import { IncidentExporter } from '../../../src/exporters/tickets/incidentExporter.ts';
import type { Exporter } from '../../../src/pipeline/component.ts';
import { FakeGlpi } from '../../support/fakes/glpi.ts';
import { IncidentStory, parseWith, spawnExporterProcess, testSettings } from '../incidentFixtures.ts';

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

describe('exporter process killed between "ticket created" and "id stored"', () => {
  it('after a restart on the same data dir, the incident still has one ticket', async () => {
    const glpi = await new FakeGlpi().listen();
    cleanup.push(() => glpi.close());
    const dataDir = mkdtempSync(join(tmpdir(), 'vigil-restart-'));
    const rawConfig = { url: glpi.apiUrl, app_token: 'app-token-1', user_token: 'user-token-1' };
    const story = new IncidentStory();

    const { child, exited, stdout } = spawnExporterProcess('glpi', dataDir, rawConfig, [story.next('opened')]);
    // GLPI takes the create; the process dies before the answer, so the id is never stored.
    glpi.failNext({ hang: true, processed: true }, (r) => r.method === 'POST' && r.path.endsWith('/Ticket'));
    glpi.onRequest = (r) => {
      if (r.method === 'POST' && r.path.endsWith('/Ticket')) child.kill('SIGKILL');
    };
    expect(await exited).toBe('SIGKILL');
    expect(stdout()).toBe('accepted\n');
    expect(glpi.tickets.size).toBe(1);
    glpi.onRequest = undefined;

    const config = parseWith(glpiExporterFactory.configSchema, rawConfig);
    await glpiExporterFactory.load!();
    const restarted: Exporter = glpiExporterFactory.create(testSettings('glpi', dataDir), config);
    await restarted.start({} as never);
    cleanup.push(() => restarted.shutdown());
    await restarted.consumeIncidents!([story.next('updated'), story.next('resolved')]);
    expect(restarted).toBeInstanceOf(IncidentExporter);
    await (restarted as IncidentExporter).outbox.whenIdle();

    expect(glpi.tickets.size).toBe(1);
    expect(glpi.count('POST', 'Ticket')).toBe(1);
    expect(glpi.followups).toHaveLength(1);
    expect([...glpi.tickets.values()][0]!.status).toBe(5);
  });
});
