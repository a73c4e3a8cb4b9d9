import { createDecipheriv } from 'node:crypto';
import type { SnmpUserConfig } from './config.ts';

/** Whether this process's OpenSSL decrypts DES-CBC, which OpenSSL 3 keeps in its legacy provider. */
export function opensslHasDes(): boolean {
  try {
    createDecipheriv('des-cbc', Buffer.alloc(8), Buffer.alloc(8));
    return true;
  } catch {
    return false;
  }
}

/**
 * net-snmp decrypts DES through node:crypto, and OpenSSL 3 (Node 17 and later) only offers DES
 * from its legacy provider: without it every DES trap would fail to decrypt, one by one, at
 * run time. Said at start instead, with the fix. Returns the index of the first DES user and
 * the message, or undefined when DES works or no user needs it.
 */
export function desUnavailable(
  users: readonly SnmpUserConfig[],
  hasDes: boolean = opensslHasDes(),
): { index: number; message: string } | undefined {
  if (hasDes) return undefined;
  const index = users.findIndex((u) => u.priv_protocol === 'des');
  if (index === -1) return undefined;
  return {
    index,
    message:
      'DES needs the OpenSSL legacy provider, which Node loads only when started with --openssl-legacy-provider (e.g. NODE_OPTIONS=--openssl-legacy-provider); better, move the device to aes',
  };
}
