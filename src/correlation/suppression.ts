import type { Incident } from '../model/incident.ts';
import type { IncidentRecord } from './incidentBook.ts';
import { matchesAll, type LabelMatcher } from './labelMatchers.ts';
import { recurrenceActive } from './recurrence.ts';
import type { ActiveSilence } from './silences.ts';

export interface InhibitRule {
  source: LabelMatcher[];
  target: LabelMatcher[];
  equal: string[];
}

export interface Silence {
  name: string;
  matchers: LabelMatcher[];
  startsAtMs: number;
  endsAtMs: number;
}

export interface MaintenanceWindow {
  name: string;
  matchers: LabelMatcher[];
  /** 0 = Sunday … 6 = Saturday, as Date.getUTCDay. */
  days: Set<number>;
  startMinute: number;
  durationMs: number;
  timezone: string;
}

export interface SuppressionConfig {
  inhibit: InhibitRule[];
  /** Rules whose open incidents mark their asset down; undefined when topology is off. */
  topologyDownRules: Set<string> | undefined;
  silences: Silence[];
  maintenance: MaintenanceWindow[];
}

/** The labels matchers see: the group labels plus `rule` and `severity` (lower case). */
export function matchLabels(rec: IncidentRecord): Record<string, string> {
  return labelsOf(rec.incident);
}

function labelsOf(inc: Incident): Record<string, string> {
  return { ...inc.labels, rule: inc.rule, severity: inc.severityText.toLowerCase() };
}

/** What silences match on: the incident's `service`, `asset` and `tenant` too (a group label of that name wins). */
export function silenceLabels(rec: IncidentRecord): Record<string, string> {
  const inc = rec.incident;
  return { service: inc.service, asset: inc.asset, tenant: inc.tenant, ...matchLabels(rec) };
}

/** The equal labels' values, within the incident's tenant: one tenant's incident never inhibits another's. */
function tupleOf(tenant: string, labels: Record<string, string>, equal: string[]): string {
  let t = tenant + '\u0000';
  for (const l of equal) t += (labels[l] ?? '') + '\u0000';
  return t;
}

/** An asset within its tenant: two tenants may both have a `web-1`, and one's being down says nothing of the other's. */
const assetOf = (tenant: string, asset: string) => `${tenant}\u0000${asset}`;

/** Whether a recurring window is on at `nowMs` (local times on days that change clocks as `recurrence.ts` reads them). */
export function maintenanceActive(w: MaintenanceWindow, nowMs: number): boolean {
  return recurrenceActive(w, nowMs);
}

/**
 * Whether `inc` was open at `atMs` by its own times, as a tick at `atMs` of one engine sees it
 * (a tick runs before the events of its moment): opened before it, and not resolved, or resolved
 * at or after it. A reopened incident tells its last opening only.
 */
export function openAt(inc: Incident, atMs: number): boolean {
  return inc.openedAtMs < atMs && (inc.status !== 'resolved' || inc.resolvedAtMs >= atMs);
}

/**
 * Decides what suppresses an incident: a silence, a maintenance window, an inhibiting source
 * incident, or a down parent asset. The open incidents it looks at are indexed on each tick
 * from the store (so other agents' incidents count), and from those other engines hold (the other
 * partitions', as last told), and kept current between ticks with this engine's own openings and
 * resolutions.
 */
export class Suppressor {
  readonly config: SuppressionConfig;
  /** Per inhibit rule: equal-label tuple → source incident key. */
  private sources: Map<string, string>[] = [];
  /** Tenant and asset (`assetOf`) → key of an open incident saying it is down. */
  private downAssets = new Map<string, string>();
  /** The silences made through the API, not yet expired (kept current by the engine). */
  live: readonly ActiveSilence[] = [];

  constructor(config: SuppressionConfig) {
    this.config = config;
    this.sources = config.inhibit.map(() => new Map());
  }

