import { str, type Schema } from '../config/schema.ts';
import type { Consumer, Consumers } from '../pipeline/signals.ts';

/**
 * A receiver's `tenant`: what it stamps on records that reach it naming none. Authentication,
 * where a receiver has it, names the tenant first; this is for the senders that cannot
 * authenticate (syslog, SNMP, Alertmanager) and for one receiver per tenant on its own port.
 */
export function defaultTenant(doc: string): Schema<string> {
  return str({ default: '', doc });
}

/** `consumer`, stamping `tenant` on every record that names none; as is for ''. */
export function stampingTenant<T extends { tenant: string }>(consumer: Consumer<T>, tenant: string): Consumer<T> {
  if (tenant === '') return consumer;
  const stamping: Consumer<T> = {
    consume(batch) {
      for (const item of batch) if (item.tenant === '') item.tenant = tenant;
      return consumer.consume(batch);
    },
  };
  if (consumer.admit) stamping.admit = (n) => consumer.admit!(n);
  if (consumer.checkMemory) stamping.checkMemory = () => consumer.checkMemory!();
  return stamping;
}

/** Every signal's consumer of a receiver, stamping `tenant` as `stampingTenant` does. */
export function stampingTenantAll(consumers: Consumers, tenant: string): Consumers {
  return {
    ...consumers,
    ...(consumers.logs ? { logs: stampingTenant(consumers.logs, tenant) } : {}),
    ...(consumers.metrics ? { metrics: stampingTenant(consumers.metrics, tenant) } : {}),
    ...(consumers.traces ? { traces: stampingTenant(consumers.traces, tenant) } : {}),
  };
}
