import {
  bool,
  duration,
  int,
  list,
  obj,
  optional,
  str,
  type ConfigIssue,
  type Infer,
  type Schema,
} from '../../config/schema.ts';
import type { ExtensionRef } from '../../pipeline/component.ts';
import { pruneLimitsSchema } from '../helper/prune.ts';
import { parseMatcher, type Matcher } from './routing.ts';
import { compileTemplate, TemplateError, type Template, type TemplateShape } from './template.ts';

function fromString<T>(base: Schema<string>, convert: (s: string) => T | string): Schema<T> {
  return {
    ...(base as unknown as Schema<T>),
    defaultValue: undefined,
    parse(value: unknown, path: string, issues: ConfigIssue[]) {
      const s = base.parse(value, path, issues);
      if (s === undefined) return undefined;
      const out = convert(s);
      if (typeof out === 'string') {
        issues.push({ path, message: out });
        return undefined;
      }
      return out;
    },
    describe: () => base.describe(),
  };
}

export function matcher(): Schema<Matcher> {
  return fromString(str(), parseMatcher);
}

/** What templates of incident notifications may name: the context `templateContext()` builds (a test keeps them equal). */
export const INCIDENT_TEMPLATE_SHAPE: TemplateShape = {
  change: { kind: 'leaf', reason: 'leaf', at: 'leaf', events: { list: 'leaf' }, actor: 'leaf' },
  incident: {
    key: 'leaf',
    id: 'leaf',
    rule: 'leaf',
    title: 'leaf',
    status: 'leaf',
    assignee: 'leaf',
    acknowledged_by: 'leaf',
    severity: 'leaf',
    severity_number: 'leaf',
    service: 'leaf',
    asset: 'leaf',
    tenant: 'leaf',
    event_count: 'leaf',
    opened_at: 'leaf',
    resolved_at: 'leaf',
    first_seen: 'leaf',
    last_seen: 'leaf',
    sample_events: { list: 'leaf' },
    merged_ids: { list: 'leaf' },
    version: 'leaf',
  },
  label: 'any',
  labels: { list: { name: 'leaf', value: 'leaf' } },
  marker: 'leaf',
  group: {
    key: 'leaf',
    label: 'any',
    labels: { list: { name: 'leaf', value: 'leaf' } },
    firing: 'leaf',
    resolved: 'leaf',
    total: 'leaf',
    members: {
      list: {
        status: 'leaf',
        firing: 'leaf',
        change: 'leaf',
        key: 'leaf',
        id: 'leaf',
        rule: 'leaf',
        title: 'leaf',
        severity: 'leaf',
        service: 'leaf',
        asset: 'leaf',
        tenant: 'leaf',
        opened_at: 'leaf',
        resolved_at: 'leaf',
        marker: 'leaf',
        label: 'any',
      },
    },
  },
};

/** A template string, compiled when the config is read so syntax errors and unknown names point at their YAML path. */
export function template(opts: { default: string; doc: string }): Schema<Template> {
  return shapedTemplate(INCIDENT_TEMPLATE_SHAPE, opts);
}

/** A template over another context than a notification's (e.g. an SMS request body). */
export function shapedTemplate(shape: TemplateShape, opts: { default?: string; doc: string }): Schema<Template> {
  return fromString(str(opts), (s) => {
    try {
      return compileTemplate(s, shape);
    } catch (err) {
      if (err instanceof TemplateError) return `is not a valid template: ${err.message}`;
      throw err;
    }
  });
}

export const routesSchema = list(
  obj({
    matchers: list(matcher(), {
      minItems: 1,
      doc: 'All must match, e.g. `severity >= error`, `env = "prod"`, `rule =~ "disk-.*"`, `service != "batch"`. Names are `rule`, `severity`, `service`, `tenant`, `asset`, `kind` (the change kind) or an incident label.',
    }),
  }),
  {
    default: [],
    doc: 'Which incidents this exporter takes: any route whose matchers all match. None: every incident.',
  },
);

