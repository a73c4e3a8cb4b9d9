import type { ExtensionFactory } from '../../pipeline/component.ts';
import { lazyModule } from '../../pipeline/lazyModule.ts';
import { ticketLedgerSchema, type TicketLedgerConfig } from './config.ts';

const implementation = lazyModule('the ticket_ledger extension', () => import('./extension.ts'));

export const ticketLedgerExtensionFactory: ExtensionFactory<TicketLedgerConfig> = {
  kind: 'extension',
  type: 'ticket_ledger',
  signals: [],
  provides: ['ticket_ledger'],
  description:
    'The incident → ticket ledger shared by the agents of a deployment (in the Redis of a `redis_state` extension): incident exporters naming it in `ledger.extension` make one ticket per incident between them.',
  configSchema: ticketLedgerSchema,
  extensionRefs: (config) => [{ id: config.redis_state, capability: 'redis_state', path: 'redis_state' }],
  load: implementation.load,
  create(settings, config) {
    return new (implementation.get().TicketLedgerExtension)(settings, config);
  },
};
