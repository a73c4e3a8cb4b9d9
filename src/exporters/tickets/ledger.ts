import { VigilError } from '../../errors.ts';
import type { SharedGroups } from './sharedGroups.ts';

/** What Vigil knows about the external ticket (or notification) made for one incident key. */
export interface TicketRecord {
  /** The tracker's id: GLPI ticket id, Jira issue key; `sent` for plain notifications. */
  ref: string;
  /** The incident the ticket was made for: a later incident on the same key gets a new ticket. */
  incidentId: string;
  resolved: boolean;
  /**
   * Incidents on the key that agents opened apart (cut off from each other or from Redis) and
   * that merged into `incidentId`: their changes are about this ticket's incident, never a new one.
   */
  mergedIds?: string[];
  /**
   * The tracker status Vigil's own last write left the ticket in (GLPI's status number, Jira's
   * status name), when it set one: what two-way sync reads back as Vigil's doing, not a person's.
   */
  written?: string;
}

/** Whether `rec` is the ticket of `incident`: made for it, for an incident merged into it, or for the one it merged into. */
export function ticketOfIncident(rec: TicketRecord, incident: { id: string; mergedIds?: string[] }): boolean {
  return (
    rec.incidentId === incident.id ||
    (incident.mergedIds?.includes(rec.incidentId) ?? false) ||
    (rec.mergedIds?.includes(incident.id) ?? false)
  );
}

/**
 * The ledger cannot answer now (its shared store is unreachable), so nothing is known about the
 * key: not a failure of the tracker, and worth waiting for. A claim the caller held lapses with
 * its time to live.
 */
export class TicketLedgerUnavailableError extends VigilError {
  constructor(message: string, opts: { cause?: unknown } = {}) {
    super('VIGIL_TICKET_LEDGER_UNAVAILABLE', message, opts);
  }
}

/**
 * The incident key → ticket map, and the claim that keeps creation to one instance. An
 * exporter calls claim() before creating; only the caller that gets `true` may create, and it
 * then records the result with put() (or gives the claim back with release()). Claims do not
 * outlive the process that holds them in the file ledger; a shared store (Redis) gives them a
 * time to live instead. Implementations must be safe to call concurrently for different keys,
 * and throw TicketLedgerUnavailableError when they cannot reach their store.
 */
export interface TicketLedger {
  get(key: string): Promise<TicketRecord | undefined>;
  claim(key: string): Promise<boolean>;
  /** Stores the record and drops this caller's claim on the key. */
  put(key: string, record: TicketRecord): Promise<void>;
  release(key: string): Promise<void>;
  /**
   * Records that incident `lost` merged into `into`, at once and whatever another caller stores
   * meanwhile: a record of `lost` becomes `into`'s, with its ticket and its state; a record of
   * `into` learns the id. A record of any other incident, or none, stays as it is.
   */
  merge(key: string, lost: string, into: string): Promise<void>;
  close(): Promise<void>;
  /**
   * A ledger shared by several agents shares the exporter's notification groups too, so that a
   * group's members are every agent's and each of its notifications one agent's; absent, each
   * process groups on its own.
   */
  readonly groups?: SharedGroups;
}

/** `rec` once incident `lost` merged into `into` (see TicketLedger.merge); undefined when nothing changes. */
export function mergedRecord(rec: TicketRecord, lost: string, into: string): TicketRecord | undefined {
  if (rec.incidentId !== lost && rec.incidentId !== into) return undefined;
  if (rec.incidentId === into && rec.mergedIds?.includes(lost)) return undefined;
  const mergedIds = [...new Set([...(rec.mergedIds ?? []), lost])].filter((id) => id !== into).sort();
  return { ...rec, incidentId: into, mergedIds };
}
