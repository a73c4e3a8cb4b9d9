import { bytes, endpoint, obj, optional, type Infer } from '../../config/schema.ts';
import { httpServerLimitFields, minBodyRateField } from '../http/serverConfig.ts';
import { tlsServerSchema } from '../../config/tls.ts';
import { defaultTenant } from '../defaultTenant.ts';
import { maxRecordsPerRequest } from '../recordLimit.ts';

export const alertmanagerReceiverSchema = obj({
  endpoint: endpoint({
    default: '127.0.0.1:9093',
    doc: "Listener address (9093 is Alertmanager's port, so senders configured for one need only its host); shared with the json and OTLP/HTTP receivers when equal.",
  }),
  tls: optional(tlsServerSchema),
  max_request_body_size: bytes({
    default: '20MiB',
    min: 1,
    doc: 'Largest body accepted, after decompression (413 above).',
  }),
  max_records_per_request: maxRecordsPerRequest(),
  ...httpServerLimitFields,
  min_body_rate: minBodyRateField,
  tenant: defaultTenant(
    'Tenant stamped on every alert received (Alertmanager sends no credentials Vigil checks); empty: none.',
  ),
});

export type AlertmanagerReceiverConfig = Infer<typeof alertmanagerReceiverSchema>;
