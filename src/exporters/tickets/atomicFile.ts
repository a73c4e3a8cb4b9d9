import { open, rename } from 'node:fs/promises';

/** Replaces a file's content via write, fsync, rename, so a crash leaves the old or the new file, never half of one. */
export async function replaceFile(path: string, text: string): Promise<void> {
  const tmp = `${path}.tmp`;
  const handle = await open(tmp, 'w', 0o600);
  try {
    await handle.write(text);
    await handle.sync();
  } finally {
    await handle.close();
  }
  await rename(tmp, path);
}
