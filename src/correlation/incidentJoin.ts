import type { IncidentAuditEntry } from '../model/incident.ts';
import type { IncidentRecord } from './incidentBook.ts';

/** The most audit entries a record keeps. */
export const AUDIT_LIMIT = 100;

/**
 * When the incident's status last changed, on event time: its opening (or reopening) while
 * open, its resolution once resolved. Records written before the field existed fall back on the
 * times they do hold.
 */
export function statusAtOf(rec: IncidentRecord): number {
  if (rec.statusAtMs !== undefined) return rec.statusAtMs;
  return rec.incident.status === 'resolved' ? rec.incident.resolvedAtMs : rec.incident.openedAtMs;
}

/**
 * Orders records of one key by their latest lifecycle event (an opening or a resolution) by event
 * time, a resolution first at the same moment, then by id, then by version (later writes of one
 * incident carry the rule's latest bookkeeping), then by content. A merge never goes down this
 * order, so agents exchanging merges settle after a round or two.
 */
function outranks(a: IncidentRecord, b: IncidentRecord): boolean {
  const ta = statusAtOf(a);
  const tb = statusAtOf(b);
  if (ta !== tb) return ta > tb;
  const ra = a.incident.status === 'resolved';
  if (ra !== (b.incident.status === 'resolved')) return ra;
  if (a.incident.id !== b.incident.id) return a.incident.id > b.incident.id;
  if (a.incident.version !== b.incident.version) return a.incident.version > b.incident.version;
  const d = quickOrder(a, b);
  if (d !== 0) return d > 0;
  // The same content (an agent's own write coming back joined, in another order): either wins alike.
  if (sameRecord(a, b)) return true;
  return canonical(a) >= canonical(b);
}

/**
 * Orders two records of one incident at one version by a few numbers they hold, 0 when those
 * agree: two agents that each wrote the next version of one record (both attached an event)
 * mostly differ there, and the canonical texts that would order them instead cost two sorted
 * serialisations of the whole record (audit trail included) on every such merge.
 */
function quickOrder(a: IncidentRecord, b: IncidentRecord): number {
  const ia = a.incident;
  const ib = b.incident;
  return (
    ia.lastSeenMs - ib.lastSeenMs ||
    ia.updatedAtMs - ib.updatedAtMs ||
    ia.eventCount - ib.eventCount ||
    ia.severityNumber - ib.severityNumber ||
    a.notifiedAtMs - b.notifiedAtMs
  );
}

function auditKey(e: IncidentAuditEntry): string {
  const key = `${e.atMs}\u0000${e.kind}\u0000${e.reason}`;
  return e.actor === undefined ? key : `${key}\u0000${e.actor}`;
}

/**
 * Two trails with the same entries in the same order (`auditKey` for `auditKey`): the common
 * case when agents merge copies of one incident, told without building a key per entry.
 */
function sameTrail(x: readonly IncidentAuditEntry[], y: readonly IncidentAuditEntry[]): boolean {
  if (x.length !== y.length) return false;
  for (let i = 0; i < x.length; i++) {
    const a = x[i]!;
    const b = y[i]!;
    if (a !== b && (a.atMs !== b.atMs || a.kind !== b.kind || a.reason !== b.reason || a.actor !== b.actor))
      return false;
  }
  return true;
}

/**
 * What people did on either agent's copy holds whichever copy wins: an acknowledgement made
 * since the winner's last opening (one from before a reopening is over), and the latest
 * assignment. Ties go to the greater name, so every agent merges alike.
 */
function joinOperatorFields(out: IncidentRecord, win: IncidentRecord, lose: IncidentRecord): void {
  const inc = out.incident;
  const since = statusAtOf(win);
  const acks = [win.incident, lose.incident].filter(
    (i) => i.acknowledgedAtMs !== undefined && i.acknowledgedAtMs >= since,
  );
  const ack = acks.sort(
    (x, y) =>
      y.acknowledgedAtMs! - x.acknowledgedAtMs! || ((y.acknowledgedBy ?? '') > (x.acknowledgedBy ?? '') ? 1 : -1),
  )[0];
  if (ack && inc.status !== 'resolved') {
    inc.status = 'acknowledged';
    inc.acknowledgedAtMs = ack.acknowledgedAtMs;
    inc.acknowledgedBy = ack.acknowledgedBy;
  }
  const la = lose.assignedAtMs ?? -1;
  const wa = win.assignedAtMs ?? -1;
  if (la > wa || (la === wa && la >= 0 && (lose.incident.assignee ?? '') > (win.incident.assignee ?? ''))) {
    inc.assignee = lose.incident.assignee;
    out.assignedAtMs = la;
  }
}

