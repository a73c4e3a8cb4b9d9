import type { ReceiverFactory } from '../../pipeline/component.ts';
import { lazyModule } from '../../pipeline/lazyModule.ts';
import { stampingTenant } from '../defaultTenant.ts';
import { alertmanagerReceiverSchema, type AlertmanagerReceiverConfig } from './config.ts';

// Loaded when a config uses it.
const implementation = lazyModule('the alertmanager receiver', () => import('./receiver.ts'));

export const alertmanagerReceiverFactory: ReceiverFactory<AlertmanagerReceiverConfig> = {
  kind: 'receiver',
  type: 'alertmanager',
  signals: ['logs'],
  description:
    "Alerts from Prometheus, vmalert or Grafana through Alertmanager's API (POST /api/v2/alerts): firing becomes down, resolved becomes up.",
  configSchema: alertmanagerReceiverSchema,
  load: implementation.load,
  create(settings, config, consumers) {
    if (!consumers.logs) throw new Error('alertmanager receiver needs a logs pipeline');
    return new (implementation.get().AlertmanagerReceiver)(
      settings,
      config,
      stampingTenant(consumers.logs, config.tenant),
    );
  },
};
