import { VigilError } from '../../errors.ts';

/** What Vigil knows about the external ticket (or notification) made for one incident key. */
export interface TicketRecord {
  /** The tracker's id: GLPI ticket id, Jira issue key; `sent` for plain notifications. */
  ref: string;
  /** The incident the ticket was made for: a later incident on the same key gets a new ticket. */
  incidentId: string;
  resolved: boolean;
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
  close(): Promise<void>;
}
