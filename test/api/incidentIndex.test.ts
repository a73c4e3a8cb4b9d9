import { describe, expect, it } from 'vitest';
import { IncidentIndex, pageOfIncidents, SORTS, type Cursor, type IncidentQuery } from '../../src/api/incidentQuery.ts';
import type { CorrelationEngine } from '../../src/correlation/engine.ts';
import type { Incident } from '../../src/model/incident.ts';
import { MemoryStateStore } from '../../src/state/memoryStore.ts';
import { engineFrom, ev } from '../support/correlation.ts';
import { mulberry32 } from '../support/seededRandom.ts';

const RULES = `
defaults: { allowed_lateness: 30d, group_wait: 0s, reopen_window: 0s }
rules:
  - { kind: pair, name: down, group_by: [tenant, asset] }
`;
const T0 = Date.parse('2026-12-01T10:00:00Z');

const desk = (engine: CorrelationEngine) => ({
  *incidents(): Iterable<Incident> {
    for (const rec of engine.eachIncident(false)) yield rec.incident;
  },
  watchIncidents: () => engine.watchIncidents(),
});

/** Every page of a query, following cursors, from a page function. */
function pages(
  page: (q: IncidentQuery) => { items: Incident[]; next?: Cursor },
  q: Omit<IncidentQuery, 'after'>,
): string[] {
  const out: string[] = [];
  let after: Cursor | undefined;
  for (let n = 0; n < 10_000; n++) {
    const p = page({ ...q, after });
    out.push(...p.items.map((i) => i.id));
    if (!p.next) return out;
    after = p.next;
  }
  throw new Error('paging did not end');
}

describe('the incident index', () => {
  it('answers every page as a scan of every incident would, while incidents open, change, resolve and expire', () => {
    const random = mulberry32(16);
    const engine = engineFrom(RULES);
    let t = T0;
    const event = (asset: string, type: 'down' | 'up') =>
      ev((t += 1 + Math.floor(random() * 5000)), {
        asset,
        tenant: `t${asset.length % 3}`,
        type,
        severityNumber: [9, 13, 17, 21][Math.floor(random() * 4)]!,
        title: `${asset} ${type}`,
      });
    const index = new IncidentIndex(desk(engine));
    for (let round = 0; round < 40; round++) {
      // A few changes or many at once (past a share of the whole the index sorts again).
      const n = round % 7 === 6 ? 300 : 1 + Math.floor(random() * 12);
      const batch = Array.from({ length: n }, () => {
        const asset = `a${Math.floor(random() * 400)}`;
        return event(asset, random() < 0.3 ? 'up' : 'down');
      });
      engine.process(batch, t);
      if (round % 10 === 9) {
        // A day and more later the resolved incidents are forgotten by the store.
        t += 3 * 86_400_000;
        engine.tick(t);
      }
      const q = {
        sort: SORTS[Math.floor(random() * SORTS.length)]!,
        limit: 1 + Math.floor(random() * 60),
        ...(random() < 0.5 ? { states: new Set(['open' as const]) } : {}),
        ...(random() < 0.3 ? { minSeverity: 13 } : {}),
      };
      const scope = random() < 0.3 ? 't1' : undefined;
      const scanned = pages((p) => pageOfIncidents(desk(engine).incidents(), p, scope), q);
      const indexed = pages((p) => index.page(p, scope), q);
      expect(indexed, `round ${round}: ${JSON.stringify(q)}`).toEqual(scanned);
    }
    expect(index.size).toBe([...desk(engine).incidents()].length);
  });

  it("hears of another agent's incidents, merged into the store, as of its own", () => {
    const mine = new MemoryStateStore('agent-a');
    const theirs = new MemoryStateStore('agent-b');
    const a = engineFrom(RULES, mine);
    const b = engineFrom(RULES, theirs);
    theirs.onDelta((d) => mine.merge(d));
    a.process([ev(T0, { asset: 'web-1', type: 'down' })], T0);
    const index = new IncidentIndex(desk(a));
    const q: IncidentQuery = { sort: '-opened_at', limit: 10 };
    expect(index.page(q, undefined).items.map((i) => i.asset)).toEqual(['web-1']);
    b.process([ev(T0 + 1000, { asset: 'db-1', type: 'down' })], T0 + 1000);
    expect(index.page(q, undefined).items.map((i) => i.asset)).toEqual(['db-1', 'web-1']);
  });
});
