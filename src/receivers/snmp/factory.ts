import type { ReceiverFactory } from '../../pipeline/component.ts';
import { lazyModule } from '../../pipeline/lazyModule.ts';
import { stampingTenant } from '../defaultTenant.ts';
import { snmpTrapReceiverSchema, type SnmpTrapReceiverConfig } from './config.ts';

// Loaded when a config uses it, with net-snmp.
const implementation = lazyModule('the snmp_trap receiver', () => import('./receiver.ts'));

export const snmpTrapReceiverFactory: ReceiverFactory<SnmpTrapReceiverConfig> = {
  kind: 'receiver',
  type: 'snmp_trap',
  signals: ['logs'],
  description:
    'SNMP traps and informs over UDP: v1, v2c (communities) and v3 (USM users with authentication and privacy); names from a MIB directory.',
  configSchema: snmpTrapReceiverSchema,
  load: implementation.load,
  create(settings, config, consumers) {
    if (!consumers.logs) throw new Error('snmp_trap receiver needs a logs pipeline');
    return new (implementation.get().SnmpTrapReceiver)(settings, config, stampingTenant(consumers.logs, config.tenant));
  },
};
