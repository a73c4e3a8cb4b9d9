import { afterEach, describe, expect, it } from 'vitest';
import { GlpiDriver } from '../../src/exporters/glpi/driver.ts';
import type { GlpiExporterConfig } from '../../src/exporters/glpi/config.ts';
import type { IncidentExporter } from '../../src/exporters/tickets/incidentExporter.ts';
import { RedisTicketLedger } from '../../src/state/redisTicketLedger.ts';
import type { FakeGlpi } from '../support/fakes/glpi.ts';
import { ManualTimers } from '../support/fakes/timers.ts';
import { waitFor } from '../support/waitFor.ts';
import {
  advanceGroups,
  assetDown,
  compileTree,
  GROUPED_BY_SITE as ROUTING,
  fakeGlpiExporter,
  startIncidentExporter,
  type IncidentStory,
} from '../exporters/incidentFixtures.ts';
import { freshPrefix, openStore, redisAndClients } from './redisHelpers.ts';

const S = 1000;
const M = 60 * S;
const N = 6;

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

/**
 * A grouped route (group_by site) on agents that share Redis and its ticket ledger: the grouped
 * tickets must be those one agent makes, whichever agent each incident of the group reached.
 */
describe('grouped tickets of agents sharing Redis', () => {
  const redis = redisAndClients();

  async function exporters(config: GlpiExporterConfig, timers: ManualTimers, n: number): Promise<IncidentExporter[]> {
    const prefix = freshPrefix();
    const made: IncidentExporter[] = [];
    for (let i = 0; i < n; i++) {
      const owner = `node-${i}`;
      const { store } = await openStore(redis.server().url, prefix, owner, { flushIntervalMs: 20 });
      cleanup.push(() => store.close());
      const ledger = new RedisTicketLedger({
        client: store.redis,
        keys: store.redisKeys,
        owner,
        exporter: 'glpi',
        claimTtlMs: 10_000,
        recordTtlMs: 3_600_000,
      });
      const tree = compileTree(ROUTING, ['glpi']);
      const { exp } = await startIncidentExporter(
        'glpi',
        config,
        new GlpiDriver(config),
        { timers, ledger, tree },
        cleanup,
      );
      made.push(exp);
    }
    return made;
  }

  /** What the tracker shows of the site's group: its tickets' titles and the members each lists, then the follow-ups. */
  function shown(glpi: FakeGlpi): { tickets: string[]; followups: string[] } {
    const tickets = [...glpi.tickets.values()].map((t) => {
      const members = [...t.content.matchAll(/firing · (\w+) down/g)].map((m) => m[1]).sort();
      return `${t.name} [${members.join(',')}]`;
    });
    return { tickets, followups: glpi.followups.map((f) => f.content) };
  }

  /** N incidents of one site, handed out round-robin; then half of them resolve. */
  async function play(exps: IncidentExporter[], timers: ManualTimers) {
    // An agent whose change waits on another's claim of the group's ticket tries again a second later.
    const advance = async (ms: number) => {
      timers.advance(ms);
      for (const e of exps) await e.groups.settled();
      await waitFor(() => {
        if (exps.every((e) => e.outbox.depth === 0)) return true;
        timers.advance(S);
        return false;
      }, 'every agent to deliver what its groups queued');
      for (const e of exps) await advanceGroups(e, timers, 0);
    };
    const paris: IncidentStory[] = Array.from({ length: N }, (_, i) => assetDown(`p${i + 1}`, 'paris'));
    for (const [i, s] of paris.entries()) await exps[i % exps.length]!.consumeIncidents([s.next('opened')]);
    await advance(30 * S);
    for (const [i, s] of paris.entries())
      if (i % 2 === 0) await exps[i % exps.length]!.consumeIncidents([s.next('resolved')]);
    await advance(5 * M);
  }

  /** One agent's grouped tickets: one ticket listing every member, one follow-up when half resolve. */
  async function oneAgent() {
    const one = await fakeGlpiExporter(cleanup);
    const timers = new ManualTimers();
    await play(await exporters(one.config, timers, 1), timers);
    return shown(one.glpi);
  }

  it('are, on one agent, one ticket listing every member and one follow-up per group_interval', async () => {
    const alone = await oneAgent();
    expect(alone.tickets).toEqual([`[ERROR] site=paris: ${N} firing [${paris(N)}]`]);
    expect(alone.followups).toHaveLength(1);
    expect(alone.followups[0]).toContain(`updated: ${N / 2} resolved; ${N / 2} firing, ${N / 2} resolved`);
  });

  // Each agent still groups what it was handed itself (docs/exporters.md, "Agents sharing
  // Redis"): the ticket lists the members of whichever agent claimed it first and every agent
  // adds its own partial follow-ups. Marked as failing until groups are shared.
  it.fails('are those of one agent when the incidents of one group are spread over three agents', async () => {
    const alone = await oneAgent();
    const three = await fakeGlpiExporter(cleanup);
    const timers = new ManualTimers();
    await play(await exporters(three.config, timers, 3), timers);
    expect(shown(three.glpi)).toEqual(alone);
  });
});

const paris = (n: number) =>
  Array.from({ length: n }, (_, i) => `p${i + 1}`)
    .sort()
    .join(',');
