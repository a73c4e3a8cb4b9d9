import { createHmac, timingSafeEqual } from 'node:crypto';

/** The HMAC key of a Standard Webhooks secret: base64 after `whsec_`, else the string's UTF-8 bytes. */
export function signingKey(secret: string): Buffer {
  return secret.startsWith('whsec_') ? Buffer.from(secret.slice(6), 'base64') : Buffer.from(secret, 'utf8');
}

/** `webhook-signature` per the Standard Webhooks spec: `v1,` + base64 HMAC-SHA256 of `id.timestamp.body`. */
export function signWebhook(secret: string, id: string, timestampSeconds: number, body: string): string {
  return `v1,${createHmac('sha256', signingKey(secret)).update(`${id}.${timestampSeconds}.${body}`).digest('base64')}`;
}

/**
 * The receiving side, for users' own receivers and for tests: true when one of the
 * space-separated `v1,` signatures matches and the timestamp is within `toleranceSeconds`.
 */
export function verifyWebhook(
  secret: string,
  headers: { id: string; timestamp: string; signature: string },
  body: string,
  nowSeconds: number,
  toleranceSeconds = 300,
): boolean {
  const ts = Number(headers.timestamp);
  if (!Number.isInteger(ts) || Math.abs(nowSeconds - ts) > toleranceSeconds) return false;
  const expected = Buffer.from(signWebhook(secret, headers.id, ts, body).slice(3), 'base64');
  return headers.signature.split(' ').some((sig) => {
    if (!sig.startsWith('v1,')) return false;
    const got = Buffer.from(sig.slice(3), 'base64');
    return got.length === expected.length && timingSafeEqual(got, expected);
  });
}
