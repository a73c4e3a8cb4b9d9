import { createHash } from 'node:crypto';
import type { Incident, IncidentChange, IncidentChangeKind } from '../../model/incident.ts';
import type { RouteGrouping } from './routeGrouping.ts';

/**
 * Alertmanager's aggregation groups over incidents, as a pure state machine: incidents whose
 * labels share a route's `group_by` values join one group; the group is flushed `group_wait`
 * after it formed and then on a `group_interval` grid; a flush notifies when Alertmanager's
 * notification log would (a member started firing that the last notification did not name, a
 * member the receiver knew of resolved, every member resolved, or `repeat_interval` passed),
 * and drops the resolved members afterwards. The caller keeps the states durable and runs the
 * timers; every function here takes the clock reading.
 */

/** One incident of a group, as the group last heard of it. */
export interface GroupMember {
  /** The incident's last known state (without its audit trail, which can be long). */
  incident: Incident;
  firing: boolean;
  /** The kind of the last change the group took for it. */
  kind: IncidentChangeKind;
}

export interface GroupState {
  /** Alertmanager's group key, `<route key>:<group labels>`: also the ticket ledger's key. */
  key: string;
  /** This occurrence of the group: a group that empties and forms again later gets a new ticket. */
  id: string;
  labels: Record<string, string>;
  /** The timers the group formed with. */
  waitMs: number;
  intervalMs: number;
  repeatMs: number;
  createdAtMs: number;
  /** Members by incident key, in the order they joined. */
  members: Record<string, GroupMember>;
  /** When the last flush ran; flushes follow on a `group_interval` grid from it. */
  flushedAtMs?: number;
  /** Since when the group holds news no flush has seen yet. */
  changedAtMs?: number;
  /** What the last notification said: Alertmanager's notification log entry. */
  notified?: { atMs: number; firing: string[]; resolved: string[] };
  /** Notifications sent: the version of the group's own incident. */
  version: number;
}

/** The members a grouped notification lists, and the group it is about. */
export interface ChangeGroup {
  key: string;
  labels: Record<string, string>;
  members: GroupMember[];
}

/** What the exporter's outbox carries: an incident's change, or a group's (`group` set). */
export type QueuedChange = IncidentChange & { group?: ChangeGroup };

/** The labels an incident carries as an Alertmanager alert (the webhook format's `labels`). */
export function alertLabels(inc: Incident): Record<string, string> {
  const labels: Record<string, string> = {
    ...inc.labels,
    alertname: inc.rule,
    severity: (inc.severityText || 'unknown').toLowerCase(),
  };
  if (inc.service) labels.service = inc.service;
  if (inc.tenant) labels.tenant = inc.tenant;
  return labels;
}

/** A value a `group_by` name reads: the incident's alert labels, with `rule` and `asset` as matchers read them. */
function groupValue(inc: Incident, name: string): string {
  if (name === 'rule') return inc.rule;
  if (name === 'asset') return inc.asset || (inc.labels.asset ?? '');
  return alertLabels(inc)[name] ?? '';
}

/** Go's `LabelSet.String()`: `{a="1", b="2"}`, names sorted. */
export function labelSetString(labels: Record<string, string>): string {
  const pairs = Object.keys(labels)
    .sort()
    .map((n) => `${n}=${JSON.stringify(labels[n])}`);
  return `{${pairs.join(', ')}}`;
}

/** The group an incident joins on a route: its labels (empty values left out, as Alertmanager does) and key. */
export function groupOf(grouping: RouteGrouping, inc: Incident): { key: string; labels: Record<string, string> } {
  let labels: Record<string, string>;
  if (grouping.by === 'all') {
    labels = {};
    for (const [n, v] of Object.entries(alertLabels(inc))) if (v !== '') labels[n] = v;
  } else {
    labels = {};
    for (const name of grouping.by) {
      const v = groupValue(inc, name);
      if (v !== '') labels[name] = v;
    }
  }
  return { key: `${grouping.routeKey}:${labelSetString(labels)}`, labels };
}

/** The route key part of a group's key (`{}/{severity>="error"}` of `{}/{severity>="error"}:{site="paris"}`). */
export function routeKeyOf(g: { key: string; labels: Record<string, string> }): string {
  return g.key.slice(0, g.key.length - labelSetString(g.labels).length - 1);
}

/** Changes a person makes to one incident: they refresh what a group knows of it and notify no one. */
const SNAPSHOT_ONLY: ReadonlySet<IncidentChangeKind> = new Set(['acknowledged', 'commented', 'assigned']);

