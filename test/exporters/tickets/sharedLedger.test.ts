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

/**
 * Two exporters on one ledger. `createAfterAWait`: an instance that claimed the incident creates
 * its ticket only once the other has been told to come back (a delay asked for), so that the
 * other meets the claim whatever the machine's load, rather than the ticket already stored.
 */
async function sharingOneLedger(createAfterAWait = false) {
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
  const instances = [0, 1].map(() => {
    const driver = new GlpiDriver(config);
    if (createAfterAWait) {
      const create = driver.create.bind(driver);
      driver.create = async (n) => {
        await vi.waitFor(() => expect(timers.delays.length).toBeGreaterThan(0), { timeout: 10_000 });
        return create(n);
      };
    }
    return new IncidentExporter(testSettings('glpi'), config, driver, { ledger, timers, random: () => 0.5 });
  });
  for (const e of instances) {
    await e.start();
    cleanup.push(() => e.shutdown());
  }
  return { glpi, timers, instances };
}

describe('two exporters sharing one ledger (as two instances share a store)', () => {
  it("give the next incident on a key its own ticket when the last one's resolution is still on its way on the other", async () => {
    const { glpi, timers, instances } = await sharingOneLedger();
    const [x, y] = instances as [IncidentExporter, IncidentExporter];
    const first = new IncidentStory();
    await x.consumeIncidents([first.next('opened')]);
    await x.outbox.whenIdle();
    const firstResolved = first.next('resolved');
    // The key's next incident, opened after the first resolved, reaches the other instance
    // before the first one's resolution is delivered by its own.
    const second = new IncidentStory(undefined, { id: 'inc-second', openedAtMs: firstResolved.atMs + 1000 });
    await y.consumeIncidents([second.next('opened')]);
    // It has acted on it, or is waiting to.
    await vi.waitFor(() => expect(glpi.followups.length + timers.delays.length).toBeGreaterThan(0), { timeout: 5000 });
    await x.consumeIncidents([firstResolved]);
    await x.outbox.whenIdle();
    if (timers.delays.length) timers.advance(Math.max(...timers.delays));
    await y.outbox.whenIdle();
    // As one instance would have: the first ticket solved, the second incident's open.
    expect(glpi.count('POST', 'Ticket')).toBe(2);
    expect([...glpi.tickets.values()].map((t) => t.status).sort()).toEqual([1, 5]);
    expect(glpi.solutions).toHaveLength(1);
  });

  it("take a twin's first change to the open ticket once it has waited its term for a resolution that does not come", async () => {
    const { glpi, timers, instances } = await sharingOneLedger();
    const [x, y] = instances as [IncidentExporter, IncidentExporter];
    const first = new IncidentStory();
    await x.consumeIncidents([first.next('opened')]);
    await x.outbox.whenIdle();
    // The same trouble opened apart on the other instance, never merged into the first.
    const twin = new IncidentStory(undefined, { id: 'inc-twin' });
    await y.consumeIncidents([twin.next('opened')]);
    for (let waited = 0; waited <= 30_000;) {
      await vi.waitFor(() => expect(timers.delays.length).toBeGreaterThan(0), { timeout: 5000 });
      const step = Math.max(...timers.delays);
      timers.advance(step);
      waited += step;
    }
    await y.outbox.whenIdle();
    expect(glpi.count('POST', 'Ticket')).toBe(1);
    expect(glpi.followups).toHaveLength(1);
  });

  it('make one ticket between them: the one without the claim waits and then uses the stored ticket', async () => {
    const { glpi, timers, instances } = await sharingOneLedger(true);
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
