/** The operators' API as the console calls it: same origin, the signed-in key as a bearer token. */

const KEY = 'vigil.apiKey';

export function storedKey(): string | null {
  return sessionStorage.getItem(KEY);
}

export function storeKey(key: string | null): void {
  if (key === null) sessionStorage.removeItem(KEY);
  else sessionStorage.setItem(KEY, key);
}

export type Role = 'viewer' | 'operator' | 'admin';

export interface Me {
  subject: string;
  role: Role;
  tenant: string | null;
  method: string;
}

export interface Incident {
  id: string;
  key: string;
  rule: string;
  rule_kind: string;
  labels: Record<string, string>;
  title: string;
  status: 'open' | 'acknowledged' | 'resolved';
  severity: string;
  severity_number: number;
  suppressed: boolean;
  suppressed_by: string;
  opened_at: string;
  updated_at: string;
  resolved_at: string | null;
  first_seen: string;
  last_seen: string;
  event_count: number;
  tenant: string;
  asset: string;
  service: string;
  assignee: string | null;
  acknowledged_at: string | null;
  acknowledged_by: string | null;
  version: number;
  /** The asset's parent in the topology ('' when unknown). Given by the list, the stream and one incident (not by a dry run). */
  parent?: string;
  /** Given by the list and the stream (not by a dry run). */
  tickets?: Ticket[];
}

export interface AuditEntry {
  at: string;
  kind: string;
  reason: string;
  actor: string | null;
}

export interface Ticket {
  exporter: string;
  ref: string;
  url: string | null;
  resolved: boolean;
}

/** A correlation rule as configured (`GET /api/v1/rules`); durations as the config spells them. */
export interface RuleDefinition {
  name: string;
  kind: string;
  match: string;
  group_by: string[];
  dedup_window?: string;
  window?: string;
  threshold?: number;
  resolve_below?: number;
  sum?: string;
  down?: string;
  up?: string;
  member_by?: string[];
  deadline?: string;
  flapping?: { transitions: number; window: string };
  interval?: string;
  metric?: string;
  aggregation?: string;
  op?: string;
  value?: number;
  for?: string;
  ratio?: number;
  min_count?: number;
  resolve?: string;
}

export interface IncidentDetail extends Incident {
  audit: AuditEntry[];
  sample_event_ids: string[];
  tickets: Ticket[];
  /** Absent when no running rule has the incident's rule name any more. */
  rule_definition?: RuleDefinition;
}

export interface Matcher {
  name: string;
  value: string;
  isRegex: boolean;
  isEqual: boolean;
}

export interface Silence {
  id: string;
  status: { state: 'active' | 'pending' | 'expired' };
  updatedAt: string;
  matchers: Matcher[];
  startsAt: string;
  endsAt: string;
  createdBy: string;
  comment: string;
}

/** A recurring maintenance window, as `GET /api/v1/maintenance-windows` shows it. */
export interface MaintenanceWindow {
  id: string;
  matchers: Matcher[];
  days: string[];
  start: string;
  end: string;
  timezone: string;
  starts_at: string;
  ends_at: string | null;
  created_by: string;
  comment: string;
  status: 'pending' | 'active' | 'expired';
  in_window: boolean;
  next: { starts_at: string; ends_at: string } | null;
  updated_at: string;
}

/** A refusal of the API, with its problem document's code and detail. */
export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  constructor(status: number, code: string, detail: string) {
    super(detail);
    this.status = status;
    this.code = code;
  }
}

export function authHeaders(key: string | null = storedKey()): Record<string, string> {
  return key ? { authorization: `Bearer ${key}` } : {};
}

export function call<T>(method: string, path: string, body?: unknown, key?: string | null): Promise<T> {
  return send<T>(
    method,
    path,
    body === undefined ? undefined : { text: JSON.stringify(body), type: 'application/json' },
    key,
  );
}

/** A request with a body already written (`type` its media type), answered as JSON or refused as an ApiError. */
export async function send<T>(
  method: string,
  path: string,
  body?: { text: string; type: string },
  key?: string | null,
): Promise<T> {
  const res = await fetch(path, {
    method,
    headers: {
      ...authHeaders(key === undefined ? storedKey() : key),
      ...(body === undefined ? {} : { 'content-type': body.type }),
    },
    body: body?.text,
  });
  const text = await res.text();
  const parsed: unknown = text ? JSON.parse(text) : undefined;
  if (!res.ok) {
    const p = (parsed ?? {}) as { code?: string; detail?: string };
    throw new ApiError(res.status, p.code ?? 'VIGIL_HTTP_ERROR', p.detail ?? `${res.status} ${res.statusText}`);
  }
  return parsed as T;
}

export const whoami = (key?: string | null) => call<Me>('GET', '/api/v1/whoami', undefined, key);

export const signInOptions = () => call<{ oidc: boolean }>('GET', '/ui/auth/options', undefined, null);

/** Ends a single sign-on session (its cookie is HttpOnly: only the server can drop it). */
export async function signOut(): Promise<void> {
  const res = await fetch('/ui/auth/logout', { method: 'POST' });
  if (!res.ok) throw new ApiError(res.status, 'VIGIL_HTTP_ERROR', `${res.status} ${res.statusText}`);
}

/** Every page of a list query, up to `max` incidents; `truncated` when more were there. */
export async function listAll(
  query: URLSearchParams,
  max: number,
  signal?: AbortSignal,
): Promise<{ items: Incident[]; truncated: boolean }> {
  const items: Incident[] = [];
  let cursor: string | null = null;
  do {
    const q = new URLSearchParams(query);
    q.set('limit', '1000');
    if (cursor) q.set('cursor', cursor);
    const page: { items: Incident[]; next_cursor: string | null } = await call('GET', `/api/v1/incidents?${q}`);
    if (signal?.aborted) break;
    items.push(...page.items);
    cursor = page.next_cursor;
  } while (cursor && items.length < max);
  return { items, truncated: cursor !== null };
}

export type Action =
  | { kind: 'acknowledge' | 'resolve' | 'reopen'; reason?: string }
  | { kind: 'comment'; text: string }
  | { kind: 'assign'; assignee: string };

export function act(id: string, a: Action): Promise<IncidentDetail> {
  const path = `/api/v1/incidents/${encodeURIComponent(id)}`;
  switch (a.kind) {
    case 'comment':
      return call('POST', `${path}/comments`, { text: a.text });
    case 'assign':
      return call('PUT', `${path}/assignee`, { assignee: a.assignee || null });
    default:
      return call('POST', `${path}/${a.kind}`, a.reason ? { reason: a.reason } : {});
  }
}

/** One change of the timeline a dry run answers (`POST /api/v1/rules/dry-run`). */
export interface DryRunChange {
  time: string;
  kind: string;
  notify: boolean;
  held: boolean;
  reason: string;
  event_ids: string[];
  incident: Incident;
}

export interface DryRunResult {
  changes: DryRunChange[];
  stats: {
    events: number;
    points: number;
    late: number;
    future: number;
    dropped: number;
    ignored: { rule: string; reason: string; count: number }[];
  };
  rejected: { line: number; reason: string }[];
  pipeline: { name?: string; receiver?: string; processors: string[] };
}

export const mayAct = (role: Role | undefined) => role === 'operator' || role === 'admin';