function snapshot(inc: Incident): Incident {
  return { ...inc, audit: [] };
}

/** A group that `inc` forms at `nowMs` on a route with `grouping`, before it has any member. */
export function newGroup(grouping: RouteGrouping, inc: Incident, nowMs: number): Omit<GroupState, 'members'> {
  const { key, labels } = groupOf(grouping, inc);
  return {
    key,
    id: createHash('sha256').update(`${key}@${nowMs}`).digest('hex').slice(0, 24),
    labels,
    waitMs: grouping.waitMs,
    intervalMs: grouping.intervalMs,
    repeatMs: grouping.repeatMs,
    createdAtMs: nowMs,
    version: 0,
  };
}

/** The member a change makes of its incident. */
export function groupMember(change: IncidentChange): GroupMember {
  return { incident: snapshot(change.incident), firing: change.kind !== 'resolved', kind: change.kind };
}

/** Whether a change of `kind` may be news: a person's change (ack, comment, assignment) never is. */
export function mayBeNews(kind: IncidentChangeKind): boolean {
  return !SNAPSHOT_ONLY.has(kind);
}

/** Whether a change of `kind` to a member (`known` before it) is news a flush must tell. */
export function isNews(kind: IncidentChangeKind, known: GroupMember | undefined, firing: boolean): boolean {
  return mayBeNews(kind) && (!known || known.firing !== firing);
}

/**
 * The group after `change` reached it through a route with `grouping`: `current` when nothing
 * changes (a resolution of an incident the group never had), undefined when no group forms (a
 * lone resolution). With `keepLoneResolution` such a resolution joins all the same: a group held
 * for a shared one, whose other agents may know the incident, keeps it to tell them.
 */
export function joinGroup(
  current: GroupState | undefined,
  grouping: RouteGrouping,
  change: IncidentChange,
  nowMs: number,
  keepLoneResolution = false,
): GroupState | undefined {
  // A twin another agent's incident absorbed: the survivor, on the same key, is the member.
  if (change.incident.mergedInto !== undefined) return current;
  const firing = change.kind !== 'resolved';
  const key = change.incident.key;
  const known = current?.members[key];
  if (!firing && !known && !keepLoneResolution) return current;
  const group = current ?? { ...newGroup(grouping, change.incident, nowMs), members: {} };
  const member = groupMember(change);
  const news = isNews(change.kind, known, firing);
  return {
    ...group,
    members: { ...group.members, [key]: member },
    ...(news ? { changedAtMs: group.changedAtMs ?? nowMs } : {}),
  };
}

/** The first `group_interval` tick of the group's grid after `t` (at `t` when `t` is a tick, never before the next one). */
function tickAfter(g: GroupState, flushedAtMs: number, t: number): number {
  return flushedAtMs + Math.max(1, Math.ceil((t - flushedAtMs) / g.intervalMs)) * g.intervalMs;
}

/**
 * When the group must be flushed next: `group_wait` after it formed, then the first tick after
 * news came, or the tick at which `repeat_interval` has passed (Alertmanager rounds a repeat up
 * to its next `group_interval` tick).
 */
export function flushDueAtMs(g: GroupState): number {
  if (g.flushedAtMs === undefined) return g.createdAtMs + g.waitMs;
  if (g.changedAtMs !== undefined) return tickAfter(g, g.flushedAtMs, g.changedAtMs);
  if (g.notified) return tickAfter(g, g.flushedAtMs, g.notified.atMs + g.repeatMs);
  // Flushed, nothing notified and nothing new: only resolved members were left, and they are gone.
  return g.flushedAtMs;
}

const isSubset = (sub: readonly string[], of: readonly string[]) => {
  const set = new Set(of);
  return sub.every((k) => set.has(k));
};

/** Alertmanager's DedupStage.needsUpdate, with `send_resolved` on. */
function needsNotification(g: GroupState, firing: string[], resolved: string[], nowMs: number): boolean {
  const last = g.notified;
  if (!last) return firing.length > 0;
  if (!isSubset(firing, last.firing)) return true;
  // Every member resolved: said even when nobody heard of the last ones, so the receiver's view clears.
  if (firing.length === 0) return last.firing.length > 0;
  if (!isSubset(resolved, last.resolved)) return true;
  return nowMs >= last.atMs + g.repeatMs;
}

