import {
  bool,
  bytes,
  duration,
  int,
  literalUnion,
  obj,
  optional,
  record,
  refine,
  str,
  type Infer,
} from '../../config/schema.ts';
import { ottlCondition, ottlTemplate, ottlValue } from '../../ottl/index.ts';

export const enrichSchema = refine(
  obj({
    key: ottlValue('event', {
      default: 'asset',
      doc: 'The lookup key: a path such as `asset` or `attributes["host.name"]`, or any value expression. Events whose key is nil or "" are left as they are.',
    }),
    where: optional(ottlCondition('event', { doc: 'Enrich only events matching this condition.' })),
    table: optional(
      obj(
        {
          path: str({
            nonEmpty: true,
            doc: 'CSV file with a header row, or YAML file (a mapping of key → fields, or a list of rows). Relative paths are under the data dir. Reloaded when it changes; a file that fails to parse keeps the previous table.',
          }),
          format: literalUnion(['auto', 'csv', 'yaml'], {
            default: 'auto',
            doc: '`auto` picks by extension: `.csv`, otherwise YAML.',
          }),
          key_field: str({
            default: 'key',
            nonEmpty: true,
            doc: 'The column (CSV) or field (YAML list) holding the key.',
          }),
          check_interval: duration({
            default: '30s',
            doc: "Besides change events, the file's mtime is checked this often, for file systems that send none (NFS, some container mounts).",
          }),
        },
        { doc: 'A local lookup table.' },
      ),
    ),
    http: optional(
      obj(
        {
          url: ottlTemplate('event', {
            doc: 'Lookup URL template, e.g. `http://cmdb.local/api/assets/{{ asset }}`; substituted values are URL-encoded. Asked only when the table (if any) has no row. A 200 JSON object is the row; 404 means no row.',
          }),
          timeout: duration({
            default: '500ms',
            doc: 'Per request; a batch waits at most about this long for lookups.',
          }),
          ttl: duration({ default: '5m', doc: 'How long a found (or 404) answer is cached.' }),
          error_ttl: duration({
            default: '30s',
            doc: 'How long a failed lookup is remembered, and how long lookups pause after 3 failures in a row, so a down service is not asked for every event.',
          }),
          cache_size: int({ default: 10_000, min: 1, doc: 'Answers kept (least recently used evicted).' }),
          max_concurrency: int({ default: 16, min: 1, doc: 'Requests in flight at once.' }),
          max_requests_per_second: int({
            default: 100,
            min: 1,
            doc: 'Lookups started per second; past it, events go on un-enriched (counted as `skipped`) rather than flood the service with one request per distinct key.',
          }),
          max_response_size: bytes({
            default: '64KiB',
            min: 2,
            doc: 'Largest answer read; a longer one counts as an error.',
          }),
          headers: record(str(), { doc: 'Extra request headers, e.g. `authorization: "Bearer ${env:CMDB_TOKEN}"`.' }),
        },
        { doc: 'A lookup service (CMDB, inventory API) asked per key, with an LRU cache.' },
      ),
    ),
    attributes: record(str({ nonEmpty: true }), {
      doc: 'Attribute to set → field of the row, e.g. `owner: owner_team`. Empty: every field of the row except the key, under its own name.',
    }),
    overwrite: bool({ default: false, doc: 'Replace attributes the event already has.' }),
  }),
  (c) => {
    if (!c.table && !c.http) return { path: '', message: 'an enrich processor needs a table, an http lookup, or both' };
    if (c.http && !/^https?:\/\/[^/{]/.test(c.http.url))
      return {
        path: 'http.url',
        message: `must start with http:// or https:// and a host, e.g. "http://cmdb.local/api/assets/{{ asset }}"; got ${JSON.stringify(c.http.url)}`,
      };
    return undefined;
  },
  'A table, an http lookup or both; `http.url` starts with http:// or https:// and a host.',
);

export type EnrichConfig = Infer<typeof enrichSchema>;
export type TableConfig = NonNullable<EnrichConfig['table']>;
export type HttpLookupConfig = NonNullable<EnrichConfig['http']>;
