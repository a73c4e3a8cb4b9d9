import type { ExtensionFactory } from '../../pipeline/component.ts';
import { lazyModule } from '../../pipeline/lazyModule.ts';
import { redisConnectionSchema, type RedisConnectionConfig } from '../../state/redisConfig.ts';

// Loaded when a config uses it, with ioredis.
const implementation = lazyModule('the redis_state extension', () => import('./extension.ts'));

export const redisStateExtensionFactory: ExtensionFactory<RedisConnectionConfig> = {
  kind: 'extension',
  type: 'redis_state',
  signals: [],
  provides: ['redis_state'],
  description:
    "One Redis connection (standalone, Sentinel or Cluster) that agents share correlation state through (the correlation connector's `state.extension`) and a `ticket_ledger` extension keeps incident tickets in.",
  configSchema: redisConnectionSchema,
  load: implementation.load,
  create(settings, config) {
    return new (implementation.get().RedisStateExtension)(settings, config);
  },
};
