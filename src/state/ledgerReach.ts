import { TicketLedgerUnavailableError } from '../exporters/tickets/ledger.ts';
import { unreachable } from './redisConnection.ts';

/** Runs a ledger command; a Redis out of reach becomes TicketLedgerUnavailableError. */
export async function reaching<T>(what: string, command: () => Promise<T>): Promise<T> {
  try {
    return await command();
  } catch (err) {
    if (!unreachable(err)) throw err;
    throw new TicketLedgerUnavailableError(
      `shared ticket ledger unreachable (Redis) while ${what}: ${(err as Error).message}`,
      { cause: err },
    );
  }
}
