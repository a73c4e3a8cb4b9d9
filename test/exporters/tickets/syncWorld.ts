import type { CorrelationEngine } from '../../../src/correlation/engine.ts';
import type { IncidentDesk } from '../../../src/correlation/incidentActions.ts';
import {
  IncidentExporter,
  type IncidentExporterConfig,
  type TicketDriver,
  type TicketSyncSettings,
} from '../../../src/exporters/tickets/incidentExporter.ts';
import type { IncidentChange } from '../../../src/model/incident.ts';
import type { Host } from '../../../src/pipeline/host.ts';
import type { RoutingTree } from '../../../src/exporters/tickets/routingTree.ts';
import { engineDesk } from '../../api/harness.ts';
import { engineFrom, ev } from '../../support/correlation.ts';
import { ManualTimers } from '../../support/fakes/timers.ts';
import { waitFor } from '../../support/waitFor.ts';
import { testSettings } from '../incidentFixtures.ts';

/** A pair rule per asset: a down opens `asset_down{asset="…"}`, an up resolves it, a down within the hour reopens it. */
const RULES = `
defaults: { allowed_lateness: 1h, group_wait: 0s, reopen_window: 1h }
rules:
  - { kind: pair, name: asset_down, group_by: [asset] }
`;
export const MINUTE = 60_000;

export interface SyncWorld {
  timers: ManualTimers;
  engine: CorrelationEngine;
  desk: IncidentDesk;
  /** Every change the desk made (tickets read back, actions), in order. */
  delivered: IncidentChange[];
  exp: IncidentExporter;
  /** Hands `changes`, then what the desk made since the last call, to the exporter, and waits for delivery. */
  deliver(changes?: IncidentChange[]): Promise<void>;
  /** A down or up event for `asset`, correlated and delivered. */
  event(asset: string, type: 'down' | 'up'): Promise<void>;
  incident(asset: string): ReturnType<IncidentDesk['current']>;
  /** The comments in the incident's timeline: actor and audit text. */
  comments(asset: string): [string | undefined, string][];
  /** The incident's audit entries of one kind: actor and audit text. */
  audit(asset: string, kind: string): [string | undefined, string][];
  /** An operator's action through the desk, as the API makes it, delivered. */
  act(asset: string, actor: string, action: Parameters<IncidentDesk['act']>[2]): Promise<void>;
  /** One poll pass (the interval is a minute), run to its end; then the changes it made are delivered. */
  pass(): Promise<void>;
  /** Moves the clock by `ms` (less than the poll interval), then delivers the group notifications that fell due. */
  advanceGroups(ms: number): Promise<void>;
  /**
   * The exporter stopped and started again on the same data dir with a new driver, as a daemon
   * restart leaves it (its ledger on disk, nothing in memory); the core keeps its incidents.
   */
  restart(driver: TicketDriver, sync: TicketSyncSettings | undefined): Promise<void>;
}

/**
 * The correlation core on a manual clock and a ticket exporter syncing back through it: changes
 * the core makes (from events, tickets read back or actions) reach the exporter through
 * `deliver`, as the incidents pipeline would hand them.
 */
export async function syncWorld(
  id: string,
  config: IncidentExporterConfig,
  driver: TicketDriver,
  sync: TicketSyncSettings | undefined,
  cleanup: (() => Promise<void>)[],
  tree?: RoutingTree,
): Promise<SyncWorld> {
  const timers = new ManualTimers(Date.parse('2026-12-01T10:00:00Z'));
  const engine = engineFrom(RULES);
  const delivered: IncidentChange[] = [];
  const desk = engineDesk(engine, () => timers.now(), delivered);
  const settings = testSettings(id);
  const host = { incidentDesk: () => desk, routingTree: tree } as unknown as Host;
  const startExporter = async (d: TicketDriver, s: TicketSyncSettings | undefined) => {
    const started = new IncidentExporter(settings, config, d, { timers, random: () => 0.5, sync: s });
    await started.start(host);
    let stopped: Promise<void> | undefined;
    stop = () => (stopped ??= started.shutdown());
    cleanup.push(stop);
    return started;
  };
  let stop: () => Promise<void> = async () => {};
  let exp = await startExporter(driver, sync);
  let handed = 0;
  const deliver = async (changes: IncidentChange[] = []) => {
    await exp.consumeIncidents(changes);
    await exp.consumeIncidents(delivered.slice(handed));
    handed = delivered.length;
    await exp.outbox.whenIdle();
  };
  const incident = (asset: string) => engine.book.get(`asset_down{asset="${asset}"}`)?.incident;
  const audit = (asset: string, kind: string): [string | undefined, string][] =>
    incident(asset)!
      .audit.filter((a) => a.kind === kind)
      .map((a) => [a.actor, a.reason]);
  return {
    timers,
    engine,
    desk,
    delivered,
    get exp() {
      return exp;
    },
    deliver,
    incident,
    comments: (asset) => audit(asset, 'commented'),
    audit,
    event: (asset, type) =>
      deliver(engine.process([ev(timers.now(), { asset, type, title: `${asset} ${type}` })], timers.now())),
    act: async (asset, actor, action) => {
      const out = await desk.act(incident(asset)!.id, actor, action);
      if (!out.ok) throw new Error(out.message);
      await deliver();
    },
    advanceGroups: async (ms) => {
      timers.advance(ms);
      await exp.groups.settled();
      await deliver();
    },
    pass: async () => {
      timers.advance(MINUTE);
      await waitFor(() => timers.pendingDelays().includes(MINUTE), 'the poll pass to end');
      await deliver();
    },
    restart: async (d, s) => {
      await stop();
      exp = await startExporter(d, s);
    },
  };
}