/** Both trails in one: the one that holds the other as it is, or else every entry in time order. */
function unionAudit(
  base: IncidentAuditEntry[],
  other: IncidentAuditEntry[],
  extra: IncidentAuditEntry[],
): IncidentAuditEntry[] {
  if (extra.length === 0 && sameTrail(base, other)) return base.slice();
  const keys = new Set(base.map(auditKey));
  if (extra.length === 0 && other.every((e) => keys.has(auditKey(e)))) return base.slice();
  const otherKeys = new Set(other.map(auditKey));
  if (extra.length === 0 && base.every((e) => otherKeys.has(auditKey(e)))) return other.slice();
  const all = new Map<string, IncidentAuditEntry>();
  for (const e of [...base, ...other, ...extra]) all.set(auditKey(e), e);
  const sorted = [...all.values()].sort((x, y) => x.atMs - y.atMs || (auditKey(x) < auditKey(y) ? -1 : 1));
  return sorted.length > AUDIT_LIMIT ? sorted.slice(sorted.length - AUDIT_LIMIT) : sorted;
}

/** The most sample ids a merge keeps: `sample_size` allows up to this many. */
const SAMPLE_LIMIT = 1000;

/** Both samples in one: the one that holds the other as it is, or else the union in id order (the same subset on every agent). */
function unionSample(base: string[], other: string[]): string[] {
  const set = new Set(base);
  if (other.every((id) => set.has(id))) return base.slice();
  const otherSet = new Set(other);
  if (base.every((id) => otherSet.has(id))) return other.slice();
  for (const id of other) set.add(id);
  return [...set].sort().slice(0, SAMPLE_LIMIT);
}

function sortedUnion(...lists: (readonly string[] | undefined)[]): string[] {
  const set = new Set<string>();
  for (const l of lists) for (const x of l ?? []) set.add(x);
  return [...set].sort();
}

/**
 * Whether `rec`'s incident began at or after `atMs`: its latest opening while open (a reopening
 * counts), its first opening once resolved, so that twins both resolved apart, which overlapped,
 * are told from an incident that came after the other was over.
 */
function openedAfter(rec: IncidentRecord, atMs: number): boolean {
  return (rec.incident.status === 'resolved' ? rec.incident.openedAtMs : statusAtOf(rec)) >= atMs;
}

/** Whether either incident already lists the other as merged into it: twins, whatever their times. */
function listedAsMerged(a: IncidentRecord['incident'], b: IncidentRecord['incident']): boolean {
  return (a.mergedIds?.includes(b.id) ?? false) || (b.mergedIds?.includes(a.id) ?? false);
}

/**
 * One incident record that holds what two agents wrote for one key, each not knowing the other's
 * latest write: the merge that lets several agents share incidents without losing an event, a
 * resolution or a notification. The same result whichever agent merges, in whichever order.
 *
 * The record whose latest lifecycle event came later (by event time) decides the status: a down
 * on one agent and the up on another resolve the incident, whatever order the writes met in.
 * - An incident opened after the other was resolved is the next incident on the key: it wins
 *   whole, and the other stays what it was, a past incident.
 * - Otherwise the two are one problem: the same incident (counts, times and severity take the
 *   greater; samples, audit trails and merged ids unite; a sent escalation stays sent), or twins
 *   that two agents opened before hearing of each other (or while Redis was out of reach), which
 *   become one: the other's id goes into `mergedIds`, so nothing points at a dead id.
 *
 * `version` is the version the result is written at.
 */
