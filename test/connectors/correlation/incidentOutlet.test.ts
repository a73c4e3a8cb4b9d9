import { describe, expect, it } from 'vitest';
import { IncidentOutlet } from '../../../src/connectors/correlation/incidentOutlet.ts';
import type { Incident, IncidentChange } from '../../../src/model/incident.ts';
import { createLogger } from '../../../src/telemetry/logger.ts';
import { IncidentsPipeline } from '../../support/incidentsPipeline.ts';

const change = (id: string): IncidentChange => ({
  kind: 'opened',
  reason: 'down',
  atMs: 1,
  notify: true,
  eventIds: [],
  incident: { key: `link{asset="${id}"}`, id } as Incident,
});

describe('the incident outlet', () => {
  it('asks which held changes are still to send before handing them over again, and hands them as they are when it cannot tell', async () => {
    const pipeline = new IncidentsPipeline();
    const delivered: string[] = [];
    let recheck: (held: IncidentChange[]) => Promise<IncidentChange[]> = (held) =>
      Promise.resolve(held.map((c) => (c.incident.id === 'a' ? { ...c, notify: false } : c)));
    const outlet = new IncidentOutlet({
      output: () => pipeline,
      logger: createLogger('silent'),
      delivered: (cs) => delivered.push(...cs.map((c) => c.incident.id)),
      recheck: (held) => recheck(held),
    });
    pipeline.full = true;
    await outlet.send([change('a'), change('b')]);
    expect(outlet.held).toBe(2);
    pipeline.full = false;
    await outlet.send([change('c')]);
    expect(pipeline.taken.map((c) => `${c.incident.id} ${String(c.notify)}`)).toEqual(['a false', 'b true', 'c true']);
    expect(delivered).toEqual(['a', 'b', 'c']);

    // Held again; the check fails: nothing is lost, all go as they were.
    pipeline.full = true;
    await outlet.send([change('d')]);
    recheck = () => Promise.reject(new Error('Redis out of reach'));
    pipeline.full = false;
    await outlet.send([]);
    expect(pipeline.taken.map((c) => `${c.incident.id} ${String(c.notify)}`).slice(3)).toEqual(['d true']);
  });
});
