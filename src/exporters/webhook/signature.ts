import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * The HMAC key of a secret: the base64 after `whsec_`, as the Standard Webhooks specification
 * writes secrets (its libraries read a secret without the prefix as base64 too); any other
 * string is a secret of earlier Vigil versions, keyed by its UTF-8 bytes so that receivers
 * already set up keep verifying. Empty when the part after `whsec_` is not base64.
 */
export function signingKey(secret: string): Buffer {
  if (!secret.startsWith('whsec_')) return Buffer.from(secret, 'utf8');
  const b64 = secret.slice(6);
  return /^[A-Za-z0-9+/]+={0,2}$/.test(b64) && b64.length % 4 !== 1 ? Buffer.from(b64, 'base64') : Buffer.alloc(0);
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