export function joinIncidentRecords(a: IncidentRecord, b: IncidentRecord, version: number): IncidentRecord {
  const [win, lose] = outranks(a, b) ? [a, b] : [b, a];
  const iw = win.incident;
  const il = lose.incident;
  const twins = iw.id !== il.id;
  if (twins && il.status === 'resolved' && openedAfter(win, il.resolvedAtMs) && !listedAsMerged(iw, il))
    return withVersion(win, version);
  const out = copyForJoin(win);
  const inc = out.incident;
  // Twins date the incident at the earlier opening; so do two copies of one incident, one of
  // which an agent wrote before it heard of a twin merged into the other.
  inc.openedAtMs = Math.min(iw.openedAtMs, il.openedAtMs);
  inc.firstSeenMs = Math.min(iw.firstSeenMs, il.firstSeenMs);
  inc.lastSeenMs = Math.max(iw.lastSeenMs, il.lastSeenMs);
  inc.lastEventType = (iw.lastSeenMs >= il.lastSeenMs ? iw : il).lastEventType;
  inc.updatedAtMs = Math.max(iw.updatedAtMs, il.updatedAtMs);
  const severe = iw.severityNumber >= il.severityNumber ? iw : il;
  inc.severityNumber = severe.severityNumber;
  inc.severityText = severe.severityText;
  inc.eventCount = Math.max(iw.eventCount, il.eventCount);
  inc.asset ||= il.asset;
  inc.service ||= il.service;
  inc.sampleEventIds = unionSample(iw.sampleEventIds, il.sampleEventIds);
  // Dated and worded by the merged incident alone, so twins merged in any order leave the same trail.
  const extra: IncidentAuditEntry[] = twins
    ? [
        {
          atMs: il.openedAtMs,
          kind: 'updated',
          reason: `merged incident ${il.id}, opened ${new Date(il.openedAtMs).toISOString()} by another agent`,
        },
      ]
    : [];
  inc.audit = unionAudit(iw.audit, il.audit, extra);
  joinOperatorFields(out, win, lose);
  const merged = sortedUnion(iw.mergedIds, il.mergedIds, twins ? [il.id] : []).filter((id) => id !== iw.id);
  if (merged.length > 0) inc.mergedIds = merged;
  else delete inc.mergedIds;
  out.notifiedAtMs = Math.max(win.notifiedAtMs, lose.notifiedAtMs);
  out.notifiedCount = Math.max(win.notifiedCount ?? 0, lose.notifiedCount ?? 0);
  out.escalated = win.escalated || lose.escalated;
  const told = Math.max(win.resolutionToldMs ?? -1, lose.resolutionToldMs ?? -1);
  if (told >= 0) out.resolutionToldMs = told;
  out.mark = Math.max(win.mark, lose.mark);
  // Twins count from the earlier start; records of one incident differ only in when it last (re)opened, which the winner has.
  if (twins || statusAtOf(win) === statusAtOf(lose)) {
    const baselines = [win.baseline, lose.baseline].filter((x): x is number => x !== undefined);
    if (baselines.length > 0) out.baseline = Math.min(...baselines);
    // Seals of one resolution: each agent's share is the greatest it told (seals of an earlier
    // resolution, before a reopening, are the winner's to drop).
    if (inc.status === 'resolved' && lose.sealed !== undefined) {
      const sealed = { ...win.sealed };
      for (const [cell, n] of Object.entries(lose.sealed)) if (!(n <= sealed[cell]!)) sealed[cell] = n;
      out.sealed = sealed;
      const heard = new Set([...(win.heardBy ?? []), ...(lose.heardBy ?? [])]);
      if (heard.size > 0) out.heardBy = [...heard].sort();
    }
  }
  if (inc.status !== 'resolved') {
    delete out.sealed;
    delete out.heardBy;
  }
  inc.version = version;
  return out;
}

function withVersion(rec: IncidentRecord, version: number): IncidentRecord {
  const out = cloneJson(rec);
  out.incident.version = version;
  return out;
}

/**
 * A deep copy of a JSON-shaped value (a record as the store holds it): several times faster
 * than `structuredClone`, which agents sharing state ran for every incident write they merged.
 */
export function cloneJson<T>(v: T): T {
  if (v === null || typeof v !== 'object') return v;
  if (Array.isArray(v)) {
    const out = new Array<unknown>(v.length);
    for (let i = 0; i < v.length; i++) out[i] = cloneJson(v[i] as unknown);
    return out as T;
  }
  const out: Record<string, unknown> = {};
  for (const k in v) if (Object.hasOwn(v, k)) out[k] = cloneJson((v as Record<string, unknown>)[k]);
  return out as T;
}

/**
 * A copy of the winning record to join into, less what the join replaces: its sample and audit
 * trail (a record's bulk) are built anew from both records, so copying them would be wasted.
 */
function copyForJoin(win: IncidentRecord): IncidentRecord {
  const { incident, ...rest } = win;
  const { sampleEventIds: _samples, audit: _audit, ...fields } = incident;
  const out = cloneJson(rest) as IncidentRecord;
  out.incident = { ...cloneJson(fields), sampleEventIds: [], audit: [] };
  return out;
}

