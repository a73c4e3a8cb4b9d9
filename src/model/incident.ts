import type { EventType } from './event.ts';

export type IncidentStatus = 'open' | 'acknowledged' | 'resolved';

export type IncidentChangeKind =
  | 'opened'
  | 'updated'
  | 'escalated'
  | 'suppressed'
  | 'unsuppressed'
  | 'acknowledged'
  | 'resolved'
  | 'reopened'
  | 'commented'
  | 'assigned';

/** Changes a person makes (through the API) that only add to an incident: trackers get them as a follow-up, never as a new ticket. */
export const OPERATOR_UPDATE_KINDS: ReadonlySet<IncidentChangeKind> = new Set([
  'acknowledged',
  'commented',
  'assigned',
]);

/** One entry of an incident's audit trail. */
export interface IncidentAuditEntry {
  atMs: number;
  kind: IncidentChangeKind;
  reason: string;
  /** Who made the change, when a person did (the API's principal); absent for the rules' own changes. */
  actor?: string;
}

/**
 * An incident: one real problem, identified by its rule and group values. `key` is the
 * canonical form (`<rule>{<label>="<value>",...}`, labels sorted) that every ticket and
 * webhook carries, so a second instance or a restart finds the same ticket.
 */
export interface Incident {
  key: string;
  /** Stable id derived from the key and the opening time (a reopened incident keeps its id). */
  id: string;
  rule: string;
  ruleKind: string;
  labels: Record<string, string>;
  title: string;
  status: IncidentStatus;
  /** OTel SeverityNumber, the highest seen. */
  severityNumber: number;
  severityText: string;
  suppressed: boolean;
  suppressedBy: string;
  openedAtMs: number;
  updatedAtMs: number;
  resolvedAtMs: number;
  firstSeenMs: number;
  lastSeenMs: number;
  eventCount: number;
  /** A bounded sample of event ids, oldest first. */
  sampleEventIds: string[];
  lastEventType: EventType;
  tenant: string;
  asset: string;
  service: string;
  /** Monotonic version; storage keeps one row per version. */
  version: number;
  /**
   * Ids of incidents on this key that other agents opened before they heard of this one (or while
   * they could not reach the shared state), merged into it. Absent when none.
   */
  mergedIds?: string[];
  /** Set on the last change of an incident merged into another: the id that carries on. */
  mergedInto?: string;
  /** When a person acknowledged it, and who (the `acknowledged` status); absent until then, and again once it reopens. */
  acknowledgedAtMs?: number;
  acknowledgedBy?: string;
  /** Who works on it; absent or '' when nobody. */
  assignee?: string;
  audit: IncidentAuditEntry[];
}

/**
 * What the correlation engine emits. Storage writes every change; ticket exporters turn them
 * into tickets, follow-ups and solutions. `notify` is false while group_wait holds a new
 * incident back, while a resolution is held (`held`), or when a suppressed incident changes;
 * storage still records it.
 */
export interface IncidentChange {
  kind: IncidentChangeKind;
  reason: string;
  atMs: number;
  incident: Incident;
  notify: boolean;
  /**
   * Set on a `resolved` change whose notification is held back: it came within group_interval
   * of the last notification while the incident may still reopen. Whoever is notified still
   * believes the incident open, so a ticket must stay open; a reopen before the hold ends is
   * silent, and otherwise a `resolved` change with `notify` follows once group_interval (or
   * reopen_window) has passed.
   */
  held?: true;
  /** Set on the `opened` change that created the incident (not on the first notification after group_wait). */
  created?: true;
  /** Ids of the events that caused this change (bounded). */
  eventIds: string[];
  /** Who made the change, when a person did (acknowledge, resolve or reopen by hand, comment, assign). */
  actor?: string;
  /** The tracker ticket (`<exporter id>#<ref>`) a person's comment was read back from: that exporter does not post it there again. */
  ticket?: string;
}