export interface Flush {
  /** The notification to send, if one is due. */
  send?: QueuedChange;
  /** The group afterwards; undefined once it has no member left (it is forgotten). */
  next?: GroupState;
}

/** Flushes the group at `nowMs`: what to send, and the group without the resolved members it just reported. */
export function flushGroup(g: GroupState, nowMs: number): Flush {
  const keys = Object.keys(g.members);
  const firing = keys.filter((k) => g.members[k]!.firing);
  const resolved = keys.filter((k) => !g.members[k]!.firing);
  const notify = needsNotification(g, firing, resolved, nowMs);
  const members: Record<string, GroupMember> = {};
  for (const k of firing) members[k] = g.members[k]!;
  const after: GroupState = {
    ...g,
    members,
    flushedAtMs: nowMs,
    changedAtMs: undefined,
    ...(notify ? { notified: { atMs: nowMs, firing, resolved }, version: g.version + 1 } : {}),
  };
  delete after.changedAtMs;
  const out: Flush = firing.length > 0 ? { next: after } : {};
  if (notify) out.send = groupChange(g, firing, resolved, nowMs);
  return out;
}

function common(values: string[]): string {
  return values.every((v) => v === values[0]) ? (values[0] ?? '') : '';
}

/** Members' lines in a grouped notification's reason: status, title, incident key. */
function memberLine(m: GroupMember): string {
  return `${m.firing ? 'firing' : 'resolved'} · ${m.incident.title || m.incident.rule} · ${m.incident.key}`;
}

/**
 * The group's own incident change: what trackers open a ticket for (`opened`), follow up on
 * (`updated`: members joined or resolved, or a repeat) and solve (`resolved`: every member
 * resolved). Its incident stands for the group: the group key and labels, the worst severity of
 * its members, the service, asset and tenant they share.
 */
function groupChange(g: GroupState, firing: string[], resolved: string[], nowMs: number): QueuedChange {
  const all = [...firing, ...resolved].map((k) => g.members[k]!);
  const incs = all.map((m) => m.incident);
  const worst = incs.reduce((a, b) => (b.severityNumber > a.severityNumber ? b : a));
  const last = g.notified;
  const kind: IncidentChangeKind = !last ? 'opened' : firing.length === 0 ? 'resolved' : 'updated';
  const joined = last ? firing.filter((k) => !last.firing.includes(k)) : firing;
  const left = last ? resolved.filter((k) => last.firing.includes(k)) : [];
  const labelText = Object.keys(g.labels)
    .sort()
    .map((n) => `${n}=${g.labels[n]}`)
    .join(' ');
  const counts = `${firing.length} firing${resolved.length ? `, ${resolved.length} resolved` : ''}`;
  const what =
    kind === 'opened'
      ? `group formed with ${firing.length} incident(s)`
      : [
          joined.length ? `${joined.length} joined` : '',
          left.length ? `${left.length} resolved` : '',
          !joined.length && !left.length ? `repeat after ${Math.round(g.repeatMs / 1000)}s` : '',
        ]
          .filter(Boolean)
          .join(', ');
  const reason = [`${what}; ${counts}`, ...all.map(memberLine)].join('\n');
  const incident: Incident = {
    key: g.key,
    id: g.id,
    rule: common(incs.map((i) => i.rule)),
    ruleKind: 'group',
    labels: { ...g.labels },
    title: `${labelText || 'group'}: ${counts}`,
    status: firing.length ? 'open' : 'resolved',
    severityNumber: worst.severityNumber,
    severityText: worst.severityText,
    suppressed: false,
    suppressedBy: '',
    openedAtMs: g.createdAtMs,
    updatedAtMs: nowMs,
    resolvedAtMs: firing.length ? 0 : nowMs,
    firstSeenMs: Math.min(...incs.map((i) => i.firstSeenMs)),
    lastSeenMs: Math.max(...incs.map((i) => i.lastSeenMs)),
    eventCount: incs.reduce((n, i) => n + i.eventCount, 0),
    sampleEventIds: [],
    lastEventType: firing.length ? 'down' : 'up',
    tenant: common(incs.map((i) => i.tenant)),
    asset: common(incs.map((i) => i.asset)),
    service: common(incs.map((i) => i.service)),
    version: g.version + 1,
    audit: [],
  };
  return {
    kind,
    reason,
    atMs: nowMs,
    incident,
    notify: true,
    eventIds: [],
    group: { key: g.key, labels: { ...g.labels }, members: all },
  };
}
