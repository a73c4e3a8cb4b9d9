import type { IncomingHttpHeaders } from 'node:http';
import { VigilError } from '../../errors.ts';
import type { ObservedTicket } from './ticketSync.ts';

/** A webhook delivery refused: 401 for a missing or wrong signature, 400 for a body that is not the tracker's. */
export class WebhookRejectedError extends VigilError {
  readonly status: 400 | 401;
  constructor(status: 400 | 401, message: string) {
    super(status === 401 ? 'VIGIL_UNAUTHENTICATED' : 'VIGIL_INVALID_REQUEST', message);
    this.status = status;
  }
}

/** A tracker's webhooks as a driver reads them: verified, then the ticket change they tell of (if any). */
export interface TicketWebhookParser {
  /** Throws WebhookRejectedError; undefined for a delivery that moves no ticket (a comment, a field edit). */
  parse(body: Buffer, headers: IncomingHttpHeaders): ObservedTicket | undefined;
}

/** What an exporter that takes its tracker's webhooks offers the operators' API listener. */
export interface TicketWebhook {
  /** Verifies one delivery and applies the ticket change it tells of; throws WebhookRejectedError. */
  receive(body: Buffer, headers: IncomingHttpHeaders): Promise<void>;
}
