import type { ReceiverFactory } from '../../pipeline/component.ts';
import { stampingTenant } from '../defaultTenant.ts';
import { jsonReceiverSchema, type JsonReceiverConfig } from './config.ts';
import { JsonReceiver } from './receiver.ts';

export const jsonReceiverFactory: ReceiverFactory<JsonReceiverConfig> = {
  kind: 'receiver',
  type: 'json',
  signals: ['logs'],
  description: 'Plain JSON events over HTTP: one object, an array, or NDJSON; gzip, deflate or zstd.',
  configSchema: jsonReceiverSchema,
  extensionRefs: (config) =>
    config.auth ? [{ id: config.auth.authenticator, capability: 'authenticator', path: 'auth.authenticator' }] : [],
  create(settings, config, consumers) {
    if (!consumers.logs) throw new Error('json receiver needs a logs pipeline');
    return new JsonReceiver(settings, config, stampingTenant(consumers.logs, config.tenant));
  },
};
