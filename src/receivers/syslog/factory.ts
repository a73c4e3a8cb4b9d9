import type { ReceiverFactory } from '../../pipeline/component.ts';
import { stampingTenant } from '../defaultTenant.ts';
import { syslogReceiverSchema, type SyslogReceiverConfig } from './config.ts';
import { SyslogReceiver } from './receiver.ts';

export const syslogReceiverFactory: ReceiverFactory<SyslogReceiverConfig> = {
  kind: 'receiver',
  type: 'syslog',
  signals: ['logs'],
  description:
    'Syslog over UDP, TCP and TLS: RFC 5424 and RFC 3164 (with the usual device variants), octet-counted or LF framing.',
  configSchema: syslogReceiverSchema,
  create(settings, config, consumers) {
    if (!consumers.logs) throw new Error('syslog receiver needs a logs pipeline');
    return new SyslogReceiver(settings, config, stampingTenant(consumers.logs, config.tenant));
  },
};