/**
 * A record as text, with its keys sorted and its version and derived fields left out, and
 * without its audit trail and sample, which agents share in sets of their own (each copy holds
 * them as far as its agent has heard): equal text, equal content.
 */
export function canonical(rec: IncidentRecord): string {
  const inc = rec.incident;
  return stableStringify({
    ...rec,
    pending: 0,
    incident: { ...inc, version: 0, sampleEventIds: [], audit: [] },
  });
}

const SKIP_RECORD = new Set(['pending', 'incident']);
const SKIP_INCIDENT = new Set(['version', 'sampleEventIds', 'audit']);
/**
 * An open incident takes its last seen from a shared high-water mark each time it is read (an
 * attach that moves only that raises the mark instead of writing the record), so two agents'
 * copies differ there by what each has read: no reason to write a merge back.
 */
const SKIP_INCIDENT_OPEN = new Set([...SKIP_INCIDENT, 'lastSeenMs']);
/**
 * An open incident that counts its group's events takes its count from the shared counter each
 * time it is read, so two agents' copies differ there by what each has read: no reason to write
 * a merge back (which the other agent would answer in turn, for every update of a busy incident).
 */
const SKIP_INCIDENT_COUNTED = new Set([...SKIP_INCIDENT_OPEN, 'eventCount']);
const SKIP_NONE = new Set<string>();

/**
 * Whether two records hold the same: `canonical(a) === canonical(b)`, without building either
 * text, except that two open incidents' last seen and two open counting incidents' counts are
 * not compared (see SKIP_INCIDENT_OPEN and SKIP_INCIDENT_COUNTED), nor are audit trails and samples. Agents sharing state ask this twice per incident write they merge, and
 * the answer is mostly "no" early on, where the texts cost two sorted serialisations of the
 * whole record.
 */
export function sameRecord(a: IncidentRecord, b: IncidentRecord): boolean {
  const ia = a.incident;
  const ib = b.incident;
  if (!sameFields(a as unknown as Record<string, unknown>, b as unknown as Record<string, unknown>, SKIP_RECORD))
    return false;
  const open = ia.status !== 'resolved' && ib.status !== 'resolved';
  const counted = open && a.baseline !== undefined && b.baseline !== undefined;
  if (
    !sameFields(
      ia as unknown as Record<string, unknown>,
      ib as unknown as Record<string, unknown>,
      counted ? SKIP_INCIDENT_COUNTED : open ? SKIP_INCIDENT_OPEN : SKIP_INCIDENT,
    )
  )
    return false;
  // The audit trails and samples are not compared: agents share them in sets of their own, not in the record.
  return true;
}

/** `stableStringify(x) === stableStringify(y)`, by walking both. */
function sameJson(x: unknown, y: unknown): boolean {
  if (x === y) return true;
  if (x === null || y === null || typeof x !== 'object' || typeof y !== 'object')
    return (JSON.stringify(x) ?? 'null') === (JSON.stringify(y) ?? 'null');
  if (Array.isArray(x)) {
    if (!Array.isArray(y) || x.length !== y.length) return false;
    for (let i = 0; i < x.length; i++) if (!sameJson(x[i], y[i])) return false;
    return true;
  }
  return !Array.isArray(y) && sameFields(x as Record<string, unknown>, y as Record<string, unknown>, SKIP_NONE);
}

/** The fields of two objects with a value (`undefined` counts as absent), `skip` left out, pairwise `sameJson`. */
function sameFields(x: Record<string, unknown>, y: Record<string, unknown>, skip: ReadonlySet<string>): boolean {
  let n = 0;
  for (const k of Object.keys(x)) {
    const v = x[k];
    if (v === undefined || skip.has(k)) continue;
    if (!Object.hasOwn(y, k) || !sameJson(v, y[k])) return false;
    n++;
  }
  for (const k of Object.keys(y)) if (y[k] !== undefined && !skip.has(k)) n--;
  return n === 0;
}

function stableStringify(v: unknown): string {
  if (v === null || typeof v !== 'object') return JSON.stringify(v) ?? 'null';
  if (Array.isArray(v)) return `[${v.map(stableStringify).join(',')}]`;
  const o = v as Record<string, unknown>;
  return `{${Object.keys(o)
    .filter((k) => o[k] !== undefined)
    .sort()
    .map((k) => `${JSON.stringify(k)}:${stableStringify(o[k])}`)
    .join(',')}}`;
}
