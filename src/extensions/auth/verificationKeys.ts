import { createPublicKey, type JsonWebKey as NodeJwk } from 'node:crypto';
import type { JWK } from 'jose';

/**
 * The public keys in one configured `keys` entry: a PEM public key or certificate, a JWK, or a
 * JWK Set. Private and symmetric keys are refused: a verifier needs neither, and an HMAC secret
 * would open the door to tokens anyone holding it can sign.
 */
export function parseVerificationKeys(text: string): JWK[] {
  const trimmed = text.trim();
  if (trimmed.startsWith('{')) {
    let doc: unknown;
    try {
      doc = JSON.parse(trimmed);
    } catch (err) {
      throw new Error(`is not valid JSON (a JWK or JWK Set): ${(err as Error).message}`, { cause: err });
    }
    const keys = Array.isArray((doc as { keys?: unknown }).keys) ? (doc as { keys: unknown[] }).keys : [doc];
    if (keys.length === 0) throw new Error('is a JWK Set without keys');
    return keys.map((k, i) => publicJwk(k, keys.length > 1 ? `key ${i + 1}: ` : ''));
  }
  if (/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(trimmed))
    throw new Error("is a private key; give the identity provider's public key or certificate");
  if (!trimmed.startsWith('-----BEGIN '))
    throw new Error(
      'must be a PEM public key or certificate ("-----BEGIN PUBLIC KEY-----"), a JWK or a JWK Set (JSON)',
    );
  try {
    return [createPublicKey(trimmed).export({ format: 'jwk' }) as JWK];
  } catch (err) {
    throw new Error(`is not a readable PEM public key or certificate: ${(err as Error).message}`, { cause: err });
  }
}

function publicJwk(value: unknown, where: string): JWK {
  if (!value || typeof value !== 'object' || typeof (value as JWK).kty !== 'string')
    throw new Error(`${where}is not a JWK (no "kty")`);
  const jwk = value as JWK;
  if (jwk.kty === 'oct')
    throw new Error(`${where}is a symmetric (HMAC) key; only public keys (RSA, EC, OKP) verify tokens here`);
  if (jwk.d !== undefined)
    throw new Error(`${where}is a private key; give only its public part (drop "d" and the other private members)`);
  try {
    createPublicKey({ key: jwk as NodeJwk, format: 'jwk' });
  } catch (err) {
    throw new Error(`${where}is not a usable public JWK: ${(err as Error).message}`, { cause: err });
  }
  return jwk;
}
