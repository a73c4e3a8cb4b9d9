import { existsSync, readFileSync } from 'node:fs';

/**
 * Reads an NDJSON file written by the file exporter; [] when it does not exist yet. A daemon may
 * be writing it: only the lines it has ended are whole, so a torn last line is left for later.
 */
export function readNdjson<T = Record<string, unknown>>(path: string): T[] {
  if (!existsSync(path)) return [];
  const text = readFileSync(path, 'utf8');
  return text
    .slice(0, text.lastIndexOf('\n') + 1)
    .split('\n')
    .filter((l) => l.length > 0)
    .map((l) => JSON.parse(l) as T);
}
