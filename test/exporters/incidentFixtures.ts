import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Schema } from '../../src/config/schema.ts';
import { glpiExporterSchema } from '../../src/exporters/glpi/config.ts';
import type { Timers } from '../../src/exporters/tickets/delivery.ts';
import {
  IncidentExporter,
  type IncidentExporterConfig,
  type TicketDriver,
} from '../../src/exporters/tickets/incidentExporter.ts';
import type { TicketLedger } from '../../src/exporters/tickets/ledger.ts';
import { RoutingTree, routingSchema } from '../../src/exporters/tickets/routingTree.ts';
import type { Host } from '../../src/pipeline/host.ts';
import type { Incident, IncidentChange, IncidentChangeKind } from '../../src/model/incident.ts';
import type { CreateSettings } from '../../src/pipeline/component.ts';
import { createLogger } from '../../src/telemetry/logger.ts';
import { SelfMetrics } from '../../src/telemetry/selfMetrics.ts';
import { FakeGlpi } from '../support/fakes/glpi.ts';
import type { ManualTimers } from '../support/fakes/timers.ts';

const T0 = Date.parse('2026-11-23T10:00:00Z');

/** The changes the correlation engine emits over one incident's life, in order. */
export class IncidentStory {
  private incident: Incident;
  constructor(key = 'disk-full{host="db-1"}', over: Partial<Incident> = {}) {
    this.incident = {
      key,
      id: `inc-${key.length}-${T0}`,
      rule: 'disk-full',
      ruleKind: 'threshold',
      labels: { host: 'db-1', env: 'prod' },
      title: 'Disk full on db-1',
      status: 'open',
      severityNumber: 17,
      severityText: 'ERROR',
      suppressed: false,
      suppressedBy: '',
      openedAtMs: T0,
      updatedAtMs: T0,
      resolvedAtMs: 0,
      firstSeenMs: T0,
      lastSeenMs: T0,
      eventCount: 1,
      sampleEventIds: ['e1'],
      lastEventType: 'down',
      tenant: 'acme',
      asset: 'db-1',
      service: 'postgres',
      version: 1,
      audit: [],
      ...over,
    };
  }

  next(kind: IncidentChangeKind, opts: { notify?: boolean; reason?: string } = {}): IncidentChange {
    const prev = this.incident;
    const at = prev.updatedAtMs + 60_000;
    this.incident = {
      ...prev,
      version: kind === 'opened' ? prev.version : prev.version + 1,
      updatedAtMs: at,
      lastSeenMs: kind === 'resolved' ? prev.lastSeenMs : at,
      eventCount: kind === 'opened' ? prev.eventCount : prev.eventCount + 1,
      status: kind === 'resolved' ? 'resolved' : 'open',
      resolvedAtMs: kind === 'resolved' ? at : 0,
    };
    return {
      kind,
      reason: opts.reason ?? `${kind} by test`,
      atMs: at,
      incident: structuredClone(this.incident),
      notify: opts.notify ?? true,
      eventIds: [`e${this.incident.version}`],
    };
  }
}

export function testSettings(id: string, dataDir = mkdtempSync(join(tmpdir(), 'vigil-tickets-'))): CreateSettings {
  return { id, logger: createLogger('silent'), metrics: new SelfMetrics(), dataDir };
}

/** Validates a config the way the loader does; throws with the issues when invalid. */
export function parseWith<T>(schema: Schema<T>, raw: unknown): T {
  const issues: { path: string; message: string }[] = [];
  const out = schema.parse(raw, '', issues);
  if (issues.length) throw new Error(issues.map((i) => `${i.path}: ${i.message}`).join('\n'));
  return out!;
}

/** Starts an exporter on a driver the way its factory does, with test timers; registers its stop in `cleanup`. */
export async function startIncidentExporter(
  id: string,
  config: IncidentExporterConfig,
  driver: TicketDriver,
  opts: { timers?: Timers; dataDir?: string; ledger?: TicketLedger; tree?: RoutingTree },
  cleanup: (() => Promise<void>)[],
) {
  const settings = testSettings(id, opts.dataDir);
  const exp = new IncidentExporter(settings, config, driver, {
    timers: opts.timers,
    random: () => 0.5,
    ledger: opts.ledger,
  });
  await exp.start(opts.tree ? ({ routingTree: opts.tree } as Host) : undefined);
  let stopped = false;
  const stop = async () => {
    if (!stopped) await exp.shutdown();
    stopped = true;
  };
  cleanup.push(stop);
  return { exp, stop, dataDir: settings.dataDir, metrics: settings.metrics };
}

/** A listening FakeGlpi and a GLPI exporter config for it (the fake's tokens, `extra` on top); closed by `cleanup`. */
export async function fakeGlpiExporter(cleanup: (() => Promise<void>)[], extra: Record<string, unknown> = {}) {
  const glpi = await new FakeGlpi().listen();
  cleanup.push(() => glpi.close());
  const config = parseWith(glpiExporterSchema, {
    url: glpi.apiUrl,
    app_token: 'app-token-1',
    user_token: 'user-token-1',
    ...extra,
  });
  return { glpi, config };
}

/** Every incident goes to GLPI, grouped by site: 30 s to gather, 5 min between batches. */
export const GROUPED_BY_SITE = {
  receiver: 'tickets',
  group_by: ['site'],
  group_wait: '30s',
  group_interval: '5m',
  repeat_interval: '4h',
  receivers: [{ name: 'tickets', exporters: ['glpi'] }],
};

/** Compiles a `routing:` section for the given incident exporters; throws with the issues when invalid. */
export function compileTree(raw: object, exporters: readonly string[]): RoutingTree {
  const issues: { path: string; message: string }[] = [];
  const tree = RoutingTree.compile(parseWith(routingSchema, raw), 'routing', new Set(exporters), issues);
  if (!tree) throw new Error(issues.map((i) => `${i.path}: ${i.message}`).join('\n'));
  return tree;
}

/**
 * Runs test/exporters/tickets/exporterProcess.ts: an exporter of `type` on `dataDir` that takes
 * `changes` (under `routing`, if given) and keeps delivering until killed. `exited` gives the
 * signal that ended it; `stdout()` what it printed (`accepted` once the changes were taken).
 */
export function spawnExporterProcess(
  type: string,
  dataDir: string,
  config: object,
  changes: IncidentChange[],
  routing?: object,
): { child: ChildProcess; exited: Promise<NodeJS.Signals | null>; stdout(): string } {
  const args = [join(import.meta.dirname, 'tickets', 'exporterProcess.ts'), type, dataDir];
  args.push(JSON.stringify(config), JSON.stringify(changes), ...(routing ? [JSON.stringify(routing)] : []));
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_code, signal) => resolve(signal)));
  let out = '';
  child.stdout!.on('data', (c: Buffer) => (out += c.toString()));
  return { child, exited, stdout: () => out };
}

/** An asset-down incident's story at a site, for routes that group by site. */
export function assetDown(name: string, site: string, over: Partial<Incident> = {}): IncidentStory {
  return new IncidentStory(`asset_down{asset="${name}"}`, {
    rule: 'asset_down',
    labels: { asset: name, site },
    title: `${name} down`,
    asset: name,
    ...over,
  });
}

/** Moves the test clock, then waits for the notification groups that fell due to be queued and delivered. */
export async function advanceGroups(exp: IncidentExporter, timers: ManualTimers, ms: number): Promise<void> {
  timers.advance(ms);
  await exp.groups.settled();
  await exp.outbox.whenIdle();
}
