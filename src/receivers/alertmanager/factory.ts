import type { ReceiverFactory } from '../../pipeline/component.ts';
import { stampingTenant } from '../defaultTenant.ts';
import { alertmanagerReceiverSchema, type AlertmanagerReceiverConfig } from './config.ts';
import { AlertmanagerReceiver } from './receiver.ts';

export const alertmanagerReceiverFactory: ReceiverFactory<AlertmanagerReceiverConfig> = {
  kind: 'receiver',
  type: 'alertmanager',
  signals: ['logs'],
  description:
    "Alerts from Prometheus, vmalert or Grafana through Alertmanager's API (POST /api/v2/alerts): firing becomes down, resolved becomes up.",
  configSchema: alertmanagerReceiverSchema,
  create(settings, config, consumers) {
    if (!consumers.logs) throw new Error('alertmanager receiver needs a logs pipeline');
    return new AlertmanagerReceiver(settings, config, stampingTenant(consumers.logs, config.tenant));
  },
};
