import { verifyWebhook } from '../../../src/exporters/webhook/signature.ts';
import { FakeHttpServer, parseJsonBody, type RecordedRequest, type Reply } from './server.ts';

/**
 * A receiver of Standard Webhooks: rejects (401) a request whose signature or timestamp does
 * not verify, de-duplicates on `webhook-id` as the spec asks receivers to, answers 204.
 */
export class FakeWebhookReceiver extends FakeHttpServer {
  readonly accepted: unknown[] = [];
  readonly rejected: RecordedRequest[] = [];
  private readonly seen = new Set<string>();
  private readonly secret: string | undefined;
  private readonly now: () => number;

  constructor(opts: { secret?: string; now?: () => number } = {}) {
    super((r) => this.answer(r));
    this.secret = opts.secret;
    this.now = opts.now ?? Date.now;
  }

  private answer(r: RecordedRequest): Reply {
    if (r.method !== 'POST') return { status: 405 };
    const payload = parseJsonBody(r);
    if (payload === undefined || !(r.headers['content-type'] ?? '').startsWith('application/json'))
      return { status: 400, body: { error: 'expected a JSON body' } };
    if (this.secret) {
      const h = {
        id: String(r.headers['webhook-id'] ?? ''),
        timestamp: String(r.headers['webhook-timestamp'] ?? ''),
        signature: String(r.headers['webhook-signature'] ?? ''),
      };
      if (!h.id || !verifyWebhook(this.secret, h, r.body, Math.floor(this.now() / 1000))) {
        this.rejected.push(r);
        return { status: 401, body: { error: 'bad signature' } };
      }
      if (this.seen.has(h.id)) return { status: 204 };
      this.seen.add(h.id);
    }
    this.accepted.push(payload);
    return { status: 204 };
  }
}

/** Starts `n` receivers and adds them to `into` (which the test closes afterwards). */
export async function listenWebhookReceivers(n: number, into: FakeWebhookReceiver[]): Promise<FakeWebhookReceiver[]> {
  const started = await Promise.all(Array.from({ length: n }, () => new FakeWebhookReceiver().listen()));
  into.push(...started);
  return started;
}
