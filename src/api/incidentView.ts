import type { Incident } from '../model/incident.ts';
import type { RuleConfig } from '../correlation/config.ts';
import type { TicketLink } from '../pipeline/component.ts';
import { ruleDefinition, ruleDefinitionSchema } from './ruleView.ts';

const iso = (ms: number) => new Date(ms).toISOString();
const isoOrNull = (ms: number | undefined) => (ms !== undefined && ms > 0 ? iso(ms) : null);

const timestamp = { type: 'string', format: 'date-time' } as const;
const nullableTimestamp = { type: ['string', 'null'], format: 'date-time' } as const;
const nullableString = { type: ['string', 'null'] } as const;

/** An incident as the list shows it: what tells it apart, without its trail. */
export const incidentSummarySchema = {
  type: 'object',
  required: [
    'id',
    'key',
    'rule',
    'rule_kind',
    'labels',
    'title',
    'status',
    'severity',
    'severity_number',
    'suppressed',
    'suppressed_by',
    'opened_at',
    'updated_at',
    'resolved_at',
    'first_seen',
    'last_seen',
    'event_count',
    'tenant',
    'asset',
    'service',
    'assignee',
    'acknowledged_at',
    'acknowledged_by',
    'merged_ids',
    'version',
  ],
  properties: {
    id: { type: 'string', description: 'Stable id: from the key and the opening time; a reopened incident keeps it.' },
    key: { type: 'string', description: 'The rule and its group labels: `<rule>{<label>="<value>",...}`.' },
    rule: { type: 'string' },
    rule_kind: { type: 'string' },
    labels: { type: 'object', additionalProperties: { type: 'string' }, description: 'The group labels.' },
    title: { type: 'string' },
    status: { type: 'string', enum: ['open', 'acknowledged', 'resolved'] },
    severity: { type: 'string', description: 'The highest severity seen, as text.' },
    severity_number: { type: 'integer', minimum: 0, maximum: 24, description: 'OpenTelemetry SeverityNumber.' },
    suppressed: { type: 'boolean' },
    suppressed_by: { type: 'string' },
    opened_at: timestamp,
    updated_at: timestamp,
    resolved_at: nullableTimestamp,
    first_seen: timestamp,
    last_seen: timestamp,
    event_count: { type: 'integer', minimum: 0 },
    tenant: { type: 'string' },
    asset: { type: 'string' },
    service: { type: 'string' },
    assignee: nullableString,
    acknowledged_at: nullableTimestamp,
    acknowledged_by: nullableString,
    merged_ids: {
      type: 'array',
      items: { type: 'string' },
      description: 'Ids of incidents other agents opened for the same key, merged into this one.',
    },
    version: { type: 'integer', minimum: 0 },
  },
  additionalProperties: false,
} as const;

const auditEntrySchema = {
  type: 'object',
  required: ['at', 'kind', 'reason', 'actor'],
  properties: {
    at: timestamp,
    kind: {
      type: 'string',
      enum: [
        'opened',
        'updated',
        'escalated',
        'suppressed',
        'unsuppressed',
        'acknowledged',
        'resolved',
        'reopened',
        'commented',
        'assigned',
      ],
    },
    reason: { type: 'string', description: 'Why; for a comment, its text.' },
    actor: { ...nullableString, description: "Who, for a person's change; null for the rules' own." },
  },
  additionalProperties: false,
} as const;

const ticketSchema = {
  type: 'object',
  required: ['exporter', 'ref', 'url', 'resolved'],
  properties: {
    exporter: { type: 'string', description: "The ticket exporter's id (`glpi`, `jira/ops`)." },
    ref: { type: 'string', description: "The tracker's id: GLPI ticket id, Jira issue key." },
    url: nullableString,
    resolved: { type: 'boolean' },
  },
  additionalProperties: false,
} as const;

const ticketsProperty = {
  type: 'array',
  items: ticketSchema,
  description: 'The tickets the ticket exporters made for it, as their ledgers know them.',
} as const;

const parentProperty = {
  type: 'string',
  description:
    "The asset's parent in the topology (`correlation.topology.parent`), from the event that opened it; empty when unknown.",
} as const;

/** An incident's summary with its asset's parent: what a dry run of the rules tells of it. */
export const incidentWithParentSchema = {
  ...incidentSummarySchema,
  required: [...incidentSummarySchema.required, 'parent'],
  properties: { ...incidentSummarySchema.properties, parent: parentProperty },
} as const;

/** An incident as the list and the stream give it: its summary, its asset's parent and its tickets. */
export const incidentListItemSchema = {
  ...incidentSummarySchema,
  required: [...incidentSummarySchema.required, 'parent', 'tickets'],
  properties: { ...incidentSummarySchema.properties, parent: parentProperty, tickets: ticketsProperty },
} as const;

/** One incident with its audit trail, sample event ids, tickets and rule. */
export const incidentDetailSchema = {
  ...incidentSummarySchema,
  required: [...incidentSummarySchema.required, 'parent', 'audit', 'sample_event_ids', 'tickets'],
  properties: {
    ...incidentSummarySchema.properties,
    parent: parentProperty,
    audit: { type: 'array', items: auditEntrySchema, description: 'The latest changes, oldest first (at most 100).' },
    sample_event_ids: {
      type: 'array',
      items: { type: 'string' },
      description: 'A bounded sample of the ids of its events, oldest first.',
    },
    tickets: ticketsProperty,
    rule_definition: {
      ...ruleDefinitionSchema,
      description:
        'The rule that made it, as configured now (`GET /api/v1/rules`); absent when no running rule has its name.',
    },
  },
} as const;

export type IncidentSummary = ReturnType<typeof incidentSummary>;

export function incidentSummary(i: Incident) {
  return {
    id: i.id,
    key: i.key,
    rule: i.rule,
    rule_kind: i.ruleKind,
    labels: i.labels,
    title: i.title,
    status: i.status,
    severity: i.severityText,
    severity_number: i.severityNumber,
    suppressed: i.suppressed,
    suppressed_by: i.suppressedBy,
    opened_at: iso(i.openedAtMs),
    updated_at: iso(i.updatedAtMs),
    resolved_at: i.status === 'resolved' ? isoOrNull(i.resolvedAtMs) : null,
    first_seen: iso(i.firstSeenMs),
    last_seen: iso(i.lastSeenMs),
    event_count: i.eventCount,
    tenant: i.tenant,
    asset: i.asset,
    service: i.service,
    assignee: i.assignee || null,
    acknowledged_at: isoOrNull(i.acknowledgedAtMs),
    acknowledged_by: i.acknowledgedBy ?? null,
    merged_ids: i.mergedIds ?? [],
    version: i.version,
  };
}

const ticketView = (t: TicketLink) => ({ exporter: t.exporter, ref: t.ref, url: t.url ?? null, resolved: t.resolved });

export function incidentListItem(i: Incident, parent: string, tickets: TicketLink[]) {
  return { ...incidentSummary(i), parent, tickets: tickets.map(ticketView) };
}

export function incidentDetail(i: Incident, parent: string, tickets: TicketLink[], rule?: RuleConfig) {
  return {
    ...incidentSummary(i),
    parent,
    audit: i.audit.map((a) => ({ at: iso(a.atMs), kind: a.kind, reason: a.reason, actor: a.actor ?? null })),
    sample_event_ids: i.sampleEventIds,
    tickets: tickets.map(ticketView),
    ...(rule ? { rule_definition: ruleDefinition(rule) } : {}),
  };
}