  get active(): boolean {
    const c = this.config;
    return (
      c.inhibit.length > 0 ||
      this.live.length > 0 ||
      c.topologyDownRules !== undefined ||
      c.silences.length > 0 ||
      c.maintenance.length > 0
    );
  }

  /** Whether other incidents than the one judged decide (inhibition, topology): those `rebuild` takes `elsewhere`. */
  get looksAtOthers(): boolean {
    return this.config.inhibit.length > 0 || this.config.topologyDownRules !== undefined;
  }

  /**
   * Indexes the open incidents: `open`, this engine's, and of `elsewhere`, incidents other engines
   * hold, those open at `atMs` by their own times (`openAt`): an engine judging a moment another
   * has passed (replaying its stream) sees the other's incidents as they were then, where their
   * times tell. This engine's own win where both index one tuple or asset.
   */
  rebuild(open: IncidentRecord[], elsewhere: Iterable<Incident> = [], atMs = Infinity): void {
    this.sources = this.config.inhibit.map(() => new Map());
    this.downAssets = new Map();
    if (this.looksAtOthers) for (const inc of elsewhere) if (openAt(inc, atMs)) this.noteIncident(inc, true);
    for (const rec of open) this.note(rec, true);
  }

  /** Keeps the index current as this agent opens (`open`) or resolves incidents. */
  note(rec: IncidentRecord, open: boolean): void {
    this.noteIncident(rec.incident, open);
  }

  private noteIncident(inc: Incident, open: boolean): void {
    const { inhibit, topologyDownRules } = this.config;
    if (inhibit.length > 0) {
      const labels = labelsOf(inc);
      inhibit.forEach((r, i) => {
        if (!matchesAll(r.source, labels)) return;
        const t = tupleOf(inc.tenant, labels, r.equal);
        if (open) this.sources[i]!.set(t, inc.key);
        else if (this.sources[i]!.get(t) === inc.key) this.sources[i]!.delete(t);
      });
    }
    if (topologyDownRules?.has(inc.rule) && inc.asset) {
      const asset = assetOf(inc.tenant, inc.asset);
      if (open) this.downAssets.set(asset, inc.key);
      else if (this.downAssets.get(asset) === inc.key) this.downAssets.delete(asset);
    }
  }

  /** What suppresses the incident now: `silence:<name or id>`, `maintenance:<name>`, `inhibit:<key>`, `topology:<key>`, or ''. */
  suppressionOf(rec: IncidentRecord, nowMs: number): string {
    if (!this.active) return '';
    const labels = matchLabels(rec);
    if (this.config.silences.length > 0 || this.live.length > 0) {
      const fields = silenceLabels(rec);
      for (const s of this.config.silences) {
        if (nowMs >= s.startsAtMs && nowMs < s.endsAtMs && matchesAll(s.matchers, fields)) return `silence:${s.name}`;
      }
      const tenant = rec.incident.tenant;
      for (const s of this.live) {
        if (
          nowMs >= s.startsAtMs &&
          nowMs < s.endsAtMs &&
          (s.tenant === '' || s.tenant === tenant) &&
          matchesAll(s.matchers, fields) &&
          (!s.recurrence || recurrenceActive(s.recurrence, nowMs))
        )
          return s.recurrence ? `maintenance:${s.id}` : `silence:${s.id}`;
      }
    }
    for (const w of this.config.maintenance) {
      if (matchesAll(w.matchers, labels) && maintenanceActive(w, nowMs)) return `maintenance:${w.name}`;
    }
    const key = rec.incident.key;
    for (let i = 0; i < this.config.inhibit.length; i++) {
      const r = this.config.inhibit[i]!;
      if (!matchesAll(r.target, labels)) continue;
      const source = this.sources[i]!.get(tupleOf(rec.incident.tenant, labels, r.equal));
      if (source !== undefined && source !== key) return `inhibit:${source}`;
    }
    if (rec.parent) {
      const parent = this.downAssets.get(assetOf(rec.incident.tenant, rec.parent));
      if (parent !== undefined && parent !== key) return `topology:${parent}`;
    }
    return '';
  }
}
