import type { ReceiverFactory } from '../../pipeline/component.ts';
import { stampingTenantAll } from '../defaultTenant.ts';
import { otlpReceiverSchema, type OtlpReceiverConfig } from './config.ts';
import { OtlpReceiver } from './receiver.ts';

export const otlpReceiverFactory: ReceiverFactory<OtlpReceiverConfig> = {
  kind: 'receiver',
  type: 'otlp',
  signals: ['logs', 'metrics', 'traces'],
  description:
    'OTLP over gRPC and HTTP (protobuf and JSON): logs, metrics and traces; spans with status ERROR also become events.',
  configSchema: otlpReceiverSchema,
  extensionRefs: (config) =>
    config.auth?.authenticator
      ? [{ id: config.auth.authenticator, capability: 'authenticator', path: 'auth.authenticator' }]
      : [],
  create(settings, config, consumers) {
    return new OtlpReceiver(settings, config, stampingTenantAll(consumers, config.tenant));
  },
};
