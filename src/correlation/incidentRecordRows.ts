import type { Incident } from '../model/incident.ts';
import type { IncidentRecord } from './incidentBook.ts';

/** `L` when it names every field of `T`, else never: a field added to `T` and not to a list fails to compile. */
type Every<T, L extends readonly PropertyKey[]> = [Exclude<keyof T, L[number]>] extends [never] ? L : never;

/** An incident's fields in the order a row holds them: those always there first, the optional ones after. */
const INCIDENT_LIST = [
  'key',
  'id',
  'rule',
  'ruleKind',
  'labels',
  'title',
  'status',
  'severityNumber',
  'severityText',
  'suppressed',
  'suppressedBy',
  'openedAtMs',
  'updatedAtMs',
  'resolvedAtMs',
  'firstSeenMs',
  'lastSeenMs',
  'eventCount',
  'sampleEventIds',
  'lastEventType',
  'tenant',
  'asset',
  'service',
  'version',
  'audit',
  'mergedIds',
  'mergedInto',
  'acknowledgedAtMs',
  'acknowledgedBy',
  'assignee',
] as const;
const INCIDENT_FIELDS: Every<Incident, typeof INCIDENT_LIST> = INCIDENT_LIST;

/** A record's own fields (its incident apart), likewise. */
const RECORD_LIST = [
  'notifiedAtMs',
  'pending',
  'parent',
  'members',
  'lastDown',
  'flapping',
  'escalated',
  'mark',
  'notifiedCount',
  'statusAtMs',
  'resolveHeldUntilMs',
  'baseline',
  'resolutionToldMs',
  'assignedAtMs',
  'sealed',
  'heardBy',
] as const;
const RECORD_FIELDS: Every<Omit<IncidentRecord, 'incident'>, typeof RECORD_LIST> = RECORD_LIST;

const INCIDENT_KNOWN = new Set<string>(INCIDENT_FIELDS);
const RECORD_KNOWN = new Set<string>([...RECORD_FIELDS, 'incident']);

/**
 * An incident record as rows: the incident's values and the record's, each in its list's order,
 * without the field names (which were more than half of a record's JSON), an absent field as null
 * and the absent ones at the end left off. Fields the lists do not name (a record of another
 * version) go whole in a third element, `{i: {...}, r: {...}}`, so that nothing is lost.
 */
export type IncidentRecordRows =
  | [incident: unknown[], record: unknown[]]
  | [incident: unknown[], record: unknown[], others: { i?: Record<string, unknown>; r?: Record<string, unknown> }];

/** Whether a register's value has the shape of an incident record (an object with an `incident` object). */
export function isIncidentRecord(value: unknown): value is IncidentRecord {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const inc = (value as { incident?: unknown }).incident;
  return typeof inc === 'object' && inc !== null && !Array.isArray(inc);
}

/**
 * The values of `fields` in `obj`, the absent ones (undefined) null and those at the end left off,
 * and how many are present; undefined if one is null (it could not be told from absent).
 */
function valuesOf(obj: Record<string, unknown>, fields: readonly string[]): [unknown[], number] | undefined {
  const out = new Array<unknown>(fields.length);
  let end = 0;
  let present = 0;
  for (let i = 0; i < fields.length; i++) {
    const v = obj[fields[i]!];
    if (v === null) return undefined;
    if (v === undefined) out[i] = null;
    else {
      out[i] = v;
      end = i + 1;
      present++;
    }
  }
  out.length = end;
  return [out, present];
}

/** The fields of `obj` that `known` does not hold, or undefined when it holds them all (`present` of them are). */
function othersOf(
  obj: Record<string, unknown>,
  known: Set<string>,
  present: number,
): Record<string, unknown> | undefined {
  let n = 0;
  for (const k in obj) if (obj[k] !== undefined) n++;
  if (n === present) return undefined;
  const others: Record<string, unknown> = {};
  for (const k in obj) if (!known.has(k) && obj[k] !== undefined) others[k] = obj[k];
  return others;
}

/** A record as rows (`IncidentRecordRows`); undefined for one a field of which is null, which goes as JSON instead. */
export function incidentRecordToRows(rec: IncidentRecord): IncidentRecordRows | undefined {
  const r = rec as unknown as Record<string, unknown>;
  const i = rec.incident as unknown as Record<string, unknown>;
  const incidentValues = valuesOf(i, INCIDENT_FIELDS);
  const recordValues = valuesOf(r, RECORD_FIELDS);
  if (incidentValues === undefined || recordValues === undefined) return undefined;
  const [incident, incidentPresent] = incidentValues;
  const [record, recordPresent] = recordValues;
  const otherI = othersOf(i, INCIDENT_KNOWN, incidentPresent);
  const otherR = othersOf(r, RECORD_KNOWN, recordPresent + 1);
  if (otherI === undefined && otherR === undefined) return [incident, record];
  return [incident, record, { ...(otherI ? { i: otherI } : {}), ...(otherR ? { r: otherR } : {}) }];
}

function fill(into: Record<string, unknown>, fields: readonly string[], values: readonly unknown[]): void {
  const n = Math.min(fields.length, values.length);
  for (let i = 0; i < n; i++) {
    const v = values[i];
    if (v !== null && v !== undefined) into[fields[i]!] = v;
  }
}

/** The record `incidentRecordToRows` made the rows of. */
export function incidentRecordFromRows(rows: IncidentRecordRows): IncidentRecord {
  const incident: Record<string, unknown> = {};
  fill(incident, INCIDENT_FIELDS, rows[0]);
  const record: Record<string, unknown> = { incident };
  fill(record, RECORD_FIELDS, rows[1]);
  const others = rows[2];
  if (others?.i) Object.assign(incident, others.i);
  if (others?.r) Object.assign(record, others.r);
  return record as unknown as IncidentRecord;
}
