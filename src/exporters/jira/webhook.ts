import { createHmac, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import type { ObservedTicket } from '../tickets/ticketSync.ts';
import { WebhookRejectedError, type ObservedComment, type TicketWebhookParser } from '../tickets/webhook.ts';
import { adfToText } from './adf.ts';
import { jiraUserId, jiraUserName, progressOf } from './driver.ts';

/**
 * Whether `header` (`X-Hub-Signature: sha256=<hex>`, WebSub's form, as Jira Cloud sends for an
 * admin webhook with a secret) is the HMAC-SHA256 of the raw body under `secret`. Compared in
 * constant time: how much of a forged signature matched must not show in the answer's timing.
 */
export function jiraSignatureValid(secret: string, body: Buffer, header: string | undefined): boolean {
  const m = /^sha256=([0-9a-f]{64})$/i.exec(header?.trim() ?? '');
  if (!m) return false;
  const expected = createHmac('sha256', secret).update(body).digest();
  return timingSafeEqual(Buffer.from(m[1]!, 'hex'), expected);
}

interface JiraWebhookPayload {
  webhookEvent?: unknown;
  user?: Parameters<typeof jiraUserId>[0];
  issue?: { key?: unknown; fields?: { status?: { name?: unknown; statusCategory?: { key?: unknown } } } };
  changelog?: { items?: { field?: unknown; fieldId?: unknown; toString?: unknown }[] };
  comment?: { id?: unknown; author?: Parameters<typeof jiraUserId>[0]; body?: unknown };
}

/**
 * Jira's `jira:issue_updated` webhooks, verified with the exporter's secret: a change whose
 * changelog moves the status becomes the issue's new status. A `comment_created` one is the
 * comment (its author, its text). Anything else (other fields, other events) is accepted and
 * ignored, so Jira does not retry it.
 */
export class JiraWebhookParser implements TicketWebhookParser {
  private readonly secret: string;

  constructor(secret: string) {
    this.secret = secret;
  }

  parse(body: Buffer, headers: IncomingHttpHeaders): ObservedTicket | ObservedComment | undefined {
    const header = headers['x-hub-signature'];
    if (typeof header !== 'string')
      throw new WebhookRejectedError(401, 'X-Hub-Signature is missing: set the secret of the webhook in Jira');
    if (!jiraSignatureValid(this.secret, body, header))
      throw new WebhookRejectedError(
        401,
        "X-Hub-Signature does not match the body: the webhook's secret in Jira and sync.secret differ",
      );
    let payload: JiraWebhookPayload;
    try {
      payload = JSON.parse(body.toString('utf8')) as JiraWebhookPayload;
    } catch {
      throw new WebhookRejectedError(400, 'the body is not JSON');
    }
    if (typeof payload !== 'object' || payload === null)
      throw new WebhookRejectedError(400, 'the body is not a Jira event');
    if (payload.webhookEvent === 'comment_created') return commentOf(payload);
    if (payload.webhookEvent !== 'jira:issue_updated') return undefined;
    const moved = payload.changelog?.items?.find((i) => i.field === 'status' || i.fieldId === 'status');
    if (!moved) return undefined;
    const key = payload.issue?.key;
    const status = payload.issue?.fields?.status;
    const name = typeof moved.toString === 'string' ? moved.toString : status?.name;
    if (typeof key !== 'string' || typeof name !== 'string')
      throw new WebhookRejectedError(400, 'a status change without issue.key or the new status');
    // The issue as it was when the event happened: its status is the one the changelog moved it to.
    const category = status?.statusCategory?.key;
    const actorId = jiraUserId(payload.user);
    return {
      ref: key,
      status: name,
      progress: progressOf(typeof category === 'string' ? category : undefined),
      actor: jiraUserName(payload.user),
      ...(actorId === undefined ? {} : { actorId }),
    };
  }
}

function commentOf(payload: JiraWebhookPayload): ObservedComment {
  const key = payload.issue?.key;
  const c = payload.comment;
  if (typeof key !== 'string' || typeof c?.id !== 'string')
    throw new WebhookRejectedError(400, 'a comment event without issue.key or comment.id');
  const authorId = jiraUserId(c.author);
  return {
    ref: key,
    comment: {
      id: c.id,
      author: jiraUserName(c.author),
      ...(authorId === undefined ? {} : { authorId }),
      text: typeof c.body === 'string' ? c.body : adfToText(c.body),
    },
  };
}
