import type { Notice, TicketDriver } from './incidentExporter.ts';

/**
 * A driver that sends every change as one message (a webhook call, an SMS): nothing to look up,
 * update or close on the other side. The ledger only records that the incident was announced
 * (its "ticket" is `sent`), so a resolve goes out only for incidents people heard of.
 */
export abstract class MessageDriver implements TicketDriver {
  /** Sends one change; throws a delivery error to have it retried or parked. */
  protected abstract deliver(notice: Notice): Promise<void>;

  async find(): Promise<undefined> {
    return undefined;
  }

  async create(notice: Notice): Promise<string> {
    await this.deliver(notice);
    return 'sent';
  }

  update(_ref: string, notice: Notice): Promise<void> {
    return this.deliver(notice);
  }

  resolve(_ref: string, notice: Notice): Promise<void> {
    return this.deliver(notice);
  }

  reopen(_ref: string, notice: Notice): Promise<void> {
    return this.deliver(notice);
  }
}
