import { bytes, endpoint, list, obj, optional, str, type Infer } from '../../config/schema.ts';
import { httpServerLimitFields, minBodyRateField } from '../http/serverConfig.ts';
import { tlsServerSchema } from '../../config/tls.ts';
import { defaultTenant } from '../defaultTenant.ts';
import { maxRecordsPerRequest } from '../recordLimit.ts';

const paths = (doc: string, def: string[]) => list(str(), { default: def, doc });

/**
 * Where each event field is read from, first match wins. Paths are dotted (`host.name`
 * looks up key "host.name" first, then nested host → name). The defaults understand plain
 * events and Encore-style events unchanged.
 */
export const fieldMappingSchema = obj(
  {
    time: paths(
      'Event time: epoch seconds, ms, µs or ns (by magnitude) or an ISO-8601 / RFC 3339 string (a leap second, :60, is the first second of the next minute).',
      ['time', 'timestamp', 'ts', '@timestamp', 'event_ts', 'time_unix_nano'],
    ),
    severity: paths(
      'Severity: an OTel SeverityNumber (1–24) or a word (debug, info, warning, error, critical, fatal...).',
      ['severity', 'level', 'severity_text', 'event_level', 'severity_number'],
    ),
    body: paths('The message.', ['body', 'message', 'msg', 'event_desc', 'description']),
    asset: paths('What the event is about (host, device, URL...).', [
      'asset',
      'asset_unique_id',
      'host',
      'hostname',
      'host.name',
    ]),
    title: paths('Short title; defaults to the first line of the body.', ['title', 'event_title', 'summary']),
    type: paths('up, down or neutral.', ['type', 'event_type']),
    service: paths('Service name.', ['service', 'service.name', 'appl_name']),
    tenant: paths('Tenant.', ['tenant']),
    trace_id: paths('Trace id (hex).', ['trace_id', 'traceId']),
    span_id: paths('Span id (hex).', ['span_id', 'spanId']),
    attributes: paths('An object whose keys become record attributes.', ['attributes']),
    resource: paths('An object whose keys become resource attributes.', ['resource']),
  },
  {
    doc: 'Where each event field is read from: a list of dotted paths, first match wins. Unmapped keys become attributes.',
  },
);

export const jsonReceiverSchema = obj({
  endpoint: endpoint({
    default: '127.0.0.1:4318',
    doc: 'Listener address; shared with the OTLP/HTTP receiver when equal.',
  }),
  tls: optional(tlsServerSchema),
  paths: list(str({ pattern: /^\//, patternHint: 'a path starting with /' }), {
    default: ['/v1/events', '/ingest'],
    minItems: 1,
    doc: 'URL paths that take events (POST).',
  }),
  max_request_body_size: bytes({
    default: '20MiB',
    min: 1,
    doc: 'Largest body accepted, after decompression (413 above).',
  }),
  max_records_per_request: maxRecordsPerRequest(),
  ...httpServerLimitFields,
  min_body_rate: minBodyRateField,
  fields: fieldMappingSchema,
  tenant: defaultTenant(
    "Tenant stamped on events that name none. With `auth`, the caller's tenant comes first; then the body's tenant field, then this. Without `auth` a sender may name any tenant in the body: require `auth` where senders must not choose.",
  ),
  auth: optional(
    obj(
      {
        authenticator: str({
          nonEmpty: true,
          doc: "Id of an authenticator extension (listed in service.extensions). Any authenticated caller may send, whatever its role; when its token or API key names a tenant, every event is stamped with it and the body's tenant field is ignored.",
        }),
      },
      {
        doc: 'Require `Authorization: Bearer <token or API key>`; other requests get 401 (problem details). Without it the receiver accepts anyone who can reach it.',
      },
    ),
  ),
});

export type JsonReceiverConfig = Infer<typeof jsonReceiverSchema>;
export type FieldMapping = Infer<typeof fieldMappingSchema>;
