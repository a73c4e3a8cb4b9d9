import { obj, str, type Infer } from '../../config/schema.ts';

export const ticketLedgerSchema = obj(
  {
    redis_state: str({
      nonEmpty: true,
      doc: 'The `redis_state` extension whose Redis keeps the ledger, so every agent pointing at it makes one ticket per incident between them.',
    }),
  },
  { doc: 'A ticket ledger that incident exporters name in `ledger.extension` instead of keeping their own file.' },
);

export type TicketLedgerConfig = Infer<typeof ticketLedgerSchema>;
