import { FakeHttpServer, parseJsonBody, type RecordedRequest, type Reply } from './server.ts';

const BLOCK_TYPES = new Set(['section', 'header', 'context', 'divider', 'actions', 'image', 'rich_text', 'input']);

function invalidBlocks(blocks: unknown): boolean {
  if (!Array.isArray(blocks) || blocks.length > 50) return true;
  return blocks.some((b: { type?: string; text?: { type?: string; text?: string } }) => {
    if (!b || !BLOCK_TYPES.has(b.type ?? '')) return true;
    if (b.type === 'header') return b.text?.type !== 'plain_text' || !b.text.text || b.text.text.length > 150;
    if (b.type === 'section' && b.text)
      return !['plain_text', 'mrkdwn'].includes(b.text.type ?? '') || !b.text.text || b.text.text.length > 3000;
    return false;
  });
}

/**
 * A Slack incoming webhook as documented: JSON POST to the secret path, 200 `ok` as plain text,
 * plain-text error codes (`invalid_payload`, `no_text`, `invalid_blocks`, `no_service`).
 */
export class FakeSlack extends FakeHttpServer {
  readonly path = '/services/T0001/B0001/s3cr3tT0k3n';
  readonly messages: { text?: string; blocks?: { type: string; text?: { text: string } }[] }[] = [];

  constructor() {
    super((r) => this.answer(r));
  }

  get webhookUrl(): string {
    return `${this.url}${this.path}`;
  }

  private answer(r: RecordedRequest): Reply {
    if (r.method !== 'POST') return { status: 405, body: 'invalid_method' };
    if (r.path !== this.path) return { status: 403, body: 'no_service' };
    const msg = parseJsonBody(r) as { text?: unknown; blocks?: unknown } | undefined;
    if (!(r.headers['content-type'] ?? '').startsWith('application/json') || !msg || typeof msg !== 'object')
      return { status: 400, body: 'invalid_payload' };
    if (typeof msg.text !== 'string' && msg.blocks === undefined) return { status: 400, body: 'no_text' };
    if (msg.blocks !== undefined && invalidBlocks(msg.blocks)) return { status: 400, body: 'invalid_blocks' };
    this.messages.push(msg as FakeSlack['messages'][number]);
    return { status: 200, body: 'ok' };
  }
}
