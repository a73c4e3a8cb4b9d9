import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { GlpiDriver } from '../../../src/exporters/glpi/driver.ts';
import { FileTicketLedger } from '../../../src/exporters/tickets/fileLedger.ts';
import { TicketLedgerUnavailableError, type TicketRecord } from '../../../src/exporters/tickets/ledger.ts';
import type { IncidentChange } from '../../../src/model/incident.ts';
import { ManualTimers } from '../../support/fakes/timers.ts';
import { fakeGlpiExporter, IncidentStory, startIncidentExporter } from '../incidentFixtures.ts';

/** A ledger that cannot store once, when told: Redis gone between the tracker call and the store. */
class FlakyLedger extends FileTicketLedger {
  failNextPut = false;
  override put(key: string, record: TicketRecord): Promise<void> {
    if (!this.failNextPut) return super.put(key, record);
    this.failNextPut = false;
    return Promise.reject(new TicketLedgerUnavailableError('shared ticket ledger unreachable'));
  }
}

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

/**
 * Two agents cut off from each other open twins of one incident, which merge into one id once
 * they meet: whatever order their changes reach the tracker in, the incident has one ticket,
 * closed when the incident that carries on resolves.
 */
describe('ticket exporters and incidents merged into another', () => {
  async function exporter() {
    const { glpi, config } = await fakeGlpiExporter(cleanup);
    const ledger = new FlakyLedger(join(mkdtempSync(join(tmpdir(), 'vigil-merged-')), 'ledger.ndjson'));
    await ledger.open();
    const timers = new ManualTimers();
    const { exp } = await startIncidentExporter('glpi', config, new GlpiDriver(config), { timers, ledger }, cleanup);
    const deliver = async (...changes: IncidentChange[]) => {
      await exp.consumeIncidents(changes);
      await exp.outbox.whenIdle();
    };
    return { glpi, ledger, exp, timers, deliver };
  }

  /** The last change of a twin that merged into `into` (what the engine tells storage of it). */
  function mergedAway(story: IncidentStory, into: string): IncidentChange {
    const c = story.next('resolved', { notify: false, reason: `merged into incident ${into}` });
    c.incident.mergedInto = into;
    return c;
  }

  it("hands the twin's ticket to the incident it merged into: open until that one resolves, updated meanwhile", async () => {
    const { glpi, ledger, deliver } = await exporter();
    const twin = new IncidentStory('errors{service="billing"}', { id: 'twin-a' });
    const survivor = new IncidentStory('errors{service="billing"}', { id: 'twin-b', mergedIds: ['twin-a'] });
    await deliver(twin.next('opened'));
    const [ticket] = glpi.tickets.keys();
    await deliver(mergedAway(twin, 'twin-b'));
    expect(glpi.solutions).toEqual([]);
    expect(await ledger.get('errors{service="billing"}')).toMatchObject({ incidentId: 'twin-b', resolved: false });
    await deliver(survivor.next('updated'));
    await deliver(survivor.next('resolved'));
    expect([...glpi.tickets.keys()]).toEqual([ticket]);
    expect(glpi.followups.map((f) => f.items_id)).toEqual([ticket]);
    expect(glpi.solutions.map((s) => s.items_id)).toEqual([ticket]);
  });

  it("keeps the survivor's closed ticket closed when a twin's change from before the merge comes late", async () => {
    const { glpi, deliver } = await exporter();
    const survivor = new IncidentStory('errors{service="web"}', { id: 'twin-b', mergedIds: ['twin-a'] });
    const twin = new IncidentStory('errors{service="web"}', { id: 'twin-a' });
    await deliver(survivor.next('opened'));
    await deliver(survivor.next('resolved'));
    // The twin's agent notified it before hearing of the merge; its outbox held the change.
    await deliver(twin.next('opened'), twin.next('updated'), mergedAway(twin, 'twin-b'));
    expect(glpi.count('POST', 'Ticket')).toBe(1);
    expect(glpi.solutions).toHaveLength(1);
    expect(glpi.followups).toEqual([]);
    expect([...glpi.tickets.values()][0]!.status).toBe(5);
  });

  it('gives a later incident on the key its own ticket, the merged one staying closed', async () => {
    const { glpi, deliver } = await exporter();
    const survivor = new IncidentStory('errors{service="api"}', { id: 'twin-b', mergedIds: ['twin-a'] });
    await deliver(survivor.next('opened'), survivor.next('resolved'));
    const next = new IncidentStory('errors{service="api"}', { id: 'next' });
    await deliver(next.next('opened'));
    expect(glpi.count('POST', 'Ticket')).toBe(2);
  });

  it("stores a call's outcome on the ticket a merge handed on while the store waited", async () => {
    const { glpi, ledger, exp, timers, deliver } = await exporter();
    const key = 'errors{service="db"}';
    const twin = new IncidentStory(key, { id: 'twin-a' });
    await deliver(twin.next('opened'));
    const [ticket] = glpi.tickets.keys();
    // The twin's agent solves the ticket, but cannot store that; meanwhile another agent hands it on.
    ledger.failNextPut = true;
    await exp.consumeIncidents([twin.next('resolved')]);
    await vi.waitFor(() => expect(glpi.solutions).toHaveLength(1), { timeout: 5000 });
    await vi.waitFor(() => expect(timers.delays.length).toBeGreaterThan(0), { timeout: 5000 });
    await ledger.merge(key, 'twin-a', 'twin-b');
    timers.advance(timers.delays.at(-1)!);
    await exp.outbox.whenIdle();
    expect(await ledger.get(key)).toEqual({
      ref: String(ticket),
      incidentId: 'twin-b',
      resolved: true,
      mergedIds: ['twin-a'],
      // GLPI's Solved: what Vigil's own call left, so a poll does not read it as a person's.
      written: '5',
    });
    expect(glpi.solutions).toHaveLength(1);
  });
});