export const deliverySchema = obj({
  max_attempts: int({
    default: 15,
    min: 1,
    doc: 'Attempts before a change is parked with its last error: it and the later changes of its incident wait (`vigil tickets list`) until `vigil tickets retry`. Time spent waiting for the shared ticket ledger (Redis unreachable) is not an attempt.',
  }),
  initial_backoff: duration({
    default: '2s',
    doc: "First retry delay; doubles per attempt (with jitter) up to `max_backoff`. A server's Retry-After wins.",
  }),
  max_backoff: duration({ default: '10m', doc: 'Longest retry delay.' }),
  concurrency: int({
    default: 4,
    min: 1,
    doc: 'Incidents delivered at the same time (changes of one incident always go one at a time, in order).',
  }),
  max_notifications_per_minute: int({
    default: 120,
    min: 0,
    doc: 'Most requests (notifications and their retries) this exporter starts in any minute (0: no limit). Past it, changes wait in the outbox, in order, and are never dropped; each one that waits is counted in `vigil_exporter_throttled_changes_total`.',
  }),
  fsync: bool({
    default: true,
    doc: 'fsync the outbox on every append and every delivery it records, so an accepted change survives power loss, and so does the record of one sent (it is not sent again).',
  }),
  timeout: duration({ default: '15s', doc: 'Time limit of one HTTP request; a timeout is retried.' }),
});

/** Fields every incident exporter shares: routing, templates, delivery. */
export function incidentExporterFields(defaults: { title: string; description: string }) {
  return {
    routes: routesSchema,
    title: template({ default: defaults.title, doc: 'Ticket title / message headline template (see "Templates").' }),
    description: template({ default: defaults.description, doc: 'Ticket body / comment template (see "Templates").' }),
    delivery: deliverySchema,
    ledger: ledgerSchema,
  };
}

const fileLedgerSchema = pruneLimitsSchema({
  what: 'Resolved tickets',
  maxAge: '30d',
  maxBytes: '16MiB',
  doc: 'The ticket ledger (`ledger.ndjson` in the exporter\'s directory under the data dir) maps each incident key to its ticket and is read into memory at start. Resolved tickets are forgotten after `max_age`, or oldest first past `max_bytes`; a later change of such an incident opens a new ticket. Open tickets are always kept. Each prune is logged with its counts and counted in `vigil_exporter_pruned_total{store="ledger"}`. A ledger shared through Redis (`extension`) forgets a record 30 days after its last change instead.',
});

export const ledgerSchema = obj(
  {
    ...fileLedgerSchema.shape,
    extension: optional(
      str({
        nonEmpty: true,
        doc: 'A `ticket_ledger` extension to keep the ledger in instead of the file, shared with every agent using it: one ticket per incident between them. Set for every incident exporter when `correlation.state` is `store: redis` (see docs/extensions.md).',
      }),
    ),
  },
  { doc: fileLedgerSchema.doc },
);

type LedgerConfig = Infer<typeof ledgerSchema>;

/** The ledger references of an incident exporter's config, for its factory's `extensionRefs`. */
export function ticketLedgerRefs(config: { ledger: LedgerConfig }): ExtensionRef[] {
  const id = config.ledger.extension;
  return id === undefined ? [] : [{ id, capability: 'ticket_ledger', path: 'ledger.extension' }];
}

/** An incident exporter's config that keeps its own file ledger, made to use ledger extension `id`; undefined for any other config. */
export function withLedgerExtension(config: unknown, id: string): unknown {
  const ledger = (config as { ledger?: unknown } | undefined)?.ledger;
  if (!ledger || typeof ledger !== 'object' || 'extension' in ledger) return undefined;
  return { ...(config as object), ledger: { ...ledger, extension: id } };
}

export const DEFAULT_TITLE = '[{{incident.severity}}] {{incident.title}}';
export const DEFAULT_DESCRIPTION = [
  '{{change.kind}}: {{change.reason}}',
  'Incident: {{incident.key}}',
  'Rule: {{incident.rule}} · Service: {{incident.service}} · Asset: {{incident.asset}}',
  'Events: {{incident.event_count}} (first {{incident.first_seen}}, last {{incident.last_seen}})',
  '{{#labels}}{{name}}={{value}} {{/labels}}',
].join('\n');

/** The polling half of `sync:`, shared by the trackers that can be polled. */
export function pollFields(what: string) {
  return {
    interval: duration({
      default: '60s',
      positive: true,
      unit: 'required',
      doc: `How often ${what} are read back (mode \`poll\`); a ticket a person closes resolves its incident within one interval.`,
    }),
    max_requests_per_minute: int({
      default: 60,
      min: 0,
      doc: 'Most read requests polling makes in any minute (0: no limit); past it a pass waits, so many open tickets spread over several minutes.',
    }),
    max_backoff: duration({
      default: '10m',
      doc: "After a failed pass (tracker down, 429, 5xx, timeout) the next waits twice the interval, doubling per failure up to this; a server's Retry-After wins.",
    }),
  };
}
