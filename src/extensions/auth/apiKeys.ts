import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { mkdir, open, readFile, unlink } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { VigilError } from '../../errors.ts';
import { replaceFile } from '../../exporters/tickets/atomicFile.ts';
import { roles, type Role } from './principal.ts';

/**
 * API keys for machines: `vgk_` and 32 random bytes in base64url. The prefix tells them from
 * JWTs (which start `eyJ`) and lets secret scanners find leaked ones. 256 random bits need no
 * slow password hash: SHA-256 of the key is what is stored, and a stolen keys file gives
 * nothing to replay.
 */
export const API_KEY_PREFIX = 'vgk_';
const API_KEY_SHAPE = /^vgk_[A-Za-z0-9_-]{43}$/;

export const API_KEY_NAME = /^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$/;
export const DEFAULT_KEYS_FILE = 'apikeys.json';

export interface ApiKeyEntry {
  name: string;
  role: Role;
  tenant?: string;
  /** `sha256:` and the hex digest of the whole key. */
  hash: string;
  /** The first characters of the key, to recognise it in a list; too few to guess the rest. */
  hint: string;
  created_at: string;
  revoked_at?: string;
}

export function generateApiKey(): string {
  return API_KEY_PREFIX + randomBytes(32).toString('base64url');
}

export function looksLikeApiKey(credential: string): boolean {
  return credential.startsWith(API_KEY_PREFIX);
}

function digest(key: string): Buffer {
  return createHash('sha256').update(key, 'utf8').digest();
}

export function hashApiKey(key: string): string {
  return `sha256:${digest(key).toString('hex')}`;
}

/**
 * The entry whose hash is the key's, revoked or not. Every entry is compared, in constant time,
 * so how long the answer takes says nothing about which stored hash came close.
 */
export function findApiKey(entries: readonly ApiKeyEntry[], key: string): ApiKeyEntry | undefined {
  if (!API_KEY_SHAPE.test(key)) return undefined;
  const presented = digest(key);
  let found: ApiKeyEntry | undefined;
  for (const e of entries) {
    const stored = Buffer.from(e.hash.slice('sha256:'.length), 'hex');
    if (stored.length === presented.length && timingSafeEqual(stored, presented) && !found) found = e;
  }
  return found;
}

/** The keys file an authenticator reads: its `api_keys.file`, or `apikeys.json` in the data dir. */
export function apiKeysPath(dataDir: string, configured: string | undefined): string {
  return resolve(dataDir, configured ?? DEFAULT_KEYS_FILE);
}

export class KeysFileError extends VigilError {
  constructor(file: string, problem: string) {
    super(
      'VIGIL_KEYS_FILE_INVALID',
      `${file}: ${problem}; it is written by "vigil apikey" (restore it from a backup, or move it away and create the keys again)`,
    );
  }
}

/** The entries of a keys file; none when it does not exist yet. */
export async function readKeysFile(file: string): Promise<ApiKeyEntry[]> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new KeysFileError(file, `is not valid JSON (${(err as Error).message})`);
  }
  const keys = (doc as { keys?: unknown }).keys;
  if (!Array.isArray(keys)) throw new KeysFileError(file, 'has no "keys" list');
  keys.forEach((k: Partial<ApiKeyEntry>, i) => {
    const ok =
      k &&
      typeof k.name === 'string' &&
      roles.includes(k.role as Role) &&
      typeof k.hash === 'string' &&
      /^sha256:[0-9a-f]{64}$/.test(k.hash) &&
      (k.tenant === undefined || typeof k.tenant === 'string');
    if (!ok) throw new KeysFileError(file, `keys[${i}] is not a valid entry (name, role, hash)`);
  });
  return keys as ApiKeyEntry[];
}

/** Replaces the keys file whole (write, fsync, rename), readable by its owner only. */
export async function writeKeysFile(file: string, entries: readonly ApiKeyEntry[]): Promise<void> {
  await mkdir(dirname(file), { recursive: true });
  await replaceFile(file, JSON.stringify({ version: 1, keys: entries }, null, 2) + '\n');
}

/**
 * Reads, changes and writes the keys file under a lock file, so two `vigil apikey` runs at once
 * cannot lose each other's key. Returns what `change` returned.
 */
export async function updateKeysFile<T>(
  file: string,
  change: (entries: ApiKeyEntry[]) => { entries: ApiKeyEntry[]; result: T },
  waitMs = 5000,
): Promise<T> {
  await mkdir(dirname(file), { recursive: true });
  const lock = `${file}.lock`;
  const deadline = Date.now() + waitMs;
  for (;;) {
    try {
      await (await open(lock, 'wx', 0o600)).close();
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      if (Date.now() > deadline)
        throw new KeysFileError(file, `is locked by another "vigil apikey" (if none runs, remove ${lock})`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  try {
    const { entries, result } = change(await readKeysFile(file));
    await writeKeysFile(file, entries);
    return result;
  } finally {
    await unlink(lock).catch(() => undefined);
  }
}
