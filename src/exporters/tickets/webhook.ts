import type { IncomingHttpHeaders } from 'node:http';
import { VigilError } from '../../errors.ts';
import type { ObservedTicket, TrackerComment } from './ticketSync.ts';

/** A webhook delivery refused: 401 for a missing or wrong signature, 400 for a body that is not the tracker's. */
export class WebhookRejectedError extends VigilError {
  readonly status: 400 | 401;
  constructor(status: 400 | 401, message: string) {
    super(status === 401 ? 'VIGIL_UNAUTHENTICATED' : 'VIGIL_INVALID_REQUEST', message);
    this.status = status;
  }
}

/** A comment a webhook tells of, on the ticket `ref`. */
export interface ObservedComment {
  ref: string;
  comment: TrackerComment;
}

/** A tracker's webhooks as a driver reads them: verified, then the ticket change or comment they tell of (if any). */
export interface TicketWebhookParser {
  /** Throws WebhookRejectedError; undefined for a delivery that tells of nothing Vigil reads (a field edit). */
  parse(body: Buffer, headers: IncomingHttpHeaders): ObservedTicket | ObservedComment | undefined;
}

/** What an exporter that takes its tracker's webhooks offers the operators' API listener. */
export interface TicketWebhook {
  /** Verifies one delivery and applies the ticket change it tells of; throws WebhookRejectedError. */
  receive(body: Buffer, headers: IncomingHttpHeaders): Promise<void>;
}
