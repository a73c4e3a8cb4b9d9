import { FakeHttpServer, parseJsonBody, type RecordedRequest, type Reply } from './server.ts';

export interface PagerDutyAlert {
  dedupKey: string;
  status: 'triggered' | 'acknowledged' | 'resolved';
  summary: string;
  severity: string;
  triggers: number;
}

const SEVERITIES = ['critical', 'error', 'warning', 'info'];
const invalid = (errors: string[]): Reply => ({
  status: 400,
  body: { status: 'invalid event', message: 'Event object is invalid', errors },
});

/**
 * PagerDuty's Events API v2 as documented: `POST /v2/enqueue`, a 32-character `routing_key`,
 * `trigger` needing `payload.summary/source/severity`, one alert per `dedup_key` (a trigger on a
 * resolved alert opens a new one; acknowledge/resolve on it are dropped), 202 on success and
 * 400 `invalid event` with the errors.
 */
export class FakePagerDuty extends FakeHttpServer {
  readonly alerts: PagerDutyAlert[] = [];
  private readonly routingKey: string;

  constructor(routingKey: string) {
    super((r) => this.answer(r));
    this.routingKey = routingKey;
  }

  get enqueueUrl(): string {
    return `${this.url}/v2/enqueue`;
  }

  private answer(r: RecordedRequest): Reply {
    if (r.path !== '/v2/enqueue' || r.method !== 'POST')
      return { status: 404, body: { status: 'error', message: 'Not found' } };
    const e = parseJsonBody(r) as
      | {
          routing_key?: string;
          event_action?: string;
          dedup_key?: string;
          payload?: { summary?: string; source?: string; severity?: string };
        }
      | undefined;
    if (!e || typeof e !== 'object') return invalid(['Event object is not valid JSON']);
    const errors: string[] = [];
    if (typeof e.routing_key !== 'string' || e.routing_key.length !== 32)
      errors.push("Length of 'routing_key' is incorrect (should be 32 characters)");
    if (!['trigger', 'acknowledge', 'resolve'].includes(e.event_action ?? ''))
      errors.push("'event_action' is invalid (must be one of the following: 'trigger', 'acknowledge' or 'resolve')");
    if (e.dedup_key !== undefined && (typeof e.dedup_key !== 'string' || e.dedup_key.length > 255))
      errors.push("'dedup_key' must be a string of at most 255 characters");
    if (e.event_action === 'trigger') {
      if (!e.payload?.summary || e.payload.summary.length > 1024)
        errors.push("'payload.summary' is missing or longer than 1024 characters");
      if (!e.payload?.source) errors.push("'payload.source' is missing or blank");
      if (!SEVERITIES.includes(e.payload?.severity ?? ''))
        errors.push(
          "'payload.severity' is invalid (must be one of the following: 'critical', 'warning', 'error' or 'info')",
        );
    } else if (!e.dedup_key) errors.push("'dedup_key' is required for acknowledge and resolve events");
    if (errors.length) return invalid(errors);
    if (e.routing_key !== this.routingKey) return invalid(['Routing key not found']);
    const dedupKey = e.dedup_key ?? `gen-${this.alerts.length}`;
    const open = this.alerts.find((a) => a.dedupKey === dedupKey && a.status !== 'resolved');
    if (e.event_action === 'trigger') {
      if (open) {
        open.triggers++;
        open.summary = e.payload!.summary!;
      } else
        this.alerts.push({
          dedupKey,
          status: 'triggered',
          summary: e.payload!.summary!,
          severity: e.payload!.severity!,
          triggers: 1,
        });
    } else if (open) open.status = e.event_action === 'resolve' ? 'resolved' : 'acknowledged';
    return { status: 202, body: { status: 'success', message: 'Event processed', dedup_key: dedupKey } };
  }
}
