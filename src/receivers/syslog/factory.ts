import type { ReceiverFactory } from '../../pipeline/component.ts';
import { lazyModule } from '../../pipeline/lazyModule.ts';
import { stampingTenant } from '../defaultTenant.ts';
import { syslogReceiverSchema, type SyslogReceiverConfig } from './config.ts';

// Loaded when a config uses it.
const implementation = lazyModule('the syslog receiver', () => import('./receiver.ts'));

export const syslogReceiverFactory: ReceiverFactory<SyslogReceiverConfig> = {
  kind: 'receiver',
  type: 'syslog',
  signals: ['logs'],
  description:
    'Syslog over UDP, TCP and TLS: RFC 5424 and RFC 3164 (with the usual device variants), octet-counted or LF framing.',
  configSchema: syslogReceiverSchema,
  load: implementation.load,
  create(settings, config, consumers) {
    if (!consumers.logs) throw new Error('syslog receiver needs a logs pipeline');
    return new (implementation.get().SyslogReceiver)(settings, config, stampingTenant(consumers.logs, config.tenant));
  },
};
