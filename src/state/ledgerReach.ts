import { TicketLedgerUnavailableError } from '../exporters/tickets/ledger.ts';

/**
 * Whether a failed command means Redis could not serve it now, rather than refused it. The client
 * fails at once while disconnected ("Stream isn't writeable", "Connection is closed"); among the
 * replies, only those of a server that is starting, failing over or busy are worth waiting for.
 */
function unreachable(err: unknown): boolean {
  // A bug is no outage: waiting would hide it.
  if (!(err instanceof Error) || err instanceof TypeError || err instanceof RangeError || err instanceof ReferenceError)
    return false;
  if (err.name !== 'ReplyError') return true;
  return /^(LOADING|READONLY|CLUSTERDOWN|TRYAGAIN|MASTERDOWN|BUSY)\b/.test(err.message);
}

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
