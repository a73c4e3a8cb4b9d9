import { createServer } from 'node:net';
import { describe, expect, it } from 'vitest';
import type { DeliveryError } from '../../../src/exporters/tickets/delivery.ts';
import { send } from '../../../src/exporters/tickets/http.ts';

async function sendError(url: string): Promise<DeliveryError> {
  try {
    await send({ method: 'POST', url, body: '{}', timeoutMs: 5000 });
  } catch (err) {
    return err as DeliveryError;
  }
  throw new Error('send succeeded');
}

describe('send', () => {
  it('says why a fetch failed, from its cause: here a refused connection', async () => {
    // A port that was just free: nothing listens on it.
    const server = createServer();
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;
    await new Promise((r) => server.close(r));
    const refused = await sendError(`http://127.0.0.1:${port}/hook`);
    expect(refused.retryable).toBe(true);
    expect(refused.message).toMatch(
      new RegExp(`^POST http://127\\.0\\.0\\.1:${port}/hook… failed: fetch failed \\(.*ECONNREFUSED.*\\)$`),
    );
  });
});
