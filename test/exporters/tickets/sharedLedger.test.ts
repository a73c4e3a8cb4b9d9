import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { glpiExporterSchema } from '../../../src/exporters/glpi/config.ts';
import { GlpiDriver } from '../../../src/exporters/glpi/driver.ts';
import { FileTicketLedger } from '../../../src/exporters/tickets/fileLedger.ts';
import { IncidentExporter } from '../../../src/exporters/tickets/incidentExporter.ts';
import { FakeGlpi } from '../../support/fakes/glpi.ts';
import { ManualTimers } from '../../support/fakes/timers.ts';
import { IncidentStory, parseWith, testSettings } from '../incidentFixtures.ts';

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

describe('two exporters sharing one ledger (as two instances share a store)', () => {
  it('make one ticket between them: the one without the claim waits and then uses the stored ticket', async () => {
    const glpi = await new FakeGlpi().listen();
    cleanup.push(() => glpi.close());
    const ledger = new FileTicketLedger(join(mkdtempSync(join(tmpdir(), 'vigil-shared-')), 'ledger.ndjson'));
    await ledger.open();
    const config = parseWith(glpiExporterSchema, {
      url: glpi.apiUrl,
      app_token: 'app-token-1',
      user_token: 'user-token-1',
    });
    const timers = new ManualTimers();
    const instances = [0, 1].map(
      () =>
        new IncidentExporter(testSettings('glpi'), config, new GlpiDriver(config), {
          ledger,
          timers,
          random: () => 0.5,
        }),
    );
    for (const e of instances) {
      await e.start();
      cleanup.push(() => e.shutdown());
    }
    const story = new IncidentStory();
    const opened = story.next('opened');
    await Promise.all(instances.map((e) => e.consumeIncidents([opened])));
    // one instance claims and creates; the other is told to come back
    await vi.waitFor(() => expect(timers.delays).toHaveLength(1), { timeout: 5000 });
    await vi.waitFor(() => expect(glpi.tickets.size).toBe(1), { timeout: 5000 });
    await vi.waitFor(() => expect(instances.map((e) => e.outbox.depth).sort()).toEqual([0, 1]), { timeout: 5000 });
    timers.advance(timers.delays[0]!);
    await Promise.all(instances.map((e) => e.outbox.whenIdle()));
    expect(glpi.tickets.size).toBe(1);
    expect(glpi.count('POST', 'Ticket')).toBe(1);

    const resolved = story.next('resolved');
    await instances[0]!.consumeIncidents([resolved]);
    await instances[0]!.outbox.whenIdle();
    await instances[1]!.consumeIncidents([resolved]);
    await instances[1]!.outbox.whenIdle();
    expect(glpi.solutions).toHaveLength(1);
    expect([...glpi.tickets.values()][0]!.status).toBe(5);
  });
});
